# The gate configured from .htaccess (AllowOverride AuthConfig): inheritance from <Directory>, a nested .htaccess that changes one directive, and a bad .htaccess giving 500.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 13;

my $T = now();
my $INSUFFICIENT = qr/\A403 insufficient_scope(: .+)?\z/;

my $res = call(GET => '/htaccess/ok.txt');
is(outcome($res), '401', '.htaccess: no token: 401');
is($res->header('WWW-Authenticate'), 'Bearer realm="agw-htaccess"', '.htaccess: AuthName from .htaccess');

$res = call(GET => '/htaccess/ok.txt', token => mint(claims => { scope => 'read:orders' }));
is($res->code, 200, '.htaccess: token with the scope: 200');
is($res->content, "htaccess ok\n", '.htaccess: the static file is served');
like(outcome(call(GET => '/htaccess/ok.txt', token => mint(claims => { scope => 'write:orders' }))),
     $INSUFFICIENT, '.htaccess: Require auth0-scope not met: 403');
is(outcome(call(GET => '/htaccess/ok.txt', token => mint(claims => { scope => 'read:orders', exp => $T - 120, iat => $T - 700 }))),
   '401 invalid_token: token expired', '.htaccess: expired token');
is(outcome(call(GET => '/htaccess/ok.txt', token => mint(claims => { scope => 'read:orders', iss => issuer_url('disc') }))),
   '401 invalid_token: issuer mismatch', '.htaccess: the issuer inherited from <Directory> is enforced');

# A nested .htaccess that sets only Auth0Audience.
is(outcome(call(GET => '/htaccess/other-aud/ok.txt', token => mint(claims => { scope => 'read:orders' }))),
   '401 invalid_token: audience mismatch', 'nested .htaccess: the parent audience no longer accepted');
$res = call(GET => '/htaccess/other-aud/ok.txt',
            token => mint(claims => { scope => 'read:orders', aud => OTHER_AUD }));
is($res->code, 200, 'nested .htaccess: its own audience accepted');
like(outcome(call(GET => '/htaccess/other-aud/ok.txt', token => mint(claims => { aud => OTHER_AUD }))),
     $INSUFFICIENT, 'nested .htaccess: the parent Require still applies');

# A bad .htaccess: Apache's usual 500 and a log line that names the directive.
log_watch();
$res = call(GET => '/htaccess-bad/ok.txt', token => mint());
is($res->code, 500, 'bad .htaccess (Auth0Algorithms none): 500');
unlike($res->content, qr/must never be served/, 'bad .htaccess: the file is not served');
my $log = join '', log_lines();
like($log, qr{htaccess-bad/\.htaccess: Auth0Algorithms}, 'the log names the .htaccess file and the directive');
