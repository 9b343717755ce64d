# libcurl is the fetcher's business: the children hand every transfer to one process per host (agw-fetcher, forked by the parent and kept across restarts), which opens libcurl (RTLD_LOCAL) at its first transfer. So the parent never maps libcurl's ~30 libraries (gnutls, LDAP, Kerberos, SSH ...) for every child of every generation to inherit, no child that serves requests ever does (about 2.5 MiB private each), and they never join httpd's global symbol scope. The fetcher runs as the children's user, is started again when it dies, holds no listener, and ends with the server. Under ChrootDir the parent opens libcurl once before the children chroot, and a graceful restart does not open it again. The dynamic linker's own trace (LD_DEBUG=files,scopes) says which process loaded what, and what joined the global scope.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use JSON::PP ();
use Cwd ();

my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $TENANT = 'libcurl';
my $MODULE = $ENV{AGW_MODULE} || "$FindBin::Bin/../../build/mod_auth0gw.so";
$MODULE = Cwd::realpath($MODULE) // $MODULE;

plan tests => 40;

reset_tenant($TENANT, keys => JSON::PP::true());
my $kid = rotate_key($TENANT);

sub gate_config {
    my ($extra) = @_;
    return <<"EOF";
$extra
<Location /gate/>
    AuthType Auth0
    AuthName libcurl
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $ISS/t/$TENANT/.well-known/jwks.json
    Auth0Audience https://api.agw.test/
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    Auth0KeyRefreshCooldown 1
    Require valid-user
    SetHandler auth0-status
</Location>
<Location /status>
    SetHandler auth0-status
</Location>
EOF
}

# loads => {pid => loads of libcurl}, global => libcurl added to the global scope, module =>
# the module added to it; over every trace file (the daemon and its children write to the
# file they inherit, each line with its pid)
sub trace {
    my ($trace) = @_;
    my %t = (loads => {}, global => 0, module => 0);
    for my $f (glob("$trace.*")) {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            $t{loads}{$1}++ if /^\s*(\d+):\s+file=libcurl\.so\.\d+ \[0\];\s+generating link map/;
            $t{global}++ if /add \S*libcurl\.so\.\d+ \[0\] to global scope/;
            $t{module}++ if /add \Q$MODULE\E \[0\] to global scope/;
        }
    }
    return \%t;
}

sub start_traced {
    my ($name, $trace, $extra) = @_;
    return start_traced_httpd($trace, 'files,scopes', name => $name, modules => ['authz_user'],
                              processes => 2, config => gate_config($extra));
}

sub restart {
    my ($host) = @_;
    my $resumes = sub { scalar grep { /resuming normal operations/ } split /\n/, httpd_log($host->{root}) };
    my $before = $resumes->();
    return kill('USR1', daemon_pid($host)) && wait_until(20, 0.1, sub { $resumes->() > $before });
}

sub gate_status {
    my ($host, $token) = @_;
    return http_get("$host->{url}/gate/x", Authorization => "Bearer $token")->{status};
}

my $token = mint(tenant => $TENANT, kid => $kid);
my $fmt = sub { my $l = shift; join(',', map { "$_:$l->{$_}" } sort keys %$l) || 'none' };

# ---- the default: loaded by the fetcher, at its first transfer -------------------------------
my $trace = AGW::Test::state_dir() . '/ld-curl';
my $host = start_traced('libcurl', $trace, '');
my $ppid = daemon_pid($host);
is(http_get("$host->{url}/status?json")->{status}, 200, 'the module serves');
my $fetcher = wait_until(10, 0.05, sub { fetcher_of($ppid) });
ok($fetcher, 'the daemon has a fetcher process (agw-fetcher): ' . ($fetcher // 'none'));
is(scalar keys %{ trace($trace)->{loads} }, 0,
   'no process loaded libcurl before a transfer (parent, fetcher and children)');
my $sockets = sub {
    my ($pid) = @_;
    opendir my $d, "/proc/$pid/fd" or return -1;
    return scalar grep { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:/ } readdir $d;
};
is($sockets->($fetcher), 1, 'the fetcher holds one socket, the channel: no listener of the parent\'s');
ok($sockets->($ppid) > 1, 'the parent holds its listeners (' . $sockets->($ppid) . ' sockets)');
is(gate_status($host, $token), 200, 'a token passes: its key set was fetched');
my $t = trace($trace);
is($fmt->($t->{loads}), "$fetcher:1", 'only the fetcher loaded libcurl, once');
my $uid = sub { open my $fh, '<', "/proc/$_[0]/status" or return -1; while (<$fh>) { return $1 if /^Uid:\s+(\d+)/ } -1 };
my @kids = children_of($ppid);
ok(@kids && !grep({ $uid->($_) != $uid->($fetcher) } @kids),
   'it runs as the children\'s user (uid ' . $uid->($fetcher) . ')');
is($t->{global}, 0, 'libcurl did not join the global symbol scope');
ok($t->{module} >= 1, 'the module did (the trace shows what joins it)');
my @fetchers = ($fetcher);
ok(restart($host), 'graceful restart');
# a restart starts a new fetcher (new configuration, the libcurl installed now) and retires
# the old one, which ends once idle
my $gen2 = wait_until(10, 0.05, sub { my $f = fetcher_of($ppid); $f && $f != $fetcher ? $f : undef });
ok($gen2 && wait_until(10, 0.05, sub { !kill(0, $fetcher) }),
   'the restart started a new fetcher (' . ($gen2 // 'none') . ') and the old one ended');
my $kid2 = rotate_key($TENANT);
is(gate_status($host, mint(tenant => $TENANT, kid => $kid2)), 200,
   'the new generation fetches the rotated key set (unknown kid)');
$t = trace($trace);
is($fmt->($t->{loads}), $fmt->({ $fetcher => 1, $gen2 => 1 }),
   'the new fetcher made that fetch: no child and not the parent loaded libcurl');
{
    my $resumes = sub { scalar grep { /resuming normal operations/ } split /\n/, httpd_log($host->{root}) };
    my $before = $resumes->();
    kill 'HUP', $ppid;
    my $gen3 = wait_until(20, 0.1, sub {
        my $f = fetcher_of($ppid);
        $resumes->() > $before && $f && $f != $gen2 && !kill(0, $gen2) ? $f : undef });
    ok($gen3, 'likewise at a restart (SIGHUP, apachectl restart): ' . ($gen3 // 'none'));
    $fetcher = $gen3 // $gen2;
    push @fetchers, $gen2, $fetcher;
}
ok(!(grep { /long lost child|AGW0014/ } split /\n/, httpd_log($host->{root})),
   'the retired fetchers were reaped as such (no "long lost child", no AGW0014)');

# a fetcher that dies is started again (AGW0014), and the next fetch goes to the new one
kill 'KILL', $fetcher;
my $again = wait_until(10, 0.05, sub { my $f = fetcher_of($ppid); $f && $f != $fetcher ? $f : undef });
ok($again, 'after SIGKILL the parent started a new fetcher: ' . ($again // 'none'));
ok(wait_until(5, 0.1, sub { grep { /AGW0014: the fetcher process $fetcher ended \(signal 9\); started again/ }
                                split /\n/, httpd_log($host->{root}) }), 'AGW0014 says so');
my $kid3 = rotate_key($TENANT);
my $tok3 = mint(tenant => $TENANT, kid => $kid3);
# (after the unknown-kid cooldown of the fetch before: 1 s)
ok(wait_until(5, 0.3, sub { gate_status($host, $tok3) == 200 }), 'a fetch after that passes');
$t = trace($trace);
my %fetchers = map { $_ => 1 } grep { defined } (@fetchers, $again);
ok($t->{loads}{$again} && !grep({ !$fetchers{$_} } keys %{ $t->{loads} }),
   'the new fetcher loaded libcurl, and still no child: ' . $fmt->($t->{loads}));

# a fetcher that keeps dying at once: after 5 deaths in a row within 10 s of their start the parent
# gives up (AGW0013) and each child makes its own transfers
my ($last, $killed) = ($again, 0);
for my $round (1 .. 6) {
    kill 'KILL', $last;
    $killed++;
    my $next = wait_until(5, 0.01, sub { my $f = fetcher_of($ppid); $f && $f != $last ? $f : undef });
    last unless $next;
    $last = $next;
}
ok(wait_until(5, 0.1, sub { grep { /AGW0013: the fetcher process ended within 10 s of its start 5 times in a row/ }
                                split /\n/, httpd_log($host->{root}) }),
   "AGW0013 after $killed kills in a row");
ok(!fetcher_of($ppid), 'no fetcher is started again');
my $kid4 = rotate_key($TENANT);
my $tok4 = mint(tenant => $TENANT, kid => $kid4);
ok(wait_until(5, 0.3, sub { gate_status($host, $tok4) == 200 }),
   'a fetch still passes: the child made it');
$t = trace($trace);
my %served = map { $_ => 1 } children_of($ppid);
ok(grep({ $served{$_} } keys %{ $t->{loads} }), 'that child loaded libcurl itself: ' . $fmt->($t->{loads}));
ok(restart($host), 'graceful restart');
my $fresh = wait_until(10, 0.05, sub { fetcher_of($ppid) });
ok($fresh, 'the restart started a fetcher again: ' . ($fresh // 'none'));
stop_httpd('libcurl');
ok(wait_until(10, 0.05, sub { !($fresh && kill(0, $fresh)) }), 'the fetcher ended with the server');
unlink glob("$trace.*");

# ---- ChrootDir: the parent loads it once before the children chroot ------------------------
SKIP: {
    skip 'ChrootDir needs root', 6 if $> != 0;
    my $ctrace = AGW::Test::state_dir() . '/ld-curl-chroot';
    my $ch = start_traced('libcurl-chroot', $ctrace, 'ChrootDir /');
    my $c = trace($ctrace);
    my $total = sub { my $l = shift; my $n = 0; $n += $_ for values %$l; $n };
    # before its first child: httpd loads the module twice (the configuration's two passes),
    # the first time before it detaches (the daemon is a fork of that process)
    is($total->($c->{loads}), 1, 'ChrootDir: libcurl was loaded once at start, before any '
       . 'child, although the module was loaded twice (' . $fmt->($c->{loads}) . ')');
    is($c->{global}, 0, 'libcurl did not join the global symbol scope');
    is(gate_status($ch, $token), 200, 'a chrooted child fetches the key set');
    is($total->(trace($ctrace)->{loads}), 1, 'with the copy it inherited: no child loaded libcurl');
    ok(restart($ch), 'graceful restart');
    my $after = trace($ctrace)->{loads};
    is($total->($after), 1,
       'the restart loaded libcurl no second time, nor did any child (' . $fmt->($after) . ')');
    stop_httpd('libcurl-chroot');
    unlink glob("$ctrace.*");
}

# ---- a libcurl older than 7.85.0 on the library path -------------------------------------------
# A stand-in for libcurl.so.4 (t/unit/libcurl/fakecurl.c) that says it is 7.74.0, found first
# through LD_LIBRARY_PATH: the module refuses it when it opens it, so no transfer is made with
# a libcurl that would ignore the https-only protocol setting (its curl_easy_perform aborts).
{
    my $dir = AGW::Proxy::state_dir() . '/old-libcurl';
    mkdir $dir;
    my $src = "$FindBin::Bin/../unit/libcurl/fakecurl.c";
    my $out = `cc -shared -fPIC -DFAKE_VERSION='"7.74.0"' -DFAKE_VERSION_NUM=0x074a00 -o '$dir/libcurl.so.4' '$src' 2>&1`;
    is($?, 0, 'the stand-in libcurl.so.4 (7.74.0) builds') or diag($out);
    local $ENV{LD_LIBRARY_PATH} = $dir . ($ENV{LD_LIBRARY_PATH} ? ":$ENV{LD_LIBRARY_PATH}" : '');
    my $old = start_httpd(name => 'libcurl-old', modules => ['authz_user'], processes => 2,
                          config => gate_config(''));
    my $fresh_tenant_token = mint(tenant => $TENANT, kid => rotate_key($TENANT));
    is(gate_status($old, $fresh_tenant_token), 503,
       'old libcurl: no key set can be fetched, the gate answers 503');
    my $log = httpd_log($old->{root});
    ok(scalar(grep { /AGW0201: .*libcurl\.so\.4 is libcurl 7\.74\.0: 7\.85\.0 or later is needed/ }
              split /\n/, $log),
       'AGW0201 gives the reason: the version found and the one needed');
    ok(!grep({ /AH00052|signal 6|Aborted/ } split /\n/, $log),
       'no process aborted: nothing was handed to the old libcurl');
    stop_httpd('libcurl-old');
  SKIP: {
        skip 'ChrootDir needs root', 3 if $> != 0;
        my $err = eval {
            start_httpd(name => 'libcurl-old-chroot', modules => ['authz_user'], processes => 2,
                        config => gate_config('ChrootDir /'));
            '';
        } // $@;
        ok($err, 'old libcurl under ChrootDir: httpd does not start');
        my $clog = httpd_log(AGW::Proxy::state_dir() . '/httpd-libcurl-old-chroot') . $err;
        ok(scalar(grep { /AGW0012: .*ChrootDir is set and libcurl could not be loaded/ } split /\n/, $clog),
           'AGW0012 says why');
        ok(scalar(grep { /AGW0012: .*7\.74\.0: 7\.85\.0 or later is needed/ } split /\n/, $clog),
           'with the version found and the one needed');
        eval { stop_httpd('libcurl-old-chroot') } unless $err;
    }
}
