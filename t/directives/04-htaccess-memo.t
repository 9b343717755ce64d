# Two .htaccess directories under one <Directory>, each naming its own tenant's issuer and keys, asked in turn on one keep-alive connection: each directory must use its own key source (request pools reuse addresses, so a per-section memo compared by pointer could hand one directory the other's).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use AGW::Test qw(:all);
use LWP::UserAgent ();

my $ROUNDS = 40;
plan tests => 4 * $ROUNDS + 2;

my $BASE = 'http://' . Apache::TestRequest::hostport();
my $ua = LWP::UserAgent->new(keep_alive => 1, timeout => 30, env_proxy => 0);

# Fresh tokens for every request: each takes the full path (no verified-token cache hit),
# so that all requests allocate alike and their .htaccess strings land on the same few
# addresses.
my %tenant = (a => 'hta1', b => 'hta2');
my %other = (a => 'b', b => 'a');
my %tokens;
for my $dir ('a', 'b') {
    $tokens{$dir} = [map { mint(tenant => $tenant{$dir}, claims => { jti => "$dir$_" }) }
                     0 .. 2 * $ROUNDS + 1];
}

# The keys first, through the server config's locations with the same key sources (one
# process: t/conf/extra.conf.in), so that no request to a or b allocates for a fetch.
for my $dir ('a', 'b') {
    my $res = $ua->get("$BASE/htmemo-keys/$tenant{$dir}", Authorization => "Bearer $tokens{$dir}[0]");
    $res->code == 200 or BAIL_OUT("warm-up of tenant $tenant{$dir}: " . $res->status_line);
}

# And both directories once without a token (the .htaccess files read, no key source
# resolved): the first request there allocates differently from those that follow.
$ua->get("$BASE/htmemo/$_/ok.txt") for ('a', 'b');

my (%ports, $dropped);
for my $round (1 .. $ROUNDS) {
    # now and then one request more, so that the cycle of addresses meets both directories
    $ua->get("$BASE/__health") if $round % 3 == 0;
    for my $dir ('a', 'b') {
        my $own = $ua->get("$BASE/htmemo/$dir/ok.txt", Authorization => "Bearer $tokens{$dir}[2 * $round - 1]");
        is($own->code == 200 ? '200 ' . $own->content : outcome($own), "200 htmemo $dir\n",
           "round $round: /htmemo/$dir/ accepts its own tenant's token");
        # Checked against the other directory's keys, the token's key is unknown; checked
        # against its own tenant's (the wrong source), it would fail on the issuer instead.
        my $foreign = $ua->get("$BASE/htmemo/$dir/ok.txt",
                               Authorization => "Bearer $tokens{$other{$dir}}[2 * $round]");
        is(outcome($foreign), '401 invalid_token: unknown key',
           "round $round: /htmemo/$dir/ refuses the other tenant's token: its key is not in this directory's set");
        my ($conn) = $ua->conn_cache->get_connections;
        $conn ? $ports{$conn->sockport}++ : $dropped++;
    }
}
is(scalar(keys %ports), 1, 'all requests went over one keep-alive connection');
ok(!$dropped, 'the connection was kept alive after every pair of requests');
