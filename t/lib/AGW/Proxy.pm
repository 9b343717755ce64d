# Helpers for the gateway-to-machine tests (t/proxy/*.t): issuer clients and counters, what the echo backend received, concurrent requests, and extra httpd / redis / memcached instances of a test's own.
package AGW::Proxy;

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

use AGW::Test qw(admin stats mpm issuer_url AUD);

our @EXPORT_OK = qw(
    register_client token_requests token_log echo_auth echo_header echo_of http_get parallel_get
    raw_request
    free_port start_daemon stop_daemon start_redis start_memcached start_httpd stop_httpd
    httpd_log server_log_lines gated_site start_traced_httpd daemon_pid p256_key
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my $T_DIR = dirname(dirname(dirname(abs_path(__FILE__))));
my $JSON = JSON::PP->new->canonical->utf8;
my $OWNER = $$;

# p256_key(FILE): a new EC P-256 private key (PEM) in FILE, mode 0600; returns FILE.
sub p256_key {
    my ($file) = @_;
    system("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '$file' 2>/dev/null") == 0
        or die "AGW::Proxy: openssl genpkey $file failed ($?)\n";
    chmod 0600, $file;
    return $file;
}

# ---- the issuer ---------------------------------------------------------------------------

# register_client(TENANT, client_id => ..., client_secret => ... | public_key_pem => ...,
#                 expires_in => ..., scope => ...): the tenant's counters start from zero.
sub register_client {
    my ($tenant, %c) = @_;
    admin($tenant, 'reset', {});
    admin($tenant, 'client', \%c);
    return;
}

sub token_requests { return stats($_[0])->{token_requests} }
sub token_log      { return stats($_[0])->{token_request_log} }

# ---- what the backend (the issuer's /echo) received -----------------------------------------

sub echo_of {
    my ($res) = @_;
    my $content = ref $res eq 'HASH' ? $res->{content} : $res->content;
    return eval { $JSON->decode($content) } || {};
}

# The value of a request header as the backend saw it (first of its name), or undef.
sub echo_header {
    my ($res, $name) = @_;
    for my $pair (@{ echo_of($res)->{headers} || [] }) {
        return $pair->[1] if lc $pair->[0] eq lc $name;
    }
    return undef;
}

sub echo_auth { return echo_header($_[0], 'Authorization') }

# ---- plain HTTP, also usable in forked children ---------------------------------------------

sub http_get {
    my ($url, %headers) = @_;
    my $res = HTTP::Tiny->new(timeout => 30, keep_alive => 0)->get($url, { headers => \%headers });
    return $res;
}

# GETs every URL of @$urls at the same time (one forked process each, started together);
# returns [{status, retry_after, auth, dpop, elapsed}] in the order of @$urls (auth and dpop:
# the Authorization and DPoP headers the echo backend received).
sub parallel_get {
    my ($urls, %headers) = @_;
    my @kids;
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    for my $i (0 .. $#$urls) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            close $r;
            close $go_w;
            sysread($go_r, my $x, 1);    # wait until every child is ready
            my $t0 = time;
            my $res = eval { http_get($urls->[$i], %headers) } || { status => 599, content => $@ };
            my $out = {
                elapsed     => time - $t0,
                status      => $res->{status},
                retry_after => $res->{headers}{'retry-after'},
                auth        => echo_auth($res),
                dpop        => echo_header($res, 'DPoP'),
            };
            print $w $JSON->encode($out);
            close $w;
            _exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    close $go_r;
    close $go_w;    # EOF releases every child at once
    my @out;
    for my $k (@kids) {
        my ($pid, $r) = @$k;
        local $/;
        my $text = <$r>;
        close $r;
        waitpid($pid, 0);
        push @out, eval { $JSON->decode($text) } || { status => 0 };
    }
    return \@out;
}

# raw_request(PORT, "GET /path HTTP/1.0", [header lines]): the request sent byte for byte as
# given (repeated fields, underscores, an absolute URI for a forward proxy), read to the end;
# returns {status, headers (lower-case name => last value), content}.
sub raw_request {
    my ($port, $line, $headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => 30)
        or die "AGW::Proxy: cannot connect to 127.0.0.1:$port: $!\n";
    print $s join("\r\n", $line, "Host: 127.0.0.1:$port", @{ $headers || [] },
                  'Connection: close', '', '');
    local $/;
    my $text = <$s> // '';
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $text, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\S+ (\d{3})};
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head // '';
    return { status => $status // 0, headers => \%h, content => $body // '' };
}

# ---- helper daemons of a test's own ------------------------------------------------------------

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', ReuseAddr => 1)
        or die "AGW::Proxy: no free port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub _port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

my %daemons;    # pid -> name, of the processes this test process started

# Starts a program in the foreground of a child (exec'd directly, so its pid is ours to
# stop), output to LOG; waits until PORT accepts connections (at most 15 s).
sub start_daemon {
    my (%a) = @_;
    my $pid = fork;
    die "AGW::Proxy: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null' or _exit(127);
        open STDOUT, '>>', $a{log} or _exit(127);
        open STDERR, '>&', \*STDOUT or _exit(127);
        exec @{ $a{cmd} } or _exit(127);
    }
    $daemons{$pid} = $a{name};
    my $deadline = time + 15;
    until (_port_open($a{port})) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $daemons{$pid};
            die "AGW::Proxy: $a{name} exited before listening; see $a{log}\n";
        }
        if (time > $deadline) {
            stop_daemon($pid);
            die "AGW::Proxy: $a{name} not listening on $a{port} after 15 s\n";
        }
        sleep 0.05;
    }
    return $pid;
}

# Stops one daemon this process started: TERM, then KILL after 5 s.
sub stop_daemon {
    my ($pid) = @_;
    return unless $pid && $daemons{$pid} && $$ == $OWNER;
    delete $daemons{$pid};
    local $?;
    kill 'TERM', $pid;
    my $deadline = time + 5;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.05;
    }
    return;
}

sub state_dir {
    my $dir = "$T_DIR/state/proxy";
    make_path($dir, { mode => 0755 });
    chmod 0755, "$T_DIR/state", $dir;
    return $dir;
}

# start_redis([PORT]), start_memcached([PORT]): (pid, port); a port given restarts one there.
sub start_redis {
    my $port = shift || free_port();
    my $dir = state_dir();
    my $pid = start_daemon(name => 'redis-server', port => $port, log => "$dir/redis-$port.log",
                           cmd => ['redis-server', '--port', $port, '--bind', '127.0.0.1',
                                   '--save', '', '--appendonly', 'no', '--dir', $dir,
                                   '--protected-mode', 'yes']);
    return ($pid, $port);
}

sub start_memcached {
    my $port = shift || free_port();
    my $dir = state_dir();
    my @user = $> == 0 ? ('-u', 'nobody') : ();
    my $pid = start_daemon(name => 'memcached', port => $port, log => "$dir/memcached-$port.log",
                           cmd => ['memcached', '-l', '127.0.0.1', '-p', $port, '-U', '0',
                                   '-m', '16', @user]);
    return ($pid, $port);
}

# ---- extra httpd instances ------------------------------------------------------------------------

my %httpds;     # name -> {root, conf, port}

sub _libexec {
    my $dir = `apxs -q LIBEXECDIR 2>/dev/null` || '/usr/lib/apache2/modules';
    chomp $dir;
    return $dir;
}

sub _httpd_bin { return $ENV{APACHE_TEST_HTTPD} || '/usr/sbin/apache2' }

# The process and thread limits of an instance of N child processes, under the suite's MPM.
# prefork's processes have one thread each: N processes stay N, each serving one connection.
sub _mpm_config {
    my ($procs) = @_;
    if (mpm() eq 'prefork') {
        return "ServerLimit $procs\nStartServers $procs\nMinSpareServers $procs\n"
             . "MaxSpareServers $procs\nMaxRequestWorkers $procs\n";
    }
    return "ServerLimit $procs\nStartServers $procs\nMinSpareThreads 1\nMaxSpareThreads 64\n"
         . "ThreadsPerChild 16\nMaxRequestWorkers @{[ 16 * $procs ]}\n";
}

# start_httpd(name => 'a', modules => [...extra], config => TEXT, processes => N)
# Writes t/state/proxy/httpd-NAME/{conf/httpd.conf,logs/} and starts `apache2 -k start` with
# it on a free loopback port; returns {name, port, url, root, error_log}.
sub start_httpd {
    my (%a) = @_;
    my $name = $a{name};
    my $root = state_dir() . "/httpd-$name";
    remove_tree($root) if -d $root;
    make_path("$root/conf", "$root/logs", { mode => 0755 });
    my $port = free_port();
    my $libexec = _libexec();
    my %static = map { /^\s*(\S+)\.c$/ ? ($1 => 1) : () } `@{[_httpd_bin()]} -l 2>/dev/null`;
    my $mods = '';
    for my $m ('mpm_' . mpm(), 'authn_core', 'authz_core', 'proxy', 'proxy_http',
               @{ $a{modules} || [] }) {
        next if $static{"mod_$m"};
        $mods .= "LoadModule ${m}_module $libexec/mod_$m.so\n";
    }
    my $module = $ENV{AGW_MODULE} || "$T_DIR/../build/mod_auth0gw.so";
    my $procs = $a{processes} || 2;
    my $user = $> == 0 ? "User nobody\nGroup nogroup\n" : '';
    my $conf = <<"EOF";
# Generated by AGW::Proxy for a test of its own: one httpd of the fleet.
ServerRoot "$root"
$mods
LoadModule auth0gw_module $module
${user}ServerName 127.0.0.1:$port
Listen 127.0.0.1:$port
PidFile "$root/logs/httpd.pid"
ErrorLog "$root/logs/error_log"
DefaultRuntimeDir "$root/logs"
LogLevel warn auth0gw:info
Timeout 30
# Several child processes, so that a shared token is shared across processes too.
@{[ _mpm_config($procs) ]}<Location />
    Require all granted
</Location>
$a{config}
EOF
    my $file = "$root/conf/httpd.conf";
    open my $fh, '>', $file or die "AGW::Proxy: $file: $!\n";
    print $fh $conf;
    close $fh or die "AGW::Proxy: $file: $!\n";
    my $out = `@{[_httpd_bin()]} -d '$root' -f '$file' -k start 2>&1`;
    die "AGW::Proxy: httpd $name did not start ($?): $out\n" . httpd_log($root) if $?;
    $httpds{$name} = { root => $root, file => $file, port => $port };
    my $deadline = time + 15;
    until (_port_open($port)) {
        if (time > $deadline) {
            stop_httpd($name);
            die "AGW::Proxy: httpd $name not listening on $port:\n" . httpd_log($root);
        }
        sleep 0.05;
    }
    # the parent writes its pid file after it listens: tests read it at once
    $deadline = time + 10;
    until (-s "$root/logs/httpd.pid") {
        last if time > $deadline;
        sleep 0.02;
    }
    return { name => $name, port => $port, url => "http://127.0.0.1:$port",
             root => $root, error_log => "$root/logs/error_log" };
}

# start_httpd(%a) under the dynamic linker's trace: LD_DEBUG=$what, one file per process,
# $trace.PID (the files of an earlier run removed first); the daemon and its children write to
# the file they inherit, each line with its pid.
sub start_traced_httpd {
    my ($trace, $what, %a) = @_;
    unlink glob("$trace.*");
    local $ENV{LD_DEBUG} = $what;
    local $ENV{LD_DEBUG_OUTPUT} = $trace;
    return start_httpd(%a);
}

# The pid of an instance's parent, from its pid file (written after it listens: waits 10 s).
sub daemon_pid {
    my ($h) = @_;
    my $deadline = time + 10;
    while (1) {
        my $pid = _pid_of($h->{root});
        return $pid if $pid;
        die "AGW::Proxy: $h->{root}/logs/httpd.pid: no pid\n" if time > $deadline;
        sleep 0.05;
    }
}

sub httpd_log {
    my ($root) = @_;
    open my $fh, '<', "$root/logs/error_log" or return '';
    local $/;
    return <$fh> // '';
}

# The error_log lines of an instance (all of them, or those after $from bytes).
sub server_log_lines {
    my ($h, $from) = @_;
    open my $fh, '<', $h->{error_log} or return ();
    seek $fh, $from || 0, 0;
    return <$fh>;
}

sub _pid_of {
    my ($root) = @_;
    open my $fh, '<', "$root/logs/httpd.pid" or return;
    my $pid = <$fh>;
    return $pid && $pid =~ /^(\d+)/ ? $1 : undef;
}

# gated_site(NAME, realm => 'agw-x', tools => [...]): the opening of a test whose own httpds
# gate a static file. Bails out unless each tool is on PATH and t/TEST set AGW_STATE_DIR; makes
# $AGW_STATE_DIR/NAME (readable by the children) with www/x ("ok"), dpop.pem (an EC P-256 key,
# kept when there) and fleet.key (32 new random bytes in hex, mode 0600). Returns {state, iss,
# dir, www, key, fleet_key, gate}: gate is the block for a <Location> that takes the issuer's
# tokens (AuthName REALM, Require valid-user).
sub gated_site {
    my ($name, %a) = @_;
    for my $bin (@{ $a{tools} || [] }) {
        system("command -v $bin >/dev/null 2>&1") == 0
            or Test::More::BAIL_OUT("$bin is not installed");
    }
    my $state = $ENV{AGW_STATE_DIR}
        or Test::More::BAIL_OUT('AGW_STATE_DIR not set: run through t/TEST');
    my $iss = issuer_url();
    my $dir = "$state/$name";
    make_path("$dir/www", { mode => 0755 });
    chmod 0755, $dir;
    _write("$dir/www/x", "ok\n", 0644);
    my $key = -s "$dir/dpop.pem" ? "$dir/dpop.pem" : p256_key("$dir/dpop.pem");
    my $fleet_key = "$dir/fleet.key";
    _write($fleet_key, unpack('H*', join '', map { chr int rand 256 } 1 .. 32) . "\n", 0600);
    my $realm = $a{realm} || "agw-$name";
    my $aud = AUD;
    return { state => $state, iss => $iss, dir => $dir, www => "$dir/www", key => $key,
             fleet_key => $fleet_key, gate => <<"EOF" };
    AuthType Auth0
    AuthName "$realm"
    Auth0Issuer $iss
    Auth0Audience $aud
    Auth0JWKS $iss.well-known/jwks.json
    Auth0CAFile $state/ca.pem
    Require valid-user
EOF
}

sub _write {
    my ($file, $text, $mode) = @_;
    open my $fh, '>', $file or die "AGW::Proxy: $file: $!\n";
    print $fh $text;
    close $fh or die "AGW::Proxy: $file: $!\n";
    chmod $mode, $file;
    return;
}

# Stops an instance this process started and waits (at most 10 s) for its parent to end.
sub stop_httpd {
    my ($name) = @_;
    my $h = delete $httpds{$name};
    return unless $h && $$ == $OWNER;
    local $?;
    my $pid = _pid_of($h->{root});
    system(_httpd_bin(), '-d', $h->{root}, '-f', $h->{file}, '-k', 'stop');
    my $deadline = time + 10;
    while ($pid && kill(0, $pid) && time < $deadline) {
        sleep 0.05;
    }
    kill 'KILL', $pid if $pid && kill(0, $pid);
    return;
}

END {
    if ($$ == $OWNER) {
        local $?;
        stop_httpd($_) for keys %httpds;
        stop_daemon($_) for keys %daemons;
    }
}

1;
