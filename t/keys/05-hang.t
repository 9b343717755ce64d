# An issuer that hangs costs known-key requests nothing: while 100 requests with unknown kids are outstanding and the key fetch they caused hangs, a request with a known key is answered long before the fetch wait ends (it waits neither for the fetch nor behind its waiters), and the unknown kids get a fast 401, never a 5xx; a cold start of several children makes one key fetch for the host.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);

my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";
my $FLOOD = 100;
my $WAIT = 4;                   # Auth0KeyFetchWait of the hang tenant
my $HANG = 9;                   # seconds the issuer takes to answer the key fetch

plan tests => 9;

sub gate {
    my ($tenant, $extra) = @_;
    $extra //= '';
    return <<"EOF";
<Location /$tenant/>
    AuthType Auth0
    AuthName $tenant
    Auth0Issuer $ISS/t/$tenant/
    Auth0JWKS $ISS/t/$tenant/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Require valid-user
    ProxyPass $ECHO/$tenant/
$extra</Location>
EOF
}

reset_tenant($_) for qw(hang cold);
my $host = start_httpd(name => 'hang', modules => ['authz_user', 'socache_shmcb'], processes => 2,
                       config => gate('hang', "    Auth0KeyFetchWait $WAIT\n") . gate('cold'));
my $known = mint(tenant => 'hang');
is(http_get("$host->{url}/hang/warm", Authorization => "Bearer $known")->{status}, 200,
   'a known key: 200 (keys fetched)');

# ---- the issuer hangs; a flood of unknown kids ------------------------------------------------
set_mode('hang', jwks => 'slow', slow_ms => $HANG * 1000);
my @unknown = map { mint(tenant => 'hang', header => { kid => "nosuch-$_" }) } 1 .. $FLOOD;
my $before = stats('hang')->{jwks_fetches};
pipe(my $r, my $w) or die "pipe: $!";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    close $r;
    my @urls = map { "$host->{url}/hang/u$_" } 1 .. $FLOOD;
    # the flood: one unknown kid, all at once; then a few other unknown kids one by one
    my $out = parallel_get(\@urls, Authorization => "Bearer $unknown[0]");
    my $t0 = time;
    my @st = map { http_get("$host->{url}/hang/s$_", Authorization => "Bearer $unknown[$_]")->{status} }
        1 .. 5;
    print $w join(' ', (map { $_->{status} } @$out), '|', (map { sprintf '%.2f', $_->{elapsed} } @$out),
                  '|', @st), "\n";
    close $w;
    _exit(0);
}
close $w;
# The flood is out once its fetch reaches the issuer (counted as it arrives); half a second more
# lets the requests that may not wait have their 401 and the 100 client processes settle, so the
# time below is the server's, not a starved client's. Had the known key waited behind the fetch's
# waiters it would take about $WAIT - 0.5 s, for the fetch itself $HANG - 0.5 s.
my $deadline = time + 15;
sleep 0.05 until stats('hang')->{jwks_fetches} > $before || time > $deadline;
sleep 0.5;
my $t0 = time;
my $res = http_get("$host->{url}/hang/known", Authorization => "Bearer $known");
my $took = time - $t0;
is($res->{status}, 200, 'during the flood and the hanging fetch: a known key is 200');
cmp_ok($took, '<', $WAIT / 2, sprintf('and answered in under half the fetch wait of %d s (%.2f s)', $WAIT, $took));
my $line = <$r>;
waitpid($pid, 0);
my ($statuses, $times, $later) = split / \| /, $line // '';
my @st = split ' ', $statuses // '';
my @el = split ' ', $times // '';
my @later = split ' ', $later // '';
is(scalar(grep { $_ == 401 } @st), $FLOOD, "$FLOOD unknown-kid requests: all 401");
# the request that started the fetch waits for it (the issuer's answer or curl's timeout); every
# other one waits at most Auth0KeyFetchWait plus scheduling on this loaded machine
my @long = grep { $_ > $WAIT + 2.5 } @el;
cmp_ok(scalar @long, '<=', 2, 'only the requests that started a fetch (one per process) waited for '
       . 'it; the others were answered within the fetch wait (' . scalar(@long) . ' longer than ' . ($WAIT + 2.5) . ' s)');
is(scalar(grep { $_ == 401 } @later), 5, 'more unknown kids after it: 401, no 5xx');
my $fetches = stats('hang')->{jwks_fetches} - $before;
cmp_ok($fetches, '<=', 1, "the flood caused $fetches key fetch(es) on the host (the fetch is claimed host-wide)");
set_mode('hang', jwks => 'up');

# ---- a cold start: every child meets its first token at once ------------------------------------
my $cold = mint(tenant => 'cold');
my $out = parallel_get([ map { "$host->{url}/cold/c$_" } 1 .. 24 ], Authorization => "Bearer $cold");
is(scalar(grep { $_->{status} == 200 } @$out), 24, '24 first requests at once over 2 children: all 200');
my $cold_fetches = stats('cold')->{jwks_fetches};
diag("cold start: 24 concurrent first requests, 2 children -> $cold_fetches JWKS fetch(es)");
cmp_ok($cold_fetches, '<=', 1, 'one key fetch for the host');
stop_httpd('hang');
