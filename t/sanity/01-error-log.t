# Runs last: over the whole error_log of the run, no httpd child crashed and nothing that looks like a token or an Authorization header was logged.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 5;

is(outcome(call(GET => '/gate/rs256/', token => mint())), '200', 'the server still answers');

open my $fh, '<', Apache::Test::vars('t_logs') . '/error_log' or die "error_log: $!";
my @log = <$fh>;
ok(@log > 10, 'the error_log has content (' . scalar(@log) . ' lines)');

my @crashes = grep { /exit signal|AH00052|AH00060|AH00061|AH10210|AddressSanitizer|Segmentation fault/ } @log;
is(scalar @crashes, 0, 'no child process crashed') or diag($crashes[0]);

# A JWS compact token starts with a base64url JSON header: "eyJ".
my @jwt = grep { /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/ } @log;
is(scalar @jwt, 0, 'nothing that looks like a JWT in the error_log') or diag($jwt[0]);

my @authz = grep { /Authorization:\s*Bearer|Bearer\s+eyJ/i } @log;
is(scalar @authz, 0, 'no Authorization header in the error_log') or diag($authz[0]);
