# Host-wide counters on an httpd of three processes: 200 accepted and 100 token-less requests spread over the children read back exactly on every answer, as JSON and as Prometheus text (parsed by python3-prometheus-client) alike; JWKS and client-token fetches match what the issuer counted; a graceful restart keeps the counts; headless Chromium renders the HTML page with the same figures.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);

plan tests => 35;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";
my $TENANT = 'metrics';
my $JWKS = "$ISS/t/$TENANT/.well-known/jwks.json";
# (user-info is refused by the configuration: AGW0001)
my $JWKS_HIDDEN = "$JWKS?api_key=query-not-for-the-page";

reset_tenant($TENANT, keys => JSON::PP::true());
rotate_key($TENANT);
register_client('pxmetrics', client_id => 'pxmetrics-client', client_secret => $SECRET);

my $host = start_httpd(name => 'metrics', modules => ['authz_user', 'socache_shmcb'],
                       processes => 3, config => <<"EOF");
CustomLog "logs/access_log" "%P %>s %U"
KeepAlive Off
MaxConnectionsPerChild 0
<Location /gate/>
    AuthType Auth0
    AuthName metrics
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $JWKS
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Require valid-user
    ProxyPass $ECHO/gate/
</Location>
# The same key source with a query, which may carry a credential: it must not reach the page.
<Location /gateq/>
    AuthType Auth0
    AuthName metrics
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $JWKS_HIDDEN
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Require valid-user
    ProxyPass $ECHO/gateq/
</Location>
<Auth0Client metrics>
    Auth0TokenURL       $ISS/t/pxmetrics/oauth/token
    Auth0ClientID       pxmetrics-client
    Auth0ClientSecret   env:AGW_HMAC_SECRET
    Auth0ClientAudience https://orders.agw.test/
    Auth0CAFile         $ENV{AGW_STATE_DIR}/ca.pem
</Auth0Client>
<Location /px/>
    ProxyPass $ECHO/px/
    Auth0ProxyClient metrics
</Location>
<Location /status>
    SetHandler auth0-status
</Location>
EOF
my $URL = $host->{url};

sub page_json {
    my $res = http_get("$URL/status?json");
    return $res->{status} == 200 ? (eval { JSON::PP::decode_json($res->{content}) } || {}) : {};
}

# ---- 200 accepted and 100 token-less requests from 4 clients at once, no keep-alive ----------
my @tokens = map { mint(tenant => $TENANT, claims => { jti => "m$_-$$" }) } 1 .. 20;
my @kids;
for my $w (0 .. 3) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $bad = 0;
        for my $i (0 .. 74) {
            my $n = $w * 75 + $i;
            my $res = $i % 3 == 2 ? http_get("$URL/gate/n$n")
                                  : http_get("$URL/gate/a$n", Authorization => "Bearer $tokens[$n % 20]");
            $bad++ unless $res->{status} == ($i % 3 == 2 ? 401 : 200);
        }
        POSIX::_exit($bad ? 1 : 0);
    }
    push @kids, $pid;
}
my $failed = 0;
for my $pid (@kids) {
    waitpid($pid, 0);
    $failed++ if $?;
}
is($failed, 0, 'the 300 requests got 200 (with a token) and 401 (without)');
my %pids;
if (open my $fh, '<', "$host->{root}/logs/access_log") {
    while (<$fh>) { $pids{$1}++ if m{^(\d+) \d+ /gate/} }
}
cmp_ok(scalar(keys %pids), '>=', 2, 'the requests were served by several children ('
       . join(', ', map { "$_: $pids{$_}" } sort keys %pids) . ')');

# ---- every answer, whichever child gives it, has the host's figures -------------------------
my (@reads, %answered_by);
for (1 .. 8) {
    my $j = page_json();
    $answered_by{ $j->{pid} // '?' } = 1;
    push @reads, sprintf('%s/%s', $j->{requests}{accepted} // '?', $j->{requests}{no_token} // '?');
}
is(join(' ', @reads), join(' ', ('200/100') x 8), 'eight reads of ?json: accepted/no_token 200/100 each time');
diag('the reads were answered by ' . scalar(keys %answered_by) . ' process(es)');
my $j = page_json();
is($j->{counters}{shared_memory}, JSON::PP::true(), 'JSON: the counters are in shared memory');
is($j->{token_cache}{hits} + $j->{token_cache}{misses}, 200,
   'verified-token cache: hits + misses = 200, one look-up per token request of the host');
my ($src) = grep { $_->{source} eq $JWKS } @{ $j->{issuers} };
ok($src, 'the key source is listed by its URL');
my $issuer_fetches = stats($TENANT)->{jwks_fetches};
is($src->{fetches}, $issuer_fetches, "JWKS fetches of the host = the issuer's count ($issuer_fetches)");
is($src->{keys_loaded}, scalar(@{ keys_of($TENANT) }), 'keys in the last set loaded = the issuer\'s keys');
ok(grep({ $_ eq 'token_cache.entries' } @{ $j->{per_process} }), 'JSON names the per-process figures');

# ---- backend tokens: counted for the host, as the token endpoint saw them ----------------------
my $px_ok = 0;
for my $i (1 .. 9) {
    $px_ok++ if http_get("$URL/px/p$i")->{status} == 200;
}
is($px_ok, 9, 'nine proxied requests: 200');
$j = page_json();
my ($client) = grep { $_->{client} eq 'metrics' } @{ $j->{clients} };
is($client->{fetches}, token_requests('pxmetrics'),
   'client-credentials fetches of the host = the token endpoint\'s count (' . token_requests('pxmetrics') . ')');
is($j->{requests}{proxied_with_token}, 9, 'proxied with a backend token: 9');

# ---- Prometheus text format, read by a real parser ------------------------------------------
my $prom = http_get("$URL/status?format=prometheus");
is($prom->{status}, 200, '?format=prometheus answers 200');
like($prom->{headers}{'content-type'} // '', qr{\Atext/plain; version=0\.0\.4(;|\z)},
     'Content-Type: text/plain; version=0.0.4');
my $dir = tempdir(CLEANUP => 1);
open my $pf, '>', "$dir/scrape.txt" or die $!;
print $pf $prom->{content};
close $pf;
# Debian's python3, which python3-prometheus-client installs into (not a pyenv one on PATH)
my $parsed = `/usr/bin/python3 - '$dir/scrape.txt' 2>&1 <<'PY'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        out.append([fam.name, fam.type, s.name, s.labels, s.value])
print(json.dumps(out))
PY`;
my $samples = eval { JSON::PP::decode_json($parsed) };
ok($samples && @$samples > 10, 'python3-prometheus-client parses the scrape')
    or diag("parser said: $parsed");
$samples ||= [];
my %val;
for my $s (@$samples) {
    my ($fam, $type, $name, $labels, $value) = @$s;
    my $key = $name . (%$labels ? '{' . join(',', map { "$_=$labels->{$_}" } sort keys %$labels) . '}' : '');
    $val{$key} = $value;
    $val{"type:$name"} = $type;
}
is($val{'auth0gw_requests_total{result=accepted}'}, 200, 'auth0gw_requests_total{result="accepted"} 200');
is($val{'auth0gw_requests_total{result=no_token}'}, 100, 'auth0gw_requests_total{result="no_token"} 100');
is($val{'type:auth0gw_requests_total'}, 'counter', 'auth0gw_requests_total is a counter');
$j = page_json();
my @disagree = grep {
    my $k = $_ eq 'proxied_with_token' ? 'auth0gw_proxy_requests_total{result=with_token}'
          : $_ eq 'proxy_no_token' ? 'auth0gw_proxy_requests_total{result=no_token}'
          : $_ eq 'cache_record_rejected' ? 'auth0gw_cache_records_rejected_total'
          : "auth0gw_requests_total{result=$_}";
    ($val{$k} // -1) != $j->{requests}{$_}
} sort keys %{ $j->{requests} };
is("@disagree", '', 'JSON and Prometheus agree on every request counter');
is($val{"auth0gw_jwks_fetches_total{source=$JWKS}"}, $issuer_fetches, 'auth0gw_jwks_fetches_total{source} = the issuer\'s count');
is($val{'auth0gw_client_token_fetches_total{client=metrics}'}, token_requests('pxmetrics'),
   'auth0gw_client_token_fetches_total{client="metrics"} = the token endpoint\'s count');
is(($val{'auth0gw_token_cache_hits_total'} // 0) + ($val{'auth0gw_token_cache_misses_total'} // 0), 200,
   'token cache hits + misses: 200');
is($val{'auth0gw_info{version=dev}'} // $val{ (grep { /^auth0gw_info\{/ } keys %val)[0] // '' }, 1, 'auth0gw_info 1');
my @leaks = grep { index($_, $SECRET) >= 0 || /eyJ[A-Za-z0-9_-]{8,}/ } $prom->{content}, http_get("$URL/status?json")->{content};
is(scalar @leaks, 0, 'neither the scrape nor the JSON holds the client secret or a token');

# ---- a graceful restart keeps the counts ------------------------------------------------------
my $since = $j->{counters}{since};
sub resumes {
    open my $fh, '<', $host->{error_log} or return 0;
    return scalar grep { /resuming normal operations/ } <$fh>;
}
my $before = resumes();
my $out = `@{[ $ENV{APACHE_TEST_HTTPD} || '/usr/sbin/apache2' ]} -d '$host->{root}' -f '$host->{root}/conf/httpd.conf' -k graceful 2>&1`;
is($?, 0, 'apache2 -k graceful') or diag($out);
ok(wait_until(20, 0.2, sub { resumes() > $before }), 'httpd logged the restart');
sleep 0.5;
@reads = ();
for (1 .. 4) {
    my $r = page_json();
    push @reads, sprintf('%s/%s/%s', $r->{requests}{accepted} // '?', $r->{requests}{no_token} // '?',
                         $r->{counters}{restarts} // '?');
    $j = $r;
}
is(join(' ', @reads), join(' ', ('200/100/1') x 4), 'after the restart: accepted/no_token/restarts 200/100/1 on every read');
is($j->{counters}{since}, $since, 'the counting began at the same time');
my $more = 0;
for my $i (1 .. 10) {
    # the last one through the source named with a query
    my $path = $i == 10 ? "/gateq/r$i" : "/gate/r$i";
    $more++ if http_get("$URL$path", Authorization => "Bearer $tokens[$i]")->{status} == 200;
}
$j = page_json();
is($j->{requests}{accepted}, 200 + $more, "ten more accepted after the restart: 210 ($more were 200)");
my @named = grep { $_->{source} eq $JWKS } @{ $j->{issuers} };
my $host_fetches = (grep { $_->{fetches} } @named)[0]{fetches} // -1;
is($host_fetches, stats($TENANT)->{jwks_fetches},
   'the source named with a query counts under the plain URL: fetches = the issuer\'s count');
my @hidden = grep { /not-for-the-page/ } http_get("$URL/status?json")->{content},
    http_get("$URL/status?format=prometheus")->{content}, http_get("$URL/status")->{content};
is(scalar @hidden, 0, 'no page shows the query of a key source URL');

# ---- the page a person reads, rendered by headless Chromium ------------------------------------
my ($chromium) = grep { -x } map { "$_/chromium" } split /:/, $ENV{PATH};
SKIP: {
    if (!$chromium) {
        # CI installs it (.ci/deps.sh): there, a missing browser is a failure
        fail('chromium is installed (.ci/deps.sh)') if $ENV{CI};
        skip 'chromium not installed (apt-get install chromium)', $ENV{CI} ? 3 : 4;
    }
    my $profile = tempdir(CLEANUP => 1);
    my $dom = `timeout 90 '$chromium' --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run --disable-dev-shm-usage --user-data-dir='$profile' --dump-dom '$URL/status' 2>/dev/null`;
    like($dom, qr{<table id="requests"[^>]*>\s*<tbody>}, 'Chromium rendered the requests table (its DOM has the tbody the parser adds)')
        or diag(substr($dom, 0, 500));
    my ($table) = $dom =~ m{<table id="requests"[^>]*>(.*?)</table>}s;
    my %row = ($table // '') =~ m{<tr><th>([^<]+)</th><td>([^<]*)</td></tr>}g;
    is("accepted=" . ($row{accepted} // '?') . " no_token=" . ($row{no_token} // '?'),
       'accepted=' . (200 + $more) . ' no_token=100', 'the rendered table shows the host\'s counts');
    like($dom, qr{<p id="scope">Counters are those of all processes of this host}, 'the page says the counters are the host\'s');
    like($dom, qr{entries \(this process\)}, 'and marks the per-process figures');
}

stop_httpd('metrics');
