# A child ends with _exit once the MPM has destroyed its pools: neither the exit handlers it inherited from the parent nor the destructors of the libraries it has mapped (about 20 here; libcurl's ~30 more in a child that fetched) run in each child that ends at a graceful restart, while the parent (and `httpd -k start`'s own process) still end through exit(). The dynamic linker's trace (LD_DEBUG=files) logs each library destructor it calls ("calling fini"), with the pid.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use Time::HiRes qw(sleep time);

plan tests => 8;

my $trace = AGW::Test::state_dir() . '/ld-fini';
my $host = start_traced_httpd($trace, 'files', name => 'finis', processes => 2,
                              config => "<Location /status>\n    SetHandler auth0-status\n</Location>\n");

# pid => number of "calling fini" lines, over every trace file
sub finis {
    my %n;
    for my $f (glob("$trace.*")) {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            $n{$1}++ if /^\s*(\d+):\s+calling fini:/;
        }
    }
    return \%n;
}

open my $pf, '<', "$host->{root}/logs/httpd.pid" or die "httpd.pid: $!";
chomp(my $ppid = <$pf>);
is(http_get("$host->{url}/status?json")->{status}, 200, 'the module serves');
my @old = children_of($ppid);
cmp_ok(scalar @old, '>=', 2, 'the children of the first generation: ' . scalar @old);
my $at_start = finis();
ok(scalar(grep { $_ != $ppid } keys %$at_start) >= 1,
   'a process that ended through exit() (httpd -k start\'s own) called library destructors: '
   . join(',', map { "$_:$at_start->{$_}" } sort keys %$at_start));

ok(kill('USR1', $ppid), 'graceful restart signalled');
my $deadline = time + 20;
sleep 0.05 while grep({ kill 0, $_ } @old) && time < $deadline;
ok(!grep({ kill 0, $_ } @old), 'the old children have ended');
is(http_get("$host->{url}/status?json")->{status}, 200, 'the new generation serves');
my $after = finis();
my @ran = grep { $after->{$_} } @old;
is(scalar @ran, 0, 'no ended child called a library destructor (' . scalar(@old) . ' ended; '
   . join(',', map { "$_:$after->{$_}" } @ran) . ')');

stop_httpd('finis');
ok(finis()->{$ppid}, 'the parent, stopped, ended through exit(): its destructors ran ('
   . (finis()->{$ppid} // 0) . ' calls)');
unlink glob("$trace.*");
