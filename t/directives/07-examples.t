# The examples administrators copy work: every ```apache block of README.md and docs/*.md, and conf/auth0-api.conf, proxy-backend.conf and fleet-redis.conf, completed with their placeholders (secret files, keys, environment variables), pass `apache2 -t`; README's "Protecting an API" example, pointed at the local issuer, lets an Auth0-shaped token with the namespaced role through and refuses one without it.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(:all);
use File::Path qw(make_path remove_tree);
use JSON::PP ();

my $ROOT   = "$FindBin::Bin/../..";
my $httpd  = Apache::Test::vars('httpd') || '/usr/sbin/apache2';
my $dir    = AGW::Proxy::state_dir() . '/examples';
my $module = $ENV{AGW_MODULE} || "$ROOT/build/mod_auth0gw.so";
my $CA     = "$ENV{AGW_STATE_DIR}/ca.pem";
remove_tree($dir);
make_path($dir, { mode => 0755 });

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return <$fh>;
}
sub spew {
    my ($file, $text, $mode) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh or die "$file: $!";
    chmod $mode // 0644, $file;
}

# ---- the examples: [name, text] ----
my @examples;
for my $md ("$ROOT/README.md", sort glob("$ROOT/docs/*.md")) {
    (my $short = $md) =~ s{^\Q$ROOT\E/}{};
    my $text = slurp($md);
    while ($text =~ /^```apache[ \t]*\n(.*?)^```[ \t]*$/msg) {
        my $block = $1;
        my $line = 1 + (() = substr($text, 0, $-[1]) =~ /\n/g);
        my ($first) = $block =~ /^\s*(\S[^\n]*)/;
        push @examples, ["$short:$line: $first", $block];
    }
}
push @examples, map { ["conf/$_.conf", slurp("$ROOT/conf/$_.conf")] }
                qw(auth0-api proxy-backend fleet-redis);

# ---- placeholders: what an administrator would have on disk or in the environment ----
my ($n_file, %made) = (0);
sub placeholder_file {
    my ($path, $directive) = @_;
    return $made{$path} //= do {
        my $file = "$dir/placeholder-" . ++$n_file;
        if ($directive =~ /^Auth0Client(?:DPoP)?Key$/i) {
            system('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
                   'ec_paramgen_curve:P-256', '-out', $file) == 0 or die "openssl genpkey failed";
        }
        elsif ($directive =~ /^Auth0JWKS$/i) {
            spew($file, '{"keys":[]}');
        }
        else {
            spew($file, ('0123456789abcdef' x 4) . "\n", 0600);
        }
        $file;
    };
}

sub complete {
    my ($text) = @_;
    my @out;
    for my $line (split /\n/, $text) {
        my ($directive) = $line =~ /^\s*(\S+)/;
        $directive //= '';
        unless ($directive =~ /^#/) {
            $line =~ s{\bfile:(/\S+)}{-e $1 ? "file:$1" : 'file:' . placeholder_file($1, $directive)}ge;
            if ($directive =~ /^Auth0CAFile$/i && $line =~ /^\s*\S+\s+"?([^"\s]+)/ && !-e $1) {
                my $path = $1;
                $line =~ s/\Q$path\E/$CA/;
            }
            while ($line =~ /\benv:([A-Za-z_][A-Za-z0-9_]*)/g) {
                $ENV{$1} //= 'fedcba9876543210' x 4;
            }
        }
        push @out, $line;
    }
    my $body = join("\n", @out) . "\n";
    # a location-level snippet (AuthType, Require ... outside any section) goes in a <Location>
    my ($depth, $location_level) = (0, 0);
    for (@out) {
        $depth-- if m{^\s*</};
        $location_level = 1
            if $depth == 0 && /^\s*(AuthType|AuthName|Require|Auth0ProxyClient)\b/i;
        $depth++ if /^\s*<[^\/!]/;
    }
    return $location_level ? "<Location /example/>\n$body</Location>\n" : $body;
}

my %static = map { /^\s*mod_(\S+)\.c$/ ? ($1 => 1) : () } `'$httpd' -l 2>/dev/null`;
my $libexec = `apxs -q LIBEXECDIR 2>/dev/null` || '/usr/lib/apache2/modules';
chomp $libexec;
my $modules = join '', map { "LoadModule ${_}_module $libexec/mod_$_.so\n" }
              grep { !$static{$_} }
              "mpm_" . mpm(), qw(authn_core authz_core authz_user authz_host proxy proxy_http
                 proxy_balancer slotmem_shm lbmethod_byrequests socache_shmcb socache_redis
                 socache_memcache);

my $case = 0;
sub configtest {
    my ($text) = @_;
    $case++;
    my $file = "$dir/example$case.conf";
    spew($file, "# example $case\n$modules" . <<"HEAD" . complete($text));
LoadModule auth0gw_module $module
ServerRoot "$dir"
ServerName localhost
ErrorLog "$dir/error_log"
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
HEAD
    my $out = `'$httpd' -t -d '$dir' -f '$file' 2>&1`;
    my $status = $? >> 8;
    $? = 0;
    return ($status, "$file:\n$out");
}

plan tests => scalar(@examples) + 6;

cmp_ok(scalar @examples, '>=', 8, 'the examples were found (' . scalar(@examples) . ')');
for my $ex (@examples) {
    my ($status, $out) = configtest($ex->[1]);
    ok($status == 0 && $out =~ /Syntax OK/, "configtest passes: $ex->[0]") or diag($out);
}

# ---- "Protecting an API", pointed at the local issuer ----
my ($api) = slurp("$ROOT/README.md") =~ /^## Protecting an API.*?^```apache[ \t]*\n(.*?)^```/ms;
ok(defined $api && $api =~ /^\s*Auth0Domain\s/m, 'README has the "Protecting an API" example');
$api //= '';
my $TENANT = 'docs';
my $iss = issuer_url($TENANT);
(my $local = $api) =~ s{^(\s*)Auth0Domain\s+\S+[ \t]*$}
    {$1Auth0Issuer $iss\n$1Auth0JWKS ${iss}.well-known/jwks.json\n$1Auth0CAFile $CA}m;
my ($aud) = $api =~ /^\s*Auth0Audience\s+(\S+)/m;
$aud //= 'https://api.example.com';

reset_tenant($TENANT, keys => JSON::PP::true());
rotate_key($TENANT);
my $docroot = "$dir/htdocs";
make_path("$docroot/api", { mode => 0755 });
spew("$docroot/api/orders.json", qq({"orders": []}\n));

my $host = start_httpd(name => 'examples', modules => ['authz_user', 'socache_shmcb'],
                       processes => 1, config => qq(DocumentRoot "$docroot"\n$local));

# What an Auth0 access token for an API with RBAC ("Add Permissions in the Access Token")
# carries, plus the namespaced claims a Post Login Action adds.
sub token {
    my (%claims) = @_;
    return mint(tenant => $TENANT, claims => {
        aud => [$aud, 'https://example.eu.auth0.com/userinfo'],
        sub => 'auth0|65f0c0ffee', azp => 'AbCdEf0123456789',
        scope => 'openid profile read:orders', permissions => ['read:orders'],
        'https://example.com/tenant' => 'acme', %claims });
}
sub get {
    my ($t) = @_;
    my $res = http_get("$host->{url}/api/orders.json",
                       defined $t ? (Authorization => "Bearer $t") : ());
    my $challenge = $res->{headers}{'www-authenticate'} // '';
    return $res->{status} . ($challenge =~ /error="(\w+)"/ ? " $1" : '');
}

is(get(token('https://example.com/roles' => ['admin'])), '200',
   'a token with admin in https://example.com/roles and the read:orders permission: 200');
is(get(token('https://example.com/roles' => ['viewer'])), '403 insufficient_scope',
   'a token whose namespaced roles claim lacks admin: 403 insufficient_scope');
is(get(token('https://example.com/roles' => ['admin'], permissions => ['write:orders'],
             scope => 'openid')),
   '403 insufficient_scope', 'the admin role without the read:orders permission: 403');
is(get(undef), '401', 'no token: 401');
stop_httpd('examples');
