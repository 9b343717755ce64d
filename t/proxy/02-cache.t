# Client-credentials token lifetime in one httpd: concurrent requests share one fetch, renewal happens early by one requester while the others keep the valid token, and a token is never forwarded in its last seconds.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use Time::HiRes qw(sleep time);

plan tests => 34;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $BASE = 'http://' . Apache::TestRequest::hostport();
my $N = 20;

sub urls { my ($path, $n) = @_; return [map { "$BASE$path$_" } 1 .. $n] }
sub distinct { my %h = map { ($_ // 'undef') => 1 } @_; return scalar keys %h }

# ---- concurrency: N requests while the one fetch is slow ------------------------------------
register_client('pxcache', client_id => 'px-cache-client', client_secret => $SECRET);
set_mode('pxcache', token => 'slow', slow_ms => 1500);
my $t0 = time;
my $out = parallel_get(urls('/px/cache/', $N));
my $took = time - $t0;
is(scalar(grep { $_->{status} == 200 } @$out), $N, "$N concurrent requests, no token yet: all 200");
is(distinct(map { $_->{auth} } @$out), 1, 'all carry the same token');
like($out->[0]{auth}, qr/^Bearer eyJ/, 'a Bearer JWT');
my $fetches = token_requests('pxcache');
is($fetches, 1, "$N concurrent requests across 25 threads: exactly one token fetch");
diag("concurrency: $N requests -> $fetches token fetch(es) in " . sprintf('%.2f', $took) . ' s');
set_mode('pxcache', token => 'up');
$out = parallel_get(urls('/px/cache/again', $N));
is(scalar(grep { $_->{status} == 200 && $_->{auth} eq $out->[0]{auth} } @$out), $N,
   'a second burst: all 200 with the cached token');
is(token_requests('pxcache'), 1, 'still exactly one token fetch');

# ---- early renewal: 24 s tokens, Auth0ClientRenew 25% (renew after 6 s, usable for 19 s) -------
register_client('pxrenew', client_id => 'px-renew-client', client_secret => $SECRET, expires_in => 24);
$t0 = time;
my $res = call(GET => '/px/renew/first');
is($res->code, 200, 'renew: first request 200');
my $first = echo_auth($res);
is(token_requests('pxrenew'), 1, 'renew: one fetch');
sleep 1;
is(echo_auth(call(GET => '/px/renew/early')), $first, 'renew: before 25% the same token, no fetch');
is(token_requests('pxrenew'), 1, 'renew: still one fetch');

# after 25% of the lifetime: one requester renews (slowly), the others keep the valid token
sleep($t0 + 7 - time);
set_mode('pxrenew', token => 'slow', slow_ms => 2000);
my $tb = time;
$out = parallel_get(urls('/px/renew/burst', 10));
set_mode('pxrenew', token => 'up');
is(scalar(grep { $_->{status} == 200 } @$out), 10, 'renew: 10 concurrent requests past 25%: all 200');
my @old = grep { $_->{auth} eq $first } @$out;
my @new = grep { $_->{auth} ne $first } @$out;
my $slowest_old = (sort { $b <=> $a } map { $_->{elapsed} } @old)[0] // 99;
my $renewer = @new ? $new[0]{elapsed} : 0;
if (mpm() ne 'prefork') {
    is(scalar @new, 1, 'renew: one request (the renewer) carries the new token');
    is(scalar @old, 9, 'renew: the other nine carry the still valid token');
    cmp_ok($renewer, '>=', 2, 'renew: the renewer waited for the slow (2 s) fetch');
    cmp_ok($slowest_old, '<', $renewer, 'renew: those nine were answered before the renewal finished');
}
else {
    # prefork: the test server's one process serves the ten one after another, so the first
    # renews and the nine after it find the new token (never a second fetch, never a stale one).
    is(scalar @new, 10, 'renew (prefork, requests in turn): all ten carry the renewed token');
    is(scalar @old, 0, 'renew (prefork, requests in turn): none the old one after the renewal');
    cmp_ok((sort { $b <=> $a } map { $_->{elapsed} } @new)[0], '>=', 2,
           'renew (prefork): the renewal took the slow (2 s) fetch');
    is(distinct(map { $_->{auth} } @new), 1, 'renew (prefork): one renewed token for all ten');
}
diag(sprintf('renewal: renewer %.2f s, slowest of the others %.2f s', $renewer, $slowest_old));
is(token_requests('pxrenew'), 2, 'renew: exactly one renewal fetch');
my $second = $new[0]{auth} // '';
is(echo_auth(call(GET => '/px/renew/after')), $second, 'renew: later requests use the new token');
is(token_requests('pxrenew'), 2, 'renew: no further fetch');

# a failing renewal: the still valid token keeps serving, and the renewal backs off
set_mode('pxrenew', token => '500');
sleep($tb + 7.5 - time);   # the renewed token is due for renewal (6 s), usable for 19 s
$res = call(GET => '/px/renew/fail1');
is($res->code, 200, 'renewal failing: the request is still served');
is(echo_auth($res), $second, 'renewal failing: with the still valid token');
is(token_requests('pxrenew'), 3, 'renewal failing: one renewal attempt');
is(echo_auth(call(GET => '/px/renew/fail2')), $second, 'renewal failing: the next request too');
is(token_requests('pxrenew'), 3, 'renewal failing: no second attempt during the backoff');
set_mode('pxrenew', token => 'up');
sleep 2.2;
$res = call(GET => '/px/renew/recovered');
is($res->code, 200, 'renewal after the backoff: 200');
is(token_requests('pxrenew'), 4, 'renewal after the backoff: one more fetch');
isnt(echo_auth(call(GET => '/px/renew/recovered2')), $second, 'renewal after the backoff: a new token');

# ---- expiry: 8 s tokens are not used in their last 5 s ----------------------------------------
register_client('pxexp', client_id => 'px-exp-client', client_secret => $SECRET, expires_in => 8);
$t0 = time;
$res = call(GET => '/px/expiry/first');
my $exp_first = echo_auth($res);
is($res->code, 200, 'expiry: first request 200');
set_mode('pxexp', token => '500');
sleep($t0 + 3.5 - time);
log_watch();
$res = call(GET => '/px/expiry/late');
is(outcome($res), '503 Retry-After',
   'expiry: the token is in its last 5 s and the endpoint fails: 503 with Retry-After');
ok(!echo_of($res)->{headers}, 'expiry: the request was not forwarded');
is(token_requests('pxexp'), 2, 'expiry: one renewal attempt was made');
my @lines = log_lines();
ok((grep { /AGW0212: no token for client px-expiry: request not forwarded/ } @lines),
   'expiry: AGW0212 logged');
set_mode('pxexp', token => 'up');
sleep($res->header('Retry-After') + 0.2);
$res = call(GET => '/px/expiry/recovered');
is($res->code, 200, 'expiry: after the backoff, a new token: 200');
isnt(echo_auth($res), $exp_first, 'expiry: the backend gets a new token, not the expiring one');
is(token_requests('pxexp'), 3, 'expiry: one more fetch');
