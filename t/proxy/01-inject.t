# Gateway-to-machine injection: proxied requests carry the client-credentials token instead of the caller's Authorization, through ProxyPass, RewriteRule [P], a balancer and <Proxy>; other requests are untouched; each client authentication method reaches the token endpoint as it should.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use MIME::Base64 qw(decode_base64);

plan tests => 57;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $PUBKEY = `openssl pkey -in '$FindBin::Bin/../fixtures/proxy-client-es256.pem' -pubout 2>/dev/null`;
BAIL_OUT('cannot derive the public key of t/fixtures/proxy-client-es256.pem') unless $PUBKEY =~ /BEGIN PUBLIC KEY/;

register_client('pxpost',  client_id => 'px-post-client', client_secret => $SECRET, scope => 'read:orders write:orders');
register_client('pxenv',   client_id => 'px-env-client',  client_secret => $SECRET);
register_client('pxbasic', client_id => 'agw:client+1% x', client_secret => 's3:cr+t%20 x');
register_client('pxjwt',   client_id => 'px-jwt-client',  public_key_pem => $PUBKEY);
register_client('pxlocal', client_id => 'px-local-client', client_secret => $SECRET);

my $CALLER = 'Bearer caller-own-token.that.must-not-travel';
my @tokens;     # every cc token seen, to check the log for them at the end

sub claims_of {
    my ($auth) = @_;
    return {} unless defined $auth && $auth =~ /^Bearer (\S+)$/;
    my @p = split /\./, $1;
    return eval { JSON::PP::decode_json(b64u_decode($p[1])) } || {};
}

log_watch();

# ---- ProxyPass, client_secret_post, secret from a file -----------------------------------
my $res = call(GET => '/px/post/a?x=1', headers => [Authorization => $CALLER]);
is($res->code, 200, 'ProxyPass: 200 from the backend');
my $auth = echo_auth($res);
like($auth, qr/^Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'backend receives Bearer <JWT>');
isnt($auth, $CALLER, "the caller's Authorization does not reach the backend");
is(scalar(grep { lc $_->[0] eq 'authorization' } @{ echo_of($res)->{headers} }), 1,
   'exactly one Authorization header reaches the backend');
push @tokens, $auth;
my $c = claims_of($auth);
is($c->{azp}, 'px-post-client', 'token issued to px-post-client');
is($c->{aud}, 'https://orders.agw.test/', 'with the configured audience');
is($c->{scope}, 'read:orders', 'and the configured scope');
is(echo_of($res)->{url}, '/echo/post/a?x=1', 'path and query reach the backend');

my $req = stats('pxpost')->{last_token_request};
is($req->{auth_method}, 'client_secret_post', 'px-post: client_secret_post');
is($req->{authorization_header}, undef, 'px-post: no Authorization header at the endpoint');
is($req->{params}{grant_type}, 'client_credentials', 'px-post: grant_type');
is($req->{params}{organization}, 'org_123', 'px-post: Auth0ClientParam sent');
is($req->{content_type}, 'application/x-www-form-urlencoded', 'px-post: a form');
is(token_requests('pxpost'), 1, 'px-post: one token request so far');

$res = call(GET => '/px/post/b');
is(echo_auth($res), $auth, 'no caller Authorization: the same cached token is injected');
is(token_requests('pxpost'), 1, 'px-post: still one token request');

# ---- RewriteRule [P], balancer, <Proxy> -------------------------------------------------------
$res = call(GET => '/px/rewrite/r1', headers => [Authorization => $CALLER]);
is($res->code, 200, 'RewriteRule [P]: 200');
is(echo_of($res)->{url}, '/echo/rewrite/r1', 'RewriteRule [P]: rewritten URL reached');
is(echo_auth($res), $auth, 'RewriteRule [P]: the client token replaces the caller\'s');

$res = call(GET => '/px/balancer/b1', headers => [Authorization => $CALLER]);
is($res->code, 200, 'balancer: 200');
is(echo_of($res)->{url}, '/echo/balancer/b1', 'balancer: member URL reached');
is(echo_auth($res), $auth, 'balancer: the client token replaces the caller\'s');

$res = call(GET => '/px/inproxy/p1', headers => [Authorization => $CALLER]);
is($res->code, 200, '<Proxy> section: 200');
is(echo_auth($res), $auth, 'Auth0ProxyClient in <Proxy>: the client token is injected');
$res = call(GET => '/px/sethandler/s1', headers => [Authorization => $CALLER]);
is($res->code, 200, 'SetHandler proxy:URL: 200');
like(echo_of($res)->{url}, qr{^/echo/sethandler/}, 'SetHandler proxy:URL: the backend reached');
is(echo_auth($res), $auth, 'SetHandler proxy:URL: the client token replaces the caller\'s');
is(token_requests('pxpost'), 1, 'px-post: one token request for all of these');

# ---- untouched: proxied without a client, and a client on a location that is not proxied ----
$res = call(GET => '/px/plain/x', headers => [Authorization => $CALLER]);
is($res->code, 200, 'proxied without Auth0ProxyClient: 200');
is(echo_auth($res), $CALLER, 'proxied without Auth0ProxyClient: caller\'s header untouched');

$res = call(GET => '/px/local/x', headers => [Authorization => $CALLER]);
is($res->code, 200, 'not proxied (CGI) with Auth0ProxyClient: 200');
is(json_of($res)->{env}{HTTP_AUTHORIZATION}, $CALLER, 'not proxied: caller\'s header untouched');
is(token_requests('pxlocal'), 0, 'not proxied: no token request at all');

# ---- the incoming gate and the outgoing token together -------------------------------------
my $user = mint();
$res = call(GET => '/px/gated/g', token => $user);
is($res->code, 200, 'gated + proxied: a valid user token passes the gate');
is(echo_auth($res), $auth, 'gated + proxied: the backend gets the client token, not the user\'s');
unlike(echo_of($res)->{headers} ? JSON::PP::encode_json(echo_of($res)->{headers}) : '',
       qr/\Q$user\E/, 'the user token appears in no header the backend received');
is(outcome(call(GET => '/px/gated/g')), '401', 'gated + proxied: no user token, 401');

# ---- secret from the environment -----------------------------------------------------------
$res = call(GET => '/px/env/e');
is($res->code, 200, 'env: secret: 200');
is(claims_of(echo_auth($res))->{azp}, 'px-env-client', 'env: secret: token of px-env-client');
push @tokens, echo_auth($res);
is(token_requests('pxenv'), 1, 'env: secret: one token request');

# ---- client_secret_basic with : + % and space in id and secret ----------------------------------
$res = call(GET => '/px/basic/s');
is($res->code, 200, 'client_secret_basic: 200 (the issuer decoded id and secret)');
is(claims_of(echo_auth($res))->{azp}, 'agw:client+1% x', 'basic: token for the special id');
push @tokens, echo_auth($res);
$req = stats('pxbasic')->{last_token_request};
is($req->{auth_method}, 'client_secret_basic', 'basic: Authorization: Basic used');
is($req->{client_id}, 'agw:client+1% x', 'basic: id form-decoded back exactly');
ok(!exists $req->{params}{client_id}, 'basic: no client_id in the form');
is(token_requests('pxbasic'), 1, 'basic: one token request');

# ---- private_key_jwt -------------------------------------------------------------------------
$res = call(GET => '/px/jwt/j');
is($res->code, 200, 'private_key_jwt: 200 (the issuer verified the assertion)');
is(claims_of(echo_auth($res))->{azp}, 'px-jwt-client', 'private_key_jwt: token for px-jwt-client');
push @tokens, echo_auth($res);
$req = stats('pxjwt')->{last_token_request};
is($req->{auth_method}, 'private_key_jwt', 'private_key_jwt: the method the issuer saw');
is($req->{assertion_error}, undef, 'private_key_jwt: no assertion error');
is($req->{assertion}{header}{alg}, 'ES256', 'assertion alg ES256 (from the P-256 key)');
is($req->{assertion}{header}{kid}, 'px-jwt-key', 'assertion kid from Auth0ClientKeyID');
is($req->{assertion}{claims}{aud}, "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}/t/pxjwt/oauth/token",
   'assertion aud is the token URL');
ok(!exists $req->{params}{client_secret}, 'private_key_jwt: no client_secret');

# ---- the log: AGW0210 lines with fingerprints, never a token or a secret -------------------------
my @lines = log_lines();
my @got = grep { /AGW0210: token for client px-post obtained from \S+, expires in \d+ s \(fp=[0-9a-f]{12}\)/ } @lines;
is(scalar @got, 1, 'one AGW0210 line for px-post, with a fingerprint');
my $all = join '', @lines;
my @leaks = grep { my $t = (split ' ', $_)[1]; index($all, $t) >= 0 } @tokens;
is(scalar @leaks, 0, 'no token obtained appears in error_log');
ok(index($all, $SECRET) < 0 && index($all, 's3:cr+t%20 x') < 0, 'no client secret appears in error_log');
