# No function in src/ or mod_auth0gw/ is over 70 lines, counted from the first line of its signature to its closing brace.
use strict;
use warnings FATAL => 'all';

use FindBin;
use Test::More;

my $root = "$FindBin::Bin/../..";
my $MAX = 70;

# Our style puts a function's opening and closing braces alone in column 0; its signature is
# the run of lines just above the "{" up to a blank, comment, preprocessor or statement end.
sub functions_of {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    my @lines = <$fh>;
    chomp @lines;
    my @found;
    for (my $i = 0; $i < @lines; $i++) {
        next unless $lines[$i] =~ /^\{\s*$/;
        my $start = $i;
        while ($start > 0) {
            my $prev = $lines[$start - 1];
            last if $prev =~ /^\s*$/ || $prev =~ m{^\s*(?:#|/\*|\*|//)} || $prev =~ m{\*/\s*$}
                 || $prev =~ /[;{}]\s*$/;
            $start--;
        }
        my $signature = join ' ', @lines[$start .. $i - 1];
        next unless $signature =~ /^[A-Za-z_].*\(/ && $signature !~ /=\s*$/;
        my $end = $i + 1;
        $end++ while $end < @lines && $lines[$end] !~ /^\}/;
        die "$path:" . ($i + 1) . ": no closing brace in column 0\n" if $end >= @lines;
        my ($name) = $signature =~ /(\w+)\s*\(/;
        push @found, { name => $name, line => $start + 1, length => $end - $start + 1 };
        $i = $end;
    }
    return @found;
}

my @files = (glob("$root/src/*.c"), glob("$root/mod_auth0gw/*.c"));
ok(@files >= 20, 'the C sources are found (' . scalar(@files) . ' files)');

my (@all, @long);
for my $path (@files) {
    (my $rel = $path) =~ s{^\Q$root\E/}{};
    for my $f (functions_of($path)) {
        push @all, $f;
        push @long, "$rel:$f->{line}: $f->{name} is $f->{length} lines" if $f->{length} > $MAX;
    }
}
ok(@all >= 300, 'the functions are found (' . scalar(@all) . ')');
is(scalar @long, 0, "no function over $MAX lines") or diag(join "\n", @long);

done_testing();
