# Key sources: OIDC discovery from Auth0Issuer alone, Auth0Domain, Auth0JWKS file:, plain http with Auth0InsecureHTTP, and JWKS entries that must be skipped.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 26;

(my $ORIGIN = issuer_url('')) =~ s{/\z}{};

sub at { my ($loc, %m) = @_; return outcome(call(GET => $loc, token => mint(%m))) }

# ---- discovery: Auth0Issuer only ----
is(at('/gate/discovery/', tenant => 'disc'), '200', 'discovery: token accepted');
my $s = stats('disc');
ok($s->{discovery_fetches} >= 1, "discovery document fetched ($s->{discovery_fetches})");
ok($s->{jwks_fetches} >= 1, "then the jwks_uri it names ($s->{jwks_fetches})");
is(at('/gate/discovery/', tenant => 'disc', claims => { jti => 'again' }), '200', 'a second token');
my $s2 = stats('disc');
is("$s2->{discovery_fetches}/$s2->{jwks_fetches}", "$s->{discovery_fetches}/$s->{jwks_fetches}",
   'no fetch for the second token');
is(at('/gate/discovery/', tenant => 'disc', claims => { iss => issuer_url('') }),
   '401 invalid_token: issuer mismatch', 'discovery: a token naming another issuer');
is(at('/gate/discovery/'), '401 invalid_token: unknown key',
   "discovery: a token signed by another issuer's key");

reset_tenant('dischttp');
admin('dischttp', 'config',
      { jwks_uri => "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/t/dischttp/.well-known/jwks.json" })
    if $ENV{AGW_ISSUER_HTTP_PORT};
is(at('/gate/discovery-http/', tenant => 'dischttp'), '503 Retry-After',
   'discovery naming an http:// jwks_uri (no Auth0InsecureHTTP): no keys');
is(stats('dischttp')->{jwks_fetches}, 0, 'the http:// jwks_uri was never fetched');

# ---- Auth0Domain ----
is(at('/gate/domain/'), '200', 'Auth0Domain: issuer and JWKS derived from the host');
is(at('/gate/domain/', claims => { iss => issuer_url('disc') }), '401 invalid_token: issuer mismatch',
   'Auth0Domain: the issuer is https://HOST/ exactly');

# ---- Auth0JWKS file: ----
is(at('/gate/jwks-file/', tenant => 'file'), '200', 'Auth0JWKS file: token accepted');
is(stats('file')->{jwks_fetches}, 0, 'Auth0JWKS file: nothing fetched over the network');
is(at('/gate/jwks-file-caps/', tenant => 'file'), '200', 'Auth0JWKS FILE:/path (capitals) works too');
is(at('/gate/jwks-file/', tenant => 'file', header => { kid => 'not-in-file' }),
   '401 invalid_token: unknown key', 'Auth0JWKS file: unknown kid');

# ---- http:// with Auth0InsecureHTTP On ----
reset_tenant('insec');
is(at('/gate/insecure/', tenant => 'insec'), '200', 'Auth0InsecureHTTP On: http:// key URL works');
ok(stats('insec')->{jwks_fetches} >= 1, 'fetched over plain http');
# (The start-up warning about Auth0InsecureHTTP is asserted in t/directives/02-configtest.t.)

# ---- JWKS entries to skip (tenant jwkbad) ----
my %kid = map { $_->{kid} => $_ } @{ keys_of('jwkbad') };
my ($good) = grep { !/^(small-rsa|use-enc|alg-differs|kty-lies|no-alg|no-use)$/ } keys %kid;
is(at('/gate/jwkbad/', tenant => 'jwkbad', kid => $good), '200', 'jwkbad: the good key');
is(at('/gate/jwkbad/', tenant => 'jwkbad', kid => 'no-alg'), '200', 'a JWK without alg is usable');
is(at('/gate/jwkbad/', tenant => 'jwkbad', kid => 'no-use'), '200', 'a JWK without use is usable');
my $SKIPPED = qr/\A401 invalid_token: (unknown key|key type does not match alg|alg does not fit kty|key alg does not match token alg)\z/;
like(at('/gate/jwkbad/', tenant => 'jwkbad', kid => 'small-rsa'), $SKIPPED, 'RSA 1024-bit key refused');
like(at('/gate/jwkbad/', tenant => 'jwkbad', kid => 'use-enc'), $SKIPPED, 'JWK with use=enc refused');
like(at('/gate/jwkbad/', tenant => 'jwkbad', kid => 'alg-differs'), $SKIPPED,
     'JWK whose alg (RS512) differs from the token (RS256) refused');
like(at('/gate/jwkbad/', tenant => 'jwkbad', kid => 'kty-lies', alg => 'RS256', sign_alg => 'ES256'),
     $SKIPPED, 'EC key published with alg RS256 refused');

open my $fh, '<', Apache::Test::vars('t_logs') . '/error_log' or die $!;
my $log = do { local $/; <$fh> };
like($log, qr/AGW0202: JWKS key skipped\b.*small-rsa.*2048/, 'AGW0202 logged for the small RSA key, with its kid and why');
like($log, qr/AGW0202: JWKS key skipped\b.*use-enc/, 'AGW0202 logged for the use=enc key');
