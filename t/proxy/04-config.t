# Configuration errors of the gateway-to-machine directives: `apache2 -t` fails with a message naming the file, the line and the fix (or warns, for a literal secret), and never repeats a secret.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Proxy ();
use File::Path qw(make_path);

my $STATE = AGW::Proxy::state_dir() . '/configtest';
make_path("$STATE/logs");
my $HTTPD = $ENV{APACHE_TEST_HTTPD} || '/usr/sbin/apache2';
my $LIBEXEC = `apxs -q LIBEXECDIR 2>/dev/null` || '/usr/lib/apache2/modules';
chomp $LIBEXEC;
my $MODULE = $ENV{AGW_MODULE} || "$FindBin::Bin/../../build/mod_auth0gw.so";
my $CA = "$ENV{AGW_STATE_DIR}/ca.pem";
my $SECRET_FILE = "$ENV{AGW_STATE_DIR}/hmac.secret";

# An RSA key too short for private_key_jwt, and a good EC key.
my $SMALL = "$STATE/rsa1024.pem";
system("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out '$SMALL' 2>/dev/null") == 0
    or BAIL_OUT('openssl cannot make an RSA key');
my $EC = "$FindBin::Bin/../fixtures/proxy-client-es256.pem";

my $n = 0;
# Runs `apache2 -t` on a minimal server with $body; returns (exit code, output, file).
sub configtest {
    my ($body, %o) = @_;
    my $file = "$STATE/t" . ++$n . '.conf';
    my $mods = join '', map { "LoadModule ${_}_module $LIBEXEC/mod_$_.so\n" }
        "mpm_" . AGW::Test::mpm(), qw(authn_core authz_core proxy proxy_http), @{ $o{modules} || [] };
    open my $fh, '>', $file or die "$file: $!";
    print $fh $mods, "LoadModule auth0gw_module $MODULE\n",
              "ServerName 127.0.0.1\nErrorLog $STATE/logs/error_log\n",
              "PidFile $STATE/logs/httpd.pid\nDefaultRuntimeDir $STATE/logs\n", $body;
    close $fh;
    my $out = `$HTTPD -t -d '$STATE' -f '$file' 2>&1`;
    return ($? >> 8, $out, $file);
}

# A client block with the given lines (a complete, valid one without any).
sub client {
    my ($name, @lines) = @_;
    my %has = map { /^\s*(\S+)/ ? (lc $1 => 1) : () } @lines;
    my @base = (
        $has{auth0tokenurl} || $has{'#no-url'} ? () : 'Auth0TokenURL https://127.0.0.1:9/oauth/token',
        $has{auth0clientid} || $has{'#no-id'} ? () : 'Auth0ClientID cid',
        $has{auth0clientsecret} || $has{'#no-secret'} ? () : "Auth0ClientSecret file:$SECRET_FILE",
    );
    return "<Auth0Client $name>\n" . join('', map { "    $_\n" } grep { !/^#/ } @base, @lines)
         . "</Auth0Client>\n";
}

sub fails_with {
    my ($body, $re, $name, %o) = @_;
    my ($rc, $out, $file) = configtest($body, %o);
    $re = ref $re ? $re : qr/\Q$re\E/;
    (my $re_file = "$re") =~ s/FILE/\Q$file\E/g;
    ok($rc != 0 && $out =~ $re_file, "$name: configtest fails with the message")
        or diag("exit $rc, output:\n$out");
    return $out;
}

sub passes {
    my ($body, $name, %o) = @_;
    my ($rc, $out) = configtest($body, %o);
    ok($rc == 0 && $out =~ /Syntax OK/, "$name: configtest passes") or diag("exit $rc:\n$out");
    return $out;
}

plan tests => 38;

# ---- the baseline passes ---------------------------------------------------------------------
passes(client('orders', "Auth0CAFile $CA", 'Auth0ClientAudience https://orders/')
       . "<Location /o/>\n ProxyPass http://127.0.0.1:9/\n Auth0ProxyClient orders\n</Location>\n",
       'a complete client with Auth0CAFile inside the block');

# ---- cross-directive checks: AGW0001 with file:line ---------------------------------------------
fails_with(client('orders') . "<Location /o/>\n ProxyPass http://127.0.0.1:9/\n Auth0ProxyClient ordrs\n</Location>\n",
           qr/AGW0001: FILE:\d+: Auth0ProxyClient ordrs names no client; define <Auth0Client ordrs>/,
           'Auth0ProxyClient naming no client');
fails_with(client('plain', 'Auth0TokenURL http://127.0.0.1:9/oauth/token'),
           qr/AGW0001: FILE:\d+: <Auth0Client plain>: Auth0TokenURL http:\/\/127\.0\.0\.1:9\/oauth\/token is plain http: .*Auth0InsecureHTTP On/,
           'http:// token URL without Auth0InsecureHTTP');
my $out = passes(client('plain', 'Auth0TokenURL http://127.0.0.1:9/oauth/token', 'Auth0InsecureHTTP On'),
                 'http:// token URL with Auth0InsecureHTTP On inside the block');
like($out, qr/AGW0002: .*Auth0InsecureHTTP On: .*development only/, 'Auth0InsecureHTTP On is warned about');
fails_with(client('noid', '#no-id'), qr/AGW0001: FILE:\d+: <Auth0Client noid>: Auth0ClientID is missing/,
           'no client id');
fails_with(client('nosecret', '#no-secret'),
           qr/AGW0001: FILE:\d+: <Auth0Client nosecret>: Auth0ClientSecret is missing \(file:PATH or env:VAR\)/,
           'no client secret');
fails_with(client('nokey', '#no-secret', 'Auth0ClientAuth private_key_jwt'),
           qr/<Auth0Client nokey>: private_key_jwt needs Auth0ClientKey file:PATH/,
           'private_key_jwt without a key');
fails_with(client('nourl', '#no-url'),
           qr/<Auth0Client nourl>: no token URL: set Auth0TokenURL, or Auth0Domain/, 'no token URL');
passes(client('domain', '#no-url', 'Auth0Domain tenant.example.com'),
       'the token URL from Auth0Domain inside the block');

# ---- directive syntax: AH00526 + the directive's own message ------------------------------------
fails_with(client('f', "Auth0ClientSecret file:$STATE/no-such-file"),
           qr/AH00526: Syntax error on line \d+ of FILE:\s+Auth0ClientSecret: /, 'unreadable secret file');
fails_with(client('e', 'Auth0ClientSecret env:AGW_PX_SURELY_UNSET'),
           qr/Auth0ClientSecret: environment variable AGW_PX_SURELY_UNSET is not set/, 'unset env: secret');
fails_with(client('p', 'Auth0ClientParam grant_type password'),
           qr/Auth0ClientParam: grant_type is set by its own directive or by the grant; it cannot be overridden/,
           'Auth0ClientParam overriding grant_type');
fails_with(client('p', 'Auth0ClientParam Client_Secret x'),
           qr/Auth0ClientParam: Client_Secret is set by its own directive/, 'Auth0ClientParam overriding client_secret, any case');
fails_with(client('r', 'Auth0ClientRenew 5%'), qr/Auth0ClientRenew: .*between 10% and 95%/, 'Auth0ClientRenew 5%');
fails_with(client('a', 'Auth0ClientAuth client_secret_jwt'),
           qr/Auth0ClientAuth: 'client_secret_jwt' is not a client authentication method; give client_secret_post, client_secret_basic or private_key_jwt/, 'unknown Auth0ClientAuth');
fails_with(client('k', '#no-secret', 'Auth0ClientAuth private_key_jwt', "Auth0ClientKey file:$SMALL"),
           qr/Auth0ClientKey: file:\S+rsa1024\.pem: RSA key shorter than 2048 bits/, 'private_key_jwt with an RSA 1024 key');
passes(client('k', '#no-secret', 'Auth0ClientAuth private_key_jwt', "Auth0ClientKey file:$EC"),
       'private_key_jwt with an EC P-256 key');
fails_with("Auth0ClientID cid\n", qr/Auth0ClientID is only valid inside <Auth0Client NAME>/,
           'Auth0ClientID outside a client block');
fails_with(client('aud', 'Auth0Audience https://api/'), qr/AH00526: .*FILE/,
           'an incoming-gate directive inside <Auth0Client> is refused');
fails_with(client('twice') . client('twice'), qr/<Auth0Client twice> is defined twice/, 'a client defined twice');
fails_with("Auth0Cache nosuch\n", qr/Auth0Cache: no socache provider 'nosuch'; load mod_socache_nosuch/,
           'Auth0Cache with an unknown provider');
fails_with("Auth0Cache redis:127.0.0.1:6379\n", qr/Auth0Cache: no socache provider 'redis'; load mod_socache_redis/,
           'Auth0Cache redis without mod_socache_redis');

# ---- a network cache needs the fleet key -----------------------------------------------------------
my $KEY = "$STATE/cache.key";
my $SHORT = "$STATE/cache-short.key";
{ open my $fh, '>', $KEY or die; print $fh 'k' x 64, "\n"; close $fh; chmod 0600, $KEY; }
{ open my $fh, '>', $SHORT or die; print $fh 'k' x 31, "\n"; close $fh; chmod 0600, $SHORT; }
fails_with("Auth0Cache redis:127.0.0.1:6379\n",
           qr/AGW0001: FILE:\d+: Auth0Cache redis needs Auth0CacheSecret file:PATH: .*openssl rand -hex 32/,
           'Auth0Cache redis without Auth0CacheSecret', modules => ['socache_redis']);
fails_with("Auth0Cache memcache:127.0.0.1:11211\n",
           qr/AGW0001: FILE:\d+: Auth0Cache memcache needs Auth0CacheSecret/,
           'Auth0Cache memcache without Auth0CacheSecret', modules => ['socache_memcache']);
passes("Auth0Cache redis:127.0.0.1:6379\nAuth0CacheSecret file:$KEY\n",
       'Auth0Cache redis with Auth0CacheSecret', modules => ['socache_redis']);
passes("Auth0Cache shmcb\n", 'Auth0Cache shmcb needs no secret', modules => ['socache_shmcb']);
$out = fails_with("Auth0CacheSecret file:$SHORT\n",
                  qr/Auth0CacheSecret: the secret has fewer than 32 bytes; make one with .openssl rand -hex 32/,
                  'a fleet key under 32 bytes');
ok($out !~ /kkkkkkkk/, 'the fleet key is not repeated');
fails_with("Auth0CacheSecret file:$STATE/no-such.key\n", qr/AH00526: .*\s+Auth0CacheSecret: /,
           'an unreadable fleet key file');

# ---- Auth0ClientBackend: origins only ---------------------------------------------------------------
passes(client('pin', 'Auth0ClientBackend https://a.example HTTP://B.example:8080/ balancer://pool'),
       'Auth0ClientBackend with origins, a trailing slash and a balancer');
fails_with(client('pin', 'Auth0ClientBackend orders.internal'),
           qr/AH00526: Syntax error on line \d+ of FILE:\s+Auth0ClientBackend: orders\.internal is not an origin; give scheme:\/\/host\[:port\]/,
           'Auth0ClientBackend without a scheme');
fails_with(client('pin', 'Auth0ClientBackend https://orders.internal/api'),
           qr/Auth0ClientBackend: https:\/\/orders\.internal\/api is not an origin; give scheme:\/\/host\[:port\] without a path/,
           'Auth0ClientBackend with a path');
fails_with(client('pin', 'Auth0ClientBackend https://user@orders.internal'),
           qr/Auth0ClientBackend: https:\/\/user\@orders\.internal is not an origin/,
           'Auth0ClientBackend with user info');
fails_with(client('pin', 'Auth0ClientBackend fcgi://127.0.0.1'),
           qr/Auth0ClientBackend: fcgi:\/\/127\.0\.0\.1 is not an origin; .*the port may be left out for http and https/,
           'Auth0ClientBackend with a scheme of no default port and no port');
fails_with("Auth0ClientBackend https://a.example\n", qr/Auth0ClientBackend is only valid inside <Auth0Client NAME>/,
           'Auth0ClientBackend outside a client block');

# ---- a literal secret: warned, never echoed -----------------------------------------------------------
$out = passes(client('lit', 'Auth0ClientSecret "Lit3ral-S3cret value"'), 'a literal secret is accepted');
ok($out =~ /AGW0004: \S+:\d+: Auth0ClientSecret is written in the configuration/ && $out !~ /Lit3ral-S3cret/,
   'a literal secret is warned about (AGW0004) and not repeated');
