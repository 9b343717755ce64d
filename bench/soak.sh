#!/usr/bin/env bash
# `make soak`: one private httpd (two event-MPM children, mod_auth0gw gate and a proxied <Auth0Client> location) in front of the local issuer fixture under a steady mixed load for SOAK_MINUTES, with key rotations, issuer flaps and graceful restarts; samples RSS, open fds and threads per process and fails on growth or on a wrong answer (a soak run, not CI).
#
# Usage: bench/soak.sh   (or make soak)
# Settings (environment, seconds unless said): SOAK_MINUTES (10), SOAK_ROTATE (60: a new
# current RS256 key; the key two rotations old is removed), SOAK_RESTART (120: apache2 -k
# graceful), SOAK_FLAP (20: the issuer's JWKS and the client's token endpoint are down that long,
# a third into each rotation interval), SOAK_SAMPLE (10), SOAK_WARMUP (samples before it are
# not compared; default a sixth of the run, at most 60), SOAK_CLIENTS (4), SOAK_RATE (60
# requests/s in all), SOAK_RSS_PCT (20) and SOAK_RSS_MIB (10): allowed RSS growth (the larger
# of the two), SOAK_FD_GROWTH (4), SOAK_THREAD_GROWTH (2).
# Fails (exit 1) on: any request whose answer is wrong for its kind (bench/soak-load.js says
# which: a 5xx or non-200 for a valid token of a published key while keys are fresh, forged,
# expired or token-less not 401, a proxied request not 200 outside a token-endpoint flap), a
# child that died on a signal, or growth between the first and last third of the samples after
# warm-up beyond the bounds above (averages; the parent, and the mean over children).
# The run stops itself after SOAK_MINUTES + 5 minutes whatever hangs; Ctrl-C stops everything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
S="$ROOT/build/soak"
BUILT_MODULE="$ROOT/build/mod_auth0gw.so"
MODULE="$S/mod_auth0gw.so"
ISSUER_DIR="$S/issuer"
INST="$S/httpd"
AUDIENCE=https://api.agw.test/
START_TIMEOUT=15

MINUTES="${SOAK_MINUTES:-10}"
ROTATE="${SOAK_ROTATE:-60}"
RESTART="${SOAK_RESTART:-120}"
FLAP="${SOAK_FLAP:-20}"
SAMPLE="${SOAK_SAMPLE:-10}"
CLIENTS="${SOAK_CLIENTS:-4}"
RATE="${SOAK_RATE:-60}"
RSS_PCT="${SOAK_RSS_PCT:-20}"
RSS_MIB="${SOAK_RSS_MIB:-10}"
FD_GROWTH="${SOAK_FD_GROWTH:-4}"
THREAD_GROWTH="${SOAK_THREAD_GROWTH:-2}"

die() {
    printf 'soak: %s\n' "$*" >&2
    exit 1
}
say() { printf 'soak: %s  %s\n' "$(date +%T)" "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (package: $2); as root: apt-get install $2"; }

for v in MINUTES ROTATE RESTART FLAP SAMPLE CLIENTS RATE RSS_PCT RSS_MIB FD_GROWTH THREAD_GROWTH; do
    [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || die "SOAK_$v must be a positive integer (got '${!v}')"
done
DURATION=$((MINUTES * 60))
WARMUP="${SOAK_WARMUP:-$((DURATION / 6 < 60 ? DURATION / 6 : 60))}"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "SOAK_WARMUP must be a number of seconds"
((FLAP * 2 <= ROTATE)) || die "SOAK_FLAP ($FLAP) must be at most half of SOAK_ROTATE ($ROTATE)"
# A 401 for a key this young is "just rotated", not a failure: a flap, the refetch cooldown
# (5 s, bench/soak.conf.in) and a margin.
JUST=$((FLAP + 15))

need node nodejs
need openssl openssl
need curl curl
need perl perl
need apxs apache2-dev
APACHE_BIN="$(apxs -q SBINDIR)/$(apxs -q TARGET)"
APACHE_MODULES="$(apxs -q LIBEXECDIR)"
[[ -x "$APACHE_BIN" ]] || die "$APACHE_BIN not found (package apache2)"
[[ -f "$BUILT_MODULE" ]] || die "build/mod_auth0gw.so is missing: run \`make soak\` (it builds the module first)"

# shellcheck source=../t/fixtures/proc.sh
source "$ROOT/t/fixtures/proc.sh"

ISSUER_PID=""
LOAD_PID=""
WATCHDOG=""
HTTPD_STARTED=0

stop_httpd() {
    local pid
    [[ -f "$INST/httpd.pid" ]] || return 0
    pid="$(cat "$INST/httpd.pid")"
    if pid_is "$pid" "$INST/httpd.conf"; then
        "$APACHE_BIN" -f "$INST/httpd.conf" -k stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" "$START_TIMEOUT" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$INST/httpd.pid"
}

stop_issuer() {
    local pid=${1:-$ISSUER_PID}
    [[ -n "$pid" ]] || return 0
    if pid_is "$pid" issuer.js; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" "$START_TIMEOUT" || kill -KILL "$pid" 2>/dev/null || true
    fi
    ISSUER_PID=""
    rm -f "$S/issuer.pid"
}

cleanup() {
    if [[ -n "$LOAD_PID" ]] && pid_is "$LOAD_PID" soak-load.js; then
        kill -TERM "$LOAD_PID" 2>/dev/null || true
        wait_gone "$LOAD_PID" 25 || kill -KILL "$LOAD_PID" 2>/dev/null || true
    fi
    stop_httpd
    stop_issuer
    [[ -n "$WATCHDOG" ]] && kill "$WATCHDOG" 2>/dev/null || true
}

free_ports() {
    node -e '
        const net = require("net");
        const n = Number(process.argv[1]), servers = [];
        (async () => {
            for (let i = 0; i < n; i++) {
                const s = net.createServer();
                await new Promise((r) => s.listen(0, "127.0.0.1", r));
                servers.push(s);
            }
            console.log(servers.map((s) => s.address().port).join(" "));
            servers.forEach((s) => s.close());
        })();' "$1"
}

start_issuer() {
    local info="$ISSUER_DIR/issuer.json" log="$S/issuer.log" pid i http_port
    rm -f "$info"
    node "$ROOT/t/fixtures/issuer.js" --port 0 --http-port 0 --dir "$ISSUER_DIR" \
        --watch-pid $$ </dev/null >"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        [[ -s "$info" ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "the issuer exited at start (log above)"; }
        sleep 0.1
    done
    [[ -s "$info" ]] || { kill "$pid" 2>/dev/null || true; die "the issuer did not start in ${START_TIMEOUT}s"; }
    read -r ISSUER_PID ISSUER http_port < <(perl -MJSON::PP -e '
        my $j = decode_json(do { local $/; <STDIN> });
        print "$j->{pid} $j->{issuer} $j->{http_port}\n"' <"$info")
    echo "$ISSUER_PID" >"$S/issuer.pid"
    ADMIN="http://127.0.0.1:$http_port"
    say "issuer: $ISSUER (pid $ISSUER_PID)"
}

# admin PATH JSON: POST to the issuer's admin API; prints the answer.
admin() {
    curl -sf -m 10 -H 'Content-Type: application/json' -d "$2" "$ADMIN$1" || die "issuer $1 failed"
}
json_field() { perl -MJSON::PP -e 'print decode_json(do { local $/; <STDIN> })->{$ARGV[0]}, "\n"' "$1"; }

event() { printf '%d\t%s\n' "$(($(date +%s) - T0))" "$*" >>"$S/events.tsv"; say "$*"; }

# ---- main ---------------------------------------------------------------------------------------

mkdir -p "$S" "$ISSUER_DIR" "$INST/run"
chmod 755 "$S" "$ISSUER_DIR" "$INST"
stop_httpd
[[ -f "$S/issuer.pid" ]] && stop_issuer "$(cat "$S/issuer.pid")"
rm -f "$MODULE" "$S"/events.tsv "$S"/samples.tsv "$S"/results.json "$S"/retire "$INST/error_log"
rm -rf "$INST/state"
cp "$BUILT_MODULE" "$MODULE"
trap cleanup EXIT
trap 'die "interrupted"' INT TERM
(
    sleep $(((MINUTES + 5) * 60)) &
    nap=$!
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    wait "$nap" && say "stopped after SOAK_MINUTES + 5 minutes" && kill -TERM $$ 2>/dev/null
) </dev/null >/dev/null 2>&1 &
WATCHDOG=$!

if [[ "$(id -u)" -eq 0 ]]; then
    RUN_USER=www-data RUN_GROUP=www-data
    getent passwd "$RUN_USER" >/dev/null || RUN_USER=nobody
    getent group "$RUN_GROUP" >/dev/null || RUN_GROUP=nogroup
else
    RUN_USER="$(id -un)" RUN_GROUP="$(id -gn)"
fi

bash "$ROOT/t/fixtures/make-pki.sh" "$ISSUER_DIR" soak >/dev/null
start_issuer
admin /admin/reset '{"keys":true}' >/dev/null
admin /t/soak/admin/reset '{}' >/dev/null
admin /admin/mint '{"alg":"RS256"}' >/dev/null
SECRET="$(openssl rand -hex 24)"
printf '%s\n' "$SECRET" >"$INST/client.secret"
chmod 644 "$INST/client.secret"
# 40 s backend tokens: renewed every 32 s, so renewals fall into the token-endpoint flaps.
admin /t/soak/admin/client "{\"client_id\":\"soak-client\",\"client_secret\":\"$SECRET\",\"expires_in\":40}" >/dev/null

mkdir -p "$S/htdocs/api"
printf '%s\n' '{"status":"ok","service":"orders"}' >"$S/htdocs/api/data.json"
chmod -R a+rX "$S/htdocs" "$ISSUER_DIR/ca.pem"
PORT="$(free_ports 1)"
sed -e "s|@SERVER_ROOT@|$INST|g" -e "s|@PORT@|$PORT|g" -e "s|@APACHE_MODULES@|$APACHE_MODULES|g" \
    -e "s|@MODULE@|$MODULE|g" -e "s|@RUN_USER@|$RUN_USER|g" -e "s|@RUN_GROUP@|$RUN_GROUP|g" \
    -e "s|@DOCROOT@|$S/htdocs|g" -e "s|@ISSUER@|$ISSUER|g" -e "s|@ISSUER_CA@|$ISSUER_DIR/ca.pem|g" \
    -e "s|@AUDIENCE@|$AUDIENCE|g" -e "s|@ECHO@|$ADMIN/echo|g" "$ROOT/bench/soak.conf.in" >"$INST/httpd.conf"
grep -n '@[A-Z_]*@' "$INST/httpd.conf" >&2 && die "unreplaced @NAME@ values in $INST/httpd.conf (above)"
"$APACHE_BIN" -t -f "$INST/httpd.conf" >"$INST/configtest.log" 2>&1 \
    || { cat "$INST/configtest.log" >&2; die "apache2 -t rejected $INST/httpd.conf (above)"; }
"$APACHE_BIN" -f "$INST/httpd.conf" -k start
for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/data.json" || true)"
    [[ "$code" != 000 ]] && break
    sleep 0.1
done
[[ -f "$INST/httpd.pid" && "$code" != 000 ]] || { tail -n 20 "$INST/error_log" >&2 || true; die "httpd did not start"; }
say "httpd: http://127.0.0.1:$PORT (pid $(cat "$INST/httpd.pid")); ${MINUTES} min, rotate every ${ROTATE}s, graceful every ${RESTART}s, ${FLAP}s flaps"

# sample T: one line per httpd process: T role pid rss_kb fds threads
sample() {
    perl -e '
        my ($t, $parent) = @ARGV;
        sub status { my ($pid) = @_; my %s;
            open(my $fh, "<", "/proc/$pid/status") or return;
            while (<$fh>) { $s{$1} = $2 if /^(VmRSS|Threads):\s+(\d+)/ } return \%s }
        sub fds { opendir(my $d, "/proc/$_[0]/fd") or return -1; my $n = grep { !/^\./ } readdir $d; $n }
        my (@kids, @fetcher);
        for my $f (glob "/proc/[0-9]*/stat") {
            open(my $fh, "<", $f) or next; my $s = <$fh>;
            next unless defined $s && $s =~ /^(\d+) \((.*)\) \S+ (\d+) /s && $3 == $parent;
            # the module'"'"'s fetcher (one per host, kept across restarts) is not a child that serves
            if ($2 eq "agw-fetcher") { push @fetcher, $1 } else { push @kids, $1 }
        }
        for ([parent => $parent], (map { [fetcher => $_] } @fetcher),
             map { [child => $_] } sort { $a <=> $b } @kids) {
            my ($role, $pid) = @$_;
            my $s = status($pid) or next;
            my $fd = fds($pid);
            next if $fd < 0;
            print join("\t", $t, $role, $pid, $s->{VmRSS} // 0, $fd, $s->{Threads} // 0), "\n";
        }' "$1" "$(cat "$INST/httpd.pid")" >>"$S/samples.tsv"
}

T0=$(date +%s)
node "$ROOT/bench/soak-load.js" --url "http://127.0.0.1:$PORT" --admin "$ADMIN" --out "$S/results.json" \
    --retire "$S/retire" --seconds "$DURATION" --clients "$CLIENTS" --rate "$RATE" --just "$JUST" \
    --grace 30 --exp-after $((DURATION + 3600)) </dev/null >"$S/load.log" 2>&1 &
LOAD_PID=$!

KIDS=("$(admin /admin/mint '{}' | json_field kid)")
next_rotate=$ROTATE next_restart=$RESTART next_sample=0 flap_at=$((ROTATE / 3)) flap_end=0
while :; do
    t=$(($(date +%s) - T0))
    ((t >= DURATION)) && break
    kill -0 "$LOAD_PID" 2>/dev/null || { cat "$S/load.log" >&2; die "the load client ended early (log above)"; }
    if ((t >= next_sample)); then
        sample "$t"
        next_sample=$((next_sample + SAMPLE))
    fi
    if ((t >= next_rotate)); then
        kid="$(admin /admin/rotate '{"alg":"RS256"}' | json_field kid)"
        KIDS=("$kid" "${KIDS[@]}")
        event "rotate: current key $kid"
        if ((${#KIDS[@]} > 2)); then
            old="${KIDS[-1]}"
            unset 'KIDS[-1]'
            printf '%s\n' "$old" >>"$S/retire"
            sleep 2
            admin /admin/remove "{\"kid\":\"$old\"}" >/dev/null
            event "remove: key $old"
        fi
        flap_at=$((next_rotate + ROTATE / 3))
        next_rotate=$((next_rotate + ROTATE))
    fi
    if ((flap_at > 0 && t >= flap_at)); then
        admin /admin/mode '{"jwks":"down"}' >/dev/null
        admin /t/soak/admin/mode '{"token":"down"}' >/dev/null
        event "flap: JWKS and token endpoint down"
        flap_end=$((t + FLAP))
        flap_at=0
    fi
    if ((flap_end > 0 && t >= flap_end)); then
        admin /admin/mode '{"jwks":"up"}' >/dev/null
        admin /t/soak/admin/mode '{"token":"up"}' >/dev/null
        event "flap: up again"
        flap_end=0
    fi
    if ((t >= next_restart)); then
        "$APACHE_BIN" -f "$INST/httpd.conf" -k graceful || die "apache2 -k graceful failed"
        event "graceful restart"
        next_restart=$((next_restart + RESTART))
    fi
    sleep 1
done
if ((flap_end > 0)); then
    admin /admin/mode '{"jwks":"up"}' >/dev/null
    admin /t/soak/admin/mode '{"token":"up"}' >/dev/null
fi
sample "$(($(date +%s) - T0))"
say "waiting for the load client to finish"
wait_gone "$LOAD_PID" 30 || die "the load client did not end"
wait "$LOAD_PID" || { cat "$S/load.log" >&2; die "the load client failed (log above)"; }
LOAD_PID=""
[[ -s "$S/results.json" ]] || die "no results from the load client"

signals="$(grep -c 'exit signal' "$INST/error_log" || true)"
errors="$(grep -c '\[[a-z_0-9]*:\(error\|crit\|alert\|emerg\)\]' "$INST/error_log" || true)"

perl -MJSON::PP -e '
    use strict; use warnings; use List::Util qw(sum max);
    my ($samples, $results, $events, $warmup, $rss_pct, $rss_mib, $fd_g, $thr_g, $signals, $errors, $duration) = @ARGV;
    my (%at, @times);
    open(my $fh, "<", $samples) or die "no samples\n";
    while (<$fh>) {
        chomp; my ($t, $role, $pid, $rss, $fds, $thr) = split /\t/;
        push @times, $t unless $at{$t};
        push @{ $at{$t}{$role} }, { pid => $pid, rss => $rss, fds => $fds, thr => $thr };
    }
    my $avg = sub { @_ ? sum(@_) / @_ : 0 };
    my %row;
    print "\nsamples (RSS in MiB; children: mean over the children alive at the sample, count in n):\n";
    my $fmt = "%6s  %10s %6s %6s   %3s %10s %10s %8s %8s\n";
    printf $fmt, "t s", "parent RSS", "fds", "thr", "n", "child RSS", "max RSS", "fds", "thr";
    for my $t (@times) {
        my $p = $at{$t}{parent} ? $at{$t}{parent}[0] : { rss => 0, fds => 0, thr => 0 };
        my @c = @{ $at{$t}{child} || [] };
        $row{$t} = { prss => $p->{rss} / 1024, pfds => $p->{fds}, pthr => $p->{thr},
            crss => $avg->(map { $_->{rss} } @c) / 1024, cfds => $avg->(map { $_->{fds} } @c),
            cthr => $avg->(map { $_->{thr} } @c) };
        printf $fmt, $t, sprintf("%.1f", $row{$t}{prss}), $p->{fds}, $p->{thr}, scalar @c,
            sprintf("%.1f", $row{$t}{crss}), sprintf("%.1f", (max(map { $_->{rss} } @c) // 0) / 1024),
            sprintf("%.1f", $row{$t}{cfds}), sprintf("%.1f", $row{$t}{cthr});
    }
    my @use = grep { $_ >= $warmup } @times;
    my $third = int(@use / 3);
    my $fail = 0;
    print "\ngrowth, mean of the last third of the samples after the ${warmup}s warm-up against the first third:\n";
    if ($third < 1) {
        print "  too few samples after warm-up to compare (", scalar @use, ")\n";
        $fail = 1;
    } else {
        my @first = @use[0 .. $third - 1];
        my @last = @use[$#use - $third + 1 .. $#use];
        for my $m (["prss", "parent RSS", "MiB", "rss"], ["pfds", "parent fds", "", "fd"], ["pthr", "parent threads", "", "thr"],
                   ["crss", "child RSS (mean)", "MiB", "rss"], ["cfds", "child fds (mean)", "", "fd"], ["cthr", "child threads (mean)", "", "thr"]) {
            my ($k, $label, $unit, $kind) = @$m;
            my $a = $avg->(map { $row{$_}{$k} } @first);
            my $b = $avg->(map { $row{$_}{$k} } @last);
            my $bound = $kind eq "rss" ? max($a * $rss_pct / 100, $rss_mib) : $kind eq "fd" ? $fd_g : $thr_g;
            my $ok = $b - $a <= $bound;
            $fail ||= !$ok;
            printf "  %-22s %8.1f -> %8.1f %-3s  growth %+7.1f (bound %.1f)  %s\n", $label, $a, $b, $unit, $b - $a, $bound, $ok ? "ok" : "FAILED";
        }
    }
    my $r = decode_json(do { local $/; open(my $j, "<", $results) or die; <$j> });
    my %c = %{ $r->{counts} };
    my %st;
    for my $k (keys %c) { $st{$_} = 1 for keys %{ $c{$k} } }
    my @st = sort keys %st;
    print "\nrequests by kind and status (", $r->{seconds}, " s of load):\n";
    printf "  %-9s" . (" %7s" x @st) . " %8s\n", "kind", @st, "total";
    my $n5 = 0; my $total = 0;
    for my $k (grep { $c{$_} } qw(valid new expired forged none removed proxied admin)) {
        my $sum = sum(values %{ $c{$k} });
        $total += $sum;
        $n5 += $c{$k}{$_} for grep { /^5/ } keys %{ $c{$k} };
        printf "  %-9s" . (" %7s" x @st) . " %8d\n", $k, (map { $c{$k}{$_} // 0 } @st), $sum;
    }
    printf "  %-9s %d requests, %d with a 5xx\n", "all", $total, $n5;
    my %ev;
    if (open(my $e, "<", $events)) { while (<$e>) { $ev{$1}++ if /\t(\w+)/ } }
    printf "\nevents: %d rotations, %d keys removed, %d flaps, %d graceful restarts\n",
        $ev{rotate} // 0, $ev{remove} // 0, ($ev{flap} // 0) / 2, $ev{graceful} // 0;
    printf "valid-token 401s for keys younger than the just-rotated window: %d\n", $r->{just_rotated_401};
    printf "proxied 503 + Retry-After during token-endpoint flaps: %d\n", $r->{proxied_flap_503};
    printf "network errors retried once: %d\n", $r->{network_retries};
    printf "children ended by a signal: %d; error_log lines at error or worse: %d\n", $signals, $errors;
    printf "wrong answers: %d\n", $r->{failure_count};
    for (@{ $r->{failures} }) {
        printf "  t=%ss %s %s%s: %s\n", $_->{t}, $_->{kind}, $_->{status}, $_->{kid} ? " (kid $_->{kid})" : "", $_->{why};
    }
    $fail ||= $r->{failure_count} > 0 || $signals > 0 || $total == 0;
    print "\nsoak: ", ($fail ? "FAILED" : "passed"), "\n";
    exit($fail ? 1 : 0);
' "$S/samples.tsv" "$S/results.json" "$S/events.tsv" "$WARMUP" "$RSS_PCT" "$RSS_MIB" "$FD_GROWTH" "$THREAD_GROWTH" "$signals" "$errors" "$DURATION"
