# Interoperability: client-credentials tokens from panva's oidc-provider (an independent, certified OAuth 2.0 server: t/interop/provider.js) pass mod_auth0gw's gate, and ones minted for another audience or tampered with do not.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Apache::TestUtil qw(t_start_error_log_watch t_finish_error_log_watch);
use JSON::PP qw(decode_json);
use LWP::UserAgent;
use MIME::Base64 qw(decode_base64 encode_base64);
use URI::Escape qw(uri_escape);

use AGW::Interop;

my $issuer = $ENV{$AGW::Interop::ENV_ISSUER}
    or BAIL_OUT("$AGW::Interop::ENV_ISSUER is not set: run this through t/TEST, which starts "
              . "t/interop/provider.js (AGW::Interop::start) before httpd");

plan tests => 55;

my $ua = LWP::UserAgent->new(timeout => 10, env_proxy => 0);

sub b64url_json {
    my ($part) = @_;
    (my $b64 = $part) =~ tr{-_}{+/};
    $b64 .= '=' x ((4 - length($b64) % 4) % 4);
    return decode_json(decode_base64($b64));
}

# RFC 6749 2.3.1: id and secret are form-url-encoded before they are joined and base64'd.
sub basic_auth {
    my ($client) = @_;
    my $pair = uri_escape($client->{id}) . ':' . uri_escape($client->{secret});
    return 'Basic ' . encode_base64($pair, '');
}

# Asks the provider's token endpoint the way our module and Auth0's clients do:
# form body, `audience` (not RFC 8707's `resource`).
sub token_response {
    my (%a) = @_;
    my $client = $AGW::Interop::CLIENT{ $a{method} };
    my %form = (grant_type => 'client_credentials');
    $form{audience} = $a{audience} if defined $a{audience};
    $form{scope}    = $a{scope}    if defined $a{scope};
    my @headers;
    if ($a{method} eq 'basic') {
        push @headers, Authorization => basic_auth($client);
    }
    else {
        @form{qw(client_id client_secret)} = ($client->{id}, $client->{secret});
    }
    return $ua->post("${issuer}oauth/token", \%form, @headers);
}

sub token {
    my (%a) = @_;
    my $res = token_response(%a);
    die "token endpoint: " . $res->status_line . "\n" . $res->decoded_content
        unless $res->code == 200;
    return decode_json($res->decoded_content);
}

sub bearer {
    my ($path, $token, @more) = @_;
    return GET($path, Authorization => "Bearer $token", @more);
}

sub challenge_for {
    my ($reason) = @_;
    return qq{Bearer realm="interop", error="invalid_token", error_description="$reason"};
}

# ---- the provider speaks as expected (else later failures would be misread) -----------------

my $disco = decode_json($ua->get("${issuer}.well-known/openid-configuration")->decoded_content);
is($disco->{issuer}, $issuer, 'discovery names the issuer URL exactly, trailing slash included');
is($disco->{jwks_uri}, "${issuer}.well-known/jwks.json", 'jwks_uri is at Auth0\'s path');
is($disco->{token_endpoint}, "${issuer}oauth/token", 'token endpoint is at Auth0\'s path');

my $basic = token(method => 'basic', audience => $AGW::Interop::AUDIENCE,
                  scope => 'read:messages');
is($basic->{token_type}, 'Bearer', 'client_secret_basic: a Bearer token');
my @parts = split /\./, $basic->{access_token}, -1;
is(scalar @parts, 3, 'client_secret_basic: the access token is a JWS compact serialization');
my $header = b64url_json($parts[0]);
my $claims = b64url_json($parts[1]);
is($header->{alg}, 'RS256', 'header alg RS256');
is($header->{typ}, 'at+jwt', 'header typ at+jwt (RFC 9068), unlike Auth0\'s JWT');
ok(length($header->{kid} // '') > 0, 'header names a kid');
is($claims->{iss}, $issuer, 'iss is the issuer');
is($claims->{aud}, $AGW::Interop::AUDIENCE, 'aud is the audience asked for');
is($claims->{sub}, $AGW::Interop::CLIENT{basic}{id}, 'sub is the client id');
is($claims->{scope}, 'read:messages', 'scope granted');

my $post = token(method => 'post', audience => $AGW::Interop::AUDIENCE);
my $post_claims = b64url_json((split /\./, $post->{access_token})[1]);
is($post_claims->{client_id}, $AGW::Interop::CLIENT{post}{id},
   'client_secret_post: token issued to the post client');
ok(!exists $post_claims->{scope}, 'no scope asked, no scope claim');

my $other = token(method => 'post', audience => $AGW::Interop::OTHER_AUDIENCE);
is(b64url_json((split /\./, $other->{access_token})[1])->{aud},
   $AGW::Interop::OTHER_AUDIENCE, 'a token for the other API carries the other audience');

my $wrong;
{
    local $AGW::Interop::CLIENT{post}{secret} = 'not-the-secret';
    $wrong = token_response(method => 'post', audience => $AGW::Interop::AUDIENCE);
}
is($wrong->code, 401, 'a wrong client secret is refused by the provider (401)');

# ---- the module accepts the provider's tokens ----------------------------------------------

t_start_error_log_watch();

my $res = bearer('/interop/jwks/ok.json', $basic->{access_token},
                 'X-Interop-Client' => 'forged');
is($res->code, 200, 'explicit JWKS URL: token from client_secret_basic accepted');
is($res->content, qq{{"interop": "ok"}\n}, 'explicit JWKS URL: the document is served');
is($res->header('X-Interop-User'), $AGW::Interop::CLIENT{basic}{id},
   'REMOTE_USER is the token\'s sub');
is($res->header('X-Interop-Client-Seen'), $AGW::Interop::CLIENT{basic}{id},
   'Auth0ClaimHeader: the backend sees the client_id claim, not the forged header');

$res = bearer('/interop/jwks/ok.json', $post->{access_token});
is($res->code, 200, 'explicit JWKS URL: token from client_secret_post accepted');
is($res->header('X-Interop-User'), $AGW::Interop::CLIENT{post}{id},
   'REMOTE_USER is the post client');

$res = bearer('/interop/discovery/ok.json', $basic->{access_token});
is($res->code, 200, 'OIDC discovery: the keys are found through jwks_uri');
is($res->header('X-Interop-User'), $AGW::Interop::CLIENT{basic}{id},
   'OIDC discovery: REMOTE_USER is the sub');

$res = bearer('/interop/scope/ok.json', $basic->{access_token});
is($res->code, 200, 'Require auth0-scope read:messages: a token with that scope passes');

# ---- and refuses what it must --------------------------------------------------------------

$res = bearer('/interop/scope/ok.json', $post->{access_token});
is($res->code, 403, 'Require auth0-scope: a token without the scope gets 403');
like($res->header('WWW-Authenticate') // '',
     qr/^Bearer realm="interop", error="insufficient_scope"/,
     'Require auth0-scope: insufficient_scope challenge');

$res = bearer('/interop/jwks/ok.json', $other->{access_token},
              'X-Interop-Client' => 'forged');
is($res->code, 401, 'a token minted for another audience is refused (401)');
is($res->header('WWW-Authenticate'), challenge_for('audience mismatch'),
   'the challenge says audience mismatch');
is($res->header('X-Interop-Client-Seen') // '', '',
   'the forged claim header was removed even though the token was refused');

$res = bearer('/interop/discovery/ok.json', $other->{access_token});
is($res->code, 401, 'discovery location: the other audience is refused too');
is($res->header('WWW-Authenticate'), challenge_for('audience mismatch'),
   'discovery location: audience mismatch');

$res = GET('/interop/jwks/ok.json');
is($res->code, 401, 'no token: 401');
is($res->header('WWW-Authenticate'), 'Bearer realm="interop"', 'no token: bare challenge');

# One bit flipped in the signature: still valid base64url, no longer the provider's.
my @sig = split /\./, $basic->{access_token};
substr($sig[2], 10, 1) = substr($sig[2], 10, 1) eq 'A' ? 'B' : 'A';
my $tampered = join '.', @sig;
$res = bearer('/interop/jwks/ok.json', $tampered);
is($res->code, 401, 'a tampered signature is refused');
is($res->header('WWW-Authenticate'), challenge_for('signature invalid'),
   'tampered: signature invalid');

# The claims of the basic token, re-encoded with another audience, under its signature.
my @swap = split /\./, $other->{access_token};
my @orig = split /\./, $basic->{access_token};
$res = bearer('/interop/jwks/ok.json', join('.', $orig[0], $swap[1], $orig[2]));
is($res->code, 401, 'claims swapped under another token\'s signature are refused');
is($res->header('WWW-Authenticate'), challenge_for('signature invalid'),
   'swapped claims: signature invalid');

# Without an audience oidc-provider issues an opaque token, as Auth0 does without a default API.
my $opaque = token(method => 'post');
unlike($opaque->{access_token}, qr/\./, 'no audience: the provider issues an opaque token');
$res = bearer('/interop/jwks/ok.json', $opaque->{access_token});
is($res->code, 401, 'an opaque token is refused');
is($res->header('WWW-Authenticate'), challenge_for('token is not three segments'),
   'opaque: not three segments');

# ---- gateway-to-machine: the module's own token client against the provider ---------------

$res = GET('/interop-gw/basic/');
is($res->code, 200, 'client_secret_basic client: token obtained, the proxied request passed the gate');
is($res->header('X-Interop-User'), $AGW::Interop::CLIENT{basic}{id},
   'the backend got the basic client\'s token (with read:messages, as its Require asks)');

$res = GET('/interop-gw/post/', Authorization => "Bearer $other->{access_token}");
is($res->code, 200, 'client_secret_post client: the proxied request passed the gate');
is($res->header('X-Interop-User'), $AGW::Interop::CLIENT{post}{id},
   'the backend got the gateway\'s token, not the caller\'s (other-audience) one');

$res = GET('/interop-gw/post/');
is($res->code, 200, 'a second request through the same client');

$res = GET('/interop-gw/wrong/');
is($res->code, 503, 'a client the provider refuses (invalid_client): 503');
like($res->header('Retry-After') // '', qr/^[1-9][0-9]*$/, 'the 503 carries Retry-After');
ok(!defined $res->header('X-Interop-User'), 'the request was not forwarded');

my @log = t_finish_error_log_watch();
my $log = join '', @log;
my @rejections = grep { /AGW0100: token rejected: audience mismatch \(fp=[0-9a-f]{12}, iss=\Q$issuer\E, sub=\Q$AGW::Interop::CLIENT{post}{id}\E, refusal=audience\)/ } @log;
is(scalar @rejections, 2, 'each audience rejection is logged once with fingerprint, iss and sub');
my @leaks = grep { index($log, $_) >= 0 }
    map { $_->{access_token} } $basic, $post, $other, $opaque;
is(scalar @leaks, 0, 'no token appears in the error log');
ok(index($log, $parts[2]) < 0, 'not even a token\'s signature appears in the error log');
is(scalar(grep { /AGW0210: token for client interop-post obtained from \Q${issuer}oauth\/token\E/ } @log),
   1, 'the post client fetched one token for its two requests (cached)');
is(scalar(grep { /AGW0211: token request for client interop-wrong to \Q${issuer}oauth\/token\E failed: / } @log),
   1, 'the refused token request is logged once, with the token URL');
my @secret_leaks = grep { index($log, $_) >= 0 } values %AGW::Interop::SECRET_ENV;
is(scalar @secret_leaks, 0, 'no client secret appears in the error log');
