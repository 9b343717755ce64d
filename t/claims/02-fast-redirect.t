# Header anti-spoofing when Auth0ClaimHeader is set only in a <Files> section reached through DirectoryIndex, FallbackResource or MultiViews (a subrequest, then ap_internal_fast_redirect): the spoofed header must not reach the CGI, in either spelling, with or without a valid token.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 44;

my @SPOOF = ('X-User-Id' => 'auth0|evil', 'X_User_Id' => 'auth0|evil2');

sub env_of {
    my ($path, %o) = @_;
    my $res = call(GET => $path, %o, headers => [@SPOOF, 'X-Kept' => 'kept']);
    return ($res->code, json_of($res)->{env} || {});
}

# the status without a token: mod_negotiation does not offer a variant that its subrequest may
# not see (the gate's 401 there), so MultiViews answers 404, as for any protected variant
for my $case (['idx', '/fastredir/idx/', 'DirectoryIndex', 401],
              ['fb',  '/fastredir/fb/no-such-file', 'FallbackResource', 401],
              ['mv',  '/fastredir/mv/echo', 'MultiViews', 404]) {
    my ($name, $path, $how, $refused) = @$case;

    my $res = call(GET => $path, headers => [@SPOOF]);
    is($res->code, $refused, "$how to <Files echo.cgi> with the gate, no token: $refused");

    my ($code, $env) = env_of($path, token => mint(claims => { sub => 'auth0|bob' }));
    is($code, 200, "$how, valid token: the CGI answers");
    is($env->{AGW_SUB}, 'auth0|bob', "$how, valid token: the <Files> section's gate ran (its claim env is there)");
    is($env->{HTTP_X_KEPT}, 'kept', "$how, valid token: control: another header reaches the CGI");
    ok(!grep({ ($env->{$_} // '') =~ /evil/ } keys %$env),
       "$how, valid token: no spoofed value in the CGI environment");
    ok(!defined $env->{HTTP_X_USER_ID} || $env->{HTTP_X_USER_ID} eq 'auth0|bob',
       "$how, valid token: HTTP_X_USER_ID is absent or the claim, never the client's");

    my $open = $path;
    $open =~ s{/(idx|fb|mv)/}{/$1-open/};
    ($code, $env) = env_of($open);
    is($code, 200, "$how to an open <Files echo.cgi>, no token: the CGI answers");
    is($env->{HTTP_X_KEPT}, 'kept', "$how, open: control: another header reaches the CGI");
    ok(!exists $env->{HTTP_X_USER_ID}, "$how, open, no token: spoofed X-User-Id removed");
    ok(!grep({ ($env->{$_} // '') =~ /evil/ } keys %$env),
       "$how, open, no token: no spoofed value in either spelling");

    ($code, $env) = env_of($open, token => mint(claims => { sub => 'auth0|bob' }));
    is($code, 200, "$how, open, with a token: the CGI answers");
    ok(!grep({ ($env->{$_} // '') =~ /evil/ } keys %$env),
       "$how, open, with a token: no spoofed value in either spelling");
}

# The direct request to the file (no fast redirect) keeps working as before.
my ($code, $env) = env_of('/fastredir/idx/echo.cgi', token => mint(claims => { sub => 'auth0|bob' }));
is($code, 200, 'direct request to echo.cgi: 200');
ok(!defined $env->{HTTP_X_USER_ID} || $env->{HTTP_X_USER_ID} eq 'auth0|bob', 'direct request: no spoofed X-User-Id');
is($env->{HTTP_X_USER_ID}, 'auth0|bob', 'direct request: the claim header is set from the token');
($code, $env) = env_of('/fastredir/idx-open/echo.cgi');
ok(!exists $env->{HTTP_X_USER_ID}, 'direct request, open: spoofed X-User-Id removed');

# Through mod_proxy (SetHandler proxy: in the <Files> section), whose backend shows the raw
# header names: CGI drops names with '_', a backend such as PHP-FPM or a proxied app does not.
sub named {
    my ($pairs, $name) = @_;
    (my $want = lc $name) =~ tr/_/-/;
    return map { $_->[1] } grep { (my $n = lc $_->[0]) =~ tr/_/-/; $n eq $want } @$pairs;
}
my $res = call(GET => '/fastredir/idx-proxy/', headers => [@SPOOF, 'X_Kept_Too' => 'kept']);
is($res->code, 200, 'DirectoryIndex to a proxied <Files>: 200');
my $h = json_of($res)->{headers} || [];
is_deeply([named($h, 'X_Kept_Too')], ['kept'], 'proxied: control: another underscore header reaches the backend');
is_deeply([named($h, 'X-User-Id')], [], 'proxied: neither X-User-Id nor X_User_Id reaches the backend');
$res = call(GET => '/fastredir/idx-proxy/', token => mint(claims => { sub => 'auth0|bob' }), headers => [@SPOOF]);
is_deeply([named(json_of($res)->{headers} || [], 'X-User-Id')], [], 'proxied, with a token: no spoofed value in either spelling');
