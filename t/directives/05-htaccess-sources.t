# What .htaccess may name as key material: key URLs, files, secrets and environment variables the server config names (as the same kind) or lists in Auth0HtaccessSources; anything else fails the .htaccess file (500, and a log line naming the file, the directive and the fix). Auth0InsecureHTTP On in .htaccess is warned about (AGW0002), at most once a minute.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 25;

my $HINT = qr/is not named by the server configuration.*add it to Auth0HtaccessSources in the server config/;

# ---- refused: 500 and the log line ----
for my $case (['unlisted-jwks', 'Auth0JWKS', 'https://127.0.0.1:1/unlisted/jwks.json', 'a key URL nobody named'],
              ['unlisted-file', 'Auth0HMACSecret', 'file:/etc/passwd', 'a secret file nobody named'],
              ['unlisted-env', 'Auth0HMACSecret', 'env:PATH', 'an environment variable nobody named'],
              ['cross-kind', 'Auth0JWKS', 'file:' . state_dir() . '/hmac.secret',
               'a file the server names as a secret, used as a key source']) {
    my ($dir, $directive, $value, $what) = @$case;
    log_watch();
    my $res = call(GET => "/htsrc/$dir/ok.txt", token => mint());
    is($res->code, 500, ".htaccess naming $what: 500");
    unlike($res->content, qr/htsrc \Q$dir\E/, "$dir: the file is not served");
    my $log = join '', log_lines();
    like($log, qr{htsrc/\Q$dir\E/\.htaccess: \Q$directive\E: \Q$value\E $HINT},
         "$dir: the log names the .htaccess file, $directive, the value and Auth0HtaccessSources");
}

# ---- accepted: listed in Auth0HtaccessSources ----
my $res = call(GET => '/htsrc/listed-jwks/ok.txt', token => mint(tenant => 'htsrc'));
is($res->code, 200, 'issuer and key URL listed in Auth0HtaccessSources: the tenant\'s token is accepted');
is($res->content, "htsrc listed-jwks\n", 'listed: the file is served');
is(outcome(call(GET => '/htsrc/listed-jwks/ok.txt', token => mint())), '401 invalid_token: unknown key',
   'listed: that directory checks tokens against the listed keys');
is(outcome(call(GET => '/htsrc/listed-file/ok.txt')), '401',
   'a secret file listed in Auth0HtaccessSources: the .htaccess is accepted (401 for no token, not 500)');
is(outcome(call(GET => '/htsrc/listed-file/ok.txt', token => mint(alg => 'HS256'))),
   '401 invalid_token: signature invalid', 'listed file: the listed secret is the one used (the server\'s does not verify)');

# ---- accepted: named by the server config elsewhere ----
$res = call(GET => '/htsrc/named-env/ok.txt', token => mint(alg => 'HS256'));
is($res->code, 200, 'env:AGW_HMAC_SECRET, named by the server config: HS256 token accepted');
$res = call(GET => '/htsrc/named-jwks/ok.txt', token => mint(tenant => 'algs'));
is($res->code, 200, 'issuer and key URL named by the server config (/gate/alg-all/): accepted');
is(outcome(call(GET => '/htsrc/named-jwks/ok.txt', token => mint())), '401 invalid_token: unknown key',
   'named: that directory checks tokens against those keys');

# ---- Auth0InsecureHTTP On in .htaccess: warned, at most once a minute per process ----
log_watch();
$res = call(GET => '/htsrc/insecure/ok.txt', token => mint());
is($res->code, 200, 'Auth0InsecureHTTP On in .htaccess: served');
my @warn = grep { /AGW0002: .*htsrc\/insecure\/\.htaccess:\d+: Auth0InsecureHTTP On/ } log_lines();
is(scalar @warn, 1, 'Auth0InsecureHTTP On in .htaccess: one AGW0002 warning naming the file and line');
like($warn[0] // '', qr/\[auth0gw:warn\]/, 'the warning is at level warn');
log_watch();
call(GET => '/htsrc/insecure/ok.txt', token => mint()) for 1 .. 3;
is(scalar(grep { /AGW0002/ } log_lines()), 0, 'the next requests within the minute: no further warning');

# ---- the existing .htaccess tree (t/directives/01-htaccess.t) names no key material ----
is(call(GET => '/htaccess/ok.txt', token => mint(claims => { scope => 'read:orders' }))->code, 200,
   '.htaccess that inherits its key source from <Directory>: unaffected');
