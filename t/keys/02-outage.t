# Issuer outages: cached keys keep serving (and nobody waits for a slow issuer), a key source never fetched gives 503 with Retry-After, TLS is verified, and keys stale beyond Auth0KeyMaxStale stop serving.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use POSIX ();
use Time::HiRes qw(sleep time);

plan tests => 27;

my $ISS  = issuer_url('');
(my $ORIGIN = $ISS) =~ s{/\z}{};

sub fetches { return stats($_[0])->{jwks_fetches} }

# ---- cached keys survive every kind of outage ----
reset_tenant('out');
my $good = mint(tenant => 'out');
is(outcome(call(GET => '/gate/outage/', token => $good)), '200', 'issuer up: 200');
for my $mode (qw(down 500 garbage)) {
    set_mode('out', jwks => $mode);
    is(outcome(call(GET => '/gate/outage/', token => $good)), '200', "issuer $mode: cached key still serves");
}
set_mode('out', jwks => 'down');
sleep 1.2;   # past the location's 1 s cooldown, so the unknown kid may try a refetch
is(outcome(call(GET => '/gate/outage/', token => mint(tenant => 'out', header => { kid => 'not-there' }))),
   '401 invalid_token: unknown key', 'issuer down, unknown kid: 401 (keys exist), not 503');

# A slow issuer holds only the request that needs the fetch.
set_mode('out', jwks => 'slow', slow_ms => 8000);
sleep 1.2;
my $unknown = mint(tenant => 'out', header => { kid => 'slow-unknown' });
my $t0 = time;
my $pid = fork;
die "fork: $!" unless defined $pid;
if ($pid == 0) {
    my $o = eval { outcome(call(GET => '/gate/outage/', token => $unknown)) } // 'died';
    POSIX::_exit($o eq '401 invalid_token: unknown key' ? 0 : 1);
}
sleep 0.5;
my $t1 = time;
my $o = outcome(call(GET => '/gate/outage/', token => $good));
my $fast = time - $t1;
is($o, '200', 'known kid while a slow refetch is under way: 200');
ok($fast < 2, sprintf('and it did not wait for the fetch (%.2f s)', $fast));
waitpid($pid, 0);
my $child_ok = $? == 0;
$? = 0;
my $slow = time - $t0;
ok($child_ok, sprintf('the request that met the unknown kid ended as unknown key after %.1f s', $slow));
ok($slow < 30, 'the fetch has a timeout');
set_mode('out', jwks => 'up');

# ---- nothing cached: 503 with Retry-After ----
log_watch();
my $res = call(GET => '/gate/never/', token => mint(tenant => 'never'));
is(outcome($res), '503 Retry-After', 'issuer down and never fetched: 503 with Retry-After');
my $ra = $res->header('Retry-After') // 0;
ok($ra >= 1 && $ra <= 3600, "Retry-After is a sane number of seconds ($ra)");
my @l = grep { /AGW0102: no usable keys for \Q$ORIGIN\E\/t\/never\/\.well-known\/jwks\.json: / } log_lines();
ok(@l, 'AGW0102 names the key URL and why');
like($l[0] // '', qr/\[auth0gw:error\]/, 'AGW0102 at error');

set_mode('never', jwks => 'up');
my $back = wait_until(15, 0.5, sub {
    outcome(call(GET => '/gate/never/', token => mint(tenant => 'never'))) eq '200';
});
ok($back, 'once the issuer is back, the location recovers without a restart');
set_mode('never', jwks => 'down', discovery => 'down');

is(outcome(call(GET => '/gate/unreachable/', token => mint(tenant => 'unreach'))), '503 Retry-After',
   'nothing listening at the key URL: 503');
is(outcome(call(GET => '/gate/garbage/', token => mint(tenant => 'garb'))), '503 Retry-After',
   'key URL answers a body that is not JSON: 503');

# ---- TLS: the test CA is not trusted without Auth0CAFile ----
reset_tenant('untr');
log_watch();
is(outcome(call(GET => '/gate/untrusted/', token => mint(tenant => 'untr'))), '503 Retry-After',
   'key URL with a certificate from an untrusted CA: 503');
is(fetches('untr'), 0, 'the issuer never saw an HTTP request: the TLS handshake was refused');
ok((grep { /AGW0(102|201).*\Q$ORIGIN\E\/t\/untr\// } log_lines()), 'the failure is logged with the URL');

# ---- stale beyond Auth0KeyMaxStale (3 s; refresh every 10 s) ----
reset_tenant('stale');
my $st = mint(tenant => 'stale');
is(outcome(call(GET => '/gate/stale/', token => $st)), '200', 'stale location: fresh keys serve');
set_mode('stale', jwks => 'down');
my $down_at = time;
my $last = '';
my $went_stale = wait_until(25, 0.5, sub {
    $last = outcome(call(GET => '/gate/stale/', token => $st));
    $last ne '200';
});
my $after = time - $down_at;
is($last, '503 Retry-After', sprintf('keys stale beyond Auth0KeyMaxStale: 503 (after %.1f s down)', $after));
ok($after >= 3, 'not before Auth0KeyMaxStale has passed');
set_mode('stale', jwks => 'up');
my $fresh = wait_until(25, 0.5, sub { outcome(call(GET => '/gate/stale/', token => $st)) eq '200' });
ok($fresh, 'keys fresh again once the issuer answers');

# ---- no usable keys is never a 401 for a token that is fine ----
isnt(call(GET => '/gate/unreachable/', token => mint(tenant => 'unreach'))->code, 401,
     'no keys: not blamed on the client');
my $r2 = call(GET => '/gate/unreachable/', token => mint(tenant => 'unreach'));
my $c = challenge($r2);
ok(!defined $c->{error} || $c->{error} ne 'invalid_token', 'no invalid_token challenge on a 503');

# ---- the issuer being down is logged as warnings, not per request at error ----
log_watch();
set_mode('out', jwks => 'down');
call(GET => '/gate/outage/', token => $good) for 1 .. 5;
my @errs = grep { /\[auth0gw:error\]/ } log_lines();
is(scalar @errs, 0, 'cached keys serving during an outage: no error lines per request');
set_mode('out', jwks => 'up');
is(outcome(call(GET => '/gate/outage/', token => $good)), '200', 'and after the outage: 200');
