# DPoP at the gate (RFC 9449): Authorization: DPoP with a proof accepted once, replays, stolen tokens, bound tokens sent as Bearer, Auth0DPoP required and off, the DPoP challenge; proofs made by t/fixtures/dpop-proof.js (Node's crypto).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use AGW::Test qw(:all);
use JSON::PP ();

plan tests => 52;

my $DIR = state_dir() . '/dpop';
mkdir $DIR unless -d $DIR;
sub keyfile {
    my ($name, @gen) = @_;
    my $f = "$DIR/$name.pem";
    system('openssl', 'genpkey', @gen, '-out', $f) == 0 or die "openssl genpkey $name failed"
        unless -s $f;
    return $f;
}
my $KEY_A = keyfile('a', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
my $KEY_B = keyfile('b', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
my $KEY_ED = keyfile('ed', '-algorithm', 'ED25519');

my $JSON = JSON::PP->new->canonical;
sub dpop {
    my (%a) = @_;
    my $out = `node '$FindBin::Bin/../fixtures/dpop-proof.js' '@{[ $JSON->encode(\%a) ]}'`;
    die "dpop-proof.js failed ($?)" if $?;
    return $JSON->decode($out);
}

my $BASE = 'http://' . Apache::TestRequest::hostport();
my %bob = (sub => 'auth0|bob', scope => 'read:orders');
my $jkt_a = dpop(key => $KEY_A, thumbprint_only => JSON::PP::true)->{jkt};
my $jkt_ed = dpop(key => $KEY_ED, thumbprint_only => JSON::PP::true)->{jkt};
my $bound = mint(claims => { %bob, cnf => { jkt => $jkt_a } });
my $bound_ed = mint(claims => { %bob, cnf => { jkt => $jkt_ed } });
my $plain = mint(claims => \%bob);

# A request with Authorization: DPoP and the given proof(s).
sub with_dpop {
    my ($method, $path, $token, @proofs) = @_;
    return call($method => $path,
                headers => [Authorization => "DPoP $token", map { (DPoP => $_) } @proofs]);
}
sub proof_for {
    my ($key, $method, $path, $token, %more) = @_;
    return dpop(key => $key, method => $method, url => "$BASE$path", token => $token, %more)->{proof};
}
sub said {
    my ($res) = @_;
    my $c = challenge($res);
    return join ' ', $res->code, $c->{scheme} // '-', $c->{error} // '-',
                     $c->{error_description} // '-';
}

my $P = '/gate/dpop/orders';

# ---- accepted once; replay refused ----
log_watch();
my $proof = proof_for($KEY_A, GET => $P, $bound);
my $res = with_dpop(GET => $P, $bound, $proof);
is($res->code, 200, 'a DPoP-bound token with its proof: 200');
is(json_of($res)->{env}{REMOTE_USER}, 'auth0|bob', 'REMOTE_USER from the bound token');
ok((grep { /AGW0120: sender constraint proved .*dpop=ES256, jkt bound=yes/ } log_lines()),
   'AGW0120 logged (debug) for the proved request');
$res = with_dpop(GET => $P, $bound, $proof);
is(said($res), '401 DPoP invalid_dpop_proof DPoP proof replayed', 'the same proof again: replay refused');
my $c = challenge($res);
like($c->{raw}, qr/\ADPoP algs="ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA", realm="agw-test", error="invalid_dpop_proof", error_description="DPoP proof replayed"\z/,
     'the challenge: DPoP algs="...", realm, error, error_description (RFC 9449 7.1)');
ok((grep { /AGW0100: token rejected: DPoP proof replayed .*refusal=dpop_proof/ } log_lines()),
   'AGW0100 with refusal=dpop_proof');
ok(!(grep { /\Q$proof\E|\Q$bound\E/ } log_lines()), 'neither token nor proof in the error log');
# the token now comes from the verified-token cache: its proof is still checked
is(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => $P, $bound))->code, 200,
   'a fresh proof for the cached token: 200');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => $P, $bound, jti => 'fixed-1'))), '200 - - -',
   'jti fixed-1 first: 200');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => $P, $bound, jti => 'fixed-1'))),
   '401 DPoP invalid_dpop_proof DPoP proof replayed', 'another proof with the same jti and key: replay');
is(with_dpop(GET => $P, $bound_ed, proof_for($KEY_ED, GET => $P, $bound_ed, jti => 'fixed-1'))->code, 200,
   'the same jti from another key is not a replay (Ed25519 proof): 200');

# ---- stolen token, wrong request ----
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_B, GET => $P, $bound))),
   '401 DPoP invalid_token token is bound to another DPoP key', 'stolen token with a proof by another key: 401');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => '/gate/dpop/other', $bound))),
   '401 DPoP invalid_dpop_proof DPoP proof htu does not match the request', 'htu of another path: 401');
is(said(with_dpop(GET => "$P?a=1", $bound, proof_for($KEY_A, GET => $P, $bound))), '200 - - -',
   'the query is not part of htu: 200');
is(said(with_dpop(GET => $P, $bound, dpop(key => $KEY_A, method => 'GET', url => "$BASE$P?a=1",
                                          token => $bound)->{proof})),
   '401 DPoP invalid_dpop_proof DPoP proof htu does not match the request', 'an htu with a query: 401');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => $P, $bound, url => "https://"
                                               . Apache::TestRequest::hostport() . $P))),
   '401 DPoP invalid_dpop_proof DPoP proof htu does not match the request', 'https htu for an http request: 401');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, POST => $P, $bound))),
   '401 DPoP invalid_dpop_proof DPoP proof htm does not match the request', 'htm POST for a GET: 401');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => $P, $plain))),
   '401 DPoP invalid_dpop_proof DPoP proof ath does not match the token', 'ath of another token: 401');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => $P, $bound, iat => now() - 600))),
   '401 DPoP invalid_dpop_proof DPoP proof is too old', 'iat ten minutes old: 401');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => $P, $bound, typ => 'JWT'))),
   '401 DPoP invalid_dpop_proof DPoP proof typ is not dpop+jwt', 'typ JWT: 401');
is(said(with_dpop(GET => $P, $bound)),
   '401 DPoP invalid_dpop_proof DPoP scheme without exactly one DPoP header', 'no DPoP header: 401');
is(said(with_dpop(GET => $P, $bound, proof_for($KEY_A, GET => $P, $bound),
                  proof_for($KEY_A, GET => $P, $bound))),
   '401 DPoP invalid_dpop_proof DPoP scheme without exactly one DPoP header', 'two DPoP headers: 401');
is(said(with_dpop(GET => $P, $bound, '@@.@@.@@')),
   '401 DPoP invalid_dpop_proof DPoP proof signature is not base64url', 'a DPoP header of junk: 401');
is(said(with_dpop(GET => $P, $bound, $bound)),
   '401 DPoP invalid_dpop_proof DPoP proof typ is not dpop+jwt', 'the access token as its own proof: 401');
{
    my $d = dpop(key => $KEY_A, method => 'GET', url => "$BASE$P", token => $bound);
    my ($h, $p, $s) = split /\./, $d->{proof};
    my $hdr = $JSON->decode(b64u_decode($h));
    $hdr->{jwk}{d} = 'AAAA';
    is(said(with_dpop(GET => $P, $bound, join('.', b64u($JSON->encode($hdr)), $p, $s))),
       '401 DPoP invalid_dpop_proof DPoP proof jwk holds a private key', 'a jwk with a private member: 401');
}

# ---- Bearer ----
is(said(call(GET => $P, token => $bound)),
   '401 DPoP invalid_token DPoP-bound token sent without DPoP', 'a DPoP-bound token as Bearer: 401');
is(said(call(GET => $P, token => $plain)), '200 - - -', 'allowed: a plain Bearer token still passes');
is(said(call(GET => $P, token => mint(claims => { %bob, exp => now() - 120, iat => now() - 700 }))),
   '401 Bearer invalid_token token expired', 'allowed: a Bearer failure keeps the Bearer challenge');
is(said(with_dpop(GET => $P, $plain, proof_for($KEY_B, GET => $P, $plain))), '200 - - -',
   'allowed: an unbound token with a valid proof passes (bound to nothing, like Bearer)');
is(said(with_dpop(GET => $P, mint(claims => { %bob, exp => now() - 120, iat => now() - 700 }),
                  proof_for($KEY_B, GET => $P, 'x'))),
   '401 DPoP invalid_token token expired', 'a DPoP request with an expired token: DPoP challenge');
is(said(call(GET => $P, token => mint(claims => { %bob, cnf => 'x' }))),
   '401 Bearer invalid_token cnf is not an object', 'a cnf that is not an object: 401');

# ---- required ----
my $R = '/gate/dpop/required/x';
is(said(with_dpop(GET => $R, $bound, proof_for($KEY_A, GET => $R, $bound))), '200 - - -',
   'required: bound token with its proof: 200');
is(said(call(GET => $R, token => $plain)),
   '401 DPoP invalid_token Bearer token refused (Auth0DPoP required)', 'required: Bearer refused');
is(said(with_dpop(GET => $R, $plain, proof_for($KEY_A, GET => $R, $plain))),
   '401 DPoP invalid_token token is not DPoP-bound (Auth0DPoP required)',
   'required: an unbound token with a proof refused');
$res = call(GET => $R);
is(said($res), '401 DPoP - -', 'required, no token: bare DPoP challenge');
like(challenge($res)->{raw}, qr/\ADPoP algs="ES256 [^"]*EdDSA", realm="agw-test"\z/,
     'required, no token: the challenge names the algorithms');

# ---- off ----
my $O = '/gate/dpop/off/x';
is(said(with_dpop(GET => $O, $bound, proof_for($KEY_A, GET => $O, $bound))), '401 Bearer - -',
   'off: the DPoP scheme is not recognised (no token)');
is(said(call(GET => $O, token => $bound)), '401 Bearer invalid_token DPoP-bound token sent without DPoP',
   'off: a DPoP-bound token as Bearer is still refused');
is(said(call(GET => $O, token => $plain)), '200 - - -', 'off: Bearer passes');

# ---- counters ----
my $counts = json_of(call(GET => '/agw-status?json'))->{requests} || {};
cmp_ok($counts->{dpop_proof} // 0, '>=', 14, 'status page: dpop_proof counted');
cmp_ok($counts->{token_binding} // 0, '>=', 4, 'status page: token_binding counted');

# ---- scheme name case-insensitive, proof header of another request ----
is(said(call(GET => $P, headers => [Authorization => "dpop $bound",
                                    DPoP => proof_for($KEY_A, GET => $P, $bound)])), '200 - - -',
   'the scheme name is case-insensitive');
is(said(call(GET => $P, headers => [Authorization => "DPoP $bound", DPoP => "a, b"])),
   '401 DPoP invalid_dpop_proof DPoP scheme without exactly one DPoP header', 'a DPoP list: 401');
is(said(with_dpop(POST => $P, $bound, proof_for($KEY_A, POST => $P, $bound))), '200 - - -',
   'POST with a POST proof: 200');

# ---- an internal redirect (mod_rewrite) to another location checks the proof again: the
# same request is no replay, and htu stays the URL the client addressed ----
$res = with_dpop(GET => '/gate/dpop/rw/x', $bound, proof_for($KEY_A, GET => '/gate/dpop/rw/x', $bound));
is(said($res), '200 - - -', 'DPoP through an internal redirect: 200');
is(join(' ', map { json_of($res)->{env}{$_} // '-' } qw(REDIRECT_URL PATH_INFO)),
   '/gate/dpop/rw/x /dpop/required/rewritten',
   '... answered by the rewritten location (Auth0DPoP required) for the URL the client signed');

# ---- a POST whose ErrorDocument is at a location of another configuration: httpd runs that
# redirect as a GET; the proof, which signs POST, still proves the request the client sent
log_watch();
$res = with_dpop(POST => '/gate/dpop/gone/x', $bound, proof_for($KEY_A, POST => '/gate/dpop/gone/x', $bound));
is($res->code, 410, 'a POST that fails with 410 (its ErrorDocument gated again): 410');
my $doc = eval { json_of($res)->{env} } || {};
is(join(' ', map { $doc->{$_} // '-' } qw(REDIRECT_STATUS REDIRECT_URL REMOTE_USER)),
   '410 /gate/dpop/gone/x auth0|bob',
   '... the ErrorDocument served it, for the bound token\'s user (the POST proof passed there)');
ok(!(grep { /AGW0100: .*htm/ } log_lines()), 'no htm refusal logged for it');

# ---- an internal redirect to a location that takes its token from a cookie: the cookie's token
# is a Bearer token there; the client's DPoP scheme (on the first location) does not carry over
my $carol = mint(claims => { sub => 'auth0|carol' });
my $rwc_proof = proof_for($KEY_A, GET => '/gate/dpop/rwc/x', $bound);
$res = call(GET => '/gate/dpop/rwc/x', headers => [Authorization => "DPoP $bound", DPoP => $rwc_proof,
                                                  Cookie => "agw_at=$carol"]);
is(said($res), '200 - - -', 'DPoP, then an internal redirect to a cookie location: 200');
is(join(' ', map { json_of($res)->{env}{$_} // '-' } qw(REMOTE_USER PATH_INFO)),
   'auth0|carol /dpop/cookie/rewritten', '... the cookie token is the user there');
# a DPoP-bound token in that cookie is refused there as a Bearer token (it has no proof of its own)
$res = call(GET => '/gate/dpop/rwc/y', headers => [
    Authorization => "DPoP $bound", DPoP => proof_for($KEY_A, GET => '/gate/dpop/rwc/y', $bound),
    Cookie => "agw_at=$bound"]);
is(said($res), '401 DPoP invalid_token DPoP-bound token sent without DPoP',
   '... a bound token in the cookie: refused as a bound token sent without DPoP');
