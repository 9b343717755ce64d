# Where the gate looks for the token (Auth0TokenFrom): Authorization Bearer, a named header, a cookie, a query parameter, and several in order.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 24;

my $T = now();
my $good = mint();
my $expired = mint(claims => { iat => $T - 700, exp => $T - 120 });

sub with { my ($path, @h) = @_; return outcome(call(GET => $path, headers => \@h)) }

# ---- default: Authorization: Bearer ----
is(with('/gate/rs256/', Authorization => "bearer $good"), '200', 'scheme name is case-insensitive (bearer)');
is(with('/gate/rs256/', Authorization => 'Basic dXNlcjpwYXNz'), '401',
   'Basic credentials are no token: bare challenge');
is(with('/gate/rs256/', Cookie => "at=$good"), '401', 'a cookie is not a source unless configured');
is(with('/gate/rs256/', 'X-Token' => $good), '401', 'a named header is not a source unless configured');

# ---- cookie=at ----
is(with('/gate/src/cookie/', Cookie => "at=$good"), '200', 'cookie: token accepted');
is(with('/gate/src/cookie/', Cookie => "theme=dark; at=$good; lang=en"), '200',
   'cookie: found among other cookies');
is(with('/gate/src/cookie/', Cookie => "xat=$good"), '401', 'cookie: a name that only ends in "at" is not it');
is(with('/gate/src/cookie/', Authorization => "Bearer $good"), '401',
   'cookie: Authorization header ignored where only the cookie is configured');
is(with('/gate/src/cookie/', Cookie => "at=$expired"), '401 invalid_token: token expired',
   'cookie: a bad token there is rejected with its reason');

# ---- header=X-Token ----
is(with('/gate/src/header/', 'X-Token' => $good), '200', 'header=X-Token: raw token accepted');
is(with('/gate/src/header/', 'X-Token' => "Bearer $good"), '200', 'header=X-Token: "Bearer " prefix accepted');
is(with('/gate/src/header/', 'x-token' => $good), '200', 'header=X-Token: header names are case-insensitive');
is(with('/gate/src/header/', Authorization => "Bearer $good"), '401',
   'header=X-Token: Authorization ignored');
is(with('/gate/src/header/', 'X-Token' => $expired), '401 invalid_token: token expired',
   'header=X-Token: expired token rejected');

# ---- query=access_token ----
is(outcome(call(GET => "/gate/src/query/?access_token=$good")), '200', 'query: token accepted');
is(outcome(call(GET => "/gate/src/query/?a=1&access_token=$good&b=2")), '200',
   'query: found among other parameters');
is(outcome(call(GET => "/gate/src/query/?access_tokenx=$good")), '401', 'query: a longer name is not it');
is(outcome(call(GET => "/gate/src/query/?access_token=$expired")), '401 invalid_token: token expired',
   'query: expired token rejected');

# ---- cookie=at header: in that order ----
is(with('/gate/src/multi/', Cookie => "at=$good"), '200', 'multi: cookie');
is(with('/gate/src/multi/', Authorization => "Bearer $good"), '200', 'multi: Authorization header');
is(with('/gate/src/multi/'), '401', 'multi: neither: bare challenge');
is(with('/gate/src/multi/', Cookie => "at=$expired", Authorization => "Bearer $good"),
   '401 invalid_token: token expired', 'multi: the first source that has a token is the one used');
is(with('/gate/src/multi/', Cookie => 'theme=dark', Authorization => "Bearer $good"), '200',
   'multi: cookies without ours fall through to the header');

log_watch();
call(GET => "/gate/src/query/?access_token=$expired");
my $log = join '', log_lines();
ok(index($log, $expired) < 0 && $log =~ /AGW0100: token rejected: token expired/,
   'a query token is logged by fingerprint, never in full');
