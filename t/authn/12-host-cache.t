# The host-wide table of verified tokens: four child processes share one table, so a token is verified at most twice on the host (its first two sightings, in any processes) however many processes serve it; a graceful restart keeps the table; the status page shows it.
# Concurrent first sightings may each verify (nothing waits for another request's signature
# check), so the count is asserted exactly only where the sightings are sequential: two
# requests per token one after the other, then bursts that must all be answered by the table.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use Time::HiRes qw(sleep time);
use JSON::PP ();

my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $TENANT = 'hostcache';
my $TOKENS = 16;
my $ROUNDS = 3;

plan tests => 14;

reset_tenant($TENANT, keys => JSON::PP::true());
rotate_key($TENANT);

my $host = start_httpd(name => 'hostcache', modules => ['authz_user', 'socache_shmcb'],
                       processes => 4, config => <<"EOF");
CustomLog "logs/access_log" "%P %>s %U %q"
MaxConnectionsPerChild 0
KeepAlive Off
Auth0TokenCache 500
<Location /gate/>
    AuthType Auth0
    AuthName hostcache
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $ISS/t/$TENANT/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Require valid-user
    SetHandler auth0-status
</Location>
<Location /status>
    SetHandler auth0-status
</Location>
EOF

sub status_json {
    my $res = http_get("$host->{url}/status?json");
    return JSON::PP::decode_json($res->{content});
}

# which processes served which token: "pid status /gate/ ?t=N"
sub served {
    open my $fh, '<', "$host->{root}/logs/access_log" or return {};
    my %by;
    while (<$fh>) { $by{$3}{$1}++ if m{^(\d+) (\d+) /gate/ \?t=(\d+)} }
    return \%by;
}

my @tok = map { mint(tenant => $TENANT, claims => { sub => "user-$_" }) } 1 .. $TOKENS;
my $s0 = status_json();
ok($s0->{host_token_cache}{enabled}, 'the host-wide table is on');
cmp_ok($s0->{host_token_cache}{capacity}, '>=', 500, 'its capacity is Auth0TokenCache');

# each token's first two sightings, one after the other (they may land in any process)
my ($ok, $n) = (0, 0);
for my $t (0 .. $TOKENS - 1) {
    for (1 .. 2) {
        my $res = http_get("$host->{url}/gate/?t=$t", Authorization => "Bearer $tok[$t]");
        $n++;
        $ok++ if $res->{status} == 200;
    }
}
my $sw = status_json();
my $warm = $sw->{token_cache}{misses} - $s0->{token_cache}{misses};
cmp_ok($warm, '<=', 2 * $TOKENS, "first two sightings of $TOKENS tokens: $warm signatures verified (at most two each)");

# then each token in bursts of eight concurrent requests from separate processes, so that
# the host's children all take their share of every token
for my $round (1 .. $ROUNDS) {
    for my $t (0 .. $TOKENS - 1) {
        my $r = parallel_get([("$host->{url}/gate/?t=$t") x 8], Authorization => "Bearer $tok[$t]");
        $n += @$r;
        $ok += grep { $_->{status} == 200 } @$r;
    }
}
is($ok, $n, "all $n requests with valid tokens pass");

my $by = served();
my %pids = map { %{ $by->{$_} } } keys %$by;
cmp_ok(scalar(keys %pids), '>=', 2, 'several children served (' . scalar(keys %pids) . ')');
# a per-process cache verifies a token in each process that sees it, twice before it keeps it
my $per_process = 0;
for my $t (keys %$by) {
    $per_process += ($_ >= 2 ? 2 : 1) for values %{ $by->{$t} };
}
my $s1 = status_json();
my $verified = $s1->{token_cache}{misses} - $s0->{token_cache}{misses};
cmp_ok($per_process, '>', 2 * $TOKENS, "the traffic was spread: per-process caches would verify $per_process times");
is($verified - $warm, 0, "the bursts verified no signature: the host's table answered every process");
cmp_ok($s1->{host_token_cache}{entries}, '>=', $TOKENS - 1, "the table holds the tokens ($s1->{host_token_cache}{entries})");
my $served = $s1->{token_cache}{hits} - $s0->{token_cache}{hits};
cmp_ok($served / ($served + $verified), '>=', 0.8, "hit rate " . sprintf('%.3f', $served / ($served + $verified)));

# ---- a graceful restart keeps the host's table -----------------------------------------------
open my $pf, '<', "$host->{root}/logs/httpd.pid" or die $!;
my ($ppid) = <$pf> =~ /(\d+)/;
close $pf;
ok(kill('USR1', $ppid), 'graceful restart signalled');
my $t0 = time;
my $after;
while (time < $t0 + 20) {
    sleep 0.3;
    $after = eval { status_json() } or next;
    last if $after->{counters}{restarts} && $after->{counters}{restarts} > ($s1->{counters}{restarts} // 0);
}
cmp_ok($after->{counters}{restarts} // 0, '>', $s1->{counters}{restarts} // 0, 'a new generation serves');
cmp_ok($after->{host_token_cache}{entries}, '>=', $TOKENS - 1, 'after the restart the table still holds them');
my $m0 = $after->{token_cache}{misses};
my $r = parallel_get([map { "$host->{url}/gate/?t=$_" } 0 .. 7], Authorization => "Bearer $tok[0]");
is(scalar(grep { $_->{status} == 200 } @$r), 8, 'the new generation accepts the token');
is(status_json()->{token_cache}{misses} - $m0, 0, 'and verifies no signature: the table answered');

stop_httpd('hostcache');
