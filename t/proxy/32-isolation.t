# One client's slow token endpoint holds up no other client: while px-slowa's token request hangs for 4 s, px-quick's requests get their token and their answer promptly; px-slowa's own concurrent requests still share its one fetch.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use JSON::PP ();
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);

plan tests => 9;

my $SECRET = $ENV{AGW_HMAC_SECRET} or BAIL_OUT('AGW_HMAC_SECRET not set: run through t/TEST');
my $BASE = 'http://' . Apache::TestRequest::hostport();
my $SLOW_MS = 4000;

register_client('pxslowa', client_id => 'px-slowa-client', client_secret => $SECRET);
register_client('pxquick', client_id => 'px-quick-client', client_secret => $SECRET);
set_mode('pxslowa', token => 'slow', slow_ms => $SLOW_MS);

# Three requests of the slow client, in a child of ours, started before the quick one.
pipe(my $r, my $w) or die "pipe: $!";
my $pid = fork;
die "fork: $!" unless defined $pid;
if ($pid == 0) {
    close $r;
    my $out = parallel_get([map { "$BASE/px/slowa/s$_" } 1 .. 3]);
    print $w JSON::PP::encode_json($out);
    close $w;
    _exit(0);
}
close $w;

# The slow client's fetch is under way once its tenant has counted the token request.
wait_until(3, 0.05, sub { token_requests('pxslowa') >= 1 });
is(token_requests('pxslowa'), 1, 'the slow client\'s token request is under way');

my $t0 = time;
my $res = http_get("$BASE/px/quick/q1");
my $quick = time - $t0;
is($res->{status}, 200, 'the other client, meanwhile: 200');
like(echo_auth($res), qr/^Bearer eyJ/, 'the other client: its token injected');
cmp_ok($quick, '<', 1.5, 'the other client is not held up by the slow fetch (< 1.5 s, the slow one takes 4 s)');
diag(sprintf('other client answered in %.2f s while the slow fetch was under way', $quick));

my $text = do { local $/; <$r> };
close $r;
waitpid($pid, 0);
my $slow = eval { JSON::PP::decode_json($text) } || [];
is(scalar(grep { ($_->{status} // 0) == 200 } @$slow), 3, 'the slow client\'s three requests: all 200 in the end');
my %distinct = map { ($_->{auth} // 'undef') => 1 } @$slow;
is(scalar keys %distinct, 1, 'the slow client\'s requests carry the same token');
my $longest = (sort { $b <=> $a } map { $_->{elapsed} // 0 } @$slow)[0] // 0;
cmp_ok($longest, '>=', $SLOW_MS / 1000 - 0.5, 'the slow client\'s requests waited for its fetch');
is(token_requests('pxslowa'), 1, 'the slow client: one token request for its three requests');
is(token_requests('pxquick'), 1, 'the other client: one token request');
set_mode('pxslowa', token => 'up');
