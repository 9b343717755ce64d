# Key rotation while httpd runs: a new kid is accepted after one refetch, a flood of unknown kids refetches at most once per Auth0KeyRefreshCooldown, and concurrent requests share one fetch.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use POSIX ();
use Time::HiRes qw(sleep time);

plan tests => 19;

my $LOC = '/gate/rotate/';        # tenant rot, Auth0KeyRefreshCooldown 2
my $COOLDOWN = 2;

sub fetches { return stats($_[0])->{jwks_fetches} }
sub rot_at  { my ($loc, %m) = @_; return outcome(call(GET => $loc, token => mint(%m))) }

reset_tenant('rot');
my $k1 = mint_full(tenant => 'rot');
is(outcome(call(GET => $LOC, token => $k1->{token})), '200', 'token signed with the first key');
my $f0 = fetches('rot');
ok($f0 <= 1, "at most one JWKS fetch so far ($f0)");
is(outcome(call(GET => $LOC, token => $k1->{token})), '200', 'again');
is(fetches('rot'), $f0, 'known kid: served from the cache, no fetch');

# ---- rotation: the new key first, the old one still published ----
my $k2kid = rotate_key('rot', 'RS256');
sleep $COOLDOWN + 0.5;
my $k2 = mint_full(tenant => 'rot');
is($k2->{kid}, $k2kid, 'the issuer now signs with the new key');
is(outcome(call(GET => $LOC, token => $k2->{token})), '200', 'new kid accepted');
is(fetches('rot') - $f0, 1, 'after exactly one refetch');
is(outcome(call(GET => $LOC, token => $k1->{token})), '200', 'old kid, still published, still accepted');
is(fetches('rot') - $f0, 1, 'without another fetch');

# ---- a flood of unknown kids ----
my $before = fetches('rot');
my ($n, $unknown, $start) = (0, 0, time);
while (time - $start < 3 * $COOLDOWN) {
    my $o = rot_at($LOC, tenant => 'rot', header => { kid => "flood-$n-" . int(rand 1e9) });
    $unknown++ if $o eq '401 invalid_token: unknown key';
    $n++;
}
my $elapsed = time - $start;
my $flood_fetches = fetches('rot') - $before;
my $bound = POSIX::ceil($elapsed / $COOLDOWN) + 1;
is($unknown, $n, "all $n unknown-kid requests rejected as unknown key");
ok($flood_fetches >= 1 && $flood_fetches <= $bound,
   sprintf('flood of %d unknown kids over %.1f s: %d fetches (cooldown %d s allows at most %d)',
           $n, $elapsed, $flood_fetches, $COOLDOWN, $bound));
diag(sprintf 'observed: %d requests with unknown kids in %.1f s caused %d JWKS fetches',
     $n, $elapsed, $flood_fetches);

# ---- concurrent requests meeting a new kid share one fetch; a removed key stops working ----
my $k3kid = rotate_key('rot', 'RS256');
remove_key('rot', $k1->{kid});
sleep $COOLDOWN + 0.5;
my @tokens = map { mint(tenant => 'rot', claims => { jti => "c$_" }) } 1 .. 10;
$before = fetches('rot');
my $go = time + 0.5;
my @pids;
for my $t (@tokens) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        sleep($go - time) if $go > time;
        my $code = eval { call(GET => $LOC, token => $t)->code } // 0;
        POSIX::_exit($code == 200 ? 0 : 1);
    }
    push @pids, $pid;
}
my $failed = 0;
for my $pid (@pids) {
    waitpid($pid, 0);
    $failed++ if $? != 0;
}
$? = 0;
my $since = time - $go;
is($failed, 0, '10 concurrent requests with the new kid: all 200');
is(fetches('rot') - $before, 1, 'and they shared one JWKS fetch');
is(outcome(call(GET => $LOC, token => $k1->{token})), '401 invalid_token: unknown key',
   'the removed key is no longer trusted after the refetch');
my $k1_fetches = fetches('rot') - $before - 1;
my $k1_after = time - $go;
SKIP: {
    skip sprintf('the removed-kid request came %.1f s after the fetch, past the cooldown', $k1_after), 1
        if $k1_after >= $COOLDOWN;
    is($k1_fetches, 0, sprintf('the removed kid, %.1f s after the last fetch, did not cause another '
                               . '(cooldown %d s)', $k1_after, $COOLDOWN));
}
is(rot_at($LOC, tenant => 'rot', kid => $k3kid), '200', 'new key keeps working');

# ---- the default cooldown (30 s) ----
reset_tenant('rot2');
is(rot_at('/gate/rotate-default/', tenant => 'rot2'), '200', 'default-cooldown location: valid token');
$before = fetches('rot2');
my $rejected = 0;
for my $i (1 .. 30) {
    $rejected++ if rot_at('/gate/rotate-default/', tenant => 'rot2', header => { kid => "rot2-flood-$i" })
                   eq '401 invalid_token: unknown key';
}
is($rejected, 30, '30 unknown kids rejected');
my $d = fetches('rot2') - $before;
ok($d <= 1, "30 unknown kids with the default cooldown: $d fetch(es), at most 1");
diag("observed: 30 unknown kids under the default 30 s cooldown caused $d JWKS fetch(es)");
