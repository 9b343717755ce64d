# The caller's token stays at the gateway: on a location with Auth0ProxyClient, the backend gets neither the header, the cookie nor the query parameter that Auth0TokenFrom reads the caller's token from (ProxyPass, nocanon, RewriteRule [P], SetHandler proxy:, behind the gate), while other headers, cookies and parameters reach it unchanged.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);

plan tests => 40;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my (undef, $PORT) = split /:/, Apache::TestRequest::hostport();
register_client('pxscrub', client_id => 'px-scrub-client', client_secret => $SECRET);

my $CALLER = 'caller-own-token.that.must-not-travel';

sub get {
    my ($target, @headers) = @_;
    return raw_request($PORT, "GET $target HTTP/1.0", \@headers);
}

sub headers_named {
    my ($res, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ echo_of($res)->{headers} || [] };
}

# Nothing the backend received (URL, any header, body) holds the caller's token.
sub clean {
    my ($res, $token) = @_;
    return index($res->{content}, $token) < 0;
}

log_watch();

# ---- every kind of source at once -----------------------------------------------------------
my $res = get("/px/scrub/a?x=1&access_token=$CALLER&y=2",
              "Authorization: Bearer $CALLER",
              "X-Api-Token: $CALLER",
              "X_Api_Token: $CALLER",
              "Cookie: sess=abc; agw_at=$CALLER; theme=dark",
              "Cookie: agw_at=$CALLER",
              'X-Other: kept');
is($res->{status}, 200, 'all sources: 200 from the backend');
like(echo_auth($res), qr/^Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'all sources: the backend gets our token');
is(scalar(headers_named($res, 'Authorization')), 1, 'all sources: exactly one Authorization');
is(echo_of($res)->{url}, '/echo/scrub/a?x=1&y=2', 'query=access_token removed, x and y kept in order');
is_deeply([headers_named($res, 'Cookie')], ['sess=abc; theme=dark'],
          'cookie=agw_at removed from both Cookie fields, the other cookies kept');
is(scalar(headers_named($res, 'X-Api-Token')), 0, 'header=X-Api-Token removed');
is(scalar(headers_named($res, 'X_Api_Token')), 0, 'its underscore spelling removed too');
is(echo_header($res, 'X-Other'), 'kept', 'an unrelated header kept');
ok(clean($res, $CALLER), "all sources: the caller's token appears nowhere in what the backend got");
my $ours = echo_auth($res);

# ---- the query parameter: encoded name, alone, empty, a look-alike ----------------------------
$res = get("/px/scrub/b?acc%65ss_token=$CALLER&z=1");
is($res->{status}, 200, 'encoded name: 200');
is(echo_of($res)->{url}, '/echo/scrub/b?z=1', 'a percent-encoded parameter name is removed too');
ok(clean($res, $CALLER), 'encoded name: the token appears nowhere');

$res = get("/px/scrub/c?access_token=$CALLER");
is(echo_of($res)->{url}, '/echo/scrub/c', 'the only parameter removed: no query left, no "?"');

$res = get("/px/scrub/d?access_token_hint=1&my_access_token=2&access_token=&q=3");
is(echo_of($res)->{url}, '/echo/scrub/d?access_token_hint=1&my_access_token=2&q=3',
   'only the parameter of that exact name goes; look-alike names stay');

# ---- the cookie: alone, any case, spaces ------------------------------------------------------
$res = get('/px/scrub/e', "Cookie: agw_at=$CALLER");
is($res->{status}, 200, 'cookie alone: 200');
is(scalar(headers_named($res, 'Cookie')), 0, 'the token cookie alone: no Cookie header reaches the backend');

$res = get('/px/scrub/f', "Cookie: a=1;AGW_AT=$CALLER ;  b=2", "Cookie: agw_at2=keep");
# httpd joins repeated fields with ", " before any module sees them
is_deeply([headers_named($res, 'Cookie')], ['a=1; b=2, agw_at2=keep'],
          'the cookie name in another case removed; a longer name kept');
ok(clean($res, $CALLER), 'cookie any case: the token appears nowhere');

# ---- nocanon, RewriteRule [P], SetHandler proxy: ----------------------------------------------
$res = get("/px/scrubnc/n?access_token=$CALLER&k=v");
is($res->{status}, 200, 'nocanon: 200');
is(echo_of($res)->{url}, '/echo/scrubnc/n?k=v', 'nocanon: the parameter removed from the forwarded query');

$res = get("/px/scrubrw/r?k=v&access_token=$CALLER", "Cookie: agw_at=$CALLER; other=1");
is($res->{status}, 200, 'RewriteRule [P]: 200');
is(echo_of($res)->{url}, '/echo/scrubrw/r?k=v', 'RewriteRule [P]: the parameter removed');
is_deeply([headers_named($res, 'Cookie')], ['other=1'], 'RewriteRule [P]: the cookie removed');
is(echo_auth($res), $ours, 'RewriteRule [P]: our token injected');
ok(clean($res, $CALLER), 'RewriteRule [P]: the token appears nowhere');

$res = get("/px/scrubsh/s?access_token=$CALLER&k=v", "Cookie: agw_at=$CALLER; other=1");
is($res->{status}, 200, 'SetHandler proxy: 200');
like(echo_of($res)->{url}, qr{^/echo/scrubsh}, 'SetHandler proxy: the backend reached');
is_deeply([headers_named($res, 'Cookie')], ['other=1'], 'SetHandler proxy: the cookie removed');
ok(clean($res, $CALLER), 'SetHandler proxy: the token appears nowhere');

# ---- behind the gate: the cookie that passed the gate does not go on --------------------------
my $user = mint();
$res = get('/px/scrubgate/g?keep=1', "Cookie: pref=1; agw_at=$user");
is($res->{status}, 200, 'gated: a valid user token in the cookie passes the gate');
is(echo_auth($res), $ours, 'gated: the backend gets our token');
is_deeply([headers_named($res, 'Cookie')], ['pref=1'], 'gated: the user cookie removed, the other kept');
ok(clean($res, $user), 'gated: the user token appears nowhere in what the backend got');
$res = get("/px/scrubgate/q?access_token=$user&keep=1");
is($res->{status}, 200, 'gated, token in the query: 200');
is(echo_of($res)->{url}, '/echo/scrubgate/q?keep=1', 'gated: the parameter removed, keep=1 kept');
ok(clean($res, $user), 'gated, query: the user token appears nowhere');
is(get('/px/scrubgate/n', "Cookie: pref=1")->{status}, 401, 'gated: no token, 401 (nothing forwarded)');

# ---- a proxied location without Auth0ProxyClient keeps its cookies and parameters -------------
$res = get("/px/plain/p?access_token=x&k=v", "Cookie: agw_at=x");
is(echo_of($res)->{url}, '/echo/plain/p?access_token=x&k=v', 'no Auth0ProxyClient: the query untouched');
is_deeply([headers_named($res, 'Cookie')], ['agw_at=x'], 'no Auth0ProxyClient: the cookie untouched');

my $all = join '', log_lines();
ok(index($all, $user) < 0 && index($all, (split ' ', $ours)[1]) < 0,
   'neither the user token nor ours appears in error_log');
