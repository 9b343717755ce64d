# Sender-constrained tokens beyond one process: certificate-bound tokens (RFC 8705) on a mod_ssl virtual host with client certificates from curl --cert; a DPoP proof sent ten times at once to a host of two processes is accepted once (shmcb); a proof used on one host of a Redis fleet is refused on the other.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use Digest::SHA qw(sha256);
use JSON::PP ();

my $site = gated_site('sender', realm => 'agw-sender', tools => [qw(curl redis-server openssl node)]);
my ($STATE, $DIR, $gate) = @$site{qw(state dir gate)};

plan tests => 13;

sub run { system(@_) == 0 or die "failed: @_\n" }
# A self-signed client certificate (RFC 8705 3.1 allows them) and its x5t#S256.
sub client_cert {
    my ($name) = @_;
    run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
        '-nodes', '-days', '2', '-subj', "/CN=$name", '-keyout', "$DIR/$name.key",
        '-out', "$DIR/$name.pem");
    my $der = `openssl x509 -in '$DIR/$name.pem' -outform DER`;
    die "openssl x509 failed" if $? || !length $der;
    return b64u(sha256($der));
}
my $x5t_a = client_cert('client-a');
client_cert('client-b');

my $tls_port = free_port();
my $host = start_httpd(name => 'sender-tls', processes => 2,
                       modules => [qw(authz_user ssl socache_shmcb alias)], config => <<"EOF");
LogLevel warn auth0gw:debug
Alias /api/ "$DIR/www/"
<Location /api/>
$gate</Location>
Listen 127.0.0.1:$tls_port https
<VirtualHost 127.0.0.1:$tls_port>
    ServerName 127.0.0.1
    SSLEngine on
    SSLCertificateFile $STATE/server.pem
    SSLCertificateKeyFile $STATE/server-key.pem
    SSLVerifyClient optional_no_ca
</VirtualHost>
EOF

# curl over TLS with an optional client certificate: "STATUS error_description"
sub curl {
    my ($url, $token, $cert, @h) = @_;
    my @cmd = ('curl', '-s', '-o', '/dev/null', '-D', '-', '--max-time', '30',
               '--cacert', "$STATE/ca.pem",
               (defined $token ? ('-H', "Authorization: Bearer $token") : ()),
               (map { ('-H', $_) } @h));
    push @cmd, '--cert', "$DIR/$cert.pem", '--key', "$DIR/$cert.key" if $cert;
    open my $out, '-|', @cmd, $url or die "curl: $!";
    my $head = do { local $/; <$out> } // '';
    close $out;
    my ($code) = $head =~ m{^HTTP/\S+ (\d{3})}m;
    my ($desc) = $head =~ /^WWW-Authenticate:.*error_description="([^"]*)"/mi;
    return join ' ', $code // 0, $desc // '-';
}

my $TLS = "https://127.0.0.1:$tls_port/api/x";
my $bound = mint(claims => { sub => 'auth0|mtls', cnf => { 'x5t#S256' => $x5t_a } });
my $plain = mint(claims => { sub => 'auth0|plain' });
is(curl($TLS, $bound, 'client-a'), '200 -', 'certificate-bound token with its certificate: 200');
is(curl($TLS, $bound, 'client-b'), '401 token is bound to another client certificate',
   'with another client certificate: 401');
is(curl($TLS, $bound, undef), '401 token is bound to a client certificate and none was presented',
   'without a client certificate: 401');
is(curl("$host->{url}/api/x", $bound, undef),
   '401 token is bound to a client certificate and none was presented', 'over plain HTTP: 401');
is(curl($TLS, $plain, undef), '200 -', 'an unbound token needs no certificate: 200');
is(curl($TLS, $plain, 'client-b'), '200 -', 'an unbound token with any certificate: 200');

# ---- a DPoP proof sent ten times at once, to a host of two processes ----
my $JSON = JSON::PP->new->canonical;
my $key = $site->{key};
sub dpop {
    my (%a) = @_;
    my $out = `node '$FindBin::Bin/../fixtures/dpop-proof.js' '@{[ $JSON->encode(\%a) ]}'`;
    die "dpop-proof.js failed ($?)" if $?;
    return $JSON->decode($out);
}
my $jkt = dpop(key => $key, thumbprint_only => JSON::PP::true)->{jkt};
my $dbound = mint(claims => { sub => 'auth0|dpop', cnf => { jkt => $jkt } });
my $url = "$host->{url}/api/x";
my $proof = dpop(key => $key, method => 'GET', url => $url, token => $dbound)->{proof};
my $got = parallel_get([($url) x 10], Authorization => "DPoP $dbound", DPoP => $proof);
my %by = ();
$by{$_->{status}}++ for @$got;
is($by{200} // 0, 1, 'ten simultaneous requests with one proof: exactly one accepted');
is($by{401} // 0, 9, '... and nine refused as replays');
my @replayed = grep { /AGW0100: token rejected: DPoP proof replayed/ } split /\n/, httpd_log($host->{root});
is(scalar @replayed, 9, 'nine AGW0100 "DPoP proof replayed" lines');
my %pids = map { /\[pid (\d+)/ ? ($1 => 1) : () } @replayed;
diag('replays refused by ' . scalar(keys %pids) . ' process(es) of 2');
# curl's proof with the right htu on the TLS vhost
my $tproof = dpop(key => $key, method => 'GET', url => $TLS, token => $dbound)->{proof};
is(curl($TLS, undef, undef, "Authorization: DPoP $dbound", "DPoP: $tproof"), '200 -',
   'DPoP over TLS (htu https://...): 200');
stop_httpd('sender-tls');

# ---- a Redis fleet of two hosts ----
my ($redis_pid, $redis_port) = start_redis();
my $fleet_key = $site->{fleet_key};
my @hosts = map {
    start_httpd(name => "sender-$_", processes => 1, modules => [qw(authz_user socache_redis alias)],
                config => "Auth0Cache redis:127.0.0.1:$redis_port\nAuth0CacheSecret file:$fleet_key\n"
                        . "Alias /api/ \"$DIR/www/\"\n<Location /api/>\n$gate</Location>\n")
} qw(a b);
sub fleet_call {
    my ($h, $p) = @_;
    my $u = "$h->{url}/api/x";
    return http_get($u, Authorization => "DPoP $dbound",
                    DPoP => dpop(key => $key, method => 'GET', url => $u, token => $dbound,
                                 jti => $p)->{proof})->{status};
}
is(fleet_call($hosts[0], 'fleet-1'), 200, 'fleet: a proof on host a: 200');
is(fleet_call($hosts[1], 'fleet-1'), 401, 'fleet: the same key and jti on host b: refused (Redis)');
is(fleet_call($hosts[1], 'fleet-2'), 200, 'fleet: a new jti on host b: 200');
stop_httpd($_->{name}) for @hosts;
stop_daemon($redis_pid);
