# Several issuers on one location: each issuer's tokens pass with its own key source (a bound Auth0JWKS, OIDC discovery), a token is routed by its iss, an untrusted iss is refused with no fetch at all, cross-signed tokens are refused, a discovery document naming another issuer gives no keys.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 19;

my %iss = map { $_ => issuer_url("multi-$_") } qw(a b c x);
reset_tenant("multi-$_") for qw(a b c x);
admin('multi-c', 'config', { discovery_issuer => 'https://someone-else.example/' });

sub tok { my ($t, %c) = @_; return mint(tenant => "multi-$t", claims => { sub => "user-$t", %c }) }
sub at  { my ($path, $token) = @_; return call(GET => $path, token => $token) }

my $res = at('/gate/multi/', tok('a'));
is(outcome($res), '200', 'issuer A (Auth0JWKS bound to it): 200');
is(json_of($res)->{env}{REMOTE_USER}, 'user-a', 'issuer A: REMOTE_USER');
$res = at('/gate/multi/', tok('b'));
is(outcome($res), '200', 'issuer B (discovery): 200');
is(json_of($res)->{env}{REMOTE_USER}, 'user-b', 'issuer B: REMOTE_USER');
is(stats('multi-b')->{discovery_fetches}, 1, 'issuer B: its discovery document was fetched once');
is(stats('multi-a')->{discovery_fetches}, 0, 'issuer A: no discovery (its Auth0JWKS is bound)');
is(stats('multi-a')->{jwks_fetches}, 1, 'issuer A: its JWKS fetched once');

# cross-signed: A's iss with B's key, and B's iss with A's key
like(outcome(at('/gate/multi/', tok('b', iss => $iss{a}))), qr/\A401 invalid_token/,
     "a token claiming A, signed with B's key: 401");
like(outcome(at('/gate/multi/', tok('a', iss => $iss{b}))), qr/\A401 invalid_token/,
     "a token claiming B, signed with A's key: 401");

# an issuer the location does not trust: refused before any fetch
my %before = map { $_ => stats("multi-$_") } qw(a b x);
is(outcome(at('/gate/multi/', tok('x'))), '401 invalid_token: issuer not trusted here',
   'an untrusted iss: 401 issuer not trusted here');
is(outcome(at('/gate/multi/', tok('a', iss => 'https://nobody.example/'))),
   '401 invalid_token: issuer not trusted here', 'an iss nobody serves: 401, nothing fetched');
my %after = map { $_ => stats("multi-$_") } qw(a b x);
is($after{x}{jwks_fetches} + $after{x}{discovery_fetches}, 0, 'the untrusted issuer was not contacted');
is(join(' ', map { $after{$_}{jwks_fetches} - $before{$_}{jwks_fetches} } qw(a b)), '0 0',
   'nor were the trusted ones');

# a discovery document that names another issuer (RFC 8414 3.3)
like(outcome(at('/gate/multi/', tok('c'))), qr/\A(503 Retry-After|401 invalid_token)/,
     "issuer C's discovery document names another issuer: refused");
is(stats('multi-c')->{jwks_fetches}, 0, "issuer C: the JWKS its document names was not fetched");

# a single issuer with its Auth0JWKS bound by name works as before
is(outcome(at('/gate/multi-one/', tok('a'))), '200', 'one issuer, bound Auth0JWKS: 200');
is(outcome(at('/gate/multi-one/', tok('b'))), '401 invalid_token: unknown key', "one issuer: B's token refused");

# the status page lists each issuer's key source
my @src = @{ json_of(call(GET => '/agw-status?json'))->{issuers} || [] };
ok((grep { ($_->{source} // '') eq "$iss{a}.well-known/jwks.json" && @{ $_->{keys} || [] } } @src),
   "status page: issuer A's bound JWKS, with keys");
ok((grep { ($_->{source} // '') =~ m{/t/multi-b/} && @{ $_->{keys} || [] } } @src),
   "status page: issuer B's discovered source, with keys");
