# Gate directives at server and <VirtualHost> level, merged down into every section: a bare `AuthType Auth0` location inherits issuer, audience, keys and the rest; two virtual hosts with different issuers stay apart; a virtual host overrides one inherited value; configtest judges the merged result; an incomplete .htaccess names its URL and file; a key fetch a request causes is logged by that request's virtual host.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);
use AGW::Proxy qw(free_port start_httpd stop_httpd http_get server_log_lines);
use File::Path qw(make_path remove_tree);

my $httpd   = Apache::Test::vars('httpd') || '/usr/sbin/apache2';
my $STATE   = state_dir();
my $dir     = "$STATE/contexts";
my $modules = "$STATE/modules.conf";
my $CA      = "$STATE/ca.pem";
my $ISS     = "https://127.0.0.1:$ENV{AGW_ISSUER_PORT}";
make_path($dir);

plan tests => 43;

# ---- configtest: httpd -t on a whole configuration ----------------------------------------------
my $n = 0;
# Returns (exit status, output, file, the line number of each line of $body matching a
# marker `#@NAME` as {NAME => line}); the markers are removed.
sub configtest {
    my ($body) = @_;
    $n++;
    my $file = "$dir/case$n.conf";
    my @head = ("# contexts case $n", "Include $modules", "ServerRoot $dir",
                'ServerName localhost', "ErrorLog $dir/error_log", "PidFile $dir/httpd.pid",
                "DefaultRuntimeDir $dir");
    my (%at, @lines);
    for my $l (split /\n/, $body) {
        $at{$1} = @head + @lines + 1 if $l =~ s/\s*#\@(\w+)\s*$//;
        push @lines, $l;
    }
    open my $fh, '>', $file or die "$file: $!";
    print $fh join("\n", @head, @lines), "\n";
    close $fh;
    my $out = `'$httpd' -t -d '$dir' -f '$file' 2>&1`;
    my $status = $? >> 8;
    $? = 0;
    return ($status, $out, $file, \%at);
}

my $SECRET_FILE = "$STATE/hmac.secret";
# Every directive of the incoming gate, with a valid value.
my $ALL = <<"EOF";
Auth0Domain tenant.example.auth0.com
Auth0Issuer https://issuer.example/
Auth0Audience https://api.example/
Auth0TokenType at+jwt
Auth0JWKS https://issuer.example/.well-known/jwks.json
Auth0Algorithms RS256 HS256
Auth0HMACSecret file:$SECRET_FILE
Auth0Leeway 10
Auth0TokenFrom header cookie=tok
Auth0ScopeClaim permissions
Auth0RolesClaim roles
Auth0RemoteUserClaim sub
Auth0ClaimHeader sub X-User-Id
Auth0ClaimEnv sub AGW_SUB
Auth0KeyRefresh 600
Auth0KeyRefreshCooldown 20
Auth0KeyMaxStale 3600
Auth0KeyFetchWait 1
Auth0CAFile $CA
Auth0InsecureHTTP Off
Auth0Mode report-only
Auth0PassPreflight On
Auth0DPoP required
Auth0DPoPNonce On
EOF
my @gate = map { /^(\S+)/ } split /\n/, $ALL;
my @table = do {
    open my $src, '<', "$FindBin::Bin/../../mod_auth0gw/config.c" or die "config.c: $!";
    map { /^\s*(?:DIRCMD|BOTHCMD)\(\w+, "(\w+)"/ ? $1 : () } <$src>;
};
is_deeply([sort @gate], [sort @table], 'the list below is every gate directive of the table in config.c');

my ($st, $out, $file, $at) = configtest("$ALL\n<VirtualHost 127.0.0.1:80>\n$ALL</VirtualHost>\n"
                                        . "<Location /api/>\n    AuthType Auth0\n    Require valid-user\n</Location>\n");
is($st, 0, 'every gate directive at server level and in <VirtualHost>: accepted (Syntax OK)')
    or diag($out);
unlike($out, qr/not allowed here/, 'none is "not allowed here"');

# a <Location> with only AuthType inherits everything from its virtual host
($st, $out) = configtest(<<"EOF");
<VirtualHost 127.0.0.1:80>
    Auth0Issuer https://issuer.example/
    Auth0Audience https://api.example/
    <Location /api/>
        AuthType Auth0
        Require valid-user
    </Location>
</VirtualHost>
EOF
is($st, 0, 'Auth0Audience and Auth0Issuer at <VirtualHost> level, bare AuthType Auth0 location: passes') or diag($out);

($st, $out, $file, $at) = configtest(<<"EOF");
<VirtualHost 127.0.0.1:80>
    Auth0Issuer https://issuer.example/
    <Location /api/>
        AuthType Auth0 #\@authtype
        Require valid-user
    </Location>
</VirtualHost>
EOF
isnt($st, 0, 'no Auth0Audience anywhere for the virtual host: configtest fails');
like($out, qr/AGW0001: \Q$file\E:$at->{authtype}: AuthType Auth0 needs Auth0Audience .*server or <VirtualHost> level, e\.g\. `Auth0Audience https:/,
     'AGW0001 names file:line of the AuthType and the fix') or diag($out);

# sections at server level apply in every virtual host, merged with each one's values
($st, $out, $file, $at) = configtest(<<"EOF");
<Location /api/>
    AuthType Auth0 #\@authtype
    Require valid-user
</Location>
<VirtualHost 127.0.0.1:80>
    Auth0Domain a.example.auth0.com
    Auth0Audience https://api.example/
</VirtualHost>
<VirtualHost 127.0.0.1:81>
    Auth0Domain b.example.auth0.com
    Auth0Audience https://api.example/
</VirtualHost>
EOF
is($st, 0, 'server-level bare location, every <VirtualHost> sets the values: passes') or diag($out);
like($out, qr/AGW0007: \Q$file\E:$at->{authtype}: in the main server only \(every <VirtualHost> is complete\): AuthType Auth0 needs Auth0Audience/,
     'and a warning (AGW0007) that the main server itself lacks them') or diag($out);

($st, $out, $file, $at) = configtest(<<"EOF");
Auth0Domain main.example.auth0.com
<Location /api/>
    AuthType Auth0 #\@authtype
    Require valid-user
</Location>
<VirtualHost 127.0.0.1:80>
    Auth0Audience https://api.example/
</VirtualHost>
<VirtualHost 127.0.0.1:81> #\@vh
    ServerName b.example
</VirtualHost>
EOF
isnt($st, 0, 'one <VirtualHost> lacks Auth0Audience under a server-level location: fails');
like($out, qr/AGW0001: \Q$file\E:$at->{authtype}: AuthType Auth0 needs Auth0Audience.*\(in the <VirtualHost> at \Q$file\E:$at->{vh}, and in the main server\)/,
     'the message names that virtual host') or diag($out);
unlike($out, qr/Auth0Domain \(an Auth0/, 'Auth0Domain at server level reaches every virtual host: no complaint about it');

# a section of the main server covers a virtual host's section of the same kind
($st, $out) = configtest(<<"EOF");
<Location /api/>
    Auth0Issuer https://issuer.example/
    Auth0Audience https://api.example/
</Location>
<VirtualHost 127.0.0.1:80>
    <Location /api/v1/>
        AuthType Auth0
        Require valid-user
    </Location>
</VirtualHost>
EOF
is($st, 0, 'server-level <Location /api/> with the values covers a virtual host\'s <Location /api/v1/>') or diag($out);

# regular-expression sections: no false errors
($st, $out) = configtest(<<"EOF");
<Location /api/>
    Auth0Issuer https://issuer.example/
    Auth0Audience https://api.example/
</Location>
<LocationMatch "^/api/v[0-9]+/">
    AuthType Auth0
    Require valid-user
</LocationMatch>
EOF
is($st, 0, '<LocationMatch> with a bare AuthType, values in a <Location>: no false error') or diag($out);
($st, $out) = configtest(<<"EOF");
<LocationMatch "^/api/v[0-9]+/">
    AuthType Auth0
    Auth0Issuer https://issuer.example/
    Require valid-user
</LocationMatch>
EOF
isnt($st, 0, '<LocationMatch> with no Auth0Audience anywhere: still fails');

# the http:// rule on the merged result
($st, $out) = configtest(<<"EOF");
Auth0InsecureHTTP On
<VirtualHost 127.0.0.1:80>
    Auth0Issuer http://issuer.example/
    Auth0Audience https://api.example/
    Auth0JWKS http://issuer.example/jwks.json
    <Location /api/>
        AuthType Auth0
        Require valid-user
    </Location>
</VirtualHost>
EOF
is($st, 0, 'Auth0InsecureHTTP On at server level allows an http:// Auth0JWKS in a <VirtualHost>') or diag($out);
($st, $out, $file, $at) = configtest(<<"EOF");
<VirtualHost 127.0.0.1:80>
    Auth0Issuer http://issuer.example/
    Auth0Audience https://api.example/
    Auth0JWKS http://issuer.example/jwks.json #\@jwks
</VirtualHost>
EOF
isnt($st, 0, 'without it: fails');
like($out, qr/AGW0001: \Q$file\E:$at->{jwks}: Auth0JWKS http:.*Auth0InsecureHTTP On/, 'naming the Auth0JWKS line') or diag($out);

# Auth0InsecureHTTP everywhere, <Auth0Client> included; other gate directives not in <Auth0Client>
($st, $out) = configtest(<<"EOF");
Auth0InsecureHTTP On
<Auth0Client c1>
    Auth0InsecureHTTP On
    Auth0Domain tenant.example.auth0.com
    Auth0CAFile $CA
    Auth0ClientID id
    Auth0ClientSecret env:PATH
    Auth0ClientAudience https://api.example/
</Auth0Client>
<VirtualHost 127.0.0.1:80>
    Auth0InsecureHTTP On
    <Location /api/>
        Auth0InsecureHTTP On
        AuthType Auth0
        Auth0Issuer https://issuer.example/
        Auth0Audience https://api.example/
        Require valid-user
    </Location>
</VirtualHost>
EOF
is($st, 0, 'Auth0InsecureHTTP at server level, in <VirtualHost>, <Location> and <Auth0Client>: accepted') or diag($out);
is(scalar(() = $out =~ /AGW0002: /g), 4, 'each one warned about (AGW0002)') or diag($out);

($st, $out) = configtest(<<"EOF");
<Auth0Client c1>
    Auth0TokenURL https://issuer.example/oauth/token
    Auth0Leeway 5
</Auth0Client>
EOF
isnt($st, 0, 'Auth0Leeway inside <Auth0Client>: refused');
like($out, qr/Auth0Leeway: is not valid inside <Auth0Client>.*put it outside/, 'with a message that says so') or diag($out);

# ---- a live httpd: server-level values, two virtual hosts with their own issuers ------------------
my $AUD = AUD;
my $OTHER = OTHER_AUD;
my ($pa, $pb) = (free_port(), free_port());
my $root = AGW::Proxy::state_dir() . '/httpd-contexts';
my $docs = AGW::Proxy::state_dir() . '/contexts-htdocs';
remove_tree($docs);
make_path("$docs/a/bad", { mode => 0755 });
for my $f ("$docs/a/ok.txt", "$docs/a/bad/ok.txt") {
    open my $fh, '>', $f or die "$f: $!";
    print $fh "served\n";
    close $fh;
    chmod 0644, $f;
}
# under the gated location (the instance's <Location /> grants what no location gates)
open my $ht, '>', "$docs/a/bad/.htaccess" or die $!;
print $ht "# an HS* allow-list without a secret\nAuth0Algorithms HS256\n";
close $ht;
chmod 0644, "$docs/a/bad/.htaccess";

my $h = start_httpd(name => 'contexts', processes => 1, modules => ['authz_user'], config => <<"EOF");
DocumentRoot "$docs"
<Directory "$docs/a/bad">
    AllowOverride AuthConfig
</Directory>
Auth0Issuer $ISS/t/ctxm/
Auth0JWKS $ISS/t/ctxm/.well-known/jwks.json
Auth0Audience $AUD
Auth0CAFile $CA
Auth0Leeway 120
<Location /a/>
    AuthType Auth0
    Require valid-user
</Location>
Listen 127.0.0.1:$pa
<VirtualHost 127.0.0.1:$pa>
    ErrorLog "$root/logs/vhost_a_error_log"
    Auth0Issuer $ISS/t/ctxa/
    Auth0JWKS $ISS/t/ctxa/.well-known/jwks.json
</VirtualHost>
Listen 127.0.0.1:$pb
<VirtualHost 127.0.0.1:$pb>
    Auth0Issuer $ISS/t/ctxb/
    Auth0JWKS $ISS/t/ctxb/.well-known/jwks.json
    Auth0Audience $OTHER
    Auth0Leeway 0
</VirtualHost>
EOF
my %url = (main => $h->{url}, a => "http://127.0.0.1:$pa", b => "http://127.0.0.1:$pb");
sub get {
    my ($where, $path, $token) = @_;
    return http_get("$url{$where}$path", defined $token ? (Authorization => "Bearer $token") : ());
}
my %tok = (main => mint(tenant => 'ctxm'), a => mint(tenant => 'ctxa'),
           b => mint(tenant => 'ctxb', claims => { aud => $OTHER }));

my $res = get(main => '/a/ok.txt', $tok{main});
is($res->{status}, 200, 'server-level values, bare location: a valid token gets 200');
is($res->{content}, "served\n", 'and the file');
is(get(main => '/a/ok.txt')->{status}, 401, 'without a token: 401');
like(get(main => '/a/ok.txt')->{headers}{'www-authenticate'} // '', qr/^Bearer /, 'with a Bearer challenge');

is(get(a => '/a/ok.txt', $tok{a})->{status}, 200, 'virtual host A: its own issuer\'s token: 200');
is(get(b => '/a/ok.txt', $tok{b})->{status}, 200, 'virtual host B: its own issuer\'s token: 200');
is(get(a => '/a/ok.txt', $tok{b})->{status}, 401, 'B\'s token at A: 401');
is(get(b => '/a/ok.txt', $tok{a})->{status}, 401, 'A\'s token at B: 401');
is(get(main => '/a/ok.txt', $tok{a})->{status}, 401, 'A\'s token at the main server: 401');
is(get(a => '/a/ok.txt', $tok{main})->{status}, 401, 'the main server\'s token at A: 401');
is(get(a => '/a/ok.txt')->{status}, 401, 'A without a token: 401');

# B overrides Auth0Audience and Auth0Leeway; A inherits both
is(get(b => '/a/ok.txt', mint(tenant => 'ctxb'))->{status}, 401,
   'B overrides Auth0Audience: a B token for the server\'s audience is refused');
my $t = time;
my %expired = (claims => { iat => $t - 300, exp => $t - 30 });
is(get(a => '/a/ok.txt', mint(tenant => 'ctxa', %expired))->{status}, 200,
   'A inherits Auth0Leeway 120: a token expired 30 s ago is accepted');
$res = get(b => '/a/ok.txt', mint(tenant => 'ctxb', claims => { aud => $OTHER, iat => $t - 300, exp => $t - 30 }));
is($res->{status}, 401, 'B sets Auth0Leeway 0: the same is refused');
like($res->{headers}{'www-authenticate'} // '', qr/expired/, 'as expired');

# a key fetch is logged by the virtual host whose request caused it
my @a_log = grep { /AGW0200: / } server_log_lines({ error_log => "$root/logs/vhost_a_error_log" });
ok((grep { m{/t/ctxa/\.well-known/jwks\.json} } @a_log), 'A\'s key fetch: AGW0200 in A\'s error log')
    or diag(join '', @a_log);
my @main_log = server_log_lines($h);
is(scalar(grep { /AGW0200: .*\/t\/ctxa\// } @main_log), 0, 'and not in the main server\'s');
ok((grep { /AGW0200: .*\/t\/ctxm\// } @main_log), 'the main server\'s fetch in its own error log');

# an incomplete .htaccess: 500, and the log line names the URL and the file
my $from = -s $h->{error_log};
$res = get(main => '/a/bad/ok.txt', $tok{main});
is($res->{status}, 500, 'an incomplete .htaccess (HS256 without a secret): 500');
unlike($res->{content}, qr/served/, 'the file is not served');
my ($line) = grep { /AGW0003: / } server_log_lines($h, $from);
like($line // '', qr{AGW0003: /a/bad/ok\.txt: Auth0Algorithms allows HS\* but no Auth0HMACSecret},
     'AGW0003 names the URL and what is missing') or diag($line);
like($line // '', qr{\Q$docs\E/a/bad/\.htaccess:2}, 'and the .htaccess file and line');

stop_httpd('contexts');
