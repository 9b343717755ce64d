# The group database's NSS modules are loaded once, by the parent, before the children fork: each child started as root calls initgroups(User) (mod_unixd), and without that each child would dlopen them (libnss_systemd on Debian) and relocate them against a global scope the module enlarges (OpenSSL, jansson), about 2 ms of CPU per new prefork child at a graceful restart. The children still read the database: they run with the User's groups. The dynamic linker's trace (LD_DEBUG=files) says which process loaded what.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);

# the group database's services that are shared objects of their own (glibc has files built in)
sub group_services {
    open my $fh, '<', '/etc/nsswitch.conf' or return ();
    my @svc;
    while (<$fh>) {
        next unless /^\s*group\s*:\s*(.*)$/;
        (my $line = $1) =~ s/\[[^\]]*\]//g;
        @svc = grep { $_ ne 'files' } split ' ', $line;
    }
    my @dirs = ('/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64',
                '/lib', '/usr/lib', glob('/usr/lib/*-linux-gnu'));
    return grep { my $s = $_; grep { -e "$_/libnss_$s.so.2" } @dirs } @svc;
}

my @services = group_services();
if ($> != 0) {
    plan skip_all => 'the children call initgroups only when httpd starts as root';
} elsif (!@services) {
    plan skip_all => 'the group database has no NSS module of its own here (only files)';
}
plan tests => 10;

my $svc = $services[0];
my $trace = AGW::Test::state_dir() . '/ld-nss';

# {pid => loads of libnss_SVC}
sub loads {
    my %l;
    for my $f (glob("$trace.*")) {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            $l{$1}++ if /^\s*(\d+):\s+file=libnss_\Q$svc\E\.so\.2 \[0\];\s+generating link map/;
        }
    }
    return \%l;
}

sub groups_of {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return '';
    while (<$fh>) { return join ' ', sort { $a <=> $b } split ' ', $1 if /^Groups:\s*(.*)$/ }
    return '';
}

my $host = start_traced_httpd($trace, 'files', name => 'nss', processes => 3,
                              config => "<Location /status>\n    SetHandler auth0-status\n</Location>\n");
my $ppid = daemon_pid($host);
is(http_get("$host->{url}/status?json")->{status}, 200, 'the module serves');
my @kids = @{ wait_until(10, 0.05, sub { my @k = children_of($ppid); @k >= 3 ? \@k : undef }) || [] };
ok(@kids >= 3, 'the children started: ' . join(',', @kids));
my $l = loads();
my $fmt = join(',', map { "$_:$l->{$_}" } sort keys %$l) || 'none';
is($l->{$ppid}, 1, "the parent loaded libnss_$svc once ($fmt)");
ok(!grep({ $l->{$_} } @kids), 'no child loaded it: they inherited it');
my $fetcher = wait_until(10, 0.05, sub { fetcher_of($ppid) });
ok($fetcher && !$l->{$fetcher}, 'nor did the fetcher');
my $want = join ' ', sort { $a <=> $b } split ' ', `id -G nobody`;
is(groups_of($kids[0]), $want, "a child runs with the User's groups ($want): initgroups read the database");

# a graceful restart: the new generation's children do not load it either
my $resumes = sub { scalar grep { /resuming normal operations/ } split /\n/, httpd_log($host->{root}) };
my $before = $resumes->();
kill 'USR1', $ppid;
ok(wait_until(20, 0.1, sub { $resumes->() > $before }), 'graceful restart');
my %old = map { $_ => 1 } @kids;
# at least one: under event an old process keeps its slot while it finishes (slower with
# coverage's exit), so the new generation may not be whole yet
my @new = @{ wait_until(20, 0.05, sub {
    my @k = grep { !$old{$_} } children_of($ppid); @k >= 1 ? \@k : undef }) || [] };
ok(@new >= 1, 'the new generation started: ' . join(',', @new));
$l = loads();
$fmt = join(',', map { "$_:$l->{$_}" } sort keys %$l) || 'none';
ok(!grep({ $l->{$_} } @new) && ($l->{$ppid} // 0) == 1,
   "no new child loaded it, nor the parent a second time ($fmt)");
is(@new ? groups_of($new[0]) : '', $want, "a new child runs with the User's groups");
stop_httpd('nss');
unlink glob("$trace.*");
