# Where the gateway's token may go: never with a forward-proxy request (ProxyRequests On: 403 + AGW0215, nothing forwarded), and with Auth0ClientBackend only to the listed origins (scheme, host and effective port; elsewhere 403 + AGW0214 and the backend is never contacted), in an httpd of this test's own.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use Time::HiRes qw(sleep time);

plan tests => 28;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $EP = $ENV{AGW_ISSUER_HTTP_PORT};
my $ECHO = "http://127.0.0.1:$EP/echo";
my $CALLER = 'Bearer caller-own-token.that.must-not-travel';

register_client('pxfwd', client_id => 'pxfwd-client', client_secret => $SECRET);
register_client('pxpin', client_id => 'pxpin-client', client_secret => $SECRET);

# A backend that must never be contacted: it writes a line per request it receives.
my $SINK = free_port();
my $DIR = AGW::Proxy::state_dir();
my $HITS = "$DIR/sink-$SINK.hits";
unlink $HITS;
my $sink_code = <<'EOF';
use IO::Socket::INET;
my ($port, $hits) = @ARGV;
my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1', LocalPort => $port,
                              Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
while (my $c = $l->accept) {
    my $line = <$c>;
    if (defined $line) {
        open my $fh, '>>', $hits or die "$hits: $!";
        print $fh $line;
        close $fh;
        print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nsink\n";
    }
    close $c;
}
EOF
start_daemon(name => 'sink', port => $SINK, log => "$DIR/sink-$SINK.log",
             cmd => [$^X, '-e', $sink_code, $SINK, $HITS]);
sub sink_hits { open my $fh, '<', $HITS or return 0; my @l = <$fh>; return scalar @l }

sub client_conf {
    my ($name, $tenant, @extra) = @_;
    return "<Auth0Client $name>\n"
         . "    Auth0TokenURL       $ISS/t/$tenant/oauth/token\n"
         . "    Auth0ClientID       $tenant-client\n"
         . "    Auth0ClientSecret   env:AGW_HMAC_SECRET\n"
         . "    Auth0ClientAudience https://orders.agw.test/\n"
         . "    Auth0CAFile         $ENV{AGW_STATE_DIR}/ca.pem\n"
         . join('', map { "    $_\n" } @extra)
         . "</Auth0Client>\n";
}

my $h = start_httpd(name => 'backend', modules => ['rewrite'], processes => 1, config =>
    client_conf('fwd', 'pxfwd')
  . client_conf('pinned', 'pxpin', "Auth0ClientBackend HTTP://127.0.0.1:$EP https://other.example")
  . client_conf('pin80', 'pxpin', 'Auth0ClientBackend http://127.0.0.1')
  . <<"EOF");
ProxyRequests On
# Server-wide: forward-proxy requests fall under it too.
Auth0ProxyClient fwd
<Location /rp/>
    ProxyPass $ECHO/rp/
</Location>
RewriteEngine On
RewriteRule "^/pin/ok/(.*)\$" "$ECHO/pin/\$1" [P]
RewriteRule "^/pin/port/(.*)\$" "http://127.0.0.1:$SINK/pin/\$1" [P]
RewriteRule "^/pin/host/(.*)\$" "http://localhost:$SINK/pin/\$1" [P]
RewriteRule "^/pin/scheme/(.*)\$" "https://127.0.0.1:$EP/echo/pin/\$1" [P]
<Location /pin/>
    Auth0ProxyClient pinned
</Location>
<Location /pin80/>
    ProxyPass http://127.0.0.1:$SINK/pin80/
    Auth0ProxyClient pin80
</Location>
EOF
my $PORT = $h->{port};
my $log_from = 0;
sub new_lines { my @l = server_log_lines($h, $log_from); $log_from = -s $h->{error_log}; return @l }

sub get { my ($target) = @_; return raw_request($PORT, "GET $target HTTP/1.0", ["Authorization: $CALLER"]) }

# ---- a reverse proxy on the same server still gets the token --------------------------------
my $res = get('/rp/a');
is($res->{status}, 200, 'ProxyPass next to ProxyRequests On: 200');
like(echo_auth($res), qr/^Bearer eyJ/, 'ProxyPass: the backend gets our token');
my $ours = echo_auth($res);
new_lines();

# ---- forward proxy: refused, never given the token --------------------------------------------
$res = get("$ECHO/fwd?access_token=caller-own-token.in-a-query");
is($res->{status}, 403, 'forward-proxy request to the echo backend: 403');
unlike($res->{content}, qr/eyJ/, 'forward proxy: no token in the answer (the backend was not reached)');
my @lines = new_lines();
ok((grep { m{AGW0215: client fwd: forward-proxy request to http://127\.0\.0\.1:$EP refused \(403\): Auth0ProxyClient applies to reverse-proxied backends only} } @lines),
   'forward proxy: AGW0215 names the client and the origin (not the query)');
ok(!(grep { /caller-own-token/ } @lines), 'forward proxy: the token in the query is not logged');
my $before = sink_hits();
$res = get("http://127.0.0.1:$SINK/fwd");
is($res->{status}, 403, 'forward-proxy request to another backend: 403');
is(sink_hits(), $before, 'forward proxy: that backend was never contacted');
is(token_requests('pxfwd'), 1, 'forward proxy: no token fetched for it (only the ProxyPass one)');

# ---- Auth0ClientBackend: the listed origin gets the token --------------------------------------
$res = get('/pin/ok/a?k=v');
is($res->{status}, 200, 'pinned client, listed origin (listed in upper case): 200');
like(echo_auth($res), qr/^Bearer eyJ/, 'pinned client, listed origin: the backend gets our token');
isnt(echo_auth($res), $ours, "pinned client: its own token, not the other client's");
is(echo_of($res)->{url}, '/echo/pin/a?k=v', 'pinned client: the URL reached');
is(token_requests('pxpin'), 1, 'pinned client: one token fetch');
new_lines();

# ---- ... and nothing else: another port, another host name, another scheme -----------------------
$before = sink_hits();
$res = get('/pin/port/a');
is($res->{status}, 403, 'pinned client, same host on another port: 403');
is(sink_hits(), $before, 'another port: the backend was never contacted');
@lines = new_lines();
ok((grep { m{AGW0214: client pinned: backend origin http://127\.0\.0\.1:$SINK is not one of its Auth0ClientBackend origins: request refused \(403\)} } @lines),
   'another port: AGW0214 names the client and the refused origin');
ok(!(grep { /eyJ|caller-own-token/ } @lines), 'AGW0214: no token in the log line');

$res = get('/pin/host/a');
is($res->{status}, 403, 'pinned client, localhost instead of 127.0.0.1: 403');
is(sink_hits(), $before, 'another host name: the backend was never contacted');
ok((grep { m{AGW0214: client pinned: backend origin http://localhost:$SINK } } new_lines()),
   'another host name: AGW0214 with the origin');

$res = get('/pin/scheme/a');
is($res->{status}, 403, 'pinned client, https instead of http to the same host and port: 403');
ok((grep { m{AGW0214: client pinned: backend origin https://127\.0\.0\.1:$EP } } new_lines()),
   'another scheme: AGW0214 with the origin');

$res = get('/pin80/a');
is($res->{status}, 403, 'Auth0ClientBackend http://127.0.0.1 (port 80) and a backend on another port: 403');
is(sink_hits(), $before, 'default port: the backend was never contacted');
ok((grep { m{AGW0214: client pin80: backend origin http://127\.0\.0\.1:$SINK } } new_lines()),
   'default port: AGW0214');
is(token_requests('pxpin'), 1, 'refused requests fetched no token');

my $all = join '', server_log_lines($h, 0);
ok(index($all, (split ' ', $ours)[1]) < 0, 'no token in the error_log');

stop_httpd('backend');
