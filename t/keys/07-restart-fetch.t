# One fetch per host after a restart: every process that takes the key set kept across the restart (AGW0203) asks the source for a fresh one 1 to 6 s later, and those refreshes claim the fetch host-wide as the first fetch does, so that the issuer sees one request and the other processes take its set from the shared cache (before, each scheduled refresh fetched for itself: 5 to 15 fetches for 32 prefork children).
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
my $TENANT = 'restartfetch';
my $PROCS = 6;

plan tests => 8;

reset_tenant($TENANT, keys => JSON::PP::true());
my $kid = rotate_key($TENANT);

# prefork whatever the suite's MPM: single-threaded children, so that the requests spread over
# the processes and several of them take the kept set
my $host = do { local $ENV{AGW_MPM} = 'prefork'; start_httpd(name => 'restartfetch', modules => ['authz_user', 'socache_shmcb'],
                       processes => $PROCS, config => <<"EOF");
KeepAlive Off
<Location /gate/>
    AuthType Auth0
    AuthName restartfetch
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $ISS/t/$TENANT/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Require valid-user
    ProxyPass $ECHO/gate/
</Location>
EOF
};

sub ppid {
    open my $pf, '<', "$host->{root}/logs/httpd.pid" or return;
    my $p = <$pf>;
    return $p && $p =~ /^(\d+)/ ? $1 : undef;
}
my $ppid = wait_until(10, 0.05, \&ppid) or die "httpd.pid: no pid";
my $token = mint(tenant => $TENANT, kid => $kid);
sub burst {
    my @bad = grep { $_ != 200 }
              map { http_get("$host->{url}/gate/$_", Authorization => "Bearer $token")->{status} }
              1 .. $_[0];
    return scalar @bad;
}

is(burst(4 * $PROCS), 0, 'the token passes: the key set was fetched and kept');
# from now on the issuer takes 1.5 s to answer: a refresh that does not wait for another
# process's fetch in flight then asks the source too (the refreshes are 1 s apart or less)
set_mode($TENANT, jwks => 'slow', slow_ms => 1500);
my $before = stats($TENANT)->{jwks_fetches};
my $from = -s $host->{error_log};
my $resumes = sub { scalar grep { /resuming normal operations/ } server_log_lines($host) };
my $r0 = $resumes->();
ok(kill('USR1', $ppid), 'graceful restart signalled');
ok(wait_until(20, 0.1, sub { $resumes->() > $r0 }), 'httpd restarted');

# the new processes meet the token: each one that has no keys takes the kept set
is(burst(6 * $PROCS), 0, 'the new generation serves the token at once');
my %restored = map { /\[pid (\d+)/ ? ($1 => 1) : () }
               grep { /AGW0203/ } server_log_lines($host, $from);
cmp_ok(scalar keys %restored, '>=', 2, 'processes that took the kept set: '
       . join(',', sort keys %restored));
# each of them refreshes 1 to 6 s after taking it; wait for all of that and the slow fetch
sleep 10;
is(burst(2 * $PROCS), 0, 'the token still passes after the refreshes');
is(stats($TENANT)->{jwks_fetches} - $before, 1,
   'the issuer saw one fetch for the whole host after the restart');

ok(!grep({ /AGW0201|JWKS fetch .* failed/ } server_log_lines($host, $from)),
   'no process logged a failed fetch');

stop_httpd('restartfetch');
