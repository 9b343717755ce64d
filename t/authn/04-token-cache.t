# The verified-token cache (Auth0TokenCache) skips only the signature check: times, issuer, audience, the alg allow-list, the key source and Require are checked again on every hit.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use Time::HiRes qw(sleep);

plan tests => 15;

my $T = now();

# The cache admits a token on its second sighting: each token below is accepted twice (and so
# cached) before it is presented elsewhere; t/authn/05-status.t counts the hits.
my $late = mint(claims => { iat => $T - 700, exp => $T - 10, jti => 'late' });
is(outcome(call(GET => '/gate/rs256/', token => $late)), '200', 'expired 10 s ago: inside the 30 s leeway');
is(outcome(call(GET => '/gate/rs256/', token => $late)), '200', 'again (now cached)');
is(outcome(call(GET => '/gate/leeway0/', token => $late)), '401 invalid_token: token expired',
   'same key source, Auth0Leeway 0: the cached token is expired there');

my $plain = mint(claims => { scope => 'write:orders', jti => 'plain' });
is(outcome(call(GET => '/gate/rs256/', token => $plain)), '200', 'accepted for valid-user');
is(outcome(call(GET => '/gate/rs256/', token => $plain)), '200', 'again (now cached)');
like(outcome(call(GET => '/gate/scope/read/', token => $plain)), qr/\A403 insufficient_scope/,
     'cached token: Require auth0-scope still checked');
is(outcome(call(GET => '/gate/hs256/', token => $plain)), '401 invalid_token: alg not allowed',
   'cached RS256 token at an HS256-only location: alg still checked');
is(outcome(call(GET => '/gate/alg-all/', token => $plain)), '401 invalid_token: unknown key',
   'cached token at a location with another key source: not trusted there');
is(outcome(call(GET => '/gate/aud-multi/', token => $plain)), '200', 'same key source, other location: accepted');

my $other_aud = mint(claims => { aud => OTHER_AUD, jti => 'other-aud' });
is(outcome(call(GET => '/gate/aud-multi/', token => $other_aud)), '200', 'other audience accepted where listed');
is(outcome(call(GET => '/gate/aud-multi/', token => $other_aud)), '200', 'again (now cached)');
is(outcome(call(GET => '/gate/rs256/', token => $other_aud)), '401 invalid_token: audience mismatch',
   'cached token: audience still checked');

# A token that expires while it sits in the cache.
my $short = mint(claims => { exp => now() + 3, jti => 'short' });
is(outcome(call(GET => '/gate/leeway0/', token => $short)), '200', 'short-lived token accepted');
is(outcome(call(GET => '/gate/leeway0/', token => $short)), '200', 'again (now cached)');
sleep 4.5;
is(outcome(call(GET => '/gate/leeway0/', token => $short)), '401 invalid_token: token expired',
   'the same token after it expired: rejected despite the cache');
