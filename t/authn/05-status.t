# The status page (SetHandler auth0-status): keys per source, request counters by reason (JSON and Prometheus) and the verified-token cache, which admits a token on its second sighting; never a token or secret.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use Apache::TestRequest ();
use JSON::PP ();

plan tests => 47;

my $STATUS = '/agw-status';

sub status {
    my $res = call(GET => "$STATUS?json");
    is($res->code, 200, 'status JSON answers 200');
    return json_of($res);
}

# Every location of the suite runs in one child process (t/conf/extra.conf.in), so its
# per-process figures (cache entries) see every request below; the counters are the host's
# (t/status/01-metrics.t).
my $tok = mint(claims => { jti => 'status-' . $$ . '-' . time });
is(outcome(call(GET => '/gate/rs256/', token => $tok)), '200', 'the default source has keys');
my $s0 = status();
ok(ref $s0->{token_cache} eq 'HASH' && ref $s0->{requests} eq 'HASH' && ref $s0->{issuers} eq 'ARRAY',
   'JSON has token_cache, requests and issuers');
my ($src) = grep { ($_->{source} // '') =~ m{/\.well-known/jwks\.json\z} && @{ $_->{keys} } } @{ $s0->{issuers} };
ok($src, 'a key source with keys is listed');
my $kid = (grep { $_->{alg} eq 'RS256' } @{ keys_of('') })[0]{kid};
ok((grep { index($_, $kid) == 0 } @{ $src->{keys} || [] }), "the issuer's RS256 kid is among its keys");

# The token was seen once (above); the second request admits it, the third is a hit.
is(outcome(call(GET => '/gate/rs256/', token => $tok)), '200', 'second request');
my $s1 = status();
is($s1->{token_cache}{hits} - $s0->{token_cache}{hits}, 0, 'second sighting: verified again, not a hit');
is($s1->{token_cache}{entries} - $s0->{token_cache}{entries}, 1, 'second sighting: now cached');
is(outcome(call(GET => '/gate/rs256/', token => $tok)), '200', 'third request');
my $s2 = status();
is($s2->{token_cache}{hits} - $s1->{token_cache}{hits}, 1, 'third request: a cache hit');
is($s2->{requests}{accepted} - $s1->{requests}{accepted}, 1, 'accepted counter: +1');

# Tokens used once are not cached: 5 fresh ones leave the entries as they were.
for my $i (1 .. 5) {
    call(GET => '/gate/rs256/', token => mint(claims => { jti => "once-$i-$$" }));
}
my $s3 = status();
is($s3->{token_cache}{entries}, $s2->{token_cache}{entries}, 'five one-shot tokens: no new entries');
is($s3->{token_cache}{first_sightings} - $s2->{token_cache}{first_sightings}, 5, 'five first sightings');

# A bad signature, three times: each refused for its signature, counted by reason.
my ($h, $p, $s) = split /\./, $tok;
my $forged = join '.', $h, b64u('{"sub":"auth0|mallory","exp":' . (now() + 600) . '}'), $s;
is(outcome(call(GET => '/gate/rs256/', token => $forged)), '401 invalid_token: signature invalid', 'forged 1');
is(outcome(call(GET => '/gate/rs256/', token => $forged)), '401 invalid_token: signature invalid', 'forged 2');
is(outcome(call(GET => '/gate/rs256/', token => $forged)), '401 invalid_token: signature invalid',
   'forged 3 (from the negative cache)');
my $s4 = status();
is($s4->{requests}{signature} - $s3->{requests}{signature}, 3, 'signature counter: +3');

# Counted by the refusal's kind, not by words in its text: a missing exp is a bad claim,
# not an expiry; a missing signature is malformed, not a bad signature; a refused typ has a
# counter of its own.
my $no_exp = mint(claims => { exp => undef, jti => "noexp-$$" });
is(outcome(call(GET => '/gate/rs256/', token => $no_exp)), '401 invalid_token: exp missing', 'no exp');
my $unsigned = join('.', (split /\./, $tok)[0, 1]) . '.';
is(outcome(call(GET => '/gate/rs256/', token => $unsigned)), '401 invalid_token: signature missing',
   'no signature');
my $dpop_typ = mint(header => { typ => 'dpop+jwt' }, claims => { jti => "typ-$$" });
is(outcome(call(GET => '/gate/rs256/', token => $dpop_typ)), '401 invalid_token: typ not accepted',
   'typ dpop+jwt');
my $s5 = status();
my %d = map { $_ => ($s5->{requests}{$_} // 0) - ($s4->{requests}{$_} // 0) }
    qw(claim_invalid expired malformed signature typ other_invalid);
is($d{claim_invalid}, 1, 'exp missing: claim_invalid +1');
is($d{expired}, 0, 'exp missing: not counted as expired');
is($d{malformed}, 1, 'signature missing: malformed +1');
is($d{signature}, 0, 'signature missing: not counted as a bad signature');
is($d{typ}, 1, 'typ not accepted: typ +1');
is($d{other_invalid}, 0, 'nothing counted as other');

# The Prometheus form counts the same.
my $prom = call(GET => "$STATUS?format=prometheus");
like($prom->header('Content-Type') // '', qr{\Atext/plain; version=0\.0\.4}, 'Prometheus form: text format 0.0.4');
my ($sig) = $prom->content =~ /^auth0gw_requests_total\{result="signature"\} (\d+)$/m;
is($sig, $s4->{requests}{signature}, 'Prometheus form: the same signature count as the JSON form');

# The DPoP proof keys this process imported at the gate: a key seen for the first time is a
# miss and stays; its next proof is a hit. The key is new on each run, so never cached before.
my $pk = state_dir() . "/status-dpop-$$.pem";
system('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
       '-out', $pk, '-quiet') == 0 or die "openssl genpkey failed";
my $PJSON = JSON::PP->new->canonical;
sub dpop {
    my (%a) = @_;
    my $out = `node '$FindBin::Bin/../fixtures/dpop-proof.js' '@{[ $PJSON->encode(\%a) ]}'`;
    die "dpop-proof.js failed ($?)" if $?;
    return $PJSON->decode($out);
}
my $DPOP_PATH = '/gate/dpop/orders';
my $bound = mint(claims => { sub => 'auth0|status', jti => "status-dpop-$$",
                             cnf => { jkt => dpop(key => $pk, thumbprint_only => JSON::PP::true)->{jkt} } });
sub dpop_call {
    my $proof = dpop(key => $pk, method => 'GET', token => $bound,
                     url => 'http://' . Apache::TestRequest::hostport() . $DPOP_PATH)->{proof};
    return call(GET => $DPOP_PATH, headers => [Authorization => "DPoP $bound", DPoP => $proof])->code;
}
my $k0 = status();
is(ref $k0->{dpop_proof_key_cache}, 'HASH', 'JSON has dpop_proof_key_cache');
is($k0->{dpop_proof_key_cache}{capacity}, 256, 'its capacity: 256 keys');
ok(grep({ $_ eq 'dpop_proof_key_cache' } @{ $k0->{per_process} }), 'it is listed as per process');
is(dpop_call(), 200, 'a DPoP request with a new proof key');
my $k1 = status();
my %k = map { $_ => $k1->{dpop_proof_key_cache}{$_} - $k0->{dpop_proof_key_cache}{$_} }
    qw(hits misses entries);
is("$k{misses} $k{hits} $k{entries}", '1 0 1', 'new key: a miss, and it is kept');
is(dpop_call(), 200, 'the same key, a new proof');
my $k2 = status();
%k = map { $_ => $k2->{dpop_proof_key_cache}{$_} - $k1->{dpop_proof_key_cache}{$_} }
    qw(hits misses entries);
is("$k{misses} $k{hits} $k{entries}", '0 1 0', 'known key: a hit, no new entry');
unlink $pk;

# Nothing secret on any form of the page.
my $html = call(GET => $STATUS)->content;
like($html, qr/<table/, 'HTML form has tables');
like($html, qr/Counters are those of all processes of this host/, 'HTML form: the counters are the host\'s');
my $json_text = call(GET => "$STATUS?json")->content . $prom->content;
my $secret = $ENV{AGW_HMAC_SECRET} // '';
ok(length($secret) >= 32, 'the suite has an HMAC secret to look for');
is(scalar(grep { index($_, $secret) >= 0 || index($_, $s) >= 0 || /eyJ[A-Za-z0-9_-]{8,}/ } $html, $json_text), 0,
   'no form of the page contains the secret, a signature or anything token-shaped');
