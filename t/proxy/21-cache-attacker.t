# An attacker who can read and write the fleet's Redis (no authentication, as Redis ships): it can neither make the gate accept a token signed with its own key (by planting a key set), nor read the backend credential, nor pin a token of its own; what it writes is ignored and logged (AGW0303), and the gate and the proxy go on from the network. A host with another Auth0CacheSecret cannot read or feed the fleet either.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use Time::HiRes qw(sleep time);
use JSON::PP ();

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
system('command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1') == 0
    or BAIL_OUT('redis-server and redis-cli are needed (apt-get install redis-server)');

my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $ECHO = "http://127.0.0.1:$ENV{AGW_ISSUER_HTTP_PORT}/echo";
my ($VICTIM, $EVIL, $CLIENT) = ('cachevictim', 'cacheevil', 'cacheclient');
my $ATTEMPTS = 8;

plan tests => 18;

sub key_file {
    my ($name) = @_;
    my $file = AGW::Proxy::state_dir() . "/$name.key";
    open my $fh, '>', $file or die "$file: $!";
    print $fh unpack('H*', join '', map { chr int rand 256 } 1 .. 32), "\n";
    close $fh;
    chmod 0600, $file;
    return $file;
}

my ($redis_pid, $redis_port) = start_redis();
sub redis {
    my (@args) = @_;
    my $q = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } @args;
    my @out = `redis-cli -p $redis_port --raw $q 2>&1`;
    chomp @out;
    return @out;
}
# {id => [redis key, value]}: mod_socache_redis stores id ID under "auth0gw:" . hex(ID).
sub all_records {
    my %rec;
    for my $k (redis('--scan')) {
        my $id = $k =~ /^auth0gw:([0-9a-f]+)$/ ? pack('H*', $1) : $k;
        $rec{$id} = [ $k, join "\n", redis('GET', $k) ];
    }
    return \%rec;
}

reset_tenant($VICTIM);
reset_tenant($EVIL);
register_client($CLIENT, client_id => "$CLIENT-id", client_secret => $SECRET, expires_in => 3600);

sub config {
    my ($keyfile) = @_;
    return <<"EOF";
Auth0Cache redis:127.0.0.1:$redis_port
Auth0CacheSecret file:$keyfile
<Location /gate/>
    AuthType Auth0
    AuthName victim
    Auth0Issuer $ISS/t/$VICTIM/
    Auth0JWKS $ISS/t/$VICTIM/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Auth0KeyRefreshCooldown 1
    Require valid-user
    ProxyPass $ECHO/gate/
</Location>
<Auth0Client cc>
    Auth0TokenURL       $ISS/t/$CLIENT/oauth/token
    Auth0ClientID       $CLIENT-id
    Auth0ClientSecret   env:AGW_HMAC_SECRET
    Auth0ClientAudience https://orders.agw.test/
    Auth0CAFile         $ENV{AGW_STATE_DIR}/ca.pem
</Auth0Client>
<Location /cc/>
    ProxyPass $ECHO/cc/
    Auth0ProxyClient cc
</Location>
EOF
}

my $fleet_key = key_file('attack-fleet');
my $host = start_httpd(name => 'attack', modules => ['socache_redis', 'authz_user'], config => config($fleet_key),
                       processes => 2);
my $log_from = -s $host->{error_log} || 0;

# ---- the gate works, and its key set is in Redis (sealed) --------------------------------
my $good = mint(tenant => $VICTIM);
is(http_get("$host->{url}/gate/x", Authorization => "Bearer $good")->{status}, 200,
   'a token of the issuer: 200');
my $records = all_records();
my @jwks_keys = map { $records->{$_}[0] } grep { /^jwks:/ } keys %$records;
cmp_ok(scalar @jwks_keys, '>=', 1, 'the key set was published to the shared cache');
my $victim_n = keys_of($VICTIM)->[0]{jwk}{n};
ok(!(grep { index($_->[1], $victim_n) >= 0 || $_->[1] =~ /"keys"/ } values %$records),
   'no record holds a readable key set');

# ---- the attacker plants its own key set under every jwks: key ---------------------------
my $evil_jwks = JSON::PP->new->canonical->encode({ keys => [ map { $_->{jwk} } grep { $_->{published} } @{ keys_of($EVIL) } ] });
my ($accepted, $refused) = (0, 0);
for my $i (1 .. $ATTEMPTS) {
    my $t = time;
    redis('SET', $_, int($t) . " $evil_jwks") for @jwks_keys;
    # a token "of the victim" signed with the attacker's key: its kid is unknown to the gate,
    # so the gate looks for a newer set, where the planted one waits
    my $forged = mint(tenant => $EVIL, claims => { iss => "$ISS/t/$VICTIM/" });
    my $st = http_get("$host->{url}/gate/f$i", Authorization => "Bearer $forged")->{status};
    $st == 200 ? $accepted++ : $st == 401 ? $refused++ : diag("attempt $i: status $st");
    sleep 1.1;      # past the unknown-kid cooldown, so that every attempt re-reads the cache
}
is($accepted, 0, "planted key set: 0 of $ATTEMPTS forged tokens accepted");
is($refused, $ATTEMPTS, "planted key set: all $ATTEMPTS refused with 401");
is(http_get("$host->{url}/gate/y", Authorization => "Bearer " . mint(tenant => $VICTIM))->{status},
   200, 'the issuer\'s tokens still pass');

# ---- the backend credential cannot be read from Redis ---------------------------------------
my $res = http_get("$host->{url}/cc/one");
is($res->{status}, 200, 'proxied request: 200');
my ($cc_token) = (echo_auth($res) // '') =~ /^Bearer (\S+)$/;
ok($cc_token, 'the backend got the client-credentials token');
$records = all_records();
my $snippet = substr($cc_token // 'none', 0, 24);
ok(!(grep { index($_->[1], $snippet) >= 0 } values %$records),
   'no record in Redis holds the token (not even its first 24 characters)');

# ---- nor replaced by a token of the attacker's, with far-future times ------------------------
my @cc_keys = map { $records->{$_}[0] } grep { !/^(?:jwks|cool|fail|lock):/ } keys %$records;
cmp_ok(scalar @cc_keys, '>=', 1, 'the client token record is there to attack');
redis('SET', $_, "1 " . (int(time) + 1) . " 99999999999 attacker-token") for @cc_keys;
my @auth = map { echo_auth(http_get("$host->{url}/cc/r$_")) // '' } 1 .. 6;
# a process that held the token in memory keeps it; one that did not ignores the rewritten
# record and asks the token endpoint for a new one
is(scalar(grep { /^Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+$/ } @auth), 6,
   'after the attacker rewrote every record: the backend gets a token of the issuer every time');
ok(!(grep { /attacker-token/ } @auth), 'never the attacker\'s');

# ---- a host with another fleet key shares nothing with this one -------------------------------
my $other = start_httpd(name => 'attack-other', modules => ['socache_redis', 'authz_user'],
                        config => config(key_file('attack-other')), processes => 1);
my $before = token_requests($CLIENT);
$res = http_get("$other->{url}/cc/other");
is($res->{status}, 200, 'a host with another Auth0CacheSecret: proxied request 200');
is(token_requests($CLIENT), $before + 1, 'it fetched its own token: it could not read the fleet\'s');
is(http_get("$other->{url}/gate/z", Authorization => "Bearer " . mint(tenant => $VICTIM))->{status},
   200, 'and its gate works from the issuer');
stop_httpd('attack-other');

# ---- what the attacker wrote was logged, never trusted --------------------------------------
my @lines = server_log_lines($host, $log_from);
my @forged = grep { /\[auth0gw:warn\].*AGW0303: shared cache redis: record \S+ ignored: record (?:version unknown|too short|fails authentication|key unknown)/ } @lines;
cmp_ok(scalar @forged, '>=', 1, 'AGW0303 logged for the planted records (' . scalar(@forged) . ' lines)');
my $all = join '', @lines;
ok(index($all, $cc_token // 'none') < 0 && index($all, $good) < 0,
   'no token in the error log');
ok(!(grep { /\[(?:emerg|crit|alert)\]|exit signal|AH00052|AH00060/ } @lines),
   'nothing fatal, no child crashed');

stop_httpd('attack');
stop_daemon($redis_pid);
