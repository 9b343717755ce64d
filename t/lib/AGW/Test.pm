# Helpers for mod_auth0gw's integration tests: talk to the issuer fixture's admin API (mint tokens, rotate keys, outages, counters) and make requests against the test httpd.
package AGW::Test;

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(sha256_hex);
use Exporter qw(import);
use File::Basename qw(dirname);
use HTTP::Tiny ();
use JSON::PP ();
use Time::HiRes ();

our @EXPORT_OK = qw(
    AUD OTHER_AUD REALM
    issuer_url mint mint_full admin stats reset_tenant set_mode rotate_key add_key remove_key keys_of
    call challenge json_of now log_watch log_lines token_fp_ok sha256_hex state_dir
    wait_until outcome b64u b64u_decode mpm children_of fetcher_of
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

use constant AUD       => 'https://api.agw.test/';
use constant OTHER_AUD => 'https://other.agw.test/';
use constant REALM     => 'agw-test';

my $JSON = JSON::PP->new->canonical->utf8;
my $T_DIR = dirname(dirname(dirname(abs_path(__FILE__))));

sub state_dir { return $ENV{AGW_STATE_DIR} || "$T_DIR/state" }

# The MPM every httpd of the suite loads: AGW_MPM (`make integration MPM=...`), else event.
sub mpm {
    my $mpm = $ENV{AGW_MPM} // 'event';
    $mpm =~ /\A(?:event|worker|prefork)\z/
        or die "AGW::Test: AGW_MPM='$mpm': use event, worker or prefork\n";
    return $mpm;
}

# Ports from the environment t/TEST exports, else from the file the issuer writes.
sub _ports {
    return ($ENV{AGW_ISSUER_PORT}, $ENV{AGW_ISSUER_HTTP_PORT})
        if $ENV{AGW_ISSUER_PORT} && $ENV{AGW_ISSUER_HTTP_PORT};
    my $file = state_dir() . '/issuer.json';
    open my $fh, '<', $file or die "AGW::Test: no issuer (AGW_ISSUER_PORT unset, $file: $!)\n";
    my $info = $JSON->decode(do { local $/; <$fh> });
    return ($info->{port}, $info->{http_port});
}

sub now { return time }

# The issuer URL of a tenant ('' or undef: the default tenant), with its trailing slash.
sub issuer_url {
    my ($tenant) = @_;
    my ($port) = _ports();
    return "https://127.0.0.1:$port/" . (defined $tenant && length $tenant ? "t/$tenant/" : '');
}

my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 0);

# Calls the admin API over the plain-HTTP listener: admin($tenant, 'mint', {...}) POSTs,
# admin($tenant, 'stats') GETs. Dies on anything but 200.
sub admin {
    my ($tenant, $op, $body) = @_;
    my (undef, $hport) = _ports();
    my $url = "http://127.0.0.1:$hport/"
            . (defined $tenant && length $tenant ? "t/$tenant/" : '') . "admin/$op";
    my $res = defined $body
        ? $http->post($url, { headers => { 'Content-Type' => 'application/json' },
                              content => $JSON->encode($body) })
        : $http->get($url);
    die "AGW::Test: admin $op ($url) failed: $res->{status} $res->{content}\n"
        unless $res->{status} == 200;
    return $JSON->decode($res->{content});
}

# mint(tenant => NAME, alg => ..., claims => {...}, header => {...}, kid => ..., key => ...)
# returns the token; mint_full the issuer's whole answer {token, kid, header, claims}.
sub mint_full {
    my (%a) = @_;
    my $tenant = delete $a{tenant};
    return admin($tenant, 'mint', \%a);
}
sub mint { return mint_full(@_)->{token} }

sub stats        { return admin($_[0], 'stats') }
sub reset_tenant { my ($t, %o) = @_; return admin($t, 'reset', \%o) }
sub set_mode     { my ($t, %m) = @_; return admin($t, 'mode', \%m) }
sub rotate_key   { my ($t, $alg) = @_; return admin($t, 'rotate', { alg => $alg || 'RS256' })->{kid} }
sub add_key      { my ($t, %o) = @_; return admin($t, 'addkey', \%o)->{kid} }
sub remove_key   { my ($t, $kid) = @_; return admin($t, 'remove', { kid => $kid }) }
sub keys_of      { return admin($_[0], 'keys')->{keys} }

# call(GET => '/gate/rs256/', token => $t, headers => [Name => value, ...])
# A request to the test httpd with Apache::TestRequest (no redirects, no keep-alive).
my $ua_ready;
sub call {
    my ($method, $path, %o) = @_;
    require Apache::TestRequest;
    # A hung server fails a test in seconds rather than in LWP's default three minutes.
    Apache::TestRequest::user_agent(reset => 1, timeout => 30, keep_alive => 0)
        unless $ua_ready++;
    my @in = @{ $o{headers} || [] };
    my @h;
    while (my ($name, $value) = splice @in, 0, 2) {
        # HTTP::Headers turns '_' into '-' unless the name starts with ':'; tests of the
        # underscore spelling need it sent as written.
        push @h, ($name =~ /_/ ? ":$name" : $name), $value;
    }
    push @h, Authorization => "Bearer $o{token}" if defined $o{token};
    my $fn = \&{"Apache::TestRequest::\U$method"};
    return $fn->($path, @h, defined $o{content} ? (content => $o{content}) : ());
}

# The WWW-Authenticate challenge parsed: {scheme, realm, error, error_description, ...}.
sub challenge {
    my ($res) = @_;
    my $h = $res->header('WWW-Authenticate');
    return {} unless defined $h;
    my %c = (raw => $h);
    ($c{scheme}, my $rest) = $h =~ /^(\S+)\s*(.*)$/s;
    while ($rest =~ /\G\s*([A-Za-z_]+)="((?:[^"\\]|\\.)*)"\s*,?/gc) {
        $c{$1} = $2;
    }
    return \%c;
}

# A response as one comparable string: "200", "401" (bare challenge), "401 invalid_token:
# token expired", "403 insufficient_scope", "503 Retry-After", "401 no Bearer challenge".
sub outcome {
    my ($res) = @_;
    my $code = $res->code;
    if ($code == 401 || $code == 403) {
        my $c = challenge($res);
        return "$code no Bearer challenge" unless ($c->{scheme} // '') eq 'Bearer';
        my $s = "$code";
        $s .= " $c->{error}" if defined $c->{error};
        $s .= ": $c->{error_description}" if defined $c->{error_description};
        return $s;
    }
    if ($code == 503) {
        my $ra = $res->header('Retry-After');
        return defined $ra && $ra =~ /\A[1-9][0-9]*\z/ ? '503 Retry-After' : '503 without Retry-After';
    }
    return "$code";
}

sub b64u {
    require MIME::Base64;
    (my $s = MIME::Base64::encode_base64($_[0], '')) =~ tr{+/}{-_};
    $s =~ s/=+\z//;
    return $s;
}

sub b64u_decode {
    require MIME::Base64;
    (my $s = $_[0]) =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return MIME::Base64::decode_base64($s);
}

sub json_of {
    my ($res) = @_;
    my $data = eval { $JSON->decode($res->content) };
    return $data // { _not_json => $res->content };
}

# Lines logged to t/logs/error_log between log_watch() and log_lines().
my $watch_pos;
sub _error_log {
    require Apache::Test;
    return Apache::Test::vars('t_logs') . '/error_log';
}
sub log_watch {
    $watch_pos = -s _error_log() || 0;
}
sub log_lines {
    Time::HiRes::sleep(0.2);   # httpd writes the line before answering; this is margin
    open my $fh, '<', _error_log() or die "AGW::Test: error_log: $!\n";
    seek $fh, $watch_pos // 0, 0;
    my @lines = <$fh>;
    return @lines;
}

# Polls $check (a code ref) every $step seconds until it returns true or $timeout passes;
# returns the last value.
sub wait_until {
    my ($timeout, $step, $check) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    my $v;
    while (1) {
        $v = $check->();
        return $v if $v || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep($step);
    }
}

# ---- issuer state the configuration expects, set before httpd starts (t/TEST) ----------------

my @ALL_ASYM = qw(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA);

sub preset_issuer {
    # Every tenant that t/conf/extra.conf.in names gets its keys before httpd starts, so a
    # child that fetches at start-up sees them.
    my %tenants = (
        ''       => ['RS256'],
        algs     => \@ALL_ASYM,
        rot      => ['RS256'],
        rot2     => ['RS256'],
        out      => ['RS256'],
        never    => ['RS256'],
        garb     => ['RS256'],
        untr     => ['RS256'],
        stale    => ['RS256'],
        disc     => ['RS256'],
        dischttp => ['RS256'],
        insec    => ['RS256'],
        file     => ['RS256'],
    );
    for my $t (sort keys %tenants) {
        reset_tenant($t, keys => JSON::PP::true);
        add_key($t, alg => $_) for @{ $tenants{$t} };
    }

    # Keys that a JWKS consumer must skip, beside one good key (see t/keys/03-discovery.t).
    reset_tenant('jwkbad', keys => JSON::PP::true);
    add_key('jwkbad', alg => 'RS256');
    add_key('jwkbad', alg => 'RS256', kid => 'small-rsa', bits => 1024);
    add_key('jwkbad', alg => 'RS256', kid => 'use-enc', publish => { use => 'enc' });
    add_key('jwkbad', alg => 'RS256', kid => 'alg-differs', publish => { alg => 'RS512' });
    add_key('jwkbad', alg => 'ES256', kid => 'kty-lies', publish => { alg => 'RS256' });
    add_key('jwkbad', alg => 'RS256', kid => 'no-alg', publish => { alg => undef });
    add_key('jwkbad', alg => 'RS256', kid => 'no-use', publish => { use => undef });

    # Auth0JWKS file: for tenant "file".
    my (undef, $hport) = _ports();
    my $jwks = $http->get("http://127.0.0.1:$hport/t/file/.well-known/jwks.json");
    die "AGW::Test: cannot read tenant file's JWKS: $jwks->{status}\n" unless $jwks->{status} == 200;
    my $file = state_dir() . '/jwks-file.json';
    open my $fh, '>', $file or die "AGW::Test: $file: $!\n";
    print $fh $jwks->{content};
    close $fh or die "AGW::Test: $file: $!\n";
    chmod 0644, $file;

    # Counters from zero (reset also restores modes and config), then the outage presets.
    reset_tenant($_) for sort(keys %tenants), 'jwkbad';
    set_mode('never', jwks => 'down', discovery => 'down');
    set_mode('garb', jwks => 'garbage');
    admin('dischttp', 'config',
          { jwks_uri => "http://127.0.0.1:$hport/t/dischttp/.well-known/jwks.json" });
    return;
}

# A fingerprint as the module logs it: 12 lowercase hex digits.
# The processes whose parent is $ppid, as { pid => comm }, from /proc.
sub _kids {
    my ($ppid) = @_;
    my %k;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $s = <$fh> // next;
        $k{$1} = $2 if $s =~ /^(\d+) \((.*)\) (\S+) (\d+) / && $4 == $ppid && $3 ne 'Z';
    }
    return \%k;
}

# The children of the httpd daemon $ppid that serve requests: every child but the module's
# fetcher (named agw-fetcher), which the parent keeps across restarts.
sub children_of {
    my ($ppid) = @_;
    my $k = _kids($ppid);
    return sort { $a <=> $b } grep { $k->{$_} ne 'agw-fetcher' } keys %$k;
}

# The pid of the daemon's fetcher process, or undef.
sub fetcher_of {
    my ($ppid) = @_;
    my $k = _kids($ppid);
    my ($pid) = grep { $k->{$_} eq 'agw-fetcher' } keys %$k;
    return $pid;
}

sub token_fp_ok { return $_[0] =~ /\Afp=[0-9a-f]{12}\z/ }

1;
