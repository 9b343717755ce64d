# Server-provided DPoP nonces (Auth0DPoPNonce On, RFC 9449 sections 8 and 9): a proof without one gets 401 use_dpop_nonce and a DPoP-Nonce, a proof with it passes on every child process and on another host of the same Auth0CacheSecret, made-up and foreign nonces are refused, a graceful restart keeps a host's nonces good.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use JSON::PP ();
use POSIX ();
use MIME::Base64 ();

my $site = gated_site('dpop-nonce', realm => 'agw-nonce', tools => [qw(openssl node)]);
my ($DIR, $key, $fleet_key, $gate) = @$site{qw(dir key fleet_key gate)};

plan tests => 33;

sub config {
    my ($secret) = @_;
    return ($secret ? "Auth0CacheSecret file:$fleet_key\n" : '') . <<"EOF";
LogLevel warn auth0gw:debug
Alias /api/ "$DIR/www/"
Alias /plain/ "$DIR/www/"
<Location /api/>
$gate    Auth0DPoPNonce On
</Location>
<Location /plain/>
$gate</Location>
EOF
}
my @mods = qw(authz_user socache_shmcb alias);
my $A = start_httpd(name => 'nonce-a', processes => 2, modules => \@mods, config => config(1));

my $JSON = JSON::PP->new->canonical;
sub dpop {
    my (%a) = @_;
    my $out = `node '$FindBin::Bin/../fixtures/dpop-proof.js' '@{[ $JSON->encode(\%a) ]}'`;
    die "dpop-proof.js failed ($?)" if $?;
    return $JSON->decode($out);
}
my $jkt = dpop(key => $key, thumbprint_only => JSON::PP::true)->{jkt};
my $bound = mint(claims => { sub => 'auth0|nonce', cnf => { jkt => $jkt } });
my $plain = mint(claims => { sub => 'auth0|plain' });

# A DPoP request to host $h's $path with a new proof (nonce claim when $nonce is defined):
# {status, error, desc, nonce (the DPoP-Nonce header), challenge}
sub dpop_get {
    my ($h, $path, $nonce, %more) = @_;
    my $url = "$h->{url}$path";
    my $proof = $more{proof} // dpop(key => $key, method => 'GET', url => $url, token => $bound,
                                      (defined $nonce ? (claims => { nonce => $nonce }) : ()))->{proof};
    my $res = http_get($url, Authorization => "DPoP $bound", DPoP => $proof);
    return said($res, $proof);
}
sub said {
    my ($res, $proof) = @_;
    my $c = $res->{headers}{'www-authenticate'} // '';
    my ($error) = $c =~ /error="([^"]*)"/;
    my ($desc) = $c =~ /error_description="([^"]*)"/;
    return { status => $res->{status}, error => $error // '-', desc => $desc // '-',
             nonce => $res->{headers}{'dpop-nonce'}, challenge => $c, proof => $proof };
}
sub brief { my ($r) = @_; return join ' ', $r->{status}, $r->{error}, $r->{desc} }
my $NONCE_RE = qr/\A[A-Za-z0-9_-]{32}\z/;

# ---- the handshake: no nonce, 401 use_dpop_nonce with one; the nonce, 200 ----
my $r = dpop_get($A, '/api/x');
is(brief($r), '401 use_dpop_nonce DPoP proof nonce missing', 'a proof without a nonce: 401 use_dpop_nonce');
like($r->{challenge}, qr/\ADPoP algs="ES256 [^"]*EdDSA", realm="agw-nonce", error="use_dpop_nonce", error_description="DPoP proof nonce missing"\z/,
     'the challenge: DPoP algs, realm, error, error_description (RFC 9449 section 9)');
like($r->{nonce} // '', $NONCE_RE, 'the 401 carries a DPoP-Nonce');
my $nonce = $r->{nonce};
$r = dpop_get($A, '/api/x', $nonce);
is(brief($r), '200 - -', 'a new proof with that nonce: 200');
like($r->{nonce} // '', $NONCE_RE, 'the 200 carries a DPoP-Nonce too');
my $ok = dpop_get($A, '/api/x', $r->{nonce});
is($ok->{status}, 200, "the 200's nonce is good for the next request");
is(brief(dpop_get($A, '/api/x', $nonce, proof => $ok->{proof})),
   '401 invalid_dpop_proof DPoP proof replayed', 'a proof with a good nonce is still used once only');

# ---- made-up, altered, malformed nonces ----
(my $flipped = $nonce) =~ s/^(.{20})(.)/$1 . ($2 eq 'A' ? 'B' : 'A')/e;
$r = dpop_get($A, '/api/x', $flipped);
is(brief($r), '401 use_dpop_nonce DPoP proof nonce was not issued here', 'an altered nonce: 401');
like($r->{nonce} // '', $NONCE_RE, '... with a DPoP-Nonce to retry with');
is(brief(dpop_get($A, '/api/x', 'A' x 32)), '401 use_dpop_nonce DPoP proof nonce was not issued here',
   'a made-up nonce of the right shape: 401');
is(brief(dpop_get($A, '/api/x', 'abc')), '401 use_dpop_nonce DPoP proof nonce malformed',
   'a short nonce: 401');
is(brief(dpop_get($A, '/api/x', JSON::PP::true)), '401 use_dpop_nonce DPoP proof nonce missing',
   'a nonce that is not a string: 401 (as if missing)');
# an old nonce: made by the same code from a slot long past cannot be forged here; a nonce of
# the right shape whose slot is old fails its MAC as well, so "expired" is for unit tests

# ---- what the nonce does not touch ----
is(brief(dpop_get($A, '/api/x', undef, proof => dpop(key => $key, method => 'GET', typ => 'JWT',
                                                     url => "$A->{url}/api/x", token => $bound)->{proof})),
   '401 invalid_dpop_proof DPoP proof typ is not dpop+jwt',
   'a bad proof without a nonce: invalid_dpop_proof (the proof is checked before its nonce)');
my $res = http_get("$A->{url}/api/x", Authorization => "Bearer $plain");
is($res->{status}, 200, 'a Bearer token at the nonce location: 200');
ok(!defined $res->{headers}{'dpop-nonce'}, '... and no DPoP-Nonce');
$r = dpop_get($A, '/plain/x');
is(brief($r), '200 - -', 'a location without Auth0DPoPNonce: a proof without a nonce passes');
ok(!defined $r->{nonce}, '... and no DPoP-Nonce');

# ---- every child process takes every child's nonce ----
my $from = -s $A->{error_log};
my (%pids, @statuses);
for my $round (1 .. 6) {
    my @urls = ("$A->{url}/api/x") x 8;
    my @proofs = map { dpop(key => $key, method => 'GET', url => $_, token => $bound,
                            claims => { nonce => $nonce })->{proof} } @urls;
    # parallel_get sends one header set; each request needs its own proof: fork by hand
    my @kids;
    for my $i (0 .. $#urls) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $rd;
            my $x = http_get($urls[$i], Authorization => "DPoP $bound", DPoP => $proofs[$i]);
            print $wr $x->{status};
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    for my $k (@kids) {
        my $rd = $k->[1];
        push @statuses, scalar(<$rd>) // 0;
        close $rd;
        waitpid($k->[0], 0);
    }
    %pids = map { /\[pid (\d+).*AGW0120: sender constraint proved/ ? ($1 => 1) : () }
            server_log_lines($A, $from);
    last if keys %pids >= 2 && $round >= 2;
}
is(scalar(grep { $_ != 200 } @statuses), 0,
   scalar(@statuses) . ' requests with one nonce, each with its own proof, on two processes: all 200');
is(scalar keys %pids, 2, 'both child processes accepted the nonce (AGW0120 from two pids)');

# ---- another host with the same Auth0CacheSecret takes it; one without does not ----
my $B = start_httpd(name => 'nonce-b', processes => 1, modules => \@mods, config => config(1));
my $C = start_httpd(name => 'nonce-c', processes => 1, modules => \@mods, config => config(0));
is(brief(dpop_get($B, '/api/x', $nonce)), '200 - -', "host b (same Auth0CacheSecret): host a's nonce: 200");
$r = dpop_get($C, '/api/x', $nonce);
is(brief($r), '401 use_dpop_nonce DPoP proof nonce was not issued here',
   "host c (no Auth0CacheSecret: a key of its own): host a's nonce refused");
like($r->{nonce} // '', $NONCE_RE, '... with a nonce of its own');
isnt($r->{nonce}, $nonce, '... which is not host a\'s');
my $c_nonce = $r->{nonce};
is(brief(dpop_get($C, '/api/x', $c_nonce)), '200 - -', "host c: its own nonce: 200");
is(brief(dpop_get($A, '/api/x', $c_nonce)), '401 use_dpop_nonce DPoP proof nonce was not issued here',
   "host a: host c's nonce refused");

# ---- a graceful restart keeps host c's random key ----
sub resumes { return scalar grep { /resuming normal operations/ } server_log_lines($C) }
my $before = resumes();
my $out = `@{[ $ENV{APACHE_TEST_HTTPD} || '/usr/sbin/apache2' ]} -d '$C->{root}' -f '$C->{root}/conf/httpd.conf' -k graceful 2>&1`;
is($?, 0, 'apache2 -k graceful (host c)') or diag($out);
ok(wait_until(20, 0.2, sub { resumes() > $before }), 'host c logged the restart');
# the old generation may still answer a request or two: let its children go
sleep 1;
$r = dpop_get($C, '/api/x', $c_nonce);
is(brief($r), '200 - -', "host c after a graceful restart: the nonce from before: 200");
# a nonce is its 5-minute slot (8 bytes) and a MAC: across a slot's end the offer changes
sub nonce_slot { (my $b = $_[0] // '') =~ tr{-_}{+/}; return substr(MIME::Base64::decode_base64($b), 0, 8) }
if (nonce_slot($r->{nonce}) eq nonce_slot($c_nonce)) {
    is($r->{nonce}, $c_nonce, '... and the same nonce offered (same key, same slot)');
}
else {
    like($r->{nonce} // '', $NONCE_RE, '... and a nonce of the next slot offered (the slot turned during the test)');
}

# ---- logs ----
my @lines = server_log_lines($A);
ok((grep { /AGW0100: token rejected: DPoP proof nonce missing .*refusal=dpop_proof/ } @lines),
   'AGW0100 "DPoP proof nonce missing" with refusal=dpop_proof');
ok(!(grep { /\Q$bound\E/ } @lines), 'the token is not in the error log');
ok(!(grep { /AGW0029/ } @lines, server_log_lines($B), server_log_lines($C)), 'no AGW0029 (nonce key made)');
ok(!(grep { /\[(?:emerg|crit|alert)\]/ } @lines), 'no emerg/crit in host a\'s log');

stop_httpd($_->{name}) for $A, $B, $C;
