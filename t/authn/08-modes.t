# Auth0Mode optional and report-only under Require all granted, valid-user and auth0-scope; AUTH0GW_RESULT/REASON, the AGW0107 line and the counters; Auth0PassPreflight.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 53;

my $T = now();
my %bob = (sub => 'auth0|bob', email => 'bob@example.com', scope => 'read:orders');
my $good    = mint(claims => \%bob);
my $noscope = mint(claims => { %bob, scope => 'write:orders' });
my $expired = mint(claims => { %bob, exp => $T - 120, iat => $T - 700 });
my $foreign = mint(claims => { %bob, iss => 'https://other.example/' });    # a wrong iss

# (outcome, the CGI's environment) of one request
sub at {
    my ($path, $token, @headers) = @_;
    my $res = call(GET => $path, token => $token, headers => \@headers);
    my $env = $res->code == 200 ? (json_of($res)->{env} || {}) : {};
    return (outcome($res), $env);
}

sub counts {
    my $res = call(GET => '/agw-status?json');
    return json_of($res)->{requests} || {};
}

# ---- optional ----
my ($o, $e) = at('/gate/mode/opt-open/', undef, 'X-Claim-Sub' => 'forged');
is($o, '200', 'optional + all granted, no token: 200');
ok(!exists $e->{REMOTE_USER}, 'optional, no token: no REMOTE_USER');
ok(!exists $e->{HTTP_X_CLAIM_SUB}, 'optional, no token: no claim header (a forged one is removed)');
is($e->{AUTH0GW_RESULT}, 'missing', 'optional, no token: AUTH0GW_RESULT=missing');

($o, $e) = at('/gate/mode/opt-open/', $good);
is($o, '200', 'optional + all granted, valid token: 200');
is($e->{REMOTE_USER}, 'auth0|bob', 'optional, valid token: REMOTE_USER');
is($e->{HTTP_X_CLAIM_SUB}, 'auth0|bob', 'optional, valid token: claim header');
is($e->{AGW_EMAIL}, 'bob@example.com', 'optional, valid token: claim variable');
is($e->{AUTH0GW_RESULT}, 'valid', 'optional, valid token: AUTH0GW_RESULT=valid');

is((at('/gate/mode/opt-open/', $expired))[0], '401 invalid_token: token expired',
   'optional + all granted, expired token: 401');
like((at('/gate/mode/opt-open/', $foreign))[0], qr/\A401 invalid_token/,
     'optional + all granted, token with another iss: 401');
is((at('/gate/mode/opt-open/', undef, Authorization => 'Bearer a b'))[0],
   '401 invalid_token: malformed Authorization header', 'optional, malformed header: 401');

is((at('/gate/mode/opt-user/', undef))[0], '401', 'optional + valid-user, no token: 401 challenge (valid-user asks for a user)');
is((at('/gate/mode/opt-user/', $good))[0], '200', 'optional + valid-user, valid token: 200');
is((at('/gate/mode/opt-user/', $expired))[0], '401 invalid_token: token expired', 'optional + valid-user, expired: 401');
is((at('/gate/mode/opt-scope/', undef))[0], '401', 'optional + auth0-scope, no token: 401 challenge');
is((at('/gate/mode/opt-scope/', $good))[0], '200', 'optional + auth0-scope, scope present: 200');
like((at('/gate/mode/opt-scope/', $noscope))[0], qr/\A403 insufficient_scope/, 'optional + auth0-scope, scope absent: 403');

# ---- report-only ----
my $before = counts();
log_watch();
($o, $e) = at('/gate/mode/rep-open/', undef);
is($o, '200', 'report-only + all granted, no token: 200');
is($e->{AUTH0GW_RESULT}, 'missing', 'report-only, no token: AUTH0GW_RESULT=missing');
is($e->{AUTH0GW_REASON}, 'no_token', 'report-only, no token: AUTH0GW_REASON=no_token');
ok(!exists $e->{REMOTE_USER}, 'report-only + all granted, no token: no REMOTE_USER');

($o, $e) = at('/gate/mode/rep-open/', $expired, 'X-Claim-Sub' => 'forged');
is($o, '200', 'report-only + all granted, expired token: 200');
is($e->{AUTH0GW_RESULT}, 'invalid', 'report-only, expired: AUTH0GW_RESULT=invalid');
is($e->{AUTH0GW_REASON}, 'expired', 'report-only, expired: AUTH0GW_REASON=expired');
ok(!exists $e->{HTTP_X_CLAIM_SUB} && !exists $e->{AGW_EMAIL}, 'report-only, expired: no claims propagated');

($o, $e) = at('/gate/mode/rep-open/', $good);
is($e->{AUTH0GW_RESULT}, 'valid', 'report-only, valid token: AUTH0GW_RESULT=valid');
ok(!exists $e->{AUTH0GW_REASON}, 'report-only, valid token: no AUTH0GW_REASON');
is($e->{HTTP_X_CLAIM_SUB}, 'auth0|bob', 'report-only, valid token: claims propagated');

($o, $e) = at('/gate/mode/rep-user/', undef);
is($o, '200', 'report-only + valid-user, no token: 200');
is($e->{AUTH0GW_RESULT}, 'missing', 'report-only + valid-user, no token: missing');
($o, $e) = at('/gate/mode/rep-user/', $foreign);
is($o, '200', 'report-only + valid-user, token with another iss: 200');
is($e->{AUTH0GW_REASON}, 'issuer', 'report-only, another issuer: AUTH0GW_REASON=issuer');
($o, $e) = at('/gate/mode/rep-scope/', $noscope);
is($o, '200', 'report-only + auth0-scope, scope absent: 200');
is($e->{REMOTE_USER}, 'auth0|bob', 'report-only + auth0-scope: the valid token still names the user');
is((at('/gate/mode/rep-scope/', undef))[0], '200', 'report-only + auth0-scope, no token: 200');
is((at('/gate/mode/rep-scope/', $good))[0], '200', 'report-only + auth0-scope, scope present: 200');
like((at('/gate/mode/rep-ip/', $good))[0], qr/\A403/, 'report-only does not lift Require ip: 403');

my @lines = grep { /AGW0107/ } log_lines();
ok((grep { /report-only: no token in request \(refusal=no_token\)/ } @lines), 'AGW0107 for the missing token');
ok((grep { /report-only: token would be rejected: token expired \(fp=[0-9a-f]{12}, iss=\S+, sub=auth0\|bob, refusal=expired\)/ } @lines),
   'AGW0107 for the expired token, with fp, iss, sub and refusal');
ok((grep { /report-only: Require auth0-scope read:orders would not be met .*refusal=insufficient_scope/ } @lines),
   'AGW0107 for the Require line not met');
ok(!(grep { /eyJ/ } log_lines()), 'no token text in the log');
my $after = counts();
my $d = sub { ($after->{$_[0]} // 0) - ($before->{$_[0]} // 0) };
is($d->('report_only_missing'), 3, 'report_only_missing counted 3 times');
is($d->('report_only_invalid'), 2, 'report_only_invalid counted 2 times');
is($d->('report_only_denied'), 1, 'report_only_denied counted once');
is($d->('expired'), 0, 'report-only refusals are not counted as refusals');

is((at('/gate/mode/enf-user/', undef))[0], '401', 'Auth0Mode enforce: no token, 401');

# ---- Auth0PassPreflight ----
my @pre = (Origin => 'https://app.example', 'Access-Control-Request-Method' => 'POST');
my $res = call(OPTIONS => '/gate/mode/preflight/', headers => \@pre);
is($res->code, 200, 'preflight without a token passes: 200');
is(outcome(call(OPTIONS => '/gate/mode/preflight/', headers => [Origin => 'https://app.example'])), '401',
   'OPTIONS without Access-Control-Request-Method: 401');
is(outcome(call(OPTIONS => '/gate/mode/preflight/')), '401', 'plain OPTIONS: 401');
is(outcome(call(GET => '/gate/mode/preflight/', headers => \@pre)), '401', 'GET with CORS headers: 401');
is(outcome(call(OPTIONS => '/gate/mode/preflight-off/', headers => \@pre)), '401', 'without Auth0PassPreflight: 401');
is(outcome(call(OPTIONS => '/gate/mode/preflight/', headers => \@pre, token => $noscope)), '200',
   'a preflight carrying a token is not checked either');
