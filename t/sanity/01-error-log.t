# Runs last: over the whole error_log of the run, no httpd child crashed and nothing that looks like a token or an Authorization header was logged.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 6;

is(outcome(call(GET => '/gate/rs256/', token => mint())), '200', 'the server still answers');

# Requests of its own, each of which the gate logs (AGW0100), so that the log has content to
# search even when this file runs alone or after files that only start httpds of their own.
my $t = now();
my @refused = (mint(claims => { exp => $t - 3600 }), mint(claims => { aud => OTHER_AUD }),
               mint(claims => { nbf => $t + 3600 }), mint(claims => { iss => 'https://elsewhere.test/' }),
               mint() . 'x', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl');
my $answers = join ' ', map { call(GET => '/gate/rs256/', token => $_)->code } @refused;

my @log = _lines(Apache::Test::vars('t_logs') . '/error_log');
ok(@log > 10, 'the error_log has content (' . scalar(@log) . ' lines)');
# each by its fingerprint (the first 12 hex digits of the token's SHA-256), never in clear
my @unlogged = grep { my $fp = substr(sha256_hex($_), 0, 12); !grep { /AGW0100: .*\(fp=$fp,/ } @log }
               @refused;
is(scalar @unlogged, 0, "the tokens this file had refused ($answers) are logged by fingerprint");

my @crashes = grep { /exit signal|AH00052|AH00060|AH00061|AH10210|AddressSanitizer|Segmentation fault/ } @log;
is(scalar @crashes, 0, 'no child process crashed') or diag($crashes[0]);

# A JWS compact token starts with a base64url JSON header: "eyJ".
my @jwt = grep { /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/ } @log;
is(scalar @jwt, 0, 'nothing that looks like a JWT in the error_log') or diag($jwt[0]);

my @authz = grep { /Authorization:\s*Bearer|Bearer\s+eyJ/i } @log;
is(scalar @authz, 0, 'no Authorization header in the error_log') or diag($authz[0]);

sub _lines {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    return <$fh>;
}
