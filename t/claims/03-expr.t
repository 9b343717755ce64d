# auth0_claim('PATH') in Apache's expression language: Require expr alone (401 without a token, the usual denial when false), nested paths and arrays, Header expr=, RewriteCond expr, and what SetEnvIfExpr and <If> (evaluated before authentication) see.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 20;

my %acme = (sub => 'auth0|ann', org_id => 'acme', org => { tier => 'gold' },
            'https://agw.test/roles' => ['ops', 'admin']);

sub at {
    my ($path, $claims, @h) = @_;
    return call(GET => $path, token => (defined $claims ? mint(claims => $claims) : undef), headers => \@h);
}

# ---- Require expr alone ----
my $res = at('/gate/expr/alone/', undef);
is(outcome($res), '401', 'Require expr alone, no token: 401 with the bare challenge');
is(challenge($res)->{realm}, 'agw-test', 'the challenge names the realm');
is(outcome(at('/gate/expr/alone/', \%acme)), '200', "auth0_claim('org_id') == 'acme': 200");
# httpd's own rule for a Require expr that wants a user (as with REMOTE_USER): a 401
my $DENIED = qr/\A401 insufficient_scope: /;
like(outcome(at('/gate/expr/alone/', { %acme, org_id => 'other' })), $DENIED, 'org_id other: 401 insufficient_scope');
like(outcome(at('/gate/expr/alone/', { sub => 'auth0|ann' })), $DENIED, 'org_id absent: 401 insufficient_scope');
is(outcome(at('/gate/expr/alone/', { %acme, exp => now() - 120, iat => now() - 700 })),
   '401 invalid_token: token expired', 'a bad token: 401 invalid_token');

# ---- paths and arrays ----
is(outcome(at('/gate/expr/nested/', \%acme)), '200', 'nested org.tier and a namespaced array claim');
like(outcome(at('/gate/expr/nested/', { %acme, 'https://agw.test/roles' => ['ops', 'administrator'] })), $DENIED,
     'arrays are comma-joined: administrator is not admin');
like(outcome(at('/gate/expr/nested/', { %acme, org => { tier => 'silver' } })), $DENIED, 'org.tier silver: 401 insufficient_scope');

# ---- the phases ----
$res = at('/gate/expr/phases/', \%acme);
is($res->code, 200, 'phases location: 200');
is($res->header('X-Expr-Roles'), 'ops,admin', 'Header expr=%{auth0_claim:...}: the array comma-joined');
is($res->header('X-Expr-Missing'), '[]', 'an absent claim is empty');
my $env = json_of($res)->{env} || {};
is($env->{AGW_REWRITE_ACME}, 'yes', 'RewriteCond expr (per-dir, fixups) sees the claims');
is($env->{AGW_SETENVIF_SUB_EMPTY}, 'yes', 'SetEnvIfExpr runs before authentication: the claim is empty there');
is($res->header('X-If-Sub-Empty'), 'yes', '<If> is evaluated before authentication: the claim is empty there');
$res = at('/gate/expr/phases/', { %acme, org_id => 'other' });
ok(!exists((json_of($res)->{env} || {})->{AGW_REWRITE_ACME}), 'RewriteCond expr false for another org');

# ---- optional + all granted ----
$res = at('/gate/expr/optional/', \%acme);
is($res->header('X-Expr-Sub'), 'auth0|ann', 'optional mode: a valid token\'s claims in Header expr=');
$res = at('/gate/expr/optional/', undef);
is($res->code, 200, 'optional mode, no token: 200');
is($res->header('X-Expr-Sub') // 'unset', '', 'optional mode, no token: auth0_claim() is empty');
$res = at('/gate/expr/optional/', { sub => 'auth0|ann', iss => 'https://other.example/' });
is($res->code, 401, 'optional mode, bad token: 401, no claims read from it');
