# Interoperability, DPoP for backends: panva's oidc-provider (its dPoP feature, clients with dpop_bound_access_tokens, one demanding a server nonce) issues DPoP-bound client-credentials tokens to the module as a gateway client, and the backend receives Authorization: DPoP with a fresh proof that verifies against the token's cnf.jkt.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use AGW::Interop;
use File::Path qw(make_path);

my $issuer = $ENV{$AGW::Interop::ENV_ISSUER}
    or BAIL_OUT("$AGW::Interop::ENV_ISSUER is not set: run this through t/TEST");
plan tests => 14;

$ENV{$_} //= $AGW::Interop::SECRET_ENV{$_} for keys %AGW::Interop::SECRET_ENV;
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";
my $STATE = AGW::Proxy::state_dir() . '/interop-dpop';
make_path($STATE);
my $KEY = p256_key("$STATE/dpop-p256.pem");

my $config = '';
for my $c (['ixdpop', 'dpop', 'AGW_INTEROP_DPOP_SECRET'],
           ['ixnonce', 'dpop_nonce', 'AGW_INTEROP_DPOP_NONCE_SECRET']) {
    my ($name, $which, $env) = @$c;
    $config .= <<"EOF";
<Auth0Client $name>
    Auth0TokenURL       ${issuer}oauth/token
    Auth0InsecureHTTP   On
    Auth0ClientID       $AGW::Interop::CLIENT{$which}{id}
    Auth0ClientSecret   env:$env
    Auth0ClientAudience $AGW::Interop::AUDIENCE
    Auth0ClientDPoPKey  file:$KEY
</Auth0Client>
<Location /ix/$name/>
    ProxyPass $ECHO/$name/
    Auth0ProxyClient $name
</Location>
EOF
}
my $h = start_httpd(name => 'interop-dpop', config => $config, processes => 1,
                    modules => ['socache_shmcb']);

sub claims_of {
    my ($jwt) = @_;
    my @p = split /\./, $jwt // '';
    return eval { JSON::PP::decode_json(b64u_decode($p[1] // '')) } || {};
}

for my $name (qw(ixdpop ixnonce)) {
    my $res = HTTP::Tiny->new(timeout => 30)->get("$h->{url}/ix/$name/a/b?q=1");
    is($res->{status}, 200, "$name: oidc-provider issued a token, the backend answered")
        or diag(server_log_lines($h, 0));
    my ($token) = (echo_auth($res) // '') =~ /^DPoP (\S+)$/;
    ok(defined $token, "$name: Authorization: DPoP <token>");
    my $claims = claims_of($token);
    ok(defined $claims->{cnf}{jkt}, "$name: the provider bound the token (cnf.jkt)");
    is($claims->{aud}, $AGW::Interop::AUDIENCE, "$name: for the audience asked");
    my $v = admin($name, 'dpopcheck', { proof => echo_header($res, 'DPoP'), htm => 'GET',
                                        htu => "$ECHO/$name/a/b", token => $token });
    ok($v->{ok}, "$name: the proof verifies (signature, htm, htu, iat, ath)") or diag(explain($v));
    is($v->{jkt} // 'none', $claims->{cnf}{jkt} // 'missing',
       "$name: proof key thumbprint = cnf.jkt from oidc-provider");
    $res = HTTP::Tiny->new(timeout => 30)->get("$h->{url}/ix/$name/c");
    is((echo_auth($res) // '') =~ /^DPoP (\S+)$/ ? $1 : '', $token,
       "$name: a second request reuses the token");
}
stop_httpd('interop-dpop');
