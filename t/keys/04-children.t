# Keys that really leave, in every child: three child processes that met the gate first at different times, all but one of which took their key set from the shared cache; once the issuer drops a key, no child accepts a token of it past Auth0KeyRefresh + 10 s, neither one it has cached nor a new one. A kid the issuer reuses for new key material does not keep tokens of the old key alive from the verified-token cache.
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
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";
my $TENANT = 'childrot';
my $REFRESH = 10;

plan tests => 12;

reset_tenant($TENANT, keys => JSON::PP::true());
my $stay = rotate_key($TENANT);
my $leaving = add_key($TENANT, alg => 'RS256');
my $reused = add_key($TENANT, alg => 'RS256', kid => 'reused-kid');

my $host = start_httpd(name => 'childrot', modules => ['authz_user', 'socache_shmcb'],
                       processes => 3, config => <<"EOF");
CustomLog "logs/access_log" "%P %>s %U"
MaxConnectionsPerChild 0
<Location /gate/>
    AuthType Auth0
    AuthName childrot
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $ISS/t/$TENANT/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Auth0KeyRefresh $REFRESH
    Require valid-user
    ProxyPass $ECHO/gate/
</Location>
EOF

sub status_of { return http_get("$host->{url}/gate/$_[1]", Authorization => "Bearer $_[0]")->{status} }
sub pids {
    open my $fh, '<', "$host->{root}/logs/access_log" or return 0;
    my %p;
    while (<$fh>) { $p{$1} = 1 if m{^(\d+) } }
    return scalar keys %p;
}

# ---- before: every child accepts tokens of the key that will leave, many from its cache ----
my $cached = mint(tenant => $TENANT, kid => $leaving);
my $reused_token = mint(tenant => $TENANT, kid => $reused);
my ($ok, $n) = (0, 0);
my $t_start = time;
my ($early_fetches, $early_pids);
# requests one after another over 12 s: each child meets the gate first at another time, the
# first one fetches and the later ones take the shared set (old code: and never refreshed)
for my $i (1 .. 120) {
    my $t = $i % 3 ? $cached : mint(tenant => $TENANT, kid => $leaving);
    $t = $reused_token if $i % 5 == 0;
    $n++;
    $ok++ if status_of($t, "b$i") == 200;
    # before the first scheduled refresh (Auth0KeyRefresh 10 s) could have run anywhere
    if (!defined $early_fetches && time - $t_start > $REFRESH - 3) {
        $early_fetches = stats($TENANT)->{jwks_fetches};
        $early_pids = pids();
    }
    sleep 0.1;
}
is($ok, $n, "before: all $n requests with tokens of the leaving key and the reused kid pass");
cmp_ok(pids(), '>=', 2, 'several children served (' . pids() . ')');
# one fetch for the first sightings of all the children that met the gate so far (a
# per-process key store makes one per child)
is($early_fetches, 1, "one JWKS fetch before the first refresh, with $early_pids children serving");

# tokens of the leaving key that no child has seen yet, for after its removal
my @unseen = map { mint(tenant => $TENANT, kid => $leaving) } 1 .. 60;

# ---- the issuer drops one key and gives the reused kid new key material -----------------------
remove_key($TENANT, $leaving);
remove_key($TENANT, $reused);
add_key($TENANT, alg => 'RS256', kid => 'reused-kid');
my $t0 = time;
my $fresh_reused = mint(tenant => $TENANT, kid => 'reused-kid');
my $staying = mint(tenant => $TENANT, kid => $stay);
sleep 0.2 while time < $t0 + $REFRESH + 10;
my %bad;
for my $i (1 .. 60) {
    $bad{cached}++ if status_of($cached, "c$i") == 200;
    $bad{new}++ if status_of($unseen[$i - 1], "n$i") == 200;
    $bad{reused}++ if status_of($reused_token, "r$i") == 200;
}
is($bad{cached} // 0, 0, 'after refresh + 10 s: the cached token of the removed key: 0 of 60 accepted');
is($bad{reused} // 0, 0, 'the token of the old key under the reused kid: 0 of 60 accepted');
is(status_of($fresh_reused, 'fr'), 200, 'a token of the new key under the reused kid passes');
my ($stay_ok) = (0);
$stay_ok += status_of($staying, "s$_") == 200 ? 1 : 0 for 1 .. 30;
is($stay_ok, 30, 'tokens of the key that stayed: 30 of 30 pass');
my $res = http_get("$host->{url}/gate/x", Authorization => "Bearer $cached");
is($res->{status}, 401, 'the removed key\'s token: 401');
like($res->{headers}{'www-authenticate'} // '', qr/error="invalid_token"/, 'with invalid_token');
is($bad{new} // 0, 0, 'new tokens signed with the removed key: 0 of 60 accepted');

my @lines = server_log_lines($host, 0);
ok(!(grep { /\[(?:emerg|crit|alert)\]|exit signal|AH00052|AH00060/ } @lines), 'no child crashed');
ok(!(grep { index($_, $cached) >= 0 } @lines), 'no token in the log');
stop_httpd('childrot');
