# Starts and stops t/interop/provider.js (panva's oidc-provider) around an Apache::Test run, and tells httpd and the tests where it listens.
package AGW::Interop;

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

# What provider.js knows, for the tests; keep the two in step.
our $AUDIENCE       = 'https://api.interop.test/';
our $OTHER_AUDIENCE = 'https://other.interop.test/';
our %CLIENT = (
    basic => { id => 'interop-basic', secret => 'interop-basic-secret-0123456789abcdef' },
    post  => { id => 'interop-post',  secret => 'interop-post-secret-0123456789abcdef' },
    dpop  => { id => 'interop-dpop',  secret => 'interop-dpop-secret-0123456789abcdef' },
    dpop_nonce => { id => 'interop-dpop-nonce', secret => 'interop-dpop-nonce-secret-0123456789ab' },
);

# Environment variables that carry the provider's address to httpd (which expands
# ${AGW_INTEROP_ISSUER} in t/conf/interop.conf) and to the .t files (children of t/TEST).
our $ENV_ISSUER = 'AGW_INTEROP_ISSUER';
our $ENV_PORT   = 'AGW_INTEROP_PORT';

# The <Auth0Client> blocks of t/conf/interop.conf read their secrets with env:VAR.
our %SECRET_ENV = (
    AGW_INTEROP_BASIC_SECRET => $CLIENT{basic}{secret},
    AGW_INTEROP_POST_SECRET  => $CLIENT{post}{secret},
    AGW_INTEROP_WRONG_SECRET => 'not-the-secret-of-interop-post',
    AGW_INTEROP_DPOP_SECRET  => $CLIENT{dpop}{secret},
    AGW_INTEROP_DPOP_NONCE_SECRET => $CLIENT{dpop_nonce}{secret},
);

my $START_TIMEOUT = 30;
my $STOP_TIMEOUT  = 5;

my $pid;
my $owner_pid;

sub t_dir {
    return dirname(dirname(dirname(abs_path(__FILE__))));
}

sub log_file {
    return t_dir() . '/logs/interop-provider.log';
}

sub _find_node {
    for my $dir (split /:/, $ENV{PATH} // '') {
        my $node = "$dir/node";
        return $node if $dir ne '' && -x $node && !-d $node;
    }
    die "AGW::Interop: node not found in PATH; run `make deps` (Node.js >= 20.12 is needed)\n";
}

sub _slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $text = <$fh>;
    return $text // '';
}

# Start the provider unless this process already did; returns its issuer URL and sets
# $ENV{AGW_INTEROP_ISSUER} / $ENV{AGW_INTEROP_PORT} and the client secrets' variables. Dies with the provider's own output
# when it does not come up. Call it before httpd starts, so that httpd inherits them.
sub start {
    return $ENV{$ENV_ISSUER} if $pid && $owner_pid == $$;

    my $t   = t_dir();
    my $dir = "$t/interop";
    -d "$dir/node_modules/oidc-provider"
        or die "AGW::Interop: $dir/node_modules is missing; run `make deps` "
             . "(it runs `npm ci` in t/interop)\n";
    my $node = _find_node();

    mkdir "$t/logs" unless -d "$t/logs";
    my $log = log_file();
    unlink $log;

    $owner_pid = $$;
    defined($pid = fork) or die "AGW::Interop: fork: $!\n";
    if ($pid == 0) {
        # exec directly: a shell in between would be the one we kill, orphaning node.
        open STDIN, '<', '/dev/null' or _exit(127);
        open STDOUT, '>', $log or _exit(127);
        open STDERR, '>&', \*STDOUT or _exit(127);
        exec $node, "$dir/provider.js", '--port', '0', '--watch-pid', $owner_pid
            or _exit(127);
    }

    my $deadline = time + $START_TIMEOUT;
    while (1) {
        my $out = _slurp($log);
        if ($out =~ m{^ready (http://127\.0\.0\.1:(\d+)/)$}m) {
            $ENV{$ENV_ISSUER} = $1;
            $ENV{$ENV_PORT}   = $2;
            @ENV{ keys %SECRET_ENV } = values %SECRET_ENV;
            return $1;
        }
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            undef $pid;
            die "AGW::Interop: provider.js exited (status $status) before it was ready:\n$out";
        }
        if (time > $deadline) {
            stop();
            die "AGW::Interop: provider.js not ready after ${START_TIMEOUT}s:\n$out";
        }
        sleep 0.05;
    }
}

# Stop the provider. Safe to call more than once, from END blocks and signal handlers,
# and a no-op in processes forked from the one that started it (httpd's start-up fork
# runs t/TEST's END blocks too).
sub stop {
    return unless $pid && defined $owner_pid && $owner_pid == $$;
    my $child = $pid;
    undef $pid;
    local $?;
    kill 'TERM', $child;
    my $deadline = time + $STOP_TIMEOUT;
    while (waitpid($child, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $child;
            waitpid($child, 0);
            last;
        }
        sleep 0.05;
    }
    delete @ENV{ $ENV_ISSUER, $ENV_PORT, keys %SECRET_ENV };
    return;
}

END {
    local $?;
    stop();
}

1;
