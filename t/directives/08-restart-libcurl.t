# libcurl stays loaded across restarts: httpd unloads and loads the module at start (its two configuration passes) and at every graceful restart, and without the pin the parent mapped and initialised libcurl's whole library tree (gnutls, LDAP, SSH ...) again each time before forking the new generation. The dynamic linker's own trace (LD_DEBUG=files) counts how often libcurl was loaded.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);

plan tests => 6;

my $trace = AGW::Test::state_dir() . '/ld-trace';
unlink glob("$trace.*");
my $host = do {
    local $ENV{LD_DEBUG} = 'files';
    local $ENV{LD_DEBUG_OUTPUT} = $trace;
    start_httpd(name => 'pin', processes => 2, config => <<"EOF");
<Location /status>
    SetHandler auth0-status
</Location>
EOF
};

# Loads of libcurl in the trace files of every process started (the daemon and its children
# write to the file they inherit).
sub curl_loads {
    my $n = 0;
    for my $f (glob("$trace.*")) {
        open my $fh, '<', $f or next;
        $n += scalar grep { /file=libcurl\.so\.\d+ \[0\];\s+generating link map/ } <$fh>;
    }
    return $n;
}

sub resumes { return scalar grep { /resuming normal operations/ } split /\n/, httpd_log($host->{root}) }

is(http_get("$host->{url}/status?json")->{status}, 200, 'the module serves before the restart');
my $at_start = curl_loads();
is($at_start, 1, 'libcurl was loaded once at start, although the module was loaded twice');

open my $pf, '<', "$host->{root}/logs/httpd.pid" or die "httpd.pid: $!";
chomp(my $ppid = <$pf>);
my $before = resumes();
ok(kill('USR1', $ppid), 'graceful restart signalled');
ok(wait_until(20, 0.1, sub { resumes() > $before }), 'httpd logged the restart');
is(http_get("$host->{url}/status?json")->{status}, 200, 'the module serves after the restart');
is(curl_loads(), $at_start, 'the restart loaded libcurl no second time');

stop_httpd('pin');
unlink glob("$trace.*");
