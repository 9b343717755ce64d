# DPoP for backends (RFC 9449): with Auth0ClientDPoPKey the token request carries a proof (and retries once with the server's nonce), the token is DPoP-bound, and every proxied request carries Authorization: DPoP and a fresh proof for the URL mod_proxy sends to, which the backend verifies with Node's crypto; the caller's DPoP header never travels; configuration errors name file and line.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use File::Path qw(make_path);

plan tests => 52;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";
my $STATE = AGW::Proxy::state_dir() . '/dpop';
make_path("$STATE/logs");

sub genkey {
    my ($name, @args) = @_;
    my $file = "$STATE/$name.pem";
    system(join(' ', 'openssl genpkey', @args, '-out', "'$file'", '2>/dev/null')) == 0
        or BAIL_OUT("openssl genpkey $name");
    chmod 0600, $file;
    return $file;
}
my %KEY = (
    p256 => genkey('p256', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'),
    p384 => genkey('p384', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'),
    ed   => genkey('ed', '-algorithm', 'ED25519'),
    rsa  => genkey('rsa', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'),
);

# name => [tenant, issuer client options, key line]
my %CLIENT = (
    es     => ['dpopes',  { dpop => JSON::PP::true }, "file:$KEY{p256}"],
    nonce  => ['dpopnc',  { dpop => JSON::PP::true, dpop_nonce => JSON::PP::true }, "file:$KEY{p256}"],
    unbound => ['dpopub', { dpop_bearer => JSON::PP::true }, "file:$KEY{p256}"],
    ed     => ['dpoped',  { dpop => JSON::PP::true }, "file:$KEY{ed}"],
    ps     => ['dpopps',  { dpop => JSON::PP::true }, "file:$KEY{rsa} PS256"],
    bearer => ['dpopbr',  {}, undef],
    many   => ['dpopmany', { dpop => JSON::PP::true }, "file:$KEY{p256}"],
);
my $config = "CustomLog \"logs/access_log\" \"%P %>s %U\"\n"
           . "<Proxy \"balancer://dpbal\">\n    BalancerMember \"$ECHO/bal\"\n</Proxy>\n"
           . "<Location /dp/bal/>\n    ProxyPass \"balancer://dpbal/\"\n    Auth0ProxyClient es\n</Location>\n";
for my $name (sort keys %CLIENT) {
    my ($tenant, $opts, $key) = @{ $CLIENT{$name} };
    register_client($tenant, client_id => "$tenant-client", client_secret => $SECRET, %$opts);
    $config .= "<Auth0Client $name>\n"
             . "    Auth0TokenURL       $ISS/t/$tenant/oauth/token\n"
             . "    Auth0ClientID       $tenant-client\n"
             . "    Auth0ClientSecret   env:AGW_HMAC_SECRET\n"
             . "    Auth0ClientAudience https://orders.agw.test/\n"
             . "    Auth0CAFile         $ENV{AGW_STATE_DIR}/ca.pem\n"
             . ($key ? "    Auth0ClientDPoPKey  $key\n" : '')
             . "</Auth0Client>\n"
             . "<Location /dp/$name/>\n    ProxyPass $ECHO/$name/\n    Auth0ProxyClient $name\n</Location>\n";
}
my $h = start_httpd(name => 'dpop', config => $config, processes => 2,
                    modules => [qw(proxy_balancer slotmem_shm lbmethod_byrequests socache_shmcb)]);

sub get {
    my ($path, %hdr) = @_;
    return HTTP::Tiny->new(timeout => 30, keep_alive => 0)->request(
        $hdr{method} || 'GET', "$h->{url}$path", { headers => $hdr{headers} || {} });
}
sub dpop_token { my ($auth) = @_; return defined $auth && $auth =~ /^DPoP (\S+)$/ ? $1 : undef }
sub claims_of {
    my ($jwt) = @_;
    my @p = split /\./, $jwt // '';
    return eval { JSON::PP::decode_json(b64u_decode($p[1] // '')) } || {};
}
sub check {
    my ($tenant, $proof, $htm, $htu, $token) = @_;
    return admin($tenant, 'dpopcheck', { proof => $proof, htm => $htm, htu => $htu,
                                         defined $token ? (token => $token) : () });
}
sub headers_named {
    my ($res, $name) = @_;
    return scalar grep { lc $_->[0] eq lc $name } @{ echo_of($res)->{headers} || [] };
}

# ---- ES256: the token request, the proxied request, the backend's verification ---------------
my $res = get('/dp/es/a/b?x=1#frag', headers => { Authorization => 'Bearer caller.own.token',
                                                  DPoP => 'caller.own.proof' });
is($res->{status}, 200, 'ES256 client: 200 from the backend');
my $token = dpop_token(echo_auth($res));
ok(defined $token, 'backend receives Authorization: DPoP <token>') or diag(echo_auth($res));
is(headers_named($res, 'DPoP'), 1, 'exactly one DPoP header reaches the backend');
my $proof = echo_header($res, 'DPoP');
isnt($proof, 'caller.own.proof', "the caller's DPoP header is not forwarded");
my $v = check('dpopes', $proof, 'GET', "$ECHO/es/a/b", $token);
ok($v->{ok}, 'the backend verifies the proof: signature, htm GET, htu without query, iat, ath')
    or diag(explain($v));
is($v->{header}{alg}, 'ES256', 'proof alg ES256');
ok(!exists $v->{header}{jwk}{d}, 'no private member in the proof jwk');
is(claims_of($token)->{cnf}{jkt} // 'missing', $v->{jkt} // 'none',
   "the token's cnf.jkt is the proof key's thumbprint");
my $replay = check('dpopes', $proof, 'GET', "$ECHO/es/a/b", $token);
is($replay->{why}, 'jti replayed', 'the same proof checked twice is a replay (the check is real)');
my $log = token_log('dpopes');
is(scalar @$log, 1, 'one token request');
is($log->[0]{dpop_error}, undef, 'token request proof accepted by the issuer');
is($log->[0]{dpop}{claims}{htm}, 'POST', 'token request proof: htm POST');
is($log->[0]{dpop}{claims}{htu}, "$ISS/t/dpopes/oauth/token", 'token request proof: htu the token URL');
ok(!exists $log->[0]{dpop}{claims}{ath}, 'token request proof: no ath');

$res = get('/dp/es/a/b', method => 'POST');
is($res->{status}, 200, 'second request (POST): 200');
is(dpop_token(echo_auth($res)), $token, 'the same cached token');
my $v2 = check('dpopes', echo_header($res, 'DPoP'), 'POST', "$ECHO/es/a/b", $token);
ok($v2->{ok}, 'POST proof verifies with htm POST') or diag(explain($v2));
isnt($v2->{claims}{jti}, $v->{claims}{jti}, 'a new jti per request');
is(token_requests('dpopes'), 1, 'still one token request');
my $wrong = check('dpopes', echo_header(get('/dp/es/c'), 'DPoP'), 'GET', "$ECHO/es/other", $token);
like($wrong->{why} // '', qr/^htu /, 'a proof does not verify for another URL');

# ---- the server's nonce (RFC 9449 section 8) -------------------------------------------------------
$res = get('/dp/nonce/n');
is($res->{status}, 200, 'nonce-demanding issuer: 200 after the retry');
$log = token_log('dpopnc');
is(scalar @$log, 2, 'two token requests: without the nonce, then with it');
is($log->[0]{dpop_error}, 'nonce missing or stale', 'the first was refused with use_dpop_nonce');
ok(defined $log->[1]{dpop}{claims}{nonce} && !defined $log->[1]{dpop_error},
   'the retry carries the nonce and is accepted');
isnt($log->[1]{dpop}{claims}{jti}, $log->[0]{dpop}{claims}{jti}, 'the retry has a new proof');
$token = dpop_token(echo_auth($res));
ok(check('dpopnc', echo_header($res, 'DPoP'), 'GET', "$ECHO/nonce/n", $token)->{ok},
   'the proxied request after the nonce flow verifies');

# ---- a server that does not bind the token -------------------------------------------------------
my $from = -s $h->{error_log} || 0;
$res = get('/dp/unbound/u');
is($res->{status}, 503, 'token_type Bearer for a DPoP client: the token is not used (503)');
my @lines = server_log_lines($h, $from);
ok((grep { /AGW0211: .*did not bind the token to the DPoP key/ } @lines),
   'AGW0211 says the server did not bind the token') or diag(join '', @lines);

# ---- Ed25519 and RSA-PSS keys ----------------------------------------------------------------------
for my $case (['ed', 'dpoped', 'EdDSA'], ['ps', 'dpopps', 'PS256']) {
    my ($name, $tenant, $alg) = @$case;
    $res = get("/dp/$name/k");
    is($res->{status}, 200, "$alg client: 200");
    my $tok = dpop_token(echo_auth($res));
    my $c = check($tenant, echo_header($res, 'DPoP'), 'GET', "$ECHO/$name/k", $tok);
    ok($c->{ok}, "$alg proof verifies") or diag(explain($c));
    is($c->{header}{alg}, $alg, "$alg proof alg");
    is(claims_of($tok)->{cnf}{jkt} // 'missing', $c->{jkt} // 'none',
       "$alg: cnf.jkt is the proof key's thumbprint");
}

# ---- a Bearer client: the caller's DPoP header is removed too -------------------------------------
$res = get('/dp/bearer/x', headers => { DPoP => 'caller.own.proof' });
is($res->{status}, 200, 'Bearer client: 200');
like(echo_auth($res) // '', qr/^Bearer eyJ/, 'Bearer client: Authorization: Bearer');
is(headers_named($res, 'DPoP'), 0, "Bearer client: the caller's DPoP header is removed");

# ---- a balancer: the member is chosen after the proof must be made --------------------------------
$from = -s $h->{error_log} || 0;
$res = get('/dp/bal/x');
is($res->{status}, 500, 'DPoP client behind a balancer: 500');
ok((grep { /AGW0218: client es: no DPoP proof/ } server_log_lines($h, $from)), 'AGW0218 logged');

# ---- 40 concurrent requests: 40 fresh proofs, one token fetch --------------------------------------
# the fetch is slow, as in 02-cache.t, so that every request arrives while it runs
set_mode('dpopmany', token => 'slow', slow_ms => 1500);
my @urls = map { "$h->{url}/dp/many/r$_" } 1 .. 40;
my $out = parallel_get(\@urls);
set_mode('dpopmany', token => 'up');
is(scalar(grep { $_->{status} == 200 } @$out), 40, '40 concurrent requests: all 200');
my %tokens = map { (dpop_token($_->{auth}) // 'none') => 1 } @$out;
is(scalar keys %tokens, 1, '40 concurrent requests: one token');
my ($many) = keys %tokens;
my (%jti, $good);
for my $i (0 .. $#$out) {
    my $c = check('dpopmany', $out->[$i]{dpop}, 'GET', "$ECHO/many/r" . ($i + 1), $many);
    $good++ if $c->{ok} && $c->{jkt} eq (claims_of($many)->{cnf}{jkt} // '');
    $jti{ $c->{claims}{jti} // '' } = 1;
}
is($good, 40, '40 concurrent requests: each proof verifies for its own URL and the bound key');
is(scalar keys %jti, 40, '40 concurrent requests: 40 distinct jti');
is(token_requests('dpopmany'), 1, '40 concurrent requests: one token fetch')
    or diag(explain(token_log('dpopmany')));

# ---- the log: no token, no proof -------------------------------------------------------------------
my $all = join '', server_log_lines($h, 0);
ok(index($all, $token) < 0 && index($all, $proof) < 0, 'no token or proof in the error_log');
stop_httpd('dpop');

# ---- configuration errors ---------------------------------------------------------------------------
my $HTTPD = $ENV{APACHE_TEST_HTTPD} || '/usr/sbin/apache2';
my $LIBEXEC = `apxs -q LIBEXECDIR 2>/dev/null` || '/usr/lib/apache2/modules';
chomp $LIBEXEC;
my $MODULE = $ENV{AGW_MODULE} || "$FindBin::Bin/../../build/mod_auth0gw.so";
my $n = 0;
sub configtest {
    my ($line) = @_;
    my $file = "$STATE/t" . ++$n . '.conf';
    my $mods = join '', map { "LoadModule ${_}_module $LIBEXEC/mod_$_.so\n" }
        "mpm_" . AGW::Test::mpm(), qw(authn_core authz_core proxy proxy_http);
    open my $fh, '>', $file or die "$file: $!";
    print $fh $mods, "LoadModule auth0gw_module $MODULE\n",
              "ServerName 127.0.0.1\nErrorLog $STATE/logs/error_log\n",
              "PidFile $STATE/logs/httpd.pid\nDefaultRuntimeDir $STATE/logs\n",
              "<Auth0Client c>\n    Auth0TokenURL https://127.0.0.1:9/oauth/token\n",
              "    Auth0ClientID cid\n    Auth0ClientSecret env:AGW_HMAC_SECRET\n",
              "    $line\n</Auth0Client>\n";
    close $fh;
    my $out = `$HTTPD -t -d '$STATE' -f '$file' 2>&1`;
    return ($? >> 8, $out, $file);
}
sub line_of {
    my ($f, $what) = @_;
    open my $fh, '<', $f or die "$f: $!";
    while (<$fh>) { return $. if /\Q$what\E/ }
    return 0;
}
my ($rc, $text, $file) = configtest("Auth0ClientDPoPKey file:$KEY{p256}");
ok($rc == 0 && $text =~ /Syntax OK/, 'a P-256 key: configtest passes') or diag($text);
for my $case (["file:$STATE/missing.pem", qr/Auth0ClientDPoPKey: .*missing\.pem/, 'an unreadable key file'],
              ["file:$KEY{p384}", qr/Auth0ClientDPoPKey: .*EC key not on P-256/, 'a P-384 key'],
              ["file:$KEY{rsa} ES256", qr/Auth0ClientDPoPKey: .*alg does not fit the key/, 'ES256 with an RSA key'],
              ["file:$KEY{p256} HS256", qr/Auth0ClientDPoPKey: HS256 is not a DPoP algorithm/, 'HS256']) {
    my ($arg, $re, $what) = @$case;
    ($rc, $text, $file) = configtest("Auth0ClientDPoPKey $arg");
    my $lineno = line_of($file, 'Auth0ClientDPoPKey');
    ok($rc != 0 && $text =~ /line $lineno of \Q$file\E/ && $text =~ $re, "$what: configtest fails with file:line and the reason")
        or diag("exit $rc: $text");
}
