# Token validation at the gate: challenge, time claims and leeway, issuer, audience, algorithms, signatures, malformed and hostile tokens, and what the log says about them.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use JSON::PP ();

plan tests => 61;

my $LOC = '/gate/rs256/';
my $T   = now();
my @seen_tokens;

sub tok {
    my (%a) = @_;
    my $t = mint(%a);
    push @seen_tokens, $t;
    return $t;
}

sub get_with {
    my ($token, $path) = @_;
    return call(GET => $path // $LOC, token => $token);
}

log_watch();

# ---- challenge and the happy path ----
my $res = call(GET => $LOC);
is(outcome($res), '401', 'no token: 401 without error');
is($res->header('WWW-Authenticate'), 'Bearer realm="agw-test"', 'no token: exact challenge');

my $good = tok();
$res = get_with($good);
is($res->code, 200, 'valid RS256 token: 200');
my $env = json_of($res)->{env} || {};
is($env->{REMOTE_USER}, 'auth0|alice', 'REMOTE_USER is sub');
is($env->{AUTH_TYPE}, 'Auth0', 'AUTH_TYPE is Auth0');

$res = call(GET => '/__health');
is($res->code, 200, '/__health without token: 200');
is(json_of($res)->{status}, 'ok', '/__health body');

# ---- time claims ----
is(outcome(get_with(tok(claims => { iat => $T - 700, exp => $T - 120 }))),
   '401 invalid_token: token expired', 'expired 120 s ago (leeway 30): rejected');
is(outcome(get_with(tok(claims => { iat => $T - 700, exp => $T - 10 }))),
   '200', 'expired 10 s ago is inside the default leeway of 30 s');
is(outcome(get_with(tok(claims => { iat => $T - 700, exp => $T - 4 }), '/gate/leeway0/')),
   '401 invalid_token: token expired', 'Auth0Leeway 0: expired 4 s ago rejected');
is(outcome(get_with(tok(claims => { exp => $T + 30 }), '/gate/leeway0/')),
   '200', 'Auth0Leeway 0: unexpired token accepted');
is(outcome(get_with(tok(claims => { nbf => $T + 120 }))),
   '401 invalid_token: token not yet valid', 'nbf 120 s ahead: rejected');
is(outcome(get_with(tok(claims => { nbf => $T + 10 }))),
   '200', 'nbf 10 s ahead is inside the leeway');
is(outcome(get_with(tok(claims => { nbf => $T + 10 }), '/gate/leeway0/')),
   '401 invalid_token: token not yet valid', 'Auth0Leeway 0: nbf 10 s ahead rejected');
is(outcome(get_with(tok(claims => { iat => $T + 120, exp => $T + 600 }))),
   '401 invalid_token: iat in the future', 'iat 120 s ahead: rejected');
is(outcome(get_with(tok(claims => { iat => $T + 10 }))),
   '200', 'iat 10 s ahead is inside the leeway');
is(outcome(get_with(tok(claims => { exp => undef }))),
   '401 invalid_token: exp missing', 'exp is required');
is(outcome(get_with(tok(claims => { exp => "$T" . '9' }))),
   '401 invalid_token: exp not a number', 'exp as a string: rejected');

# ---- issuer and audience ----
is(outcome(get_with(tok(claims => { iss => 'https://evil.example/' }))),
   '401 invalid_token: issuer mismatch', 'foreign iss');
(my $iss_noslash = issuer_url('')) =~ s{/\z}{};
is(outcome(get_with(tok(claims => { iss => $iss_noslash }))),
   '401 invalid_token: issuer mismatch', 'iss without the trailing slash: compared exactly');
is(outcome(get_with(tok(claims => { iss => undef }))),
   '401 invalid_token: issuer mismatch', 'no iss at all');
is(outcome(get_with(tok(claims => { aud => 'https://api.agw.test' }))),
   '401 invalid_token: audience mismatch', 'aud without the trailing slash');
is(outcome(get_with(tok(claims => { aud => [OTHER_AUD, AUD] }))),
   '200', 'aud array containing ours');
is(outcome(get_with(tok(claims => { aud => [OTHER_AUD, 'https://third.example/'] }))),
   '401 invalid_token: audience mismatch', 'aud array without ours');
is(outcome(get_with(tok(claims => { aud => undef }))),
   '401 invalid_token: audience mismatch', 'no aud at all');
is(outcome(get_with(tok(claims => { aud => OTHER_AUD }), '/gate/aud-multi/')),
   '200', 'Auth0Audience with two values: the second one matches');

# ---- algorithms and signatures ----
is(outcome(get_with(tok(alg => 'ES256'))),
   '401 invalid_token: alg not allowed', 'ES256 where only RS256 is allowed');
# "none" may be caught by its missing signature or by name; either way it never passes.
my $NONE = qr/\A401 invalid_token: (signature missing|alg none refused|alg not allowed)\z/;
like(outcome(get_with(tok(alg => 'none'))), $NONE, 'alg none, empty signature');
like(outcome(get_with(tok(alg => 'none', header => { alg => 'NoNe' }))), $NONE, 'alg NoNe');
like(outcome(get_with(tok(alg => 'RS256', header => { alg => 'none' }))),
     qr/\A401 invalid_token: (alg none refused|alg not allowed)\z/,
     'alg none with a (valid RS256) signature present');
my $rs_kid = (grep { $_->{alg} eq 'RS256' } @{ keys_of('') })[0]{kid};
is(outcome(get_with(tok(alg => 'HS256', kid => $rs_kid, key => { public_pem_of => $rs_kid }))),
   '401 invalid_token: alg not allowed', 'HS256 signed with the RSA public key (key confusion)');

my ($h, $p, $s) = split /\./, $good;
my $claims = JSON::PP->new->decode(b64u_decode($p));
$claims->{sub} = 'auth0|mallory';
my $tampered = join '.', $h, b64u(JSON::PP->new->canonical->encode($claims)), $s;
is(outcome(get_with($tampered)), '401 invalid_token: signature invalid', 'payload changed after signing');
my $flipped = $s;
substr($flipped, 20, 1) = substr($flipped, 20, 1) eq 'A' ? 'B' : 'A';
is(outcome(get_with("$h.$p.$flipped")), '401 invalid_token: signature invalid', 'one signature character changed');
is(outcome(get_with(tok(signature => 'garbage'))), '401 invalid_token: signature invalid',
   'random 64-byte signature');
is(outcome(get_with(tok(signature => 'empty'))), '401 invalid_token: signature missing',
   'empty signature');
is(outcome(get_with(tok(key => 'unpublished'))), '401 invalid_token: unknown key',
   'signed by a key the issuer never published');

# ---- malformed and hostile ----
for my $case (['abc', 'token is not three segments', 'one segment'],
              ['abc.def', 'token is not three segments', 'two segments'],
              ["$h.$p.$s.$s", 'token is not three segments', 'four segments'],
              ["$h.$p.$s!", 'signature is not base64url', 'signature not base64url'],
              ["$h.$p+/.$s", 'payload is not base64url', 'payload in base64, not base64url'],
              [b64u('not json') . ".$p.$s", 'header JSON: syntax error', 'header not JSON'],
              # the payload's JSON is parsed only under a good signature
              ["$h." . b64u('["array"]') . ".$s", 'signature invalid',
               'payload a JSON array, not signed']) {
    is(outcome(get_with($case->[0])), "401 invalid_token: $case->[1]", "malformed: $case->[2]");
}
is(outcome(call(GET => $LOC, headers => [Authorization => 'Bearer '])), '401',
   'empty Bearer credentials: treated as no token');

my $big = tok(claims => { pad => 'x' x (20 * 1024) });
ok(length($big) > 16 * 1024, 'the oversized token is over 16 KiB (' . length($big) . ' bytes)');
is(outcome(get_with($big)), '401 invalid_token: token too large', 'token over 16 KiB rejected');
my $fat = tok(claims => { pad => 'x' x (11 * 1024) });
ok(length($fat) < 16 * 1024, 'the large token is under 16 KiB (' . length($fat) . ' bytes)');
is(outcome(get_with($fat)), '200', 'token under 16 KiB accepted');

is(outcome(get_with(tok(header => { crit => ['x-agw-unknown'], 'x-agw-unknown' => 1 }))),
   '401 invalid_token: crit not supported', 'unknown crit header parameter rejected');
my $dup = sprintf '{"iss":"%s","aud":"%s","sub":"auth0|alice","sub":"auth0|root","iat":%d,"exp":%d}',
    issuer_url(''), AUD, $T, $T + 600;
like(outcome(get_with(tok(payload_raw => $dup))), qr/\A401 invalid_token: /,
     'duplicate member names in the payload rejected');
my $deep = sprintf '{"iss":"%s","aud":"%s","sub":"x","exp":%d,"nest":%s%s}',
    issuer_url(''), AUD, $T + 600, '[' x 200, ']' x 200;
like(outcome(get_with(tok(payload_raw => $deep))), qr/\A401 invalid_token: /,
     'payload nested 200 deep rejected');
is(outcome(get_with(tok(header => { typ => 'at+jwt' }))), '200', 'typ at+jwt (RFC 9068) accepted');
is(outcome(get_with(tok(header => { typ => undef }))), '200', 'no typ accepted');

# ---- what the log says ----
my $expired = tok(claims => { iat => $T - 700, exp => $T - 120, sub => 'auth0|logcheck' });
log_watch();
get_with($expired);
get_with($expired);
my @lines = log_lines();
my @rej = grep { /AGW0100: token rejected: token expired / } @lines;
is(scalar @rej, 2, 'one AGW0100 line per rejected request');
my $iss = issuer_url('');
my ($fp1) = ($rej[0] // '') =~ /\(fp=([0-9a-f]+), iss=\Q$iss\E, sub=auth0\|logcheck, refusal=expired\)/;
ok(defined $fp1 && length $fp1 == 12, 'AGW0100 names a 12-hex fingerprint, iss, sub and the refusal')
    or diag($rej[0] // 'no AGW0100 line');
my ($fp2) = ($rej[1] // '') =~ /fp=([0-9a-f]+)/;
is($fp2, $fp1, 'the same token has the same fingerprint');
like($rej[0] // '', qr/\[auth0gw:info\]/, 'AGW0100 is logged at info by auth0gw');

log_watch();
get_with(tok(claims => { iat => $T - 700, exp => $T - 120, sub => 'auth0|logcheck', jti => 'other' }));
my ($fp3) = join('', log_lines()) =~ /AGW0100: token rejected: [^(]*\(fp=([0-9a-f]+)/;
isnt($fp3 // '', $fp1 // '', 'another token has another fingerprint');

log_watch();
call(GET => $LOC);
ok((grep { /AGW0101: no token in request/ } log_lines()), 'AGW0101 logged for a request without token');

log_watch();
get_with('abc.def');
like(join('', log_lines()), qr/AGW0100: token rejected: token is not three segments \(fp=[0-9a-f]{12}, iss=-, sub=-, refusal=malformed\)/,
     'malformed token: iss and sub logged as -');

# No token, and no part of one, ever reaches the log.
open my $fh, '<', Apache::Test::vars('t_logs') . '/error_log' or die $!;
my $log = do { local $/; <$fh> };
my @leaks;
for my $t (@seen_tokens) {
    my @parts = split /\./, $t;
    push @leaks, $t if index($log, $t) >= 0;
    for my $part (@parts[1, 2]) {
        push @leaks, "part of $t" if defined $part && length $part > 16 && index($log, $part) >= 0;
    }
}
is(scalar @leaks, 0, 'no token or token part in error_log (' . scalar(@seen_tokens) . ' tokens checked)')
    or diag("leaked: $leaks[0]");
