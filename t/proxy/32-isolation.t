# One client's slow token endpoint holds up no other client: while px-slowa's token request hangs for 4 s, px-quick's requests get their token and their answer promptly; px-slowa's own concurrent requests still share its one fetch. The same across the processes of a host (an httpd of this test's own, two processes sharing shmcb).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use JSON::PP ();
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);

plan tests => 13;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $BASE = 'http://' . Apache::TestRequest::hostport();
my $SLOW_MS = 4000;

register_client('pxslowa', client_id => 'px-slowa-client', client_secret => $SECRET);
register_client('pxquick', client_id => 'px-quick-client', client_secret => $SECRET);
set_mode('pxslowa', token => 'slow', slow_ms => $SLOW_MS);

# Requests of the slow client ($n, at once, in a child of ours) and, once its token request is
# under way, one of the quick client: returns (quick response, its seconds, slow results).
sub race {
    my ($base, $slow_path, $quick_path, $tenant, $n) = @_;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $r;
        my $out = parallel_get([map { "$base$slow_path$_" } 1 .. $n]);
        print $w JSON::PP::encode_json($out);
        close $w;
        _exit(0);
    }
    close $w;
    wait_until(3, 0.05, sub { token_requests($tenant) >= 1 });
    my $t0 = time;
    my $res = http_get("$base$quick_path");
    my $quick = time - $t0;
    my $text = do { local $/; <$r> };
    close $r;
    waitpid($pid, 0);
    return ($res, $quick, eval { JSON::PP::decode_json($text) } || []);
}

sub distinct { my %h = map { ($_ // 'undef') => 1 } @_; return scalar keys %h }

# ---- one process, 25 threads ----------------------------------------------------------------------
my ($res, $quick, $slow) = race($BASE, '/px/slowa/s', '/px/quick/q1', 'pxslowa', 3);
is($res->{status}, 200, 'the other client, meanwhile: 200');
like(echo_auth($res), qr/^Bearer eyJ/, 'the other client: its token injected');
SKIP: {
    # prefork: the test server's one process serves one request at a time, so the quick
    # client waits for the slow one by construction; the two-process host below checks it.
    skip 'prefork: one process, one request at a time (checked across processes below)', 1
        if mpm() eq 'prefork';
    cmp_ok($quick, '<', 1.5, 'the other client is not held up by the slow fetch (< 1.5 s, the slow one takes 4 s)');
}
diag(sprintf('one process: other client answered in %.2f s while the slow fetch was under way', $quick));
is(scalar(grep { ($_->{status} // 0) == 200 } @$slow), 3, 'the slow client\'s three requests: all 200 in the end');
is(distinct(map { $_->{auth} } @$slow), 1, 'the slow client\'s requests carry the same token');
my $longest = (sort { $b <=> $a } map { $_->{elapsed} // 0 } @$slow)[0] // 0;
cmp_ok($longest, '>=', $SLOW_MS / 1000 - 0.5, 'the slow client\'s requests waited for its fetch');
is(token_requests('pxslowa'), 1, 'the slow client: one token request for its three requests');
is(token_requests('pxquick'), 1, 'the other client: one token request');
set_mode('pxslowa', token => 'up');

# ---- two processes of one host (ten under prefork), sharing shmcb ---------------------------------------------------
my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";
my $config = "CustomLog \"logs/access_log\" \"%P %>s %U\"\n";
for my $name (qw(isoslow isoquick)) {
    register_client("px$name", client_id => "px$name-client", client_secret => $SECRET);
    $config .= <<"EOF";
<Auth0Client $name>
    Auth0TokenURL       $ISS/t/px$name/oauth/token
    Auth0ClientID       px$name-client
    Auth0ClientSecret   env:AGW_HMAC_SECRET
    Auth0ClientAudience https://orders.agw.test/
    Auth0CAFile         $ENV{AGW_STATE_DIR}/ca.pem
</Auth0Client>
<Location /$name/>
    ProxyPass $ECHO/$name/
    Auth0ProxyClient $name
</Location>
EOF
}
set_mode('pxisoslow', token => 'slow', slow_ms => $SLOW_MS);
# prefork: a process per connection, so 10 processes for the 8 slow requests and the quick one.
my $h = start_httpd(name => 'iso', modules => ['socache_shmcb'],
                    processes => mpm() eq 'prefork' ? 10 : 2, config => $config);
($res, $quick, $slow) = race($h->{url}, '/isoslow/s', '/isoquick/q', 'pxisoslow', 8);
is($res->{status}, 200, 'two processes: the other client, meanwhile: 200');
cmp_ok($quick, '<', 1.5, 'two processes: the other client is not held up by the slow fetch');
diag(sprintf('two processes: other client answered in %.2f s while the slow fetch was under way', $quick));
is(scalar(grep { ($_->{status} // 0) == 200 } @$slow), 8, 'two processes: the slow client\'s 8 requests: all 200');
is(distinct(map { $_->{auth} } @$slow), 1, 'two processes: all with the same token');
is(token_requests('pxisoslow'), 1, 'two processes: one token request for the host (the lock: record in shmcb)');
my %pids;
if (open my $fh, '<', "$h->{root}/logs/access_log") {
    while (my $line = <$fh>) { $pids{$1} = 1 if $line =~ m{^(\d+) \d+ /isoslow/} }
}
diag('two processes: the slow client\'s requests were served by ' . scalar(keys %pids) . ' process(es)');
set_mode('pxisoslow', token => 'up');
stop_httpd('iso');
