# Briefs in the host-wide table: a token one child verified is accepted by the others from the table's brief of its registered claims, without parsing it; REMOTE_USER (sub, azp), Require auth0-scope, Require expr with auth0_claim(), Auth0ClaimHeader and Auth0ClaimEnv still see the token's own claims (parsed when asked); a location with another audience refuses it and logs its sub; a location with Auth0TokenType checks in full.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use JSON::PP ();

my $ISS = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
my $TENANT = 'hostbrief';
my $BURST = 8;

plan tests => 21;

reset_tenant($TENANT, keys => JSON::PP::true());
rotate_key($TENANT);

my $gate = <<"GATE";
    AuthType Auth0
    AuthName hostbrief
    Auth0Issuer $ISS/t/$TENANT/
    Auth0JWKS $ISS/t/$TENANT/.well-known/jwks.json
    Auth0CAFile $ENV{AGW_STATE_DIR}/ca.pem
    SetHandler auth0-status
    AuthzSendForbiddenOnFailure On
GATE

my $host = start_httpd(name => 'hostbrief', modules => ['authz_user', 'socache_shmcb'],
                       processes => 4, config => <<"CONF");
LogFormat "%P %>s %U %q user=%u email_h=%{X-Email}i email_e=%{CLAIM_EMAIL}e" brief
CustomLog "logs/access_log" brief
LogLevel warn auth0gw:debug
MaxConnectionsPerChild 0
KeepAlive Off
Auth0TokenCache 500
Auth0Audience https://api.agw.test/
<Location /plain/>
$gate    Require valid-user
</Location>
<Location /scoped/>
$gate    Require auth0-scope read:orders
</Location>
<Location /expr/>
$gate    Require expr "auth0_claim('email') == 'ann\@example.com'"
</Location>
<Location /claims/>
$gate    Auth0ClaimHeader email X-Email
    Auth0ClaimEnv email CLAIM_EMAIL
    Require valid-user
</Location>
<Location /other-aud/>
$gate    Auth0Audience https://other.agw.test/
    Require valid-user
</Location>
<Location /typed/>
$gate    Auth0TokenType at+jwt
    Require valid-user
</Location>
<Location /status>
    SetHandler auth0-status
</Location>
CONF

sub status_json {
    return JSON::PP::decode_json(http_get("$host->{url}/status?json")->{content});
}

sub burst {
    my ($path, $token, $tag) = @_;
    my $r = parallel_get([map { "$host->{url}$path?$tag-$_" } 1 .. $BURST],
                         Authorization => "Bearer $token");
    return [map { $_->{status} } @$r];
}

sub host_log {
    my ($file, $re) = @_;
    open my $fh, '<', "$host->{root}/logs/$file" or return ();
    return grep { /$re/ } <$fh>;
}

my $ann = mint(tenant => $TENANT, claims => { sub => 'auth0|ann', email => 'ann@example.com',
                                              scope => 'read:orders write:orders' });
my $bob = mint(tenant => $TENANT, claims => { sub => 'auth0|bob', email => 'bob@example.com',
                                              scope => 'read:invoices' });
my $svc = mint(tenant => $TENANT, claims => { sub => undef, azp => 'svc-client',
                                              email => 'svc@example.com' });
my $typed = mint(tenant => $TENANT, header => { typ => 'at+jwt' }, claims => { sub => 'auth0|typed' });

# warm: each token's first two sightings one after the other (each verifies: concurrent
# first sightings would all verify, nothing waits for another request's check), then bursts
# served from the table
my $s0 = status_json();
for my $t ([ann => $ann], [bob => $bob], [svc => $svc]) {
    http_get("$host->{url}/plain/?first$_$t->[0]", Authorization => "Bearer $t->[1]") for 1 .. 2;
}
for my $round (1 .. 3) {
    for my $t ([ann => $ann], [bob => $bob], [svc => $svc]) {
        my $st = burst('/plain/', $t->[1], "warm$round$t->[0]");
        is_deeply([grep { $_ != 200 } @$st], [], "round $round: $t->[0]'s token passes in every child")
            if $round == 3;
    }
}
my $s1 = status_json();
my $verified = $s1->{token_cache}{misses} - $s0->{token_cache}{misses};
cmp_ok($verified, '<=', 3 * 2, "signatures verified: $verified for 3 tokens (two each, the bursts none)");
my @briefed = host_log('error_log', qr/AGW0105: token accepted from the host's table, claims briefed/);
cmp_ok(scalar(@briefed), '>', 0, scalar(@briefed) . ' requests accepted from a brief, without a parse');

my %user;
for (host_log('access_log', qr{/plain/ \?warm3})) {
    $user{$1}{$2}++ if m{ /plain/ \?warm3(\w+?)-\d+ user=(\S+)};
}
is_deeply([sort keys %{ $user{ann} || {} }], ['auth0|ann'], 'REMOTE_USER is the sub in every child');
is_deeply([sort keys %{ $user{svc} || {} }], ['svc-client'], 'without sub, REMOTE_USER is azp');

# Require lines read the token's own claims, parsed when asked
is_deeply(burst('/scoped/', $ann, 'scope-ann'), [(200) x $BURST], 'auth0-scope: a token with the scope passes');
is_deeply(burst('/scoped/', $bob, 'scope-bob'), [(403) x $BURST], 'auth0-scope: one without it gets 403');
is_deeply(burst('/expr/', $ann, 'expr-ann'), [(200) x $BURST], "auth0_claim('email') sees the claim");
# httpd's own rule for a Require expr that is false with a user: 401 (t/claims/03-expr.t)
is_deeply(burst('/expr/', $bob, 'expr-bob'), [(401) x $BURST], 'and tells another value');

# claims to the backend
is_deeply(burst('/claims/', $ann, 'claims-ann'), [(200) x $BURST], 'claim copies: 200');
my @copied = host_log('access_log', qr{/claims/ \?claims-ann});
is(scalar(@copied), $BURST, 'every request logged');
is(scalar(grep { /email_h=ann\@example\.com email_e=ann\@example\.com/ } @copied), $BURST,
   'Auth0ClaimHeader and Auth0ClaimEnv carry the claim in every child');

# refusals take the parse path: the log line names the sub
is_deeply(burst('/other-aud/', $ann, 'aud-ann'), [(401) x $BURST], 'another audience: 401');
my @refused = host_log('error_log', qr/audience mismatch/);
cmp_ok(scalar(grep { /auth0\|ann/ } @refused), '>=', $BURST, 'each refusal logged with the sub');

# a location with token types checks in full (typ is not in the table)
for my $i (1 .. 2) { burst('/plain/', $typed, "typed-warm$i") }
is_deeply(burst('/typed/', $typed, 'typed-t'), [(200) x $BURST], 'Auth0TokenType at+jwt: its token passes');
is_deeply(burst('/typed/', $ann, 'typed-ann'), [(401) x $BURST], 'a JWT-typed token from the table is still refused there');

my $s2 = status_json();
cmp_ok($s2->{host_token_cache}{entries}, '>=', 3, "the table holds the tokens ($s2->{host_token_cache}{entries})");
my $served = $s2->{token_cache}{hits} - $s0->{token_cache}{hits};
my $all = $served + $s2->{token_cache}{misses} - $s0->{token_cache}{misses};
cmp_ok($served / $all, '>=', 0.8, sprintf('host-wide hit rate %.3f', $served / $all));
ok(!grep({ /\Q$ann\E/ } host_log('error_log', qr/./)), 'no token in the error log');

stop_httpd('hostbrief');
