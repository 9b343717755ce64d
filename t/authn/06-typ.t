# Explicit typing (RFC 8725 3.11, RFC 9068): without Auth0TokenType only a typ that names another kind of JWT is refused; with it the typ must be listed; the verified-token cache lets no token past either rule; the directive's config error.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use File::Path qw(make_path);

plan tests => 34;

my $DEFAULT = '/gate/rs256/';
my $TYPED   = '/gate/typ/';          # Auth0TokenType at+jwt
my $DPOP_OK = '/gate/typ-dpop/';     # Auth0TokenType application/JWT dpop+jwt
my $REFUSED = '401 invalid_token: typ not accepted';
my $n = 0;

# A token whose header typ is $typ (undef: no typ at all); a jti per token keeps them distinct.
sub typed {
    my ($typ, %claims) = @_;
    return mint(header => { typ => $typ }, claims => { jti => 'typ-' . ++$n, %claims });
}
sub at { my ($path, $token) = @_; return outcome(call(GET => $path, token => $token)) }

log_watch();

# ---- no Auth0TokenType: access-token types and no typ pass, other JWT kinds are refused ----
is(at($DEFAULT, typed('at+jwt')), '200', 'default: typ at+jwt accepted');
is(at($DEFAULT, typed('JWT')), '200', 'default: typ JWT (Auth0) accepted');
is(at($DEFAULT, typed('application/jwt')), '200', 'default: application/jwt accepted');
is(at($DEFAULT, typed('JOSE')), '200', 'default: typ JOSE accepted');
is(at($DEFAULT, typed(undef)), '200', 'default: no typ accepted');
is(at($DEFAULT, typed('dpop+jwt')), $REFUSED, 'default: a DPoP proof (dpop+jwt) refused');
is(at($DEFAULT, typed('application/DPoP+JWT')), $REFUSED, 'default: application/DPoP+JWT refused');
is(at($DEFAULT, typed('logout+jwt', events => { 'http://schemas.openid.net/event/backchannel-logout' => {} })),
   $REFUSED, 'default: a logout token (logout+jwt) refused');
is(at($DEFAULT, typed('secevent+jwt')), $REFUSED, 'default: a SET (secevent+jwt) refused');
is(at($DEFAULT, typed('id_token+jwt', nonce => 'n-1')), $REFUSED, 'default: id_token+jwt refused');
is(at($DEFAULT, typed('JOSE+JSON')), $REFUSED, 'default: JOSE+JSON refused');

# ---- Auth0TokenType at+jwt: only that ----
is(at($TYPED, typed('at+jwt')), '200', 'at+jwt required: at+jwt accepted');
is(at($TYPED, typed('application/AT+JWT')), '200', 'at+jwt required: application/AT+JWT accepted');
is(at($TYPED, typed('JWT', nonce => 'n-2')), $REFUSED,
   'at+jwt required: typ JWT (an ID token as Auth0 issues it, aud = the API) refused');
is(at($TYPED, typed(undef)), $REFUSED, 'at+jwt required: no typ refused');
is(at($TYPED, typed('dpop+jwt')), $REFUSED, 'at+jwt required: dpop+jwt refused');
is(at($DPOP_OK, typed('dpop+jwt')), '200', 'a list: dpop+jwt accepted where listed');
is(at($DPOP_OK, typed('JWT')), '200', 'a list: JWT accepted where listed as application/JWT');
is(at($DPOP_OK, typed('at+jwt')), $REFUSED, 'a list: at+jwt refused where not listed');

# ---- the verified-token cache ----
# A token is cached on its second acceptance; a location with Auth0TokenType must not take it
# from there.
my $jwt = typed('JWT');
is(at($DEFAULT, $jwt), '200', 'typ JWT accepted by default');
is(at($DEFAULT, $jwt), '200', 'again (now cached)');
is(at($DEFAULT, $jwt), '200', 'again (from the cache)');
is(at($TYPED, $jwt), $REFUSED, 'the cached typ JWT token is still refused where at+jwt is required');
# A type accepted only by an explicit list must not be served to other locations from the cache.
my $dpop = typed('dpop+jwt');
is(at($DPOP_OK, $dpop), '200', 'dpop+jwt accepted where listed');
is(at($DPOP_OK, $dpop), '200', 'again');
is(at($DPOP_OK, $dpop), '200', 'and again');
is(at($DEFAULT, $dpop), $REFUSED, 'the same dpop+jwt token is refused at a default location');

my @log = log_lines();
my @typ_lines = grep { /AGW0100: token rejected: typ not accepted \(fp=[0-9a-f]{12}, iss=/ } @log;
ok(@typ_lines >= 10, 'each typ refusal is logged as AGW0100 with a fingerprint') or diag(scalar @typ_lines);
ok(!grep({ index($_, $jwt) >= 0 || index($_, $dpop) >= 0 } @log), 'no token in the log');
ok((grep { /AGW0105: token accepted from (?:the verified-token cache|the host's table)/ } @log),
   'the control: the default location did serve a token from a cache (the process\'s or the host\'s)');

# ---- .htaccess ----
is(at('/htaccess/typ/ok.txt', typed('at+jwt')), '200', '.htaccess Auth0TokenType at+jwt: at+jwt accepted');
is(at('/htaccess/typ/ok.txt', typed('JWT')), $REFUSED, '.htaccess Auth0TokenType at+jwt: JWT refused');

# ---- a bad value fails the configuration ----
my $httpd   = Apache::Test::vars('httpd') || '/usr/sbin/apache2';
my $dir     = state_dir() . '/configtest-typ';
make_path($dir);
my $file = "$dir/typ.conf";
open my $fh, '>', $file or die "$file: $!";
print $fh join("\n", 'Include ' . state_dir() . '/modules.conf', "ServerRoot $dir",
               'ServerName localhost', "ErrorLog $dir/error_log", "PidFile $dir/httpd.pid",
               "DefaultRuntimeDir $dir", '<Location /api/>', '    Auth0TokenType text/plain',
               '</Location>', '');
close $fh;
my $out = `'$httpd' -t -d '$dir' -f '$file' 2>&1`;
my $status = $? >> 8;
$? = 0;
isnt($status, 0, 'Auth0TokenType text/plain: configtest fails');
like($out, qr/Auth0TokenType: 'text\/plain' is not a media type name; give a JOSE typ such as at\+jwt/,
     'Auth0TokenType text/plain: configtest names the directive and the fix') or diag($out);
