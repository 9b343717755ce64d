# Authorization with Require: auth0-scope (string and array claims), auth0-role in a namespaced claim, auth0-claim (nested path, JSON pointer, typed values), RequireAll/RequireAny and Require ip.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use JSON::PP ();

plan tests => 52;

my $T = now();
my $INSUFFICIENT = qr/\A403 insufficient_scope(: .+)?\z/;

sub at {
    my ($path, $claims) = @_;
    return outcome(call(GET => $path, token => mint(claims => $claims)));
}

# ---- auth0-scope ----
is(at('/gate/scope/read/', { scope => 'read:orders write:orders' }), '200', 'scope string with the scope');
my $res = call(GET => '/gate/scope/read/', token => mint(claims => { scope => 'write:orders' }));
like(outcome($res), $INSUFFICIENT, 'scope string without it: 403 insufficient_scope');
like($res->header('WWW-Authenticate') // '', qr/\ABearer realm="agw-test", error="insufficient_scope"/,
     '403 challenge names the realm and the error');
like(at('/gate/scope/read/', { scope => undef }), $INSUFFICIENT, 'no scope claim: 403');
like(at('/gate/scope/read/', { scope => 'read:ordersX read:order READ:ORDERS' }), $INSUFFICIENT,
     'scopes match whole words, case-sensitive');
is(at('/gate/scope/read/', { scope => ['write:orders', 'read:orders'] }), '200', 'scope claim as an array');
like(at('/gate/scope/read/', { scope => { 'read:orders' => 1 } }), $INSUFFICIENT, 'scope claim as an object: no match');
is(outcome(call(GET => '/gate/scope/read/')), '401', 'no token: 401 challenge, not 403');
is(at('/gate/scope/read/', { scope => 'read:orders', exp => $T - 120, iat => $T - 700 }),
   '401 invalid_token: token expired', 'a bad token is a 401 even when the scope is there');

is(at('/gate/scope/perm/', { permissions => ['write:orders', 'read:orders'] }), '200',
   'Auth0ScopeClaim permissions: array');
is(at('/gate/scope/perm/', { permissions => 'write:orders' }), '200', 'Auth0ScopeClaim permissions: string');
like(at('/gate/scope/perm/', { scope => 'write:orders' }), $INSUFFICIENT,
     'Auth0ScopeClaim permissions: the scope claim is not looked at');

is(at('/gate/scope/any/', { scope => 'read:reports' }), '200', 'one of two listed scopes (second)');
is(at('/gate/scope/any/', { scope => 'admin:all' }), '200', 'one of two listed scopes (first)');
like(at('/gate/scope/any/', { scope => 'read:orders' }), $INSUFFICIENT, 'none of the listed scopes');

like(at('/gate/scope/no403/', { scope => 'write:orders' }), qr/\A401 insufficient_scope(: .+)?\z/,
     'without AuthzSendForbiddenOnFailure: 401 with insufficient_scope');

# ---- auth0-role (namespaced claim) ----
is(at('/gate/role/', { 'https://agw.test/roles' => ['ops', 'admin'] }), '200', 'role in the namespaced claim');
like(at('/gate/role/', { 'https://agw.test/roles' => ['ops'] }), $INSUFFICIENT, 'other role only');
like(at('/gate/role/', { roles => ['admin'] }), $INSUFFICIENT,
     'role in a plain "roles" claim does not count when Auth0RolesClaim names another');
like(at('/gate/role/', { 'https://agw.test/roles' => ['Admin', 'administrator'] }), $INSUFFICIENT,
     'roles match exactly');

# ---- auth0-claim ----
is(at('/gate/claim/nested/', { org => { tier => 'gold' } }), '200', 'nested org.tier = gold');
is(at('/gate/claim/nested/', { org => { tier => 'platinum' } }), '200', 'nested org.tier = platinum (second value)');
like(at('/gate/claim/nested/', { org => { tier => 'silver' } }), $INSUFFICIENT, 'nested org.tier = silver');
is(at('/gate/claim/nested/', { org => { tier => ['bronze', 'gold'] } }), '200', 'array containing a value');
is(at('/gate/claim/nested/', { 'org.tier' => 'gold' }), '200', 'a literal top-level name "org.tier"');
like(at('/gate/claim/nested/', { 'org.tier' => 'silver', org => { tier => 'gold' } }), $INSUFFICIENT,
     'the literal name is looked up first');
like(at('/gate/claim/nested/', { org => 'gold' }), $INSUFFICIENT, 'org not an object');

is(at('/gate/claim/pointer/', { 'https://agw.test/org' => { id => 42 } }), '200', 'JSON pointer: number 42');
is(at('/gate/claim/pointer/', { 'https://agw.test/org' => { id => '42' } }), '200', 'JSON pointer: string "42"');
like(at('/gate/claim/pointer/', { 'https://agw.test/org' => { id => 43 } }), $INSUFFICIENT, 'JSON pointer: 43');
like(at('/gate/claim/pointer/', { 'https://agw.test/org' => { id => 42.5 } }), $INSUFFICIENT, 'JSON pointer: 42.5');

is(at('/gate/claim/bool/', { email_verified => JSON::PP::true }), '200', 'boolean true');
like(at('/gate/claim/bool/', { email_verified => JSON::PP::false }), $INSUFFICIENT, 'boolean false');
like(at('/gate/claim/bool/', {}), $INSUFFICIENT, 'claim missing');
like(at('/gate/claim/bool/', { email_verified => { value => JSON::PP::true } }), $INSUFFICIENT,
     'an object never matches');
like(at('/gate/claim/bool/', { email_verified => undef }), $INSUFFICIENT, 'claim removed');

# ---- RequireAll / RequireAny / Require ip ----
my %admin_reader = (scope => 'read:orders', 'https://agw.test/roles' => ['admin']);
is(at('/gate/all/', \%admin_reader), '200', 'RequireAll: scope and role');
like(at('/gate/all/', { scope => 'read:orders' }), $INSUFFICIENT, 'RequireAll: scope only');
like(at('/gate/all/', { 'https://agw.test/roles' => ['admin'] }), $INSUFFICIENT, 'RequireAll: role only');
is(outcome(call(GET => '/gate/all/')), '401', 'RequireAll: no token');

is(at('/gate/any/', { scope => 'read:orders' }), '200', 'RequireAny (other ip or scope): scope');
like(at('/gate/any/', { scope => 'write:orders' }), $INSUFFICIENT, 'RequireAny: neither');
is(outcome(call(GET => '/gate/any/')), '401', 'RequireAny: no token');

is(outcome(call(GET => '/gate/any-ip/')), '200', 'RequireAny with Require ip 127.0.0.1: no token needed');
is(outcome(call(GET => '/gate/any-ip/', token => 'garbage')), '200',
   'RequireAny satisfied by ip: the token is not even looked at');

is(outcome(call(GET => '/gate/all-ip/')), '401', 'RequireAll ip + valid-user: no token');
is(at('/gate/all-ip/', {}), '200', 'RequireAll ip + valid-user: valid token');
is(at('/gate/all-ip/', { exp => $T - 120, iat => $T - 700 }), '401 invalid_token: token expired',
   'RequireAll ip + valid-user: expired token');
is(call(GET => '/gate/all-ip-deny/', token => mint())->code, 403,
   'RequireAll with a foreign ip: 403 despite a valid token');

# ---- the log ----
log_watch();
call(GET => '/gate/scope/read/', token => mint(claims => { scope => 'write:orders', sub => 'auth0|denied' }));
my @lines = grep { /AGW0103: authorization denied: / } log_lines();
is(scalar @lines, 1, 'one AGW0103 line for a 403');
like($lines[0] // '', qr/read:orders/, 'AGW0103 names what was required');
like($lines[0] // '', qr/\[auth0gw:info\]/, 'AGW0103 at info');
