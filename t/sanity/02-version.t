# The release version (src/agw_version.h) shows on the status page, in JSON and HTML, and in the error_log once per start (AGW0005).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use AGW::Test qw(:all);

plan tests => 6;

my $header = "$FindBin::Bin/../../src/agw_version.h";
open my $vh, '<', $header or die "$header: $!";
my ($version) = map { /^#define AGW_VERSION "([^"]+)"/ ? $1 : () } <$vh>;
ok(defined $version && $version =~ /\A\d+\.\d+\.\d+\z/, "src/agw_version.h names a version (" . ($version // 'none') . ')');
$version //= '?';

my $res = call(GET => '/agw-status?json');
is(json_of($res)->{version}, $version, 'status JSON: "version"');
$res = call(GET => '/agw-status');
like($res->decoded_content, qr{<p>mod_auth0gw \Q$version\E</p>}, 'status HTML: the version');

open my $fh, '<', Apache::Test::vars('t_logs') . '/error_log' or die "error_log: $!";
my @log = <$fh>;
my @loaded = grep { /AGW0005: mod_auth0gw \Q$version\E loaded/ } @log;
# AH00163/AH00489: "Apache/2.4.x ... configured -- resuming normal operations", once per start.
my @starts = grep { /AH00163|AH00489/ } @log;
ok(@starts > 0, 'the error_log shows the server start (' . scalar(@starts) . ')');
is(scalar @loaded, scalar @starts, 'AGW0005 logged once per start, not once per configuration pass');
like($loaded[0] // '', qr/:notice\]/, 'AGW0005 is at notice level');
