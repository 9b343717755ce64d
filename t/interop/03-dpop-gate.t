# Interoperability, DPoP at the gate: panva's oidc-provider (dPoP feature, a dpop_bound_access_tokens client) issues a DPoP-bound client-credentials token to a client written with npm jose (t/interop/dpop-client.js); the gate (Auth0DPoP allowed) accepts its request once, refuses the replayed proof, a proof of another key and the token sent as Bearer.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use JSON::PP qw(decode_json);
use MIME::Base64 qw(decode_base64);

use AGW::Interop;

my $issuer = $ENV{$AGW::Interop::ENV_ISSUER}
    or BAIL_OUT("$AGW::Interop::ENV_ISSUER is not set: run this through t/TEST, which starts "
              . "t/interop/provider.js (AGW::Interop::start) before httpd");

plan tests => 17;

my $PATH = '/interop/dpop/ok.json';
my $URL  = 'http://' . Apache::TestRequest::hostport() . $PATH;

sub b64url_json {
    my ($part) = @_;
    (my $b64 = $part // '') =~ tr{-_}{+/};
    $b64 .= '=' x ((4 - length($b64) % 4) % 4);
    return eval { decode_json(decode_base64($b64)) } || {};
}

# The challenge's scheme and error (RFC 9449 7.1 / RFC 6750 3).
sub said {
    my ($res) = @_;
    my $c = $res->header('WWW-Authenticate') // '';
    my ($scheme) = $c =~ /\A(\S+)/;
    my ($error) = $c =~ /\berror="([^"]*)"/;
    return join ' ', $res->code, $scheme // '-', $error // '-';
}

sub client {
    local $ENV{AGW_INTEROP_DPOP_SECRET} = $AGW::Interop::CLIENT{dpop}{secret};
    my $out = `node '$FindBin::Bin/dpop-client.js' '$issuer' '$AGW::Interop::CLIENT{dpop}{id}' '$AGW::Interop::AUDIENCE' '$URL'`;
    die "dpop-client.js failed ($?)\n" if $? || !$out;
    return decode_json($out);
}

my $c = client();
is($c->{status}, 200, 'oidc-provider issued a token for a request with a jose DPoP proof')
    or diag(explain($c->{token_response}));
my $token = $c->{token_response}{access_token} // '';
is($c->{token_response}{token_type}, 'DPoP', 'token_type DPoP (RFC 9449 5)');
my $claims = b64url_json((split /\./, $token)[1]);
is($claims->{cnf}{jkt} // 'none', $c->{jkt}, 'the token carries cnf.jkt = the thumbprint of the client key (jose)');
is($claims->{aud}, $AGW::Interop::AUDIENCE, 'aud is the RFC 8707 resource asked for');
is((split /\./, $token)[0] ? b64url_json((split /\./, $token)[0])->{typ} : '', 'at+jwt',
   'an RFC 9068 access token (typ at+jwt)');

my ($p1, $p2) = @{ $c->{proofs} || [] };
my $res = GET($PATH, Authorization => "DPoP $token", DPoP => $p1);
is($res->code, 200, 'Authorization: DPoP with the client\'s proof: 200')
    or diag($res->as_string);
is($res->header('X-Interop-User'), $AGW::Interop::CLIENT{dpop}{id}, 'REMOTE_USER is the provider\'s sub (the client id)');

$res = GET($PATH, Authorization => "DPoP $token", DPoP => $p1);
is(said($res), '401 DPoP invalid_dpop_proof', 'the same proof replayed: 401 invalid_dpop_proof');
like($res->header('WWW-Authenticate') // '', qr/error_description="DPoP proof replayed"/,
     'error_description says replayed');
like($res->header('WWW-Authenticate') // '', qr/\ADPoP algs="[^"]*\bES256\b/, 'the DPoP challenge names algs, ES256 among them');

$res = GET($PATH, Authorization => "DPoP $token", DPoP => $p2);
is($res->code, 200, 'a fresh proof of the same key: 200 again (the replay refusal was the proof\'s)');

$res = GET($PATH, Authorization => "DPoP $token", DPoP => $c->{other_key_proof});
is(said($res), '401 DPoP invalid_token', 'the token with a valid proof of another key: 401 invalid_token');

$res = GET($PATH, Authorization => "Bearer $token");
is($res->code, 401, 'the DPoP-bound token sent as Bearer: 401');
like($res->header('WWW-Authenticate') // '', qr/\berror="invalid_token"/, '... invalid_token (RFC 9449 7.2)');

$res = GET($PATH, Authorization => "DPoP $token");
is(said($res), '401 DPoP invalid_dpop_proof', 'Authorization: DPoP without a proof: 401 invalid_dpop_proof');

# The proof for the token endpoint is not one for the gate: htu and htm differ.
my $c2 = client();
my $token2 = $c2->{token_response}{access_token} // '';
$res = GET('/interop/dpop/other.json', Authorization => "DPoP $token2", DPoP => $c2->{proofs}[0]);
is(said($res), '401 DPoP invalid_dpop_proof', 'a proof made for another URL (htu): refused');
$res = GET($PATH, Authorization => "DPoP $token", DPoP => $c2->{proofs}[1]);
is(said($res), '401 DPoP invalid_dpop_proof',
   'a proof of the second client run (its key, its token\'s ath) with the first token: refused');
