# The backend's credential stays with the proxied request: an httpd whose LogFormat names the request's Authorization and DPoP headers (final and original request) logs "-" for a proxied request, for a Bearer client and a DPoP client, also when the backend's error status is turned into a local ErrorDocument page, while a request that is not proxied still logs the header it came with; and neither that ErrorDocument page (an internal redirect) nor a CGI script that SSI includes into the proxied response (a subrequest) is given the token.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use File::Path qw(make_path);
use HTTP::Tiny ();

plan tests => 23;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";
my $STATE = AGW::Proxy::state_dir() . '/access-log';
make_path($STATE);
my $key = p256_key("$STATE/p256.pem");

register_client('alogbr', client_id => 'alogbr-client', client_secret => $SECRET);
register_client('alogdp', client_id => 'alogdp-client', client_secret => $SECRET,
                dpop => JSON::PP::true);
my $MAIN = Apache::TestRequest::hostport();     # the suite's own server
my $config = "LogFormat \"%U|%>s|%{Authorization}i|%{DPoP}i|%<{Authorization}i|%{HTTP_AUTHORIZATION}e|%{HTTP_DPOP}e\" agwlog\n"
           . "CustomLog \"logs/access_log\" agwlog\n"
           . "Alias /local/ \"$STATE/\"\n"
           . "<Directory \"$STATE\">\n    Require all granted\n</Directory>\n"
           # what the request a page is served for holds as its Authorization
           . "<Location /local/>\n    Header always set X-Seen-Authorization \"expr=%{req:Authorization}\"\n</Location>\n"
           . "ScriptAlias /cgi/ \"$FindBin::Bin/../cgi-bin/\"\n"
           . "<Directory \"$FindBin::Bin/../cgi-bin\">\n    CGIPassAuth On\n    Require all granted\n</Directory>\n"
           # a proxied page (from the suite's own server) whose SSI includes that CGI script;
           # mod_include puts the request's headers in its environment too (CGIPassAuth On:
           # Authorization as well)
           . join('', map {; "<Location /al/$_->[0]/>\n    ProxyPass http://$MAIN/ssi/\n"
                            . "    Auth0ProxyClient $_->[1]\n    SetOutputFilter INCLUDES\n"
                            . "    Options +Includes\n    CGIPassAuth On\n</Location>\n" } ([ssi => 'br'], [ssidp => 'dp']))
           . "ProxyErrorOverride On\n"
           . "ErrorDocument 404 /local/missing.txt\n";
for my $name (qw(br dp)) {
    $config .= "<Auth0Client $name>\n"
             . "    Auth0TokenURL       $ISS/t/alog$name/oauth/token\n"
             . "    Auth0ClientID       alog$name-client\n"
             . "    Auth0ClientSecret   env:AGW_HMAC_SECRET\n"
             . "    Auth0ClientAudience https://orders.agw.test/\n"
             . "    Auth0CAFile         $ENV{AGW_STATE_DIR}/ca.pem\n"
             . ($name eq 'dp' ? "    Auth0ClientDPoPKey  file:$key\n" : '')
             . "</Auth0Client>\n"
             . "<Location /al/$name/>\n    ProxyPass $ECHO/$name/\n    Auth0ProxyClient $name\n</Location>\n";
}
# a backend path that answers 404 (the fixture's issuer, outside /echo)
$config .= "<Location /al/gone/>\n    ProxyPass http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/none/\n"
         . "    Auth0ProxyClient br\n</Location>\n";
open my $fh, '>', "$STATE/missing.txt" or die "$STATE/missing.txt: $!";
print $fh "not found here\n";
close $fh;
chmod 0644, "$STATE/missing.txt";
my $h = start_httpd(name => 'alog', config => $config, processes => 2,
                    modules => [qw(socache_shmcb alias headers cgid include)]);

sub get {
    my ($path, %hdr) = @_;
    return HTTP::Tiny->new(timeout => 30, keep_alive => 0)->request('GET', "$h->{url}$path",
                                                                     { headers => \%hdr });
}
# the access log's fields for each request whose path starts with $prefix
sub logged {
    my ($prefix) = @_;
    open my $lf, '<', "$h->{root}/logs/access_log" or return [];
    return [map { chomp; [split /\|/, $_, -1] } grep { index($_, $prefix) == 0 } <$lf>];
}

my $CALLER = 'Bearer caller.own.token';
my $res = get('/al/br/a', Authorization => $CALLER);
is($res->{status}, 200, 'Bearer client: 200 from the backend');
my $sent = echo_auth($res) // '';
like($sent, qr/^Bearer eyJ/, 'the backend got the client token');
$res = get('/al/dp/a', Authorization => $CALLER, DPoP => 'caller.own.proof');
is($res->{status}, 200, 'DPoP client: 200 from the backend');
my $dsent = echo_auth($res) // '';
my $dproof = echo_header($res, 'DPoP') // '';
like($dsent, qr/^DPoP eyJ/, 'the backend got the DPoP-bound token');
# an error status of the backend turned into a local page (ProxyErrorOverride, ErrorDocument):
# an internal redirect, which copies the request's headers
$res = get('/al/gone/x', Authorization => $CALLER);
is($res->{status}, 404, 'a backend 404 through ErrorDocument: 404');
like($res->{content} // '', qr/not found here/, 'with the local ErrorDocument page');
is($res->{headers}{'x-seen-authorization'} // '', '',
   'the ErrorDocument page\'s request holds no Authorization (the backend\'s token stays behind)');
$res = get('/local/missing.txt', Authorization => $CALLER);
is($res->{status}, 200, 'a local request with a caller token: 200');
is($res->{headers}{'x-seen-authorization'}, $CALLER, 'and its page sees that header (the check works)');
$res = get('/al/ssi/include-cgi.html', Authorization => $CALLER);
is($res->{status}, 200, 'a proxied page with an SSI include of a CGI script: 200');
my ($included) = ($res->{content} // '') =~ /included: (\{.*\})/s;
my $env = eval { JSON::PP::decode_json($included // '') }->{env} // {};
ok(exists $env->{GATEWAY_INTERFACE}, 'the CGI script ran as a subrequest of the proxied request');
is($env->{HTTP_AUTHORIZATION}, undef, 'it is not given the backend\'s token (HTTP_AUTHORIZATION)')
    or diag("HTTP_AUTHORIZATION: " . substr($env->{HTTP_AUTHORIZATION} // '', 0, 20) . '...');
$res = get('/al/ssidp/include-cgi.html', Authorization => $CALLER, DPoP => 'caller.own.proof');
is($res->{status}, 200, 'the same for a DPoP client: 200');
($included) = ($res->{content} // '') =~ /included: (\{.*\})/s;
$env = eval { JSON::PP::decode_json($included // '') }->{env} // {};
ok(exists $env->{GATEWAY_INTERFACE}, 'its CGI script ran');
is(join(' ', map { $_ . '=' . (defined $env->{$_} ? substr($env->{$_}, 0, 12) . '...' : 'none') }
             grep { /AUTHORIZATION|DPOP/ } sort keys %$env) || 'none', 'none',
   'no variable of the script holds the token or the proof (HTTP_AUTHORIZATION, HTTP_DPOP, '
   . 'REDIRECT_*)');

# the log line is written after the response: wait for all five
my $all;
wait_until(5, 0.1, sub { $all = logged('/'); @$all >= 7 });
my ($br) = @{ logged('/al/br/a') };
my ($dp) = @{ logged('/al/dp/a') };
my ($err) = grep { $_->[1] eq '404' } @$all;
my ($local) = grep { $_->[0] eq '/local/missing.txt' && $_->[1] eq '200' } @$all;
is_deeply([@{ $br // [] }[2, 4]], ['-', '-'],
          'Bearer client: Authorization logged as "-" (final and original request)');
is_deeply([@{ $dp // [] }[2, 3, 4]], ['-', '-', '-'], 'DPoP client: Authorization and DPoP logged as "-"');
is_deeply([@{ $err // [] }[2, 4]], ['-', '-'], 'the ErrorDocument redirect: "-" in both requests');
is($local && $local->[2], $CALLER, 'a request that is not proxied logs its own header (the log format works)');
my @ssi = map { @{ logged("/al/$_/") } } qw(ssi ssidp);
is(join(' ', map { join('|', @$_[2 .. 6]) } @ssi), '-|-|-|-|- -|-|-|-|-',
   'the SSI pages: "-" for the headers and for HTTP_AUTHORIZATION and HTTP_DPOP (%{...}e)');
my $text = do { open my $lf, '<', "$h->{root}/logs/access_log"; local $/; <$lf> } // '';
my ($tok) = $sent =~ /^Bearer (\S+)/;
my ($dtok) = $dsent =~ /^DPoP (\S+)/;
ok($tok && index($text, $tok) < 0, 'the client token is nowhere in the access log');
ok($dtok && index($text, $dtok) < 0 && index($text, $dproof) < 0,
   'neither the DPoP-bound token nor the proof is in the access log');
unlike(httpd_log($h->{root}), qr/\Q$tok\E/, 'nor in the error log');
stop_httpd('alog');
