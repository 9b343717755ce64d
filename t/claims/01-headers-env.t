# Claims to the backend: REMOTE_USER, Auth0ClaimHeader and Auth0ClaimEnv (seen by a CGI and by a proxied backend), header anti-spoofing in both spellings, and CR/LF injection through claims.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use JSON::PP ();

plan tests => 41;

my %bob = (
    sub                      => 'auth0|bob',
    email                    => 'bob@example.com',
    'https://agw.test/roles' => ['admin', 'ops'],
    org                      => { tier => 'gold' },
    'https://agw.test/org'   => { id => 42 },
    n                        => 7,
);

sub cgi_env {
    my ($path, $claims, @headers) = @_;
    my $res = call(GET => $path, token => (defined $claims ? mint(claims => $claims) : undef),
                   headers => \@headers);
    return ($res->code, json_of($res)->{env} || {});
}

# The proxied backend's view: [[name, value], ...] exactly as received.
sub backend_headers {
    my ($path, $claims, @headers) = @_;
    my $res = call(GET => $path, token => (defined $claims ? mint(claims => $claims) : undef),
                   headers => \@headers);
    return ($res->code, json_of($res)->{headers} || []);
}

sub named {
    my ($pairs, $name) = @_;
    (my $want = lc $name) =~ tr/_/-/;
    return map { $_->[1] } grep { (my $n = lc $_->[0]) =~ tr/_/-/; $n eq $want } @$pairs;
}

# ---- a CGI sees headers and environment ----
my ($code, $env) = cgi_env('/gate/claims/', \%bob);
is($code, 200, 'claims location: 200');
is($env->{REMOTE_USER}, 'auth0|bob', 'REMOTE_USER = sub');
is($env->{HTTP_X_CLAIM_SUB}, 'auth0|bob', 'Auth0ClaimHeader sub');
is($env->{HTTP_X_CLAIM_EMAIL}, 'bob@example.com', 'Auth0ClaimHeader email');
like($env->{HTTP_X_CLAIM_ROLES} // '', qr/\Aadmin, ?ops\z/, 'Auth0ClaimHeader namespaced array, comma-joined');
is($env->{HTTP_X_CLAIM_TIER}, 'gold', 'Auth0ClaimHeader nested path');
is($env->{HTTP_X_CLAIM_N}, '7', 'Auth0ClaimHeader number');
is($env->{AGW_SUB}, 'auth0|bob', 'Auth0ClaimEnv sub');
is($env->{AGW_EMAIL}, 'bob@example.com', 'Auth0ClaimEnv email');
like($env->{AGW_ROLES} // '', qr/\Aadmin, ?ops\z/, 'Auth0ClaimEnv array');
is($env->{AGW_ORG_ID}, '42', 'Auth0ClaimEnv through a JSON pointer');

my %slim = (sub => 'auth0|bob');
($code, $env) = cgi_env('/gate/claims/', \%slim);
ok(!exists $env->{HTTP_X_CLAIM_TIER} && !exists $env->{AGW_EMAIL},
   'a missing claim sets neither header nor variable');

# ---- anti-spoofing, valid token ----
($code, $env) = cgi_env('/gate/claims/', \%slim,
                        'X-Claim-Sub' => 'auth0|evil', 'X-Claim-Email' => 'evil@example.com',
                        'x-claim-tier' => 'platinum');
is($env->{HTTP_X_CLAIM_SUB}, 'auth0|bob', 'spoofed X-Claim-Sub replaced by the claim, not appended to');
ok(!exists $env->{HTTP_X_CLAIM_EMAIL}, 'spoofed X-Claim-Email removed although the token has no email');
ok(!exists $env->{HTTP_X_CLAIM_TIER}, 'spoofed x-claim-tier (lower case) removed');

# ---- anti-spoofing where no token is needed ----
($code, $env) = cgi_env('/gate/claims-open/', undef, 'X-Claim-Sub' => 'auth0|evil');
is($code, 200, 'Require all granted: served without token');
ok(!exists $env->{HTTP_X_CLAIM_SUB}, 'Require all granted: spoofed X-Claim-Sub removed');
($code, $env) = cgi_env('/gate/claims-open/', undef, 'X-Claim-Email' => 'evil', Authorization => 'Bearer garbage');
ok(!exists $env->{HTTP_X_CLAIM_EMAIL}, 'Require all granted, garbage token: spoofed header removed');

# ---- the raw view of a proxied backend: both spellings ----
my $h;
($code, $h) = backend_headers('/proxied/claims/', \%slim,
                              'X-Claim-Sub' => 'auth0|evil', 'X_Claim_Sub' => 'auth0|evil2',
                              'x-claim-email' => 'evil3', 'X_CLAIM_EMAIL' => 'evil4',
                              'X-Claim-Roles' => 'superuser', 'X_Other_Header' => 'kept');
is($code, 200, 'proxied claims location: 200');
is_deeply([named($h, 'X-Claim-Sub')], ['auth0|bob'], 'backend gets one X-Claim-Sub, the claim');
is_deeply([named($h, 'X-Claim-Email')], [], 'backend gets no X-Claim-Email in any spelling');
is_deeply([named($h, 'X-Claim-Roles')], [], 'spoofed X-Claim-Roles removed (token has no roles)');
is_deeply([named($h, 'X_Other_Header')], ['kept'], 'control: other underscore headers do reach the backend');

($code, $h) = backend_headers('/proxied/claims-open/', undef,
                              'X_Claim_Sub' => 'auth0|evil', 'X-Claim-Sub' => 'auth0|evil2');
is($code, 200, 'proxied open location: 200');
is_deeply([named($h, 'X-Claim-Sub')], [], 'open location: both spellings removed before the backend');

# ---- CR/LF and control characters in claims ----
my %hostile = (
    sub   => "auth0|bob\r\nX-Evil: 1",
    email => "bob\@example.com\r\nX-Injected: yes\r\n\r\nbody",
    'https://agw.test/roles' => ["admin\nX-Role-Injected: 1", "ops\x01\x1b[31mroot\x7f"],
);
($code, $h) = backend_headers('/proxied/claims/', \%hostile);
is($code, 200, 'hostile claims: still served');
is_deeply([map { $_->[0] } grep { $_->[0] =~ /injected|evil/i } @$h], [], 'no injected header reaches the backend');
my @vals = (named($h, 'X-Claim-Sub'), named($h, 'X-Claim-Email'), named($h, 'X-Claim-Roles'));
is(scalar @vals, 3, 'the three claim headers are present');
is_deeply([grep { /[\x00-\x1f\x7f]/ } @vals], [], 'no control character in any claim header value');
($code, $env) = cgi_env('/gate/claims/', \%hostile);
is($code, 200, 'hostile claims through CGI: served');
ok(!exists $env->{HTTP_X_INJECTED} && !exists $env->{HTTP_X_EVIL}, 'no injected header in the CGI environment');
unlike($env->{HTTP_X_CLAIM_EMAIL} // '', qr/[\r\n]/, 'CGI: header value without CR/LF');

is(outcome(call(GET => '/gate/claims/', token => mint(claims => { email => "bob\x00\r\nX-Nul: 1" }))),
   '401 invalid_token: payload JSON: embedded NUL', 'a NUL in a claim: the token is refused');

($code, $env) = cgi_env('/gate/claims/', { sub => "Jos\x{e9} \x{2603}", email => "caf\x{e9}\@example.com" });
is($code, 200, 'non-ASCII claims: served');
unlike(($env->{HTTP_X_CLAIM_SUB} // '') . ($env->{HTTP_X_CLAIM_EMAIL} // ''), qr/[\x00-\x1f\x7f]/,
       'non-ASCII claims: no control characters in headers');

# ---- REMOTE_USER fallbacks (Auth0RemoteUserClaim email) ----
($code, $env) = cgi_env('/gate/remote-user/', { email => 'eve@example.com' });
is($env->{REMOTE_USER}, 'eve@example.com', 'Auth0RemoteUserClaim email');
($code, $env) = cgi_env('/gate/remote-user/', { email => undef, azp => 'client-azp', client_id => 'client-id' });
is($env->{REMOTE_USER}, 'client-azp', 'claim absent: azp');
($code, $env) = cgi_env('/gate/remote-user/', { email => undef, client_id => 'client-id' });
is($env->{REMOTE_USER}, 'client-id', 'claim and azp absent: client_id');
($code, $env) = cgi_env('/gate/remote-user/', { email => undef });
is($code, 200, 'token without the user claim is still valid');
is($env->{REMOTE_USER}, '-', 'nothing to name the user: -');
($code, $env) = cgi_env('/gate/claims/', { sub => undef, azp => 'm2m-client' });
is($env->{REMOTE_USER}, 'm2m-client', 'default claim sub absent: azp');
