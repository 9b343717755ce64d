# The message-number registry (mod_auth0gw/messages.h) against README.md's "Reading the logs" table and the sources: one meaning per number, every number documented, none logged unregistered.
use strict;
use warnings FATAL => 'all';

use FindBin;
use Test::More;

my $root = "$FindBin::Bin/../..";

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

# The registry: #define AGW_M_NAME "AGWnnnn" /* level: meaning */
my (%num_of, %name_of, %level_of, @dups);
for my $line (split /\n/, slurp("$root/mod_auth0gw/messages.h")) {
    next unless $line =~ /^#define\s+(AGW_M_\w+)/;
    my $name = $1;
    my ($num, $level) = $line =~ m{^#define\s+AGW_M_\w+\s+"AGW(\d{4})"\s+/\*\s*(\w+):\s*\S.*\*/\s*$}
        or do { fail("registry line has the form NAME \"AGWnnnn\" /* level: meaning */: $line"); next };
    push @dups, "AGW$num ($name_of{$num} and $name)" if $name_of{$num};
    push @dups, "$name twice" if $num_of{$name};
    $num_of{$name} = $num;
    $name_of{$num} = $name;
    $level_of{$num} = $level;
}
ok(keys %name_of >= 30, 'the registry lists the messages (' . scalar(keys %name_of) . ')');
is_deeply(\@dups, [], 'each number has one macro, each macro one number');

# README.md: the rows of the table under "## Reading the logs".
my ($section) = slurp("$root/README.md") =~ /^## Reading the logs\n(.*?)(?=^## |\z)/ms;
ok(defined $section, 'README.md has a "Reading the logs" section');
my (%readme, @readme_dups);
for my $row (split /\n/, $section // '') {
    next unless $row =~ /^\|\s*AGW/;
    my ($nums, $level) = $row =~ /^\|\s*([^|]+?)\s*\|\s*(\w+)\s*\|/;
    for my $n ($nums =~ /AGW(\d{4})/g) {
        push @readme_dups, "AGW$n" if $readme{$n};
        $readme{$n} = $level;
    }
}
is_deeply(\@readme_dups, [], 'README names each number in one row');
my @undocumented = grep { !exists $readme{$_} } sort keys %name_of;
my @unregistered = grep { !exists $name_of{$_} } sort keys %readme;
is_deeply([map {"AGW$_"} @undocumented], [], 'every registered number has a README row');
is_deeply([map {"AGW$_"} @unregistered], [], 'every README row is a registered number');
my @level_diff = map { "AGW$_: registry $level_of{$_}, README $readme{$_}" }
    grep { exists $readme{$_} && lc $readme{$_} ne lc $level_of{$_} } sort keys %name_of;
is_deeply(\@level_diff, [], 'README and the registry give the same level');

# The sources: the glue logs through the macros; a number written out (in a comment) must be
# registered, and a log string never starts with a number of its own.
my @files = (glob("$root/mod_auth0gw/*.c"), glob("$root/mod_auth0gw/*.h"), glob("$root/src/*.c"),
             glob("$root/src/*.h"));
my (@stray, @literal, %used);
for my $f (@files) {
    next if $f =~ m{/messages\.h\z};
    my $text = slurp($f);
    (my $short = $f) =~ s{^\Q$root\E/}{};
    push @literal, "$short: AGW$1" while $text =~ /"AGW(\d{4})/g;
    for my $n ($text =~ /\bAGW(\d{4})\b/g) {
        push @stray, "$short: AGW$n" unless $name_of{$n};
    }
    for my $m ($text =~ /\b(AGW_M_\w+)\b/g) {
        $used{$m}++;
        push @stray, "$short: $m" unless exists $num_of{$m};
    }
}
is_deeply(\@literal, [], 'no log string writes its number out (use the AGW_M_* macros)');
is_deeply(\@stray, [], 'every number and macro the sources name is registered');

# The core's key store logs by number (src/agw_keys.h AGW_MSG_*): the registry has each.
my %core = slurp("$root/src/agw_keys.h") =~ /#define\s+AGW_MSG_(\w+)\s+(\d+)/g;
ok(keys %core >= 3, 'src/agw_keys.h defines the key store\'s message numbers');
my @core_bad = map { "AGW_MSG_$_ = $core{$_}" }
    grep { ($name_of{sprintf '%04d', $core{$_}} // '') ne "AGW_M_$_" } sort keys %core;
is_deeply(\@core_bad, [], 'each of them is registered under the same name');

my @unused = grep { !$used{$_} && !exists $core{substr $_, 6} } sort keys %num_of;
is_deeply(\@unused, [], 'every registered message is logged somewhere');

done_testing();
