# A graceful restart (SIGUSR1) while requests are running: every request is answered, and the gate works the same afterwards.
# The requests during the restart fetch a static file behind the gate (/static-gate/): a CGI
# request caught in the restart can get mod_cgid's 503 (its daemon restarts too), which is not ours.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use POSIX ();
use Time::HiRes qw(sleep time);

plan tests => 11;

my $logs = Apache::Test::vars('t_logs');
my $good = mint();

sub resumes {
    open my $fh, '<', "$logs/error_log" or die $!;
    return scalar grep { /resuming normal operations/ } <$fh>;
}

is(outcome(call(GET => '/gate/rs256/', token => $good)), '200', 'before the restart: 200');
is(outcome(call(GET => '/static-gate/index.html')), '401', 'static file behind the gate: no token 401');
is(outcome(call(GET => '/static-gate/index.html', token => $good)), '200', 'static file behind the gate: 200');

open my $pf, '<', "$logs/httpd.pid" or die "httpd.pid: $!";
chomp(my $httpd_pid = <$pf>);
ok($httpd_pid =~ /\A\d+\z/ && kill(0, $httpd_pid), "httpd parent is running (pid $httpd_pid)");

my $before = resumes();
pipe(my $rd, my $wr) or die "pipe: $!";
my $pid = fork;
die "fork: $!" unless defined $pid;
if ($pid == 0) {
    # Keep requests going through the restart; report "total bad" to the parent.
    close $rd;
    my ($total, $bad, $end, @what) = (0, 0, time + 4);
    while (time < $end) {
        my $res = eval { call(GET => '/static-gate/index.html', token => $good) };
        $total++;
        next if $res && $res->code == 200;
        $bad++;
        push @what, $res ? join(' ', $res->status_line, $res->header('Client-Warning') // '',
                                $res->header('WWW-Authenticate') // '') : "died: $@";
    }
    print $wr "$total $bad\n", map { s/\s+/ /gr . "\n" } @what;
    close $wr;
    POSIX::_exit(0);
}
close $wr;
sleep 1;
ok(kill('USR1', $httpd_pid), 'graceful restart signalled');
my $restarted = wait_until(20, 0.2, sub { resumes() > $before });
ok($restarted, 'httpd logged the restart');
my ($total, $bad) = split ' ', (<$rd> // '0 0');
my @what = <$rd>;
waitpid($pid, 0);
diag("failed during the restart: $_") for @what;
$? = 0;
ok($total > 0, "requests were made during the restart ($total)");
is($bad, 0, 'none of them failed');

is(outcome(call(GET => '/gate/rs256/', token => $good)), '200', 'after the restart: valid token 200');
is(outcome(call(GET => '/gate/rs256/')), '401', 'after the restart: no token 401');
is(outcome(call(GET => '/gate/scope/read/', token => mint(claims => { scope => 'write:orders' }))) =~ /\A403 insufficient_scope/ ? 1 : 0,
   1, 'after the restart: authz providers still registered');
