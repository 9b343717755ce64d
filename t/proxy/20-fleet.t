# Fleet: two httpd instances of several processes each, sharing Auth0Cache through a real redis-server and then a real memcached, make one token fetch between them; with the cache server stopped, requests still work (each host fetches for itself, backing off on failures) and the outage is logged, not fatal.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use Time::HiRes qw(sleep time);

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
for my $bin (qw(redis-server memcached)) {
    system("command -v $bin >/dev/null 2>&1") == 0
        or BAIL_OUT("$bin is not installed (apt-get install redis-server memcached)");
}

my $PROCS = 3;          # child processes per host
my $AFTER = 16;         # fresh clients for probing the recovery after the cache server is back
my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";

plan tests => 2 * 22;

sub client_conf {
    my ($name, $tenant) = @_;
    return <<"EOF";
<Auth0Client $name>
    Auth0TokenURL       $ISS/t/$tenant/oauth/token
    Auth0ClientID       $tenant-client
    Auth0ClientSecret   env:AGW_HMAC_SECRET
    Auth0ClientAudience https://orders.agw.test/
    Auth0CAFile         $ENV{AGW_STATE_DIR}/ca.pem
</Auth0Client>
<Location /fx/$name/>
    ProxyPass $ECHO/$name/
    Auth0ProxyClient $name
</Location>
EOF
}

# Requests spread over both hosts, all at once.
sub burst {
    my ($hosts, $name, $n) = @_;
    my @urls = map { $hosts->[$_ % @$hosts]{url} . "/fx/$name/r$_" } 1 .. $n;
    return parallel_get(\@urls);
}

# The fleet key every host of the fleet reads (root reads it at start: 0600 is enough).
sub fleet_key {
    my $file = AGW::Proxy::state_dir() . '/fleet.key';
    open my $fh, '>', $file or die "$file: $!";
    print $fh unpack('H*', join '', map { chr int rand 256 } 1 .. 32), "\n";
    close $fh;
    chmod 0600, $file;
    return $file;
}

sub distinct { my %h = map { ($_ // 'undef') => 1 } @_; return scalar keys %h }

# The child pids that served requests to /fx/NAME/ on a host (from its access log).
sub serving_pids {
    my ($h, $name) = @_;
    open my $fh, '<', "$h->{root}/logs/access_log" or return 0;
    my %pids;
    while (my $line = <$fh>) { $pids{$1} = 1 if $line =~ m{^(\d+) \d+ /fx/\Q$name\E/} }
    return scalar keys %pids;
}

sub run_fleet {
    my ($kind) = @_;
    my ($cache_pid, $cache_port) = $kind eq 'redis' ? start_redis() : start_memcached();
    my $module = $kind eq 'redis' ? 'socache_redis' : 'socache_memcache';
    my $t = $kind eq 'redis' ? 'rd' : 'mc';
    my %tenant = (shared => "fleet${t}1", outage => "fleet${t}2", failing => "fleet${t}3",
                  map { ("after$_" => "fleet${t}a$_") } 1 .. $AFTER);
    register_client($_, client_id => "$_-client", client_secret => $SECRET) for values %tenant;
    my $config = "Auth0Cache $kind:127.0.0.1:$cache_port\n"
               . "Auth0CacheSecret file:" . fleet_key() . "\n"
               . "CustomLog \"logs/access_log\" \"%P %>s %U\"\n"
               . join('', map { client_conf($_, $tenant{$_}) } sort keys %tenant);
    my @hosts = map { start_httpd(name => "$t-$_", modules => [$module], config => $config,
                                  processes => $PROCS) } qw(a b);

    # ---- two hosts, one token ------------------------------------------------------------
    set_mode($tenant{shared}, token => 'slow', slow_ms => 1500);
    my $out = burst(\@hosts, 'shared', 30);
    set_mode($tenant{shared}, token => 'up');
    is(scalar(grep { $_->{status} == 200 } @$out), 30, "$kind: 30 requests over 2 hosts: all 200");
    is(distinct(map { $_->{auth} } @$out), 1, "$kind: all carry the same token");
    my $fetches = token_requests($tenant{shared});
    is($fetches, 1, "$kind: exactly one token fetch between the two hosts");
    my @pids = map { serving_pids($_, 'shared') } @hosts;
    cmp_ok($pids[0] + $pids[1], '>=', 3, "$kind: served by several processes ($pids[0] + $pids[1])");
    diag("$kind fleet: 30 concurrent requests, 2 hosts x $PROCS processes "
         . "($pids[0] + $pids[1] processes served) -> $fetches token fetch(es)");
    my $token = $out->[0]{auth};
    $out = burst(\@hosts, 'shared', 12);
    is(scalar(grep { $_->{status} == 200 && $_->{auth} eq $token } @$out), 12,
       "$kind: a second burst uses the shared token");
    is(token_requests($tenant{shared}), 1, "$kind: still one fetch");

    # ---- the cache server stops -------------------------------------------------------------
    my @log_from = map { -s $_->{error_log} || 0 } @hosts;
    my $holding = serving_pids($hosts[0], 'shared') + serving_pids($hosts[1], 'shared');
    stop_daemon($cache_pid);
    $out = burst(\@hosts, 'shared', 12);
    is(scalar(grep { $_->{status} == 200 && ($_->{auth} // '') =~ /^Bearer eyJ/ } @$out), 12,
       "$kind down: requests for the shared client: all 200 with a token");
    cmp_ok(token_requests($tenant{shared}) - 1, '<=', 2 * $PROCS - $holding,
           "$kind down: only processes that held no token yet fetched one");

    $out = burst(\@hosts, 'outage', 24);
    is(scalar(grep { $_->{status} == 200 } @$out), 24, "$kind down: a client with no token yet: all 200");
    my $outage_fetches = token_requests($tenant{outage});
    my $outage_pids = serving_pids($hosts[0], 'outage') + serving_pids($hosts[1], 'outage');
    cmp_ok($outage_fetches, '>=', 2, "$kind down: each host fetched for itself (at least 2)");
    cmp_ok($outage_fetches, '<=', $outage_pids,
           "$kind down: at most one fetch per serving process ($outage_pids)");
    diag("$kind down: 24 requests -> $outage_fetches token fetches ($outage_pids processes served)");
    $out = burst(\@hosts, 'outage', 12);
    is(scalar(grep { $_->{status} == 200 } @$out), 12, "$kind down: later requests 200");
    cmp_ok(token_requests($tenant{outage}), '<=', 2 * $PROCS,
           "$kind down: never more than one fetch per process");

    # an endpoint failing at the same time: 503 + Retry-After, each process backs off
    set_mode($tenant{failing}, token => '500');
    my $t0 = time;
    $out = burst(\@hosts, 'failing', 12);
    my $windows = 1 + int((time - $t0) / 2);    # backoff windows (2 s) the burst lasted
    is(scalar(grep { $_->{status} == 503 && ($_->{retry_after} // '') =~ /^[1-9]\d*$/ } @$out), 12,
       "$kind down, endpoint failing: all 503 with Retry-After");
    my $attempts = token_requests($tenant{failing});
    my $failing_pids = serving_pids($hosts[0], 'failing') + serving_pids($hosts[1], 'failing');
    cmp_ok($attempts, '<=', $failing_pids * $windows,
           "$kind down, endpoint failing: at most one attempt per process per 2 s backoff "
           . "($attempts <= $failing_pids x $windows)");
    diag("$kind down, endpoint failing: 12 requests -> $attempts attempts ($failing_pids processes, "
         . "burst over $windows backoff window(s))");

    my @lines = map { server_log_lines($hosts[$_], $log_from[$_]) } 0 .. 1;
    my @outage = grep { /\[auth0gw:warn\].*AGW0301: shared cache \Q$kind\E failed to/ } @lines;
    cmp_ok(scalar @outage, '>=', 2, "$kind down: AGW0301 logged (" . scalar(@outage) . ' lines)');
    cmp_ok(scalar @outage, '<=', 2 * $PROCS, "$kind down: AGW0301 at most once per process");
    ok((grep { /AGW0211: token request for client failing .* failed: token endpoint answered HTTP 500/ } @lines),
       "$kind down: the endpoint failure is logged");
    ok(!(grep { /\[(?:emerg|crit|alert)\]|exit signal|AH00052|AH00060/ } @lines),
       "$kind down: nothing fatal, no child crashed");
    my $all = join '', @lines;
    ok(index($all, $SECRET) < 0 && index($all, (split ' ', $token)[1]) < 0,
       "$kind: neither secret nor token in the hosts' logs");

    # ---- the cache server comes back: shared again, once the clients retry it ------------------
    # apr_redis / apr_memcache retry a server marked dead after 5 s, and each broken pooled
    # connection marks it dead once more when used: probe with a fresh client every 2 s.
    ($cache_pid) = $kind eq 'redis' ? start_redis($cache_port) : start_memcached($cache_port);
    my $back = time;
    my ($shared_again, @probe);
    for my $i (1 .. $AFTER) {
        $out = burst(\@hosts, "after$i", 12);
        my $n = token_requests($tenant{"after$i"});
        push @probe, sprintf('+%.0fs:%d', time - $back, $n);
        if ($n == 1 && 12 == grep { $_->{status} == 200 } @$out) {
            $shared_again = time - $back;
            last;
        }
        sleep 2;
    }
    diag("$kind back: fetches per 12-request burst on a fresh client: @probe");
    ok(defined $shared_again, "$kind back: one fetch between the hosts again (after "
       . (defined $shared_again ? sprintf('%.0f', $shared_again) : '-') . ' s)');
    cmp_ok($shared_again // 99, '<=', 45, "$kind back: within 45 s");

    stop_httpd($_->{name}) for @hosts;
    stop_daemon($cache_pid);
}

run_fleet('redis');
run_fleet('memcache');
