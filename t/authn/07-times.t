# Time claims out of range (exp, nbf, iat beyond 0..2^53, or beyond int64 in the JSON text) are malformed: refused, never "valid forever", and never cast into the token cache's expiry.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use JSON::PP ();

plan tests => 12;

my $LOC = '/gate/rs256/';
my $T   = now();
my $n   = 0;

sub at { return outcome(call(GET => $LOC, token => $_[0])) }
# A token whose payload JSON is written by hand, so that exp ($exp) and any $more members reach
# the module as these exact number texts.
sub raw_exp {
    my ($exp, $more) = @_;
    my $payload = sprintf('{"iss":"%s","aud":"%s","sub":"auth0|alice","jti":"times-%d",'
                          . '"exp":%s%s}', issuer_url(''), AUD, ++$n, $exp, $more // '');
    return mint(payload_raw => $payload);
}

is(at(raw_exp($T + 600)), '200', 'the control: a normal exp in the same raw form is accepted');
for my $exp ('1e300', '-1e300', '9.3e18', '9223372036854775807', '9007199254740993', '-1') {
    my $t = raw_exp($exp);
    is(at($t), '401 invalid_token: exp invalid', "exp $exp: refused as invalid");
}
# Twice more: a token the old code accepted would now be in the cache with a garbage expiry.
my $huge = raw_exp('1e300');
at($huge) for 1 .. 2;
is(at($huge), '401 invalid_token: exp invalid', 'exp 1e300 sent three times: still refused');
is(at(raw_exp('99999999999999999999')), '401 invalid_token: payload JSON: number out of range',
   'exp beyond int64 in the JSON text: refused by the parser');
is(at(raw_exp($T + 600, ',"nbf":-1e300')), '401 invalid_token: nbf invalid', 'nbf -1e300: refused');
is(at(raw_exp($T + 600, ',"iat":9.3e18')), '401 invalid_token: iat invalid', 'iat 9.3e18: refused');
is(at(raw_exp('9007199254740992')), '200', 'exp 2^53 (the largest accepted time) is accepted');
