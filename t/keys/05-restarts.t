# Keys and backend tokens survive restarts: during an issuer outage, a graceful restart and a full stop and start keep serving the last good key set and the client-credentials token (sealed in 0600 files of a 0700 directory); a tampered file is ignored (AGW0304) and the outage then gives 503, as without it.
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
my $TENANT = 'restarts';
my $CC = 'restartscc';          # the token endpoint's tenant
my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $HTTPD = $ENV{APACHE_TEST_HTTPD} || '/usr/sbin/apache2';

plan tests => 31;

reset_tenant($TENANT, keys => JSON::PP::true());
my $kid = rotate_key($TENANT);
set_mode($TENANT, jwks => 'up');
register_client($CC, client_id => "$CC-client", client_secret => $SECRET, expires_in => 3600);

my $host = start_httpd(name => 'restarts', modules => ['authz_user', 'socache_shmcb'],
                       processes => 2, config => <<"EOF");
<Location /gate/>
    AuthType Auth0
    AuthName restarts
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $ISS/t/$TENANT/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Auth0KeyRefreshCooldown 2
    Require valid-user
    ProxyPass $ECHO/gate/
</Location>
<Auth0Client backend>
    Auth0TokenURL       $ISS/t/$CC/oauth/token
    Auth0ClientID       $CC-client
    Auth0ClientSecret   env:AGW_HMAC_SECRET
    Auth0ClientAudience https://orders.agw.test/
    Auth0CAFile         $ENV{AGW_STATE_DIR}/ca.pem
</Auth0Client>
<Location /out/>
    ProxyPass $ECHO/out/
    Auth0ProxyClient backend
</Location>
EOF
my $root = $host->{root};
my $conf = "$root/conf/httpd.conf";
my $dir = "$root/logs/auth0gw";

sub status_of { return http_get("$host->{url}/gate/$_[1]", Authorization => "Bearer $_[0]")->{status} }
sub all_ok {
    my ($token, $n) = @_;
    my @bad = grep { $_ != 200 } map { status_of($token, "r$_") } 1 .. $n;
    return join(' ', @bad) || 'all 200';
}
sub log_count {
    my ($re) = @_;
    return scalar grep { /$re/ } server_log_lines($host, 0);
}
sub kept_files { my @f = glob("$dir/jwks-*"); return @f }
sub backend_auth {
    my @auth = map { my $r = http_get("$host->{url}/out/o$_");
                     $r->{status} == 200 ? echo_auth($r) // 'none' : $r->{status} } 1 .. $_[0];
    my %h = map { $_ => 1 } @auth;
    return join ' ', sort keys %h;
}
sub pid_of {
    open my $fh, '<', "$root/logs/httpd.pid" or return;
    my $pid = <$fh>;
    return $pid && $pid =~ /^(\d+)/ ? $1 : undef;
}
sub stop_now {
    my $pid = pid_of();
    system($HTTPD, '-d', $root, '-f', $conf, '-k', 'stop') == 0 or die "apache2 -k stop: $?";
    my $deadline = time + 15;
    sleep 0.05 while $pid && kill(0, $pid) && time < $deadline;
    die "httpd $pid did not stop" if $pid && kill(0, $pid);
}
sub start_now {
    system($HTTPD, '-d', $root, '-f', $conf, '-k', 'start') == 0 or die "apache2 -k start: $?";
    wait_until(15, 0.05, sub { my $p = pid_of(); $p && kill(0, $p) && http_get("$host->{url}/")->{status} != 599 })
        or die "httpd did not start again";
}

# ---- the issuer is up: the set is fetched and kept ---------------------------------------------
my $token = mint(tenant => $TENANT, kid => $kid);
is(status_of($token, 'a'), 200, 'issuer up: 200');
ok(wait_until(10, 0.1, sub { kept_files() == 1 }), 'the set is kept in one file under the runtime directory');
my ($file) = kept_files();
my @dst = stat $dir;
is(sprintf('%04o', $dst[2] & 07777), '0700', 'the directory is mode 0700');
my @fst = stat $file;
is(sprintf('%04o', $fst[2] & 07777), '0600', 'the file is mode 0600');
SKIP: {
    skip 'not root: no child user', 2 unless $> == 0;
    is($dst[4], scalar getpwnam('nobody'), 'the directory belongs to the child user');
    my @kst = stat "$dir/key";
    ok(@kst && $kst[4] == 0 && ($kst[2] & 077) == 0, 'its key file is root\'s, mode 0600');
}
my $bytes = do { local (@ARGV, $/) = $file; <> };
my $backend = backend_auth(4);
like($backend, qr/\ABearer \S+\z/, 'a proxied request carries the client token');
ok(wait_until(10, 0.1, sub { my @c = glob("$dir/cc-*"); @c == 1 }), 'the token is kept in one file');
my ($ccfile) = glob("$dir/cc-*");
my @cst = stat $ccfile;
my $ccbytes = do { local (@ARGV, $/) = $ccfile; <> };
my ($raw) = $backend =~ /\ABearer (\S+)/;
ok(sprintf('%04o', $cst[2] & 07777) eq '0600' && index($ccbytes, $raw // 'x') < 0,
   'mode 0600, and the token is not in it in clear');
ok(index($bytes, $kid) < 0 && index($bytes, '"keys"') < 0, 'the file is sealed (no kid, no JSON in it)');

# ---- the issuer goes down; a graceful restart ------------------------------------------------------
set_mode($TENANT, jwks => 'down');
set_mode($CC, token => 'down');
my $requests = token_requests($CC);
my $resumed = log_count(qr/resuming normal operations/);
my $restored = log_count(qr/AGW0203/);
system($HTTPD, '-d', $root, '-f', $conf, '-k', 'graceful') == 0 or die "apache2 -k graceful: $?";
ok(wait_until(20, 0.1, sub { log_count(qr/resuming normal operations/) > $resumed }), 'graceful restart done');
sleep 1;    # the old generation finishes; the new children serve
is(all_ok($token, 8), 'all 200', 'outage after a graceful restart: the known token, 8 of 8 requests 200');
my $fresh = mint(tenant => $TENANT, kid => $kid);
is(all_ok($fresh, 4), 'all 200', 'a token never seen before, of the known key: 200');
cmp_ok(log_count(qr/AGW0203: JWKS for \S+ restored from the state kept across restarts/), '>', $restored,
       'the new children restored the kept set (AGW0203)');
is(log_count(qr/AGW0102/), 0, 'no "no usable keys" (503) logged');
is(backend_auth(4), $backend, 'token endpoint down after the restart: the backend still gets the same token');
cmp_ok(log_count(qr/AGW0217: token for client backend restored/), '>=', 1, 'restored from its file (AGW0217)');

# ---- a full stop and start during the outage -------------------------------------------------------
stop_now();
start_now();
is(all_ok($token, 6), 'all 200', 'outage after a full stop and start: 200');
is(all_ok(mint(tenant => $TENANT, kid => $kid), 2), 'all 200', 'and a new token: 200');
is(backend_auth(2), $backend, 'and the backend token too');
is(token_requests($CC), $requests, 'no token request reached the endpoint through both restarts');
ok((kept_files())[0] eq $file, 'still the same one file');

# ---- a tampered file is ignored ----------------------------------------------------------------
stop_now();
{
    open my $fh, '+<', $file or die "$file: $!";
    binmode $fh;
    seek $fh, 40, 0;
    read $fh, my $c, 1;
    seek $fh, 40, 0;
    print $fh chr(ord($c) ^ 0x01);
    close $fh;
}
start_now();
is(status_of($token, 't'), 503, 'tampered file, issuer down: 503, as without a kept set');
cmp_ok(log_count(qr/AGW0304: \Q$file\E ignored: record fails authentication/), '>=', 1,
       'the tampered file is logged (AGW0304)');
# the issuer comes back: the keys are fetched and kept again
set_mode($TENANT, jwks => 'up');
ok(wait_until(15, 0.5, sub { status_of($token, 'u') == 200 }), 'issuer back: 200 again');
ok(wait_until(10, 0.2, sub { my @s = stat $file; @s && $s[9] >= time - 20 && do {
       local (@ARGV, $/) = $file; my $b = <>; $b ne $bytes } }), 'the file is written again');
stop_now();
set_mode($TENANT, jwks => 'down');
start_now();
is(status_of($token, 'v'), 200, 'and the rewritten file opens after the next restart');

my @lines = server_log_lines($host, 0);
ok(!(grep { /\[(?:emerg|crit|alert)\]|exit signal|AH00052|AH00060/ } @lines), 'no child crashed');
ok(!(grep { index($_, $token) >= 0 || index($_, $raw) >= 0 } @lines), "no token (the gate's or the backend's) in the log");
set_mode($TENANT, jwks => 'up');
set_mode($CC, token => 'up');
stop_httpd('restarts');

# ---- a directory that cannot be made: the server starts all the same, and says why ----------
my $nodir = start_httpd(name => 'restarts-nodir', modules => ['authz_user', 'socache_shmcb'],
                        processes => 1, config => <<"EOF");
Auth0StateDir "$root/missing/auth0gw"
<Location /gate/>
    AuthType Auth0
    AuthName restarts
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $ISS/t/$TENANT/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Require valid-user
    ProxyPass $ECHO/gate/
</Location>
EOF
is(http_get("$nodir->{url}/gate/n", Authorization => "Bearer $token")->{status}, 200,
   'Auth0StateDir that cannot be made: the server starts and serves');
ok((grep { m{AGW0027: Auth0StateDir \(\S+:\d+\): cannot make \Q$root\E/missing/auth0gw: No such file} }
        server_log_lines($nodir, 0)), 'and logs why (AGW0027, with the directive\'s file:line)');
stop_httpd('restarts-nodir');
