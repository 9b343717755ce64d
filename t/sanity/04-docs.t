# docs/directives.md documents exactly the directives the module registers (mod_auth0gw/config.c's command table), each with Syntax, Default, Context, Override and a description, and a directive that .htaccess may use says so.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);

my $ROOT = "$FindBin::Bin/../..";

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return <$fh>;
}

# The arguments of a C macro call starting at the '(' at pos $at of $s: a list of trimmed
# strings, split at the commas of depth 1 (string literals and nested parentheses respected).
sub macro_args {
    my ($s, $at) = @_;
    my ($depth, $cur, @args, $in_str) = (0, '');
    for (my $i = $at; $i < length $s; $i++) {
        my $c = substr($s, $i, 1);
        if ($in_str) {
            $cur .= $c;
            if ($c eq '\\') { $cur .= substr($s, ++$i, 1); next }
            $in_str = 0 if $c eq '"';
            next;
        }
        if ($c eq '"') { $in_str = 1; $cur .= $c; next }
        if ($c eq '(') { $depth++; next if $depth == 1 }
        if ($c eq ')') { $depth--; if ($depth == 0) { push @args, $cur; last } }
        if ($c eq ',' && $depth == 1) { push @args, $cur; $cur = ''; next }
        $cur .= $c;
    }
    s/^\s+|\s+$//g for @args;
    return @args;
}

# ---- the registered directives and their override flags, from the command table ----
my $src = slurp("$ROOT/mod_auth0gw/config.c");
my ($table) = $src =~ /command_rec\s+gw_cmds\[\]\s*=\s*\{(.*?)\n\s*\{\s*NULL\s*\}/s
    or die "no gw_cmds table in mod_auth0gw/config.c";

# Local shorthand macros such as DIRCMD(kind, name, fn, help), possibly defined through one
# another (DIRCMD -> GATECMD_ -> AP_INIT_xxx): followed down to AP_INIT_xxx, whose 1st argument
# is the name and 4th the req_override (object-like macros such as GATE_WHERE resolved).
my (%fn_macro, %obj_macro);
(my $joined = $src) =~ s/\\\n/ /g;
while ($joined =~ /^#define\s+(\w+)\(([^)]*)\)\s+(.*)$/mg) {
    my ($name, $params, $body) = ($1, $2, $3);
    $fn_macro{$name} = { params => [ map { s/^\s+|\s+$//gr } split /,/, $params ], body => $body };
}
while ($joined =~ /^#define\s+(\w+)\s+(\(.*\))\s*$/mg) {
    $obj_macro{$1} = $2;
}
sub expand_entry {
    my ($m, @args) = @_;
    for (1 .. 8) {
        if ($m =~ /^AP_INIT_/) {
            my $flags = $args[3] // '';
            $flags =~ s/\b(\w+)\b/exists $obj_macro{$1} ? $obj_macro{$1} : $1/ge;
            return ($args[0], $flags);
        }
        my $d = $fn_macro{$m} or return;
        my %bind = map { $d->{params}[$_] => $args[$_] } 0 .. $#{ $d->{params} };
        my ($next) = $d->{body} =~ /^\s*([\w#]+)\(/ or return;
        my @next_args = macro_args($d->{body}, index($d->{body}, '('));
        ($m, @args) = ($next, map { exists $bind{$_} ? $bind{$_} : $_ } @next_args);
    }
    return;
}

my %registered;     # name -> the req_override expression
while ($table =~ /\b(AP_INIT_\w+|[A-Z][A-Z0-9_]*CMD)\(/g) {
    my ($m, $at) = ($1, pos($table) - 1);
    my @a = macro_args($table, $at);
    my ($name, $flags);
    if ($m =~ /^AP_INIT_/) {
        ($name, $flags) = ($a[0], $a[3]);
    }
    elsif (!(($name, $flags) = expand_entry($m, @a))) {
        die "04-docs.t cannot read the table entry $m(...) of config.c: teach it this macro";
    }
    $name =~ /^"(<?\w+)"$/ or die "04-docs.t: unexpected directive name $name in config.c";
    $name = $1;
    $name =~ s/^<//;
    $registered{$name} = $flags;
}

# ---- the documented ones ----
my $doc = slurp("$ROOT/docs/directives.md");
my (%documented, %other);
for my $sec (split /^(?=## )/m, $doc) {
    next unless $sec =~ /\A## (.+?)\s*\n(.*)\z/s;
    my ($head, $body) = ($1, $2);
    $head =~ s/[`<>\\]//g;
    my %row;
    $row{$1} = $2 while $body =~ /^\|\s*(\w+):\s*\|\s*(.*?)\s*\|\s*$/mg;
    (my $text = $body) =~ s/^\|.*\n//mg;
    $row{text} = $text;
    if ($head =~ /\s/) { $other{$head} = \%row } else { $documented{$head} = \%row }
}

my @reg = sort keys %registered;
my @doc = sort keys %documented;
plan tests => 4 + 3 * @reg;

cmp_ok(scalar @reg, '>=', 35, 'the command table was read (' . scalar(@reg) . ' directives)');
is_deeply([grep { !$documented{$_} } @reg], [],
          'every registered directive has a section in docs/directives.md');
is_deeply([grep { !exists $registered{$_} } @doc], [],
          'every directive documented in docs/directives.md is registered');
is_deeply([grep { !$other{$_} } 'AuthType Auth0', 'Require auth0-scope', 'Require auth0-role',
                                   'Require auth0-claim', 'SetHandler auth0-status'], [],
          'AuthType Auth0, the Require providers and the status handler have sections too');

for my $name (@reg) {
    my $d = $documented{$name} || {};
    my @missing = grep { !defined $d->{$_} || $d->{$_} eq '' }
                  qw(Description Syntax Default Context Override);
    is_deeply(\@missing, [], "$name: Description, Syntax, Default, Context and Override");
    my $words = () = ($d->{text} // '') =~ /[A-Za-z]{2,}/g;
    ok($words >= 10 && ($d->{Syntax} // '') =~ /\Q$name\E/,
       "$name: the syntax names it, and a description of some words follows");
    # .htaccess only for directives whose table entry allows an override class
    my $htaccess = ($registered{$name} // '') =~ /\bOR_(\w+)/ ? $1 : undef;
    my $says = ($d->{Context} // '') =~ /\.htaccess/ ? ($d->{Override} // '') : undef;
    if (defined $htaccess) {
        my %class = (AUTHCFG => 'AuthConfig', FILEINFO => 'FileInfo', OPTIONS => 'Options',
                     INDEXES => 'Indexes', LIMIT => 'Limit', ALL => 'All');
        is($says, $class{$htaccess} // $htaccess,
           "$name: Context lists .htaccess and Override is the table's class");
    }
    else {
        is($says, undef, "$name: the table allows no .htaccess, and the Context says none");
    }
}
