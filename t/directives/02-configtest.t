# apachectl configtest on small bad configurations: each one fails, and the message names the directive, where it is, and the fix.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use File::Path qw(make_path);

my $httpd   = Apache::Test::vars('httpd') || '/usr/sbin/apache2';
my $dir     = state_dir() . '/configtest';
my $modules = state_dir() . '/modules.conf';
make_path($dir);

my $n = 0;
# Writes a configuration with $body inside <Location /api/> and runs httpd -t on it:
# returns (exit status, output, file, line of the first line of $body).
sub configtest {
    my ($body, %o) = @_;
    $n++;
    my $file = "$dir/case$n.conf";
    my @head = (
        "# configtest case $n",
        "Include $modules",
        "ServerRoot $dir",
        "ServerName localhost",
        "ErrorLog $dir/error_log",
        "PidFile $dir/httpd.pid",
        "DefaultRuntimeDir $dir",
        ($o{server} ? $o{server} : ()),
        '<Location /api/>',
    );
    my $line = @head + 1;
    open my $fh, '>', $file or die "$file: $!";
    print $fh join("\n", @head, $body, '</Location>', ''), "\n";
    close $fh;
    local $ENV{AGW_CT_SECRET};
    $ENV{AGW_CT_SECRET} = $o{env_secret} if defined $o{env_secret};
    my $out = `'$httpd' -t -d '$dir' -f '$file' 2>&1`;
    my $status = $? >> 8;
    $? = 0;
    return ($status, $out, $file, $line);
}

my $GOOD = <<'EOF';
    AuthType Auth0
    AuthName "api"
    Auth0Issuer https://issuer.example/
    Auth0Audience https://api.example/
    Auth0JWKS https://issuer.example/.well-known/jwks.json
    Require valid-user
EOF
sub good_with {
    my ($replace, $with) = @_;
    (my $b = $GOOD) =~ s/^\s*\Q$replace\E.*\n/    $with\n/m or die "no $replace in the good config";
    return $b;
}
sub good_without {
    my ($drop) = @_;
    (my $b = $GOOD) =~ s/^\s*\Q$drop\E.*\n//m or die "no $drop in the good config";
    return $b;
}
sub good_plus { return $GOOD . join('', map { "    $_\n" } @_) }

plan tests => 65;

# ---- the control ----
my ($st, $out, $file, $line) = configtest($GOOD);
is($st, 0, 'a good configuration passes') or diag($out);
like($out, qr/Syntax OK/, 'Syntax OK');

# ---- missing Auth0Audience: a cross-directive check ----
($st, $out, $file) = configtest(good_without('Auth0Audience'));
isnt($st, 0, 'missing Auth0Audience: configtest fails');
like($out, qr/AGW0001: /, 'missing Auth0Audience: AGW0001');
like($out, qr/Auth0Audience/, 'missing Auth0Audience: the message names the directive');
like($out, qr/\Q$file\E(:| line )\d+/, 'missing Auth0Audience: the message names the file and line')
    or diag($out);

# ---- Auth0Mode, Auth0PassPreflight, auth0_claim() ----
($st, $out, $file) = configtest(good_plus('Auth0Mode audit'));
is($st, 1, 'Auth0Mode audit: fails');
like($out, qr/AH00526: Syntax error on line \d+ of \Q$file\E:/, 'Auth0Mode audit: file and line');
like($out, qr/Auth0Mode: 'audit' is not a mode; give enforce, optional or report-only/,
     'Auth0Mode audit: names the value and the valid modes');
($st, $out) = configtest(good_plus('Auth0Mode report-only', 'Auth0Mode optional', 'Auth0Mode ENFORCE'));
is($st, 0, 'Auth0Mode enforce, optional, report-only: pass') or diag($out);
($st, $out) = configtest(good_plus('Auth0Mode optional report-only'));
is($st, 1, 'Auth0Mode with two values: fails');
($st, $out, $file) = configtest(good_plus('Auth0DPoP sometimes'));
is($st, 1, 'Auth0DPoP sometimes: fails');
like($out, qr/AH00526: Syntax error on line \d+ of \Q$file\E:\n.*Auth0DPoP: 'sometimes' is not a DPoP mode; give off, allowed or required/,
     'Auth0DPoP sometimes: file, line, the value and the valid modes');
($st, $out) = configtest(good_plus('Auth0DPoP off', 'Auth0DPoP Allowed', 'Auth0DPoP required'));
is($st, 0, 'Auth0DPoP off, allowed, required: pass') or diag($out);
($st, $out) = configtest(good_plus('Auth0DPoP allowed required'));
is($st, 1, 'Auth0DPoP with two values: fails');
($st, $out) = configtest(good_plus('Auth0DPoPNonce always'));
is($st, 1, 'Auth0DPoPNonce always: fails');
like($out, qr/Auth0DPoPNonce must be On or Off/, 'Auth0DPoPNonce always: says On or Off');
($st, $out) = configtest(good_plus('Auth0DPoPNonce On', 'Auth0DPoPNonce off'));
is($st, 0, 'Auth0DPoPNonce On, off: pass') or diag($out);
($st, $out) = configtest(good_plus('Auth0PassPreflight maybe'));
is($st, 1, 'Auth0PassPreflight maybe: fails');
like($out, qr/Auth0PassPreflight must be On or Off/, 'Auth0PassPreflight maybe: says On or Off');
($st, $out) = configtest(good_with('Require', q{Require expr "auth0_claim('org_id') == 'acme'"}));
is($st, 0, "Require expr with auth0_claim('org_id'): passes") or diag($out);
($st, $out) = configtest(good_with('Require', q{Require expr "auth0_claim('/a~2b') == 'x'"}));
is($st, 1, 'auth0_claim with a bad JSON pointer: fails');
like($out, qr{auth0_claim\('/a~2b'\): }, 'the bad path is named');
($st, $out) = configtest(good_with('Require', q{Require expr "auth0_claim('sub', 'x') == 'x'"}));
is($st, 1, 'auth0_claim with two arguments: fails');

# ---- several issuers ----
($st, $out) = configtest(good_with('Auth0Issuer', 'Auth0Issuer https://issuer.example/ https://other.example/')
                         =~ s{Auth0JWKS (\S+)}{Auth0JWKS $1 https://issuer.example/}r);
is($st, 0, 'two issuers, one with a bound Auth0JWKS, the other by discovery: passes') or diag($out);
($st, $out, $file) = configtest(good_with('Auth0Issuer', 'Auth0Issuer https://issuer.example/ https://other.example/'));
isnt($st, 0, 'two issuers and an Auth0JWKS without an issuer: fails');
like($out, qr/AGW0001: \S+:\d+: with several issuers, Auth0JWKS \S+ \(\S+:\d+\) must name the issuer whose keys it holds: Auth0JWKS URL ISSUER/,
     'two issuers and an unbound Auth0JWKS: says how to bind it');
($st, $out) = configtest(good_with('Auth0JWKS', 'Auth0JWKS https://keys.example/jwks.json https://stranger.example/'));
isnt($st, 0, 'Auth0JWKS bound to an issuer the section does not trust: fails');
like($out, qr{Auth0JWKS binds keys to https://stranger\.example/, which is not an issuer of this section},
     'binding to a stranger: names it');
($st, $out) = configtest(good_with('Auth0JWKS', 'Auth0JWKS https://keys.example/jwks.json issuer.example'));
is($st, 1, 'Auth0JWKS with an issuer that is no URL: fails');
like($out, qr/Auth0JWKS: the second value names the issuer/, 'the issuer must be a URL');

# ---- Auth0Algorithms none / unknown ----
my $alg_line = $line + 6;   # the first line after $GOOD
($st, $out, $file) = configtest(good_plus('Auth0Algorithms RS256 none'));
is($st, 1, 'Auth0Algorithms none: fails');
like($out, qr/AH00526: Syntax error on line \Q$alg_line\E of \Q$file\E:/, 'Auth0Algorithms none: file and line');
like($out, qr/Auth0Algorithms: .*none/, 'Auth0Algorithms none: names the directive and the value');

($st, $out) = configtest(good_plus('Auth0Algorithms RS256 RS257'));
is($st, 1, 'Auth0Algorithms RS257: fails');
like($out, qr/Auth0Algorithms: .*RS257/, 'unknown algorithm: names it');
like($out, qr/RS256.*ES256|ES256.*RS256/s, 'unknown algorithm: lists the valid names');

($st, $out) = configtest(good_plus('Auth0Algorithms rs256'));
is($st, 1, 'Auth0Algorithms rs256 (wrong case): fails');

# ---- http:// key URLs ----
($st, $out, $file) = configtest(good_with('Auth0JWKS', 'Auth0JWKS http://issuer.example/.well-known/jwks.json'));
is($st, 1, 'http:// JWKS: fails');
like($out, qr/\Q$file\E:\d+: Auth0JWKS .*Auth0InsecureHTTP/,
     'http:// JWKS: names file:line, the directive and the fix (Auth0InsecureHTTP)');

($st, $out) = configtest(good_with('Auth0JWKS', "Auth0InsecureHTTP On\n    Auth0JWKS http://issuer.example/.well-known/jwks.json"));
is($st, 0, 'http:// JWKS after Auth0InsecureHTTP On: passes') or diag($out);
like($out, qr/Auth0InsecureHTTP/, 'and is warned about');

($st, $out) = configtest(good_with('Auth0JWKS', "Auth0JWKS http://issuer.example/.well-known/jwks.json\n    Auth0InsecureHTTP On"));
is($st, 0, 'http:// JWKS before Auth0InsecureHTTP On in the same section: passes too') or diag($out);

($st, $out) = configtest(good_with('Auth0JWKS', 'Auth0JWKS ftp://issuer.example/jwks.json'));
is($st, 1, 'ftp:// JWKS: fails');

# ---- secrets ----
my $missing = "$dir/no-such-secret";
($st, $out, $file) = configtest(good_plus('Auth0Algorithms HS256', "Auth0HMACSecret file:$missing"));
is($st, 1, 'unreadable Auth0HMACSecret file: fails');
like($out, qr/Auth0HMACSecret: .*\Q$missing\E/, 'unreadable secret file: names the directive and the path');

my $secret_file = "$dir/secret";
open my $sf, '>', $secret_file or die $!;
print $sf "s3cr3t-value-that-must-not-be-printed-0123456789\n";
close $sf;
($st, $out) = configtest(good_plus('Auth0Algorithms HS256', "Auth0HMACSecret file:$secret_file"));
is($st, 0, 'readable secret file: passes') or diag($out);
unlike($out, qr/s3cr3t/, 'the secret is never printed');

my $empty = "$dir/empty-secret";
open $sf, '>', $empty or die $!;
close $sf;
($st, $out) = configtest(good_plus('Auth0Algorithms HS256', "Auth0HMACSecret file:$empty"));
is($st, 1, 'empty secret file: fails');

($st, $out) = configtest(good_plus('Auth0Algorithms HS256', 'Auth0HMACSecret env:AGW_CT_UNSET_VARIABLE'));
is($st, 1, 'Auth0HMACSecret env: of an unset variable: fails');
like($out, qr/Auth0HMACSecret: .*AGW_CT_UNSET_VARIABLE/, 'unset variable: named');

($st, $out) = configtest(good_plus('Auth0Algorithms HS256', 'Auth0HMACSecret env:AGW_CT_SECRET'),
                         env_secret => 'another-secret-value-0123456789abcdef0123');
is($st, 0, 'Auth0HMACSecret env: of a set variable: passes') or diag($out);

# ---- numbers and lists ----
($st, $out) = configtest(good_plus('Auth0Leeway -5'));
is($st, 1, 'Auth0Leeway -5: fails');
like($out, qr/Auth0Leeway: /, 'Auth0Leeway: named');
($st, $out) = configtest(good_plus('Auth0Leeway 30s'));
is($st, 1, 'Auth0Leeway 30s: fails');
($st, $out) = configtest(good_plus('Auth0KeyRefreshCooldown 0'));
is($st, 1, 'Auth0KeyRefreshCooldown 0: fails');
like($out, qr/Auth0KeyRefreshCooldown: /, 'Auth0KeyRefreshCooldown: named');
($st, $out) = configtest(good_plus('Auth0TokenFrom header cookie'));
is($st, 1, 'Auth0TokenFrom cookie (no name): fails');
like($out, qr/Auth0TokenFrom: /, 'Auth0TokenFrom: named');
($st, $out) = configtest(good_plus('Auth0TokenFrom body=token'));
is($st, 1, 'Auth0TokenFrom body=token: fails');

# ---- a CA file that is not there ----
($st, $out) = configtest(good_plus("Auth0CAFile $dir/no-such-ca.pem"));
is($st, 1, 'Auth0CAFile missing: fails');
like($out, qr/Auth0CAFile: .*no-such-ca\.pem/, 'Auth0CAFile: names the path');

# ---- Auth0HtaccessSources: server config and <VirtualHost> only ----
($st, $out) = configtest(good_plus('Auth0HtaccessSources https://other.example/jwks.json'));
is($st, 1, 'Auth0HtaccessSources inside <Location>: fails');
like($out, qr/Auth0HtaccessSources not allowed in <Location> context/, 'Auth0HtaccessSources in <Location>: the message says where it is not allowed');
($st, $out) = configtest($GOOD, server => "Auth0HtaccessSources https://other.example/jwks.json env:AGW_CT_SECRET\n"
                                        . "<VirtualHost 127.0.0.1:80>\n    Auth0HtaccessSources file:/etc/agw.secret\n</VirtualHost>");
is($st, 0, 'Auth0HtaccessSources at server and <VirtualHost> level: accepted') or diag $out;
