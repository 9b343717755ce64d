# A child ends at once although its key refresher is inside a fetch that hangs: a graceful restart while the scheduled JWKS refresh waits on an issuer that does not answer replaces the child in seconds, not after the fetch's 10 s timeout (the refresher's transfer is cancelled); and MaxConnectionsPerChild recycles children that keep serving every request.
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
my $TENANT = 'childexit';
my $REFRESH = 10;      # the least Auth0KeyRefresh
my $PER_CHILD = 4;     # MaxConnectionsPerChild

plan tests => 9;

reset_tenant($TENANT, keys => JSON::PP::true());
my $kid = rotate_key($TENANT);

# one child: the one whose refresher hangs is the one the restart must replace
my $host = start_httpd(name => 'childexit', modules => ['authz_user', 'socache_shmcb'],
                       processes => 1, config => <<"EOF");
CustomLog "logs/access_log" "%P %>s %U"
MaxConnectionsPerChild $PER_CHILD
KeepAlive Off
<Location /gate/>
    AuthType Auth0
    AuthName childexit
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $ISS/t/$TENANT/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Auth0KeyRefresh $REFRESH
    Require valid-user
    ProxyPass $ECHO/gate/
</Location>
EOF

sub pid_file {
    open my $pf, '<', "$host->{root}/logs/httpd.pid" or return;
    my $p = <$pf>;
    return $p && $p =~ /^(\d+)/ ? $1 : undef;
}
my $ppid = wait_until(10, 0.05, \&pid_file) or die "httpd.pid: no pid";
sub children { return children_of($ppid) }   # the serving children (not the fetcher)
sub status_of { return http_get("$host->{url}/gate/$_[1]", Authorization => "Bearer $_[0]")->{status} }

my $token = mint(tenant => $TENANT, kid => $kid);
# the first request of the child fetches the key set (its refresher then refreshes it every
# $REFRESH s); one connection only, so that MaxConnectionsPerChild does not replace it yet
is(status_of($token, 'first'), 200, 'a token passes; the key set was fetched');
my $fetches = stats($TENANT)->{jwks_fetches};
my @old = children();

# ---- a graceful restart while the scheduled refresh hangs ----------------------------------
set_mode($TENANT, jwks => 'slow', slow_ms => 30000);
ok(wait_until($REFRESH + 15, 0.1, sub { stats($TENANT)->{jwks_fetches} > $fetches }),
   'the scheduled refresh asked the issuer, which does not answer');
sleep 0.5;
my $t0 = time;
ok(kill('USR1', $ppid), 'graceful restart signalled');
ok(wait_until(15, 0.05, sub { !grep { kill(0, $_) } @old }), 'the old child ended');
my $took = time - $t0;
# old code: the child waited for its refresher, whose fetch ended at its 10 s timeout
cmp_ok($took, '<', 5, sprintf('it ended %.1f s after the signal, not at the fetch\'s timeout', $took));

# ---- MaxConnectionsPerChild: children replaced, every request served -----------------------
set_mode($TENANT, jwks => 'up');
my ($ok, $n) = (0, 5 * $PER_CHILD);
my $t1 = time;
for my $i (1 .. $n) {
    $ok++ if status_of($token, "r$i") == 200;
}
my $recycle = time - $t1;
is($ok, $n, "$n requests on a connection each, $PER_CHILD per child: all pass");
my %pids;
if (open my $fh, '<', "$host->{root}/logs/access_log") {
    while (<$fh>) { $pids{$1} = 1 if m{^(\d+) 200 /gate/r} }
}
cmp_ok(scalar(keys %pids), '>=', 4, 'served by ' . scalar(keys %pids) . ' children in turn');
# generous (a shared host): a child that waited on anything at its end would add seconds each
cmp_ok($recycle, '<', 20, sprintf('in %.1f s', $recycle));

my @lines = server_log_lines($host, 0);
ok(!(grep { /\[(?:emerg|crit|alert)\]|exit signal|AH00052|AH00060/ } @lines), 'no child crashed');
stop_httpd('childexit');
