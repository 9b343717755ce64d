# Every signature algorithm end to end through httpd, the Auth0Algorithms allow-list, key/alg mismatches, and HS256 with a shared secret beside RS256 (key confusion).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

my @ASYM = qw(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA);
plan tests => @ASYM + 19;

sub at { my ($path, %mint) = @_; return outcome(call(GET => $path, token => mint(%mint))) }

my %kid = map { $_->{alg} => $_->{kid} } reverse @{ keys_of('algs') };

for my $alg (@ASYM) {
    is(at('/gate/alg-all/', tenant => 'algs', alg => $alg), '200', "$alg accepted");
}

# ---- the allow-list ----
is(at('/gate/alg-es256/', tenant => 'algs', alg => 'ES256'), '200', 'ES256-only location: ES256');
is(at('/gate/alg-es256/', tenant => 'algs', alg => 'RS256'), '401 invalid_token: alg not allowed',
   'ES256-only location: RS256 refused');
is(at('/gate/alg-es256/', tenant => 'algs', alg => 'ES384'), '401 invalid_token: alg not allowed',
   'ES256-only location: ES384 refused');
is(at('/gate/alg-eddsa/', tenant => 'algs', alg => 'EdDSA'), '200', 'EdDSA-only location: EdDSA');
is(at('/gate/alg-eddsa/', tenant => 'algs', alg => 'ES256'), '401 invalid_token: alg not allowed',
   'EdDSA-only location: ES256 refused');

# ---- the key must fit the alg the header names ----
like(at('/gate/alg-all/', tenant => 'algs', alg => 'RS256', sign_alg => 'ES256', kid => $kid{ES256}),
     qr/\A401 invalid_token: (key type does not match alg|alg does not fit kty|unknown key)\z/,
     'header RS256 naming an EC key');
like(at('/gate/alg-all/', tenant => 'algs', alg => 'ES384', sign_alg => 'ES256', kid => $kid{ES256}),
     qr/\A401 invalid_token: (key curve does not match alg|alg does not fit crv|unknown key)\z/,
     'header ES384 naming a P-256 key');
is(at('/gate/alg-all/', tenant => 'algs', alg => 'PS256', sign_alg => 'RS256', kid => $kid{PS256}),
   '401 invalid_token: signature invalid', 'header PS256, PKCS#1 v1.5 signature');
is(at('/gate/alg-all/', tenant => 'algs', alg => 'RS256', sign_alg => 'PS256', kid => $kid{RS256}),
   '401 invalid_token: signature invalid', 'header RS256, PSS signature');
like(at('/gate/alg-all/', tenant => 'algs', alg => 'ES256', signature => 'der'),
     qr/\A401 invalid_token: (bad ECDSA signature length|signature invalid)\z/,
     'ES256 signature in DER instead of JOSE r||s');
my $ed = mint(tenant => 'algs', alg => 'EdDSA');
my ($h, $p, $s) = split /\./, $ed;
my $sig = b64u_decode($s);
substr($sig, 10, 1) = chr(ord(substr($sig, 10, 1)) ^ 1);
is(outcome(call(GET => '/gate/alg-all/', token => join('.', $h, $p, b64u($sig)))),
   '401 invalid_token: signature invalid', 'EdDSA signature with one bit flipped');

# ---- HS256 with a shared secret ----
is(at('/gate/hs256/', alg => 'HS256'), '200', 'HS256 with the file: secret');
is(at('/gate/hs256/', alg => 'HS256', key => 'not-the-secret-but-long-enough-0123456789abcdef'),
   '401 invalid_token: signature invalid', 'HS256 with another secret');
is(at('/gate/hs256/', alg => 'HS384'), '401 invalid_token: alg not allowed', 'HS384 where only HS256 is allowed');
is(at('/gate/hs256/', alg => 'RS256'), '401 invalid_token: alg not allowed', 'RS256 where only HS256 is allowed');
is(at('/gate/hs-env/', alg => 'HS256'), '200', 'HS256 with the env: secret');

# ---- RS256 and HS256 side by side ----
is(at('/gate/mixed/', alg => 'RS256'), '200', 'mixed: RS256');
is(at('/gate/mixed/', alg => 'HS256'), '200', 'mixed: HS256 with the shared secret');
my $rs_kid = (grep { $_->{alg} eq 'RS256' } @{ keys_of('') })[0]{kid};
like(at('/gate/mixed/', alg => 'HS256', kid => $rs_kid, key => { public_pem_of => $rs_kid }),
     qr/\A401 invalid_token: (signature invalid|key type does not match alg|alg does not fit kty)\z/,
     'mixed: HS256 keyed with the RSA public key is not accepted');
