#!/usr/bin/env bash
# `make bench` / `make bench-memory` / `make bench-graceful` / `make bench-child-memory`: private httpd instances on loopback (plain Apache, mod_auth0gw, reverse proxies with and without its backend tokens, and with PEERS=1 Debian's mod_oauth2 and mod_auth_openidc) in front of the local issuer fixture, driven by wrk in interleaved rounds; prints req/s, p99, httpd CPU per request and JWKS fetches as ratios to plain Apache (the proxied cases: to a plain reverse proxy) (a benchmark, not a test).
#
# Usage: bench/run.sh            the comparison (about 7 minutes; with PEERS=1 about 12)
#        bench/run.sh --memory   1,000,000 requests with rotating valid tokens against one
#                                child process; its RSS before, during and after
#        bench/run.sh --profile CASE   perf profile of one case (ids: plain agw-same agw-rs
#                                agw-es agw-flood agw-nocache agw-dpop px-plain agw-px agw-pxdpop,
#                                with PEERS=1 also oauth2-*, openidc-*); BENCH_PROFILE_FOCUS picks
#                                the inclusive view
#        bench/run.sh --graceful  prefork, 32 children: time from SIGUSR1 (what `apache2 -k
#                                graceful` sends) until 32 children of the new generation
#                                serve, plain Apache and mod_auth0gw under load (a valid token,
#                                a new connection per request), medians
#        bench/run.sh --child-memory   prefork, 32 children: per-child private memory and PSS
#                                (smaps_rollup, medians) at idle and after the Zipf mix, plain
#                                Apache and Auth0TokenCache 1000, 10000, 100000
#        bench/run.sh --instructions   instructions per request, counted by valgrind's callgrind
#                                in one httpd process (-X) per instance: plain Apache with the
#                                Zipf mix's headers, mod_auth0gw (and the BASELINE build) on the
#                                Zipf mix with every token held by the caches; exact counts, not
#                                times, so that a change of a few percent shows on a noisy machine
#        bench/run.sh --pages     the 4 KiB pages one request touches (smaps' Referenced after
#                                /proc/PID/clear_refs), by mapping, in one httpd process (-X) per
#                                instance on the Zipf mix with every token cached: without PCID a
#                                prefork child's TLB is empty at each request, and each page is a miss
# BENCH_MPM (make bench MPM=...): event (default), worker or prefork, for every instance of the
# run; event and worker: one child x 64 threads; prefork: 32 children, and wrk's connections
# default to 32 (a prefork child holds a keep-alive connection: more would wait for one).
# --graceful and --child-memory run under prefork only.
# The proxied cases: mod_proxy_http forwards /api/ to the "backend" instance (a plain Apache
# serving the same file, under the event MPM whatever BENCH_MPM); px-plain does nothing else (their reference), agw-px puts the
# client-credentials token of an <Auth0Client> in every proxied request (Bearer), agw-pxdpop
# a DPoP-bound token and a fresh proof signed by the module (EC P-256 key made with openssl).
# Each client is registered in an issuer tenant of its own (t/INSTANCE/), whose token
# requests are counted: one per instance for the whole run, as the token is cached.
# The comparison's "Zipf mix": 2,000 Auth0-shaped RS256 tokens (bench/mint.js --zipf), sent in
# one fixed order where token i comes with probability ~ 1/i^s (top 20% of the users make 80%
# of the requests); every round replays that order from its start.
# Settings (environment): PEERS=1, BENCH_ROUNDS (5), BENCH_SECONDS (6), BENCH_WARMUP (2),
# BENCH_CONNECTIONS (50; 32 under prefork), BENCH_TOKENS (50000 per algorithm), BENCH_COOLDOWN (30),
# BENCH_MEMORY_REQUESTS (1000000), BENCH_MEMORY_MINUTES (8), BENCH_MMAP (off; on is
# Apache's default, see bench/httpd.conf.in), BENCH_MEMORY_CACHE (default: Auth0TokenCache for --memory; 0 gives the
# same run without the cache, for comparison), BENCH_MEMORY_REPEAT (2: each token sent twice in
# a row, so that the cache admits every token; 1: each once, so that it admits none),
# BENCH_MAX_MINUTES (20: the whole run is stopped
# after that), BENCH_ZIPF_TOKENS (2000), BENCH_GRACEFUL_REPEATS (3), BENCH_GRACEFUL_CONNECTIONS
# (8: the load during a graceful restart; the rest of the 32 children stay free for the
# scoreboard polls), BENCH_CHILD_MEMORY_SECONDS (20), BENCH_CHILD_MEMORY_CACHES ("1000 10000
# 100000"), BENCH_CHILD_MEMORY_SMAPS (a directory: /proc/PID/smaps of every child, idle and loaded, are
# saved there), BENCH_CASES (the comparison: only these case ids, plain Apache's always included,
# e.g. "plain-zipf agw-zipf"), BENCH_DPOP_PROOFS (proofs made before each run of the DPoP case; default: 1.5 x the
# case's warm-up req/s x BENCH_SECONDS), BENCH_INSTR_REQUESTS (2000: the requests --instructions
# counts, the Zipf order's first ones), BENCH_PAGES_REQUESTS (200: the requests --pages reads).
# BASELINE=PATH (make bench BASELINE=...): another build of mod_auth0gw.so (e.g. main before a
# change) measured in the same interleaved rounds, as instance "base" with the cases base-same,
# base-rs, base-es, base-flood and base-zipf (with --graceful: a third row, "baseline", restarted
# in the same rounds; with --child-memory: a "baseline" row before each Auth0TokenCache row); the
# end prints each case of this build against the baseline's (before/after in one run: two
# separate runs on a shared machine differ more
# than most changes do).
# BENCH_BUILDS="NAME=PATH ..." (make bench BUILDS=...): more builds of mod_auth0gw.so measured
# on the Zipf mix only, in the same interleaved rounds: instance "build-NAME", case
# "build-NAME-zipf" (NAME: lower-case letters, digits and '-'), each against plain Apache with the
# Zipf mix's headers. For attributing a cost: builds that stop at successive points of the hit path
# (the README's Performance section has such a run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="$ROOT/build/bench"
BUILT_MODULE="$ROOT/build/mod_auth0gw.so"
# httpd maps the module from a private copy: a `make` elsewhere rewrites build/mod_auth0gw.so
# in place, which would change the code under running instances.
MODULE="$B/mod_auth0gw.so"
BASELINE="${BASELINE:-}"
BASE_MODULE="$B/baseline/mod_auth0gw.so"
EXTRA_BUILDS="${BENCH_BUILDS:-}"
TEMPLATE="$ROOT/bench/httpd.conf.in"
LUA="$ROOT/bench/tokens.lua"
ISSUER_DIR="$B/issuer"
TOKENS="$B/tokens"
RESULTS="$B/results.tsv"

MODE=bench
PROFILE_CASE=""
case "${1:-}" in
    "") ;;
    --memory) MODE=memory ;;
    --graceful) MODE=graceful ;;
    --child-memory) MODE="child-memory" ;;
    --instructions) MODE=instructions ;;
    --pages) MODE=pages ;;
    --profile)
        MODE=profile
        PROFILE_CASE="${2:-}"
        [[ -n "$PROFILE_CASE" ]] || { printf 'usage: bench/run.sh --profile CASE\n' >&2; exit 2; } ;;
    *) printf 'usage: bench/run.sh [--memory | --profile CASE | --graceful | --child-memory | --instructions | --pages]\n' >&2; exit 2 ;;
esac

PEERS="${PEERS:-0}"
ROUNDS="${BENCH_ROUNDS:-5}"
SECONDS_PER_RUN="${BENCH_SECONDS:-6}"
WARMUP="${BENCH_WARMUP:-2}"
MPM="${BENCH_MPM:-}"
case "$MODE" in
    graceful|child-memory) MPM="${MPM:-prefork}" ;;
    *) MPM="${MPM:-event}" ;;
esac
# prefork's fixed number of children (bench/httpd.conf.in)
PREFORK_CHILDREN=32
CONNECTIONS="${BENCH_CONNECTIONS:-$([[ "$MPM" == prefork ]] && echo "$PREFORK_CHILDREN" || echo 50)}"
# One wrk thread. wrk runs each thread's init (here: loading its share of a token file, about
# 0.4 s for 50,000 tokens) before starting the next thread, and starts its clock only after the
# last one: with two threads, the first sent requests for the second one's load time that the
# clock did not count, and every token case looked up to 15% faster than it was (measured: plain
# Apache 19,000 req/s with no tokens, "22,400" with a 50,000-token file it ignores). One thread
# keeps plain Apache as busy here (19,400 vs 19,000 req/s with two) and counts true time.
THREADS=1
POOL="${BENCH_TOKENS:-50000}"
# As many distinct bad tokens as good ones: a flood that repeats a few bad tokens would only
# measure the module's memory of signatures it already refused.
FLOOD_TOKENS="$POOL"
COOLDOWN="${BENCH_COOLDOWN:-30}"
MEM_REQUESTS="${BENCH_MEMORY_REQUESTS:-1000000}"
MEM_MINUTES="${BENCH_MEMORY_MINUTES:-8}"
MEM_CHUNK_SECONDS=20
MAX_MINUTES="${BENCH_MAX_MINUTES:-20}"
MMAP="${BENCH_MMAP:-off}"
MEM_CACHE="${BENCH_MEMORY_CACHE:-default}"
MEM_REPEAT="${BENCH_MEMORY_REPEAT:-2}"
ZIPF_TOKENS="${BENCH_ZIPF_TOKENS:-2000}"
# The request order's length: longer than any round sends (about 20,000 req/s x 6 s), so that
# a round never wraps around.
ZIPF_REQUESTS=500000
GRACEFUL_REPEATS="${BENCH_GRACEFUL_REPEATS:-3}"
GRACEFUL_CONNECTIONS="${BENCH_GRACEFUL_CONNECTIONS:-8}"
GRACEFUL_TIMEOUT=60
CM_SECONDS="${BENCH_CHILD_MEMORY_SECONDS:-20}"
CM_CACHES="${BENCH_CHILD_MEMORY_CACHES:-1000 10000 100000}"
CM_SMAPS="${BENCH_CHILD_MEMORY_SMAPS:-}"
DPOP_PROOFS="${BENCH_DPOP_PROOFS:-auto}"
INSTR_REQUESTS="${BENCH_INSTR_REQUESTS:-2000}"
PAGES_REQUESTS="${BENCH_PAGES_REQUESTS:-200}"
ONLY_CASES="${BENCH_CASES:-}"
DPOP_RATE=0            # the DPoP case's req/s in its warm-up (sizes its proof files)
DPOP_MADE=()           # "N proofs in S s", each time bench/dpop.js made them
STATUS_PAGE=0          # 1: every instance gets mod_status' /server-status (--graceful)
AUDIENCE=https://api.agw.test/
URL_PATH=/api/data.json
START_TIMEOUT=15

die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}
say() { printf 'bench: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (package: $2); as root: apt-get install $2"; }
rel() { printf '%s' "${1#"$ROOT"/}"; }

for v in ROUNDS SECONDS_PER_RUN WARMUP CONNECTIONS POOL COOLDOWN MEM_REQUESTS MEM_MINUTES MEM_REPEAT MAX_MINUTES \
    ZIPF_TOKENS GRACEFUL_REPEATS GRACEFUL_CONNECTIONS CM_SECONDS; do
    [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ "$PEERS" == 0 || "$PEERS" == 1 ]] || die "PEERS must be 0 or 1"
[[ "$MMAP" == on || "$MMAP" == off ]] || die "BENCH_MMAP must be on or off"
[[ "$MEM_CACHE" == default || "$MEM_CACHE" =~ ^[0-9]+$ ]] || die "BENCH_MEMORY_CACHE must be default or a number"
[[ "$MPM" == event || "$MPM" == worker || "$MPM" == prefork ]] \
    || die "BENCH_MPM (make bench MPM=...) must be event, worker or prefork (got '$MPM')"
[[ "$DPOP_PROOFS" == auto || "$DPOP_PROOFS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_DPOP_PROOFS must be auto or a number"
[[ "$CM_CACHES" =~ ^[0-9\ ]+$ ]] || die "BENCH_CHILD_MEMORY_CACHES must be numbers separated by spaces"
case "$MODE" in
    memory) [[ "$MPM" != prefork ]] || die "--$MODE watches one child process: use BENCH_MPM=event or worker" ;;
    graceful|child-memory) [[ "$MPM" == prefork ]] || die "--$MODE measures $PREFORK_CHILDREN prefork children: BENCH_MPM must be prefork (got $MPM)" ;;
esac
if [[ "$MPM" == prefork ]] && ((CONNECTIONS > PREFORK_CHILDREN)); then
    say "warning: BENCH_CONNECTIONS=$CONNECTIONS over prefork's $PREFORK_CHILDREN children: the connections" \
        "past $PREFORK_CHILDREN wait for a child (keep-alive), their latency is the KeepAliveTimeout"
fi
ES_POOL="$POOL"
if [[ "$MODE" == memory ]]; then
    # The memory check sends every token REPEAT times in a row and never again: its pool is the
    # request count over REPEAT (a million distinct tokens for the default million requests
    # sent once each), in a directory of its own so that the comparison's pool is kept.
    POOL="${BENCH_TOKENS:-$(((MEM_REQUESTS + MEM_REPEAT - 1) / MEM_REPEAT))}"
    ES_POOL=1
    FLOOD_TOKENS=1
    TOKENS="$B/tokens-memory"
elif [[ "$MODE" == graceful || "$MODE" == child-memory ]]; then
    # one valid token and the Zipf mix; the comparison's large pools are kept
    POOL=1
    ES_POOL=1
    FLOOD_TOKENS=1
    TOKENS="$B/tokens-small"
fi
# wrk cycles through the whole pool. The module caches a token on its second
# sighting while the first is still remembered (about 8,000 first sightings back with the
# default Auth0TokenCache 10000); a pool many times that makes each request a token the module
# has forgotten, as "new token" means. The table's "cache" column shows the hit rate.
[[ "$MODE" != bench && "$MODE" != profile ]] || ((POOL >= 50000)) || say "warning: BENCH_TOKENS=$POOL is under 50000: 'new token' cases may hit the token cache"

need wrk wrk
need node nodejs
need openssl openssl
need curl curl
need perl perl
need apxs apache2-dev
APACHE_BIN="$(apxs -q SBINDIR)/$(apxs -q TARGET)"
APACHE_MODULES="$(apxs -q LIBEXECDIR)"
[[ -x "$APACHE_BIN" ]] || die "$APACHE_BIN not found (package apache2)"
[[ -f "$BUILT_MODULE" ]] || die "$(rel "$BUILT_MODULE") is missing: run \`make bench\` (it builds the module first)"
CLK_TCK="$(getconf CLK_TCK)"

# ---- peers ------------------------------------------------------------------------------------

PEER_PKGS=(libapache2-mod-oauth2 libapache2-mod-auth-openidc)
PEER_NOTES=()

# Installs the peers' Debian packages; their postinst enables them in /etc/apache2, which the
# bench does not use, so what this install enabled is disabled again.
install_peers() {
    local missing=() p was_enabled=()
    for p in "${PEER_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    if [[ "$(id -u)" -ne 0 ]]; then
        die "PEERS=1 needs ${missing[*]}: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}"
    fi
    for p in oauth2 auth_openidc; do
        [[ -e /etc/apache2/mods-enabled/$p.load ]] && was_enabled+=("$p")
    done
    say "installing ${missing[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$B/apt.log" 2>&1 \
        || { tail -n 20 "$B/apt.log" >&2; die "apt-get install ${missing[*]} failed (log above)"; }
    for p in oauth2 auth_openidc; do
        if [[ -e /etc/apache2/mods-enabled/$p.load && ! " ${was_enabled[*]-} " =~ " $p " ]] \
            && command -v a2dismod >/dev/null; then
            a2dismod -q "$p" >/dev/null 2>&1 || true
        fi
    done
}

# ---- processes ----------------------------------------------------------------------------------

WATCHDOG=""
WRK_PID=""             # a wrk in the background (--graceful)
ISSUER_PID=""
INSTANCES=()           # names of started httpd instances
declare -A PORT KIND
# the gateway-client instances whose client has a DPoP key (Auth0ClientDPoPKey)
declare -A CLIENT_DPOP=([agw-pxdpop]=1)

# shellcheck source=../t/fixtures/proc.sh
source "$ROOT/t/fixtures/proc.sh"

stop_instance_dir() {
    local dir=$1 pid
    [[ -f "$dir/httpd.pid" ]] || return 0
    pid="$(cat "$dir/httpd.pid")"
    if pid_is "$pid" "$dir/httpd.conf"; then
        "$APACHE_BIN" -f "$dir/httpd.conf" -k stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" "$START_TIMEOUT" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/httpd.pid"
}

stop_issuer() {
    local pid=${1:-$ISSUER_PID}
    [[ -n "$pid" ]] || return 0
    if pid_is "$pid" issuer.js; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" "$START_TIMEOUT" || kill -KILL "$pid" 2>/dev/null || true
    fi
    ISSUER_PID=""
    rm -f "$B/issuer.pid"
}

cleanup() {
    local name
    if [[ -n "$WRK_PID" ]]; then
        kill "$WRK_PID" 2>/dev/null || true
    fi
    for name in "${INSTANCES[@]-}"; do
        [[ -n "$name" ]] && stop_instance_dir "$B/$name"
    done
    stop_issuer
    if [[ -n "$WATCHDOG" ]]; then
        kill "$WATCHDOG" 2>/dev/null || true
    fi
}

# Leftovers of an interrupted earlier run (found through their pid files only).
stop_leftovers() {
    local d
    for d in "$B"/*/; do
        [[ -f "$d/httpd.pid" ]] && stop_instance_dir "${d%/}"
    done
    if [[ -f "$B/issuer.pid" ]]; then
        stop_issuer "$(cat "$B/issuer.pid")"
    fi
}

# N free loopback ports, asked of the kernel.
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

# ---- the issuer -------------------------------------------------------------------------------

make_certs() {
    bash "$ROOT/t/fixtures/make-pki.sh" "$ISSUER_DIR" bench >/dev/null
}

# Sets ISSUER (its https URL) and ADMIN (its plain-HTTP origin, for the admin API).
# The issuer keeps the port of the previous run when it is free (the tokens name the issuer
# URL, so they can then be reused); else the kernel picks one.
start_issuer() {
    local info="$ISSUER_DIR/issuer.json" log="$B/issuer.log" pid i http_port port=0
    [[ -s "$B/issuer.port" ]] && port="$(cat "$B/issuer.port")"
    [[ "$port" =~ ^[0-9]+$ ]] || port=0
    while :; do
        rm -f "$info"
        # --watch-pid: the issuer ends by itself if this script is killed without its cleanup.
        node "$ROOT/t/fixtures/issuer.js" --port "$port" --http-port 0 --dir "$ISSUER_DIR" \
            --watch-pid $$ </dev/null >"$log" 2>&1 &
        pid=$!
        for ((i = 0; i < START_TIMEOUT * 10; i++)); do
            [[ -s "$info" ]] && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        [[ -s "$info" ]] && break
        kill -0 "$pid" 2>/dev/null || { wait "$pid" || true; }
        if [[ "$port" != 0 ]] && grep -q EADDRINUSE "$log"; then
            port=0
            continue
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "the issuer exited at start (log above)"; }
        break
    done
    [[ -s "$info" ]] || { kill "$pid" 2>/dev/null || true; die "the issuer did not start in ${START_TIMEOUT}s ($(rel "$log"))"; }
    read -r ISSUER_PID ISSUER http_port < <(perl -MJSON::PP -e '
        my $j = decode_json(do { local $/; <STDIN> });
        print "$j->{pid} $j->{issuer} $j->{http_port}\n"' <"$info")
    echo "$ISSUER_PID" >"$B/issuer.pid"
    sed -E 's|^https://127\.0\.0\.1:([0-9]+)/$|\1|' <<<"$ISSUER" >"$B/issuer.port"
    ADMIN="http://127.0.0.1:$http_port"
    say "issuer: $ISSUER (pid $ISSUER_PID)"
}

# admin_post OP JSON [TENANT]: the default tenant's admin API, or t/TENANT/'s.
admin_post() {
    local at="${3:+t/$3/}admin/$1"
    curl -sf -m 10 -H 'Content-Type: application/json' -d "$2" "$ADMIN/$at" >/dev/null \
        || die "issuer $at failed"
}

# Token requests a tenant's token endpoint has answered since its client was registered.
token_requests() {
    curl -sf -m 10 "$ADMIN/t/$1/admin/stats" | perl -MJSON::PP -e 'print decode_json(do { local $/; <STDIN> })->{token_requests}, "\n"' \
        || die "issuer t/$1/admin/stats failed"
}

jwks_fetches() {
    curl -sf -m 10 "$ADMIN/admin/stats" | perl -MJSON::PP -e 'print decode_json(do { local $/; <STDIN> })->{jwks_fetches}, "\n"'
}

mint_tokens() {
    # The issuer makes (and saves) its current RS256 and ES256 keys on first use.
    admin_post mint '{"alg":"RS256"}'
    admin_post mint '{"alg":"ES256"}'
    local t0=$SECONDS out
    out="$(node "$ROOT/bench/mint.js" --state "$ISSUER_DIR" --out "$TOKENS" --count "$POOL" \
        --es256 "$ES_POOL" --flood "$FLOOD_TOKENS" --audience "$AUDIENCE" --reuse \
        --zipf "$ZIPF_TOKENS" --zipf-requests "$ZIPF_REQUESTS")" || die "minting the tokens failed"
    if [[ "$out" == reused ]]; then
        say "reusing the tokens of an earlier run (same issuer URL and keys, valid for 2 more hours); new Zipf mix"
    else
        say "minted $POOL RS256 + $ES_POOL ES256 + $FLOOD_TOKENS bad-signature tokens in $((SECONDS - t0))s"
    fi
    say "Zipf mix: $(zipf_info)"
    node "$ROOT/bench/dpop.js" token --state "$ISSUER_DIR" --out "$TOKENS" --audience "$AUDIENCE" \
        || die "minting the DPoP-bound token failed"
}

# dpop_proofs INSTANCE SECONDS [COUNT]: fresh proofs for the DPoP case against INSTANCE, enough
# for SECONDS of requests (a proof is taken once, and for 60 s plus Auth0Leeway), and its state
# file reset so that wrk starts at the first of them.
dpop_proofs() {
    local n=${3:-$DPOP_PROOFS} out
    if [[ "$n" == auto ]]; then
        n=$((DPOP_RATE > 0 ? DPOP_RATE * $2 * 3 / 2 : 25000 * $2))
        ((n >= 10000)) || n=10000
    fi
    out="$(node "$ROOT/bench/dpop.js" proofs --out "$TOKENS" --count "$n" \
        --url "http://127.0.0.1:${PORT[$1]}$URL_PATH")" || die "making DPoP proofs failed"
    ((n == 1)) || DPOP_MADE+=("$out")
    rm -f "$B/state/agw-dpop.pos"
}

# One line on the Zipf mix's tokens and order (bench/mint.js's zipf.json).
zipf_info() {
    perl -MJSON::PP -e '
        my $z = decode_json(do { local $/; <STDIN> });
        printf "%d distinct Auth0-shaped RS256 tokens (%d-%d bytes, exp in 1 h);\none fixed order of %d requests, "
            . "P(token i) ~ 1/i^%.3f: the top 20%% of the tokens are %.1f%% of it",
            @$z{qw(tokens bytes_min bytes_max requests s)}, 100 * $z->{top20_share};' <"$TOKENS/zipf.json"
}

# ---- httpd instances ------------------------------------------------------------------------------

run_user() {
    if [[ "$(id -u)" -eq 0 ]]; then
        RUN_USER=www-data RUN_GROUP=www-data
        getent passwd "$RUN_USER" >/dev/null || RUN_USER=nobody
        getent group "$RUN_GROUP" >/dev/null || RUN_GROUP=nogroup
    else
        RUN_USER="$(id -un)" RUN_GROUP="$(id -gn)"
    fi
}

write_docroot() {
    mkdir -p "$B/htdocs/api"
    printf '%s\n' '{"status":"ok","service":"orders","items":[{"id":1,"sku":"A-100","qty":2},{"id":2,"sku":"B-200","qty":1}]}' \
        >"$B/htdocs/api/data.json"
    chmod -R a+rX "$B/htdocs" "$ISSUER_DIR/ca.pem"
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u "$RUN_USER" -- test -r "$B/htdocs/api/data.json" \
            || die "$RUN_USER cannot read $(rel "$B/htdocs"): the repository must be readable by $RUN_USER"
    fi
}

# new_instance NAME KIND [TOKEN_CACHE]: writes its configuration (not started yet).
new_instance() {
    local name=$1 kind=$2 cache=${3:-default} dir="$B/$1" line
    mkdir -p "$dir/run"
    chmod 755 "$dir"
    local dpop_line="# Auth0ClientDPoPKey: none (Bearer tokens)" module="$MODULE"
    [[ "$name" == base || "$name" == cm-base-* ]] && module="$BASE_MODULE"
    [[ "$name" == build-* ]] && module="$B/builds/${name#build-}.so"
    if [[ "$cache" == default ]]; then line="# Auth0TokenCache: default"; else line="Auth0TokenCache $cache"; fi
    [[ -n "${CLIENT_DPOP[$name]-}" ]] && dpop_line="Auth0ClientDPoPKey file:$dir/dpop-key.pem"
    # the proxies' backend runs the event MPM whatever BENCH_MPM says: under prefork the three
    # reverse proxies' 96 kept-alive backend connections would each hold one of its 32
    # children (the second proxy's requests then found none free and were never answered);
    # event parks idle connections without a thread
    local mpm="$MPM"
    [[ "$name" == backend ]] && mpm=event
    {
        printf 'Define KIND_%s\n' "$kind"
        [[ "$kind" == PROXY || "$kind" == AGWPX ]] && printf 'Define PROXIED\n'
        ((STATUS_PAGE)) && printf 'Define BENCH_STATUS\n'
        sed -e "s|@SERVER_ROOT@|$dir|g" -e "s|@PORT@|${PORT[$name]}|g" -e "s|@MPM@|$mpm|g" \
            -e "s|@APACHE_MODULES@|$APACHE_MODULES|g" -e "s|@MODULE@|$module|g" \
            -e "s|@RUN_USER@|$RUN_USER|g" -e "s|@RUN_GROUP@|$RUN_GROUP|g" \
            -e "s|@DOCROOT@|$B/htdocs|g" -e "s|@ISSUER@|$ISSUER|g" \
            -e "s|@ISSUER_CA@|$ISSUER_DIR/ca.pem|g" -e "s|@AUDIENCE@|$AUDIENCE|g" \
            -e "s|@COOLDOWN@|$COOLDOWN|g" -e "s|@TOKEN_CACHE_LINE@|$line|g" \
            -e "s|@MMAP@|$MMAP|g" -e "s|@BACKEND@|http://127.0.0.1:${PORT[backend]:-0}|g" \
            -e "s|@ECHO@|$ADMIN/echo|g" -e "s|@CLIENT_TENANT@|$name|g" \
            -e "s|@CLIENT_DPOP_LINE@|$dpop_line|g" "$TEMPLATE"
    } >"$dir/httpd.conf"
    if grep -n '@[A-Z_]*@' "$dir/httpd.conf" >&2; then
        die "unreplaced @NAME@ values in $(rel "$dir/httpd.conf") (lines above)"
    fi
    KIND[$name]=$kind
}

# prepare_client NAME: the gateway-client instance's client secret (and, for a DPoP client, its
# EC P-256 key) in its directory, and its client registered in the issuer tenant t/NAME/ (whose
# counters start from zero; the key is made anew every run).
prepare_client() {
    local name=$1 dir="$B/$1" secret dpop=false
    mkdir -p "$dir"
    secret="$(openssl rand -hex 24)"
    (umask 077 && printf '%s\n' "$secret" >"$dir/client.secret")
    if [[ -n "${CLIENT_DPOP[$name]-}" ]]; then
        dpop=true
        (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/dpop-key.pem" 2>/dev/null) \
            || die "openssl could not make the DPoP key $(rel "$dir/dpop-key.pem")"
    fi
    admin_post reset '{}' "$name"
    admin_post client "{\"client_id\":\"bench-gateway\",\"client_secret\":\"$secret\",\"scope\":\"read:orders\",\"expires_in\":86400,\"dpop\":$dpop}" "$name"
}

# check_injection NAME: one request with the caller's token through the instance's
# /echo-check/ (the issuer's echo backend): the backend must get the client's token in place of
# the caller's, as Bearer, or for a DPoP client as DPoP with a proof the issuer verifies
# (admin/dpopcheck: htm GET, htu the backend URL, ath of that token). Prints what it saw.
check_injection() {
    local name=$1 caller echo scheme token proof check want=Bearer
    [[ -n "${CLIENT_DPOP[$name]-}" ]] && want=DPoP
    caller="$(head -n 1 "$TOKENS/same.txt")"
    echo="$(curl -sf -m 10 -H "Authorization: Bearer $caller" "http://127.0.0.1:${PORT[$name]}/echo-check/data.json")" \
        || die "$name: the request through /echo-check/ failed (see $(rel "$B/$name/error_log"))"
    read -r scheme token proof < <(perl -MJSON::PP -e '
        my %h; $h{lc $_->[0]} //= $_->[1] for @{ decode_json(do { local $/; <STDIN> })->{headers} };
        my ($scheme, $token) = split / /, $h{authorization} // "- -";
        print join(" ", $scheme, $token // "-", $h{dpop} // "-"), "\n"' <<<"$echo")
    [[ "$scheme" == "$want" ]] || die "$name: the backend got Authorization: $scheme ..., not $want"
    [[ "$token" != "$caller" ]] || die "$name: the backend got the caller's token, not the client's"
    if [[ "$want" == DPoP ]]; then
        [[ "$proof" != - ]] || die "$name: the backend got a DPoP token without a DPoP proof"
        check="$(curl -sf -m 10 -H 'Content-Type: application/json' \
            -d "{\"proof\":\"$proof\",\"htm\":\"GET\",\"htu\":\"$ADMIN/echo/data.json\",\"token\":\"$token\"}" \
            "$ADMIN/t/$name/admin/dpopcheck")" || die "issuer t/$name/admin/dpopcheck failed"
        [[ "$check" == *'"ok":true'* ]] || die "$name: the issuer does not accept the DPoP proof the backend got: $check"
        printf 'Authorization: DPoP <client token>, DPoP: <a proof the issuer verifies>'
    else
        printf 'Authorization: Bearer <client token>'
    fi
}

start_instance() {
    local name=$1 dir="$B/$1" i code
    rm -f "$dir/error_log"
    "$APACHE_BIN" -t -f "$dir/httpd.conf" >"$dir/configtest.log" 2>&1 \
        || { cat "$dir/configtest.log" >&2; die "apache2 -t rejected $(rel "$dir/httpd.conf") (above)"; }
    "$APACHE_BIN" -f "$dir/httpd.conf" -k start
    INSTANCES+=("$name")
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$name]}$URL_PATH" || true)"
        [[ "$code" != 000 ]] && break
        sleep 0.1
    done
    [[ -f "$dir/httpd.pid" && "$code" != 000 ]] \
        || { tail -n 20 "$dir/error_log" >&2 || true; die "$name did not start (error_log above)"; }
}

# The parent and children of an instance so far: "TICKS SWITCHES FAULTS", their CPU time in
# clock ticks (utime + stime), context switches (voluntary + involuntary, every thread) and
# minor page faults.
instance_stats() {
    local parent
    parent="$(cat "$B/$1/httpd.pid")"
    perl -e '
        my ($parent, $ticks, $sw, $flt) = (shift, 0, 0, 0);
        for my $f (glob "/proc/[0-9]*/stat") {
            open(my $fh, "<", $f) or next;
            my $s = <$fh>;
            close $fh;
            next unless defined $s && $s =~ /^(\d+) \(.*\) (.*)$/s;
            my ($pid, @f) = ($1, split / /, $2);
            # after the command: state ppid ... minflt (8th) ... utime (12th) stime (13th)
            next unless $pid == $parent || $f[1] == $parent;
            $ticks += $f[11] + $f[12];
            $flt += $f[7];
            for my $t (glob "/proc/$pid/task/*/status") {
                open(my $th, "<", $t) or next;
                while (<$th>) { $sw += $1 if /^(?:non)?voluntary_ctxt_switches:\s+(\d+)/ }
            }
        }
        print "$ticks $sw $flt\n";' "$parent"
}

instance_cpu_ticks() {
    local s
    s="$(instance_stats "$1")"
    printf '%s\n' "${s%% *}"
}

# "SWITCHES FAULTS" of the instance so far (instance_stats).
instance_ctx_switches() {
    local s
    s="$(instance_stats "$1")"
    printf '%s\n' "${s#* }"
}

instance_children() {
    local parent
    parent="$(cat "$B/$1/httpd.pid")"
    perl -e '
        my $parent = shift;
        for my $f (glob "/proc/[0-9]*/stat") {
            open(my $fh, "<", $f) or next;
            my $s = <$fh>;
            close $fh;
            print "$1\n" if defined $s && $s =~ /^(\d+) \(.*\) \S+ (\d+) /s && $2 == $parent;
        }' "$parent"
}

# Token-cache counters of an mod_auth0gw instance: "hits misses entries bytes evictions", or
# "- - - - -" for other kinds. hits and misses are the host's (all processes) when the module
# has its shared memory (counters_scope); entries, bytes and evictions are the answering
# process's.
cache_stats() {
    if [[ "${KIND[$1]}" != AGW ]]; then
        echo "- - - - -"
        return 0
    fi
    curl -sf -m 10 "http://127.0.0.1:${PORT[$1]}/auth0-status?json" | perl -MJSON::PP -e '
        my $t = decode_json(do { local $/; <STDIN> })->{token_cache} || {};
        print join(" ", map { $t->{$_} // 0 } qw(hits misses entries bytes evictions)), "\n"' \
        || echo "- - - - -"
}

# ---- cases -------------------------------------------------------------------------------------------

CASES=()     # "id|label|instance|token file|expect (200 or 401)"
declare -A REF  # the case each case's ratios are to (default: plain)

# add_case ID LABEL INSTANCE FILE EXPECT [REFERENCE]
add_case() {
    CASES+=("$1|$2|$3|$4|$5")
    REF[$1]=${6:-plain}
}

# Checks one request of a case gives the status the case is about; prints what it got.
probe() {
    local inst=$1 file=$2 token code
    if [[ "$file" == - ]]; then
        code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$inst]}$URL_PATH" || true)"
    elif [[ "$file" == dpop.txt ]]; then
        # a proof of its own (bench/dpop.js), never one of those wrk will send
        dpop_proofs "$inst" 1 1
        read -r token proof <"$TOKENS/dpop-probe.txt"
        code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: DPoP $token" \
            -H "DPoP: $proof" "http://127.0.0.1:${PORT[$inst]}$URL_PATH" || true)"
    else
        token="$(head -n 1 "$TOKENS/$file")"
        code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
            "http://127.0.0.1:${PORT[$inst]}$URL_PATH" || true)"
    fi
    printf '%s' "$code"
}

# wrk_args INSTANCE FILE CASEID [REPEAT]: the URL and tokens.lua's arguments. A token file
# with an order beside it (zipf.txt, zipf.order) is sent in that order, from its start on every
# run (no state file), so that every round sends the same sequence.
wrk_args() {
    local inst=$1 file=$2 id=$3 repeats=${4:-1} tokfile state order=-
    tokfile="$TOKENS/$file"
    state="$B/state/$id.pos"
    [[ "$file" == - ]] && tokfile=-
    if [[ "$file" != - && -f "$TOKENS/${file%.txt}.order" ]]; then
        order="$TOKENS/${file%.txt}.order"
        state=-
    fi
    printf '%s\n' "http://127.0.0.1:${PORT[$inst]}$URL_PATH" -- "$URL_PATH" "$tokfile" "$state" \
        "$THREADS" "$repeats" "$order"
}

# run_wrk INSTANCE FILE CASEID SECONDS [REPEAT]: prints wrk's RESULT line.
run_wrk() {
    local inst=$1 file=$2 id=$3 secs=$4 repeats=${5:-1} out args
    mapfile -t args < <(wrk_args "$inst" "$file" "$id" "$repeats")
    out="$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "${secs}s" --timeout 5s -s "$LUA" "${args[@]}" 2>&1 && times)" \
        || { printf '%s\n' "$out" >&2; die "wrk failed"; }
    grep -q '^RESULT ' <<<"$out" || { printf '%s\n' "$out" >&2; die "wrk printed no RESULT line"; }
    # `times` in the substitution's shell: its children's CPU time, that is wrk's.
    printf '%s wrk_ticks=%s\n' "$(grep '^RESULT ' <<<"$out")" "$(tail -n 1 <<<"$out" | perl -e '
        my ($tck, $t) = (shift, 0);
        while (<STDIN>) { $t += $1 * 60 + $2 while /(\d+)m([\d.]+)s/g }
        printf "%d\n", $t * $tck + 0.5;' "$CLK_TCK")"
}

# CPU ticks so far of the instance that serves a proxied case's requests (0 for the others): its
# work is the case's own, not other work on the machine.
backend_ticks() {
    case "${KIND[$1]}" in
        PROXY|AGWPX) instance_cpu_ticks backend ;;
        *) echo 0 ;;
    esac
}

# "busy total" clock ticks of the whole machine so far (steal counts as busy: another guest had
# the CPU).
machine_ticks() {
    perl -ane 'if ($F[0] eq "cpu") {
        my ($u, $n, $s, $i, $w, $irq, $si, $st) = @F[1..8];
        print $u + $n + $s + $irq + $si + $st, " ", $u + $n + $s + $i + $w + $irq + $si + $st, "\n"; }' /proc/stat
}

process_ticks() {
    perl -e 'open(my $fh, "<", "/proc/$ARGV[0]/stat") or do { print "0\n"; exit };
        my $s = <$fh>; $s =~ /\) (.*)$/s; my @f = split / /, $1; print $f[11] + $f[12], "\n"' "$1"
}

field() { sed -E "s/.*[[:space:]]$1=([0-9]+).*/\\1/" <<<"$2"; }

measure_case() {
    local spec=$1 round=$2 id label inst file expect jw0 jw1 cpu0 cpu1 c0 c1 res m0 m1 iss0 iss1 be0 be1 other cs0 cs1
    IFS='|' read -r id label inst file expect <<<"$spec"
    [[ "$file" == dpop.txt ]] && dpop_proofs "$inst" "$SECONDS_PER_RUN"
    c0="$(cache_stats "$inst")"
    jw0="$(jwks_fetches)"
    iss0="$(process_ticks "$ISSUER_PID")"
    be0="$(backend_ticks "$inst")"
    m0="$(machine_ticks)"
    cs0="$(instance_ctx_switches "$inst")"
    cpu0="$(instance_cpu_ticks "$inst")"
    res="$(run_wrk "$inst" "$file" "$id" "$SECONDS_PER_RUN")"
    cpu1="$(instance_cpu_ticks "$inst")"
    cs1="$(instance_ctx_switches "$inst")"
    m1="$(machine_ticks)"
    be1="$(backend_ticks "$inst")"
    iss1="$(process_ticks "$ISSUER_PID")"
    jw1="$(jwks_fetches)"
    c1="$(cache_stats "$inst")"
    # CPU used by anything but this httpd (and its backend), wrk and the issuer, as a share of the machine:
    # other helpers' work, or another guest's (steal), that slowed this round down.
    other="$(perl -e 'my ($b0, $t0, $b1, $t1, $ours) = @ARGV; my $o = ($b1 - $b0) - $ours;
        printf "%.1f", $t1 > $t0 ? 100 * ($o > 0 ? $o : 0) / ($t1 - $t0) : 0' \
        ${m0} ${m1} $(( (cpu1 - cpu0) + (be1 - be0) + (iss1 - iss0) + $(field wrk_ticks "$res") )))"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$round" \
        "$(field requests "$res")" "$(field duration_us "$res")" "$(field p99_us "$res")" \
        "$((cpu1 - cpu0))" "$(field status_errors "$res")" \
        "$(( $(field connect "$res") + $(field read "$res") + $(field write "$res") + $(field timeout "$res") ))" \
        "$((jw1 - jw0))" "$c0" "$c1" "$other" "$((${cs1% *} - ${cs0% *})) $((${cs1#* } - ${cs0#* }))" >>"$RESULTS"
    printf '  round %d  %-40s %8.0f req/s\n' "$round" "$label" \
        "$(perl -e 'printf "%.0f", $ARGV[0] / ($ARGV[1] / 1e6)' "$(field requests "$res")" "$(field duration_us "$res")")" >&2
}

# print_table [TOKEN_REQUESTS]: TOKEN_REQUESTS "INSTANCE=N ...", the token requests each
# gateway client's issuer tenant saw during the whole run.
print_table() {
    local specs spec tokens=${1:-}
    specs="$(for spec in "${CASES[@]}"; do printf '%s|%s\n' "$spec" "${REF[${spec%%|*}]}"; done)"
    perl -e '
        use strict; use warnings; use List::Util qw(sum max);
        my ($results, $specs, $tck, $secs, $cooldown, $rounds, $conns, $wthreads, $tokens) = @ARGV;
        my (@order, %label, %expect, %ref, %rows);
        for (split /\n/, $specs) {
            my ($id, $label, $inst, $file, $expect, $ref) = split /\|/;
            push @order, $id; $label{$id} = $label; $expect{$id} = $expect; $ref{$id} = $ref;
        }
        open(my $fh, "<", $results) or die;
        while (<$fh>) {
            chomp;
            my ($id, $round, $req, $dur, $p99, $ticks, $st, $sock, $jw, $c0, $c1, $other, $cs) = split /\t/;
            push @{ $rows{$id} }, { rps => $req / ($dur / 1e6), p99 => $p99 / 1000, req => $req, other => $other,
                cs => (split / /, $cs)[0] / ($req || 1), flt => (split / /, $cs)[1] / ($req || 1),
                cpu => $ticks * (1e6 / $tck) / ($req || 1), st => $st, sock => $sock, jw => $jw,
                c0 => [split / /, $c0], c1 => [split / /, $c1] };
        }
        sub median { my @s = sort { $a <=> $b } @_; my $n = @s; $n % 2 ? $s[$n/2] : ($s[$n/2-1] + $s[$n/2]) / 2 }
        my %m;
        for my $id (@order) {
            my $r = $rows{$id} or next;
            my %x = (rps => median(map { $_->{rps} } @$r), p99 => median(map { $_->{p99} } @$r),
                     cpu => median(map { $_->{cpu} } @$r), cs => median(map { $_->{cs} } @$r),
                     flt => median(map { $_->{flt} } @$r), jw => sum(map { $_->{jw} } @$r),
                     jwmax => max(map { $_->{jw} } @$r), req => sum(map { $_->{req} } @$r),
                     st => sum(map { $_->{st} } @$r), sock => sum(map { $_->{sock} } @$r),
                     other => max(map { $_->{other} } @$r));
            my ($h, $mi) = (0, 0);
            for (@$r) {
                next if $_->{c0}[0] eq "-" || $_->{c1}[0] eq "-";
                $h += $_->{c1}[0] - $_->{c0}[0]; $mi += $_->{c1}[1] - $_->{c0}[1];
            }
            $x{hit} = ($h + $mi) ? sprintf("%.0f%%", 100 * $h / ($h + $mi)) : "-";
            my $good = $expect{$id} == 200 ? $x{req} - $x{st} : $x{st};
            $x{as} = sprintf("%.1f%% %s", 100 * $good / ($x{req} || 1), $expect{$id});
            $m{$id} = \%x;
        }
        my $p = $m{plain} or die "no plain Apache results\n";
        printf "\nmod_auth0gw benchmark: %d rounds x %ds per case, interleaved; wrk %d thread(s), %d connections;\n", $rounds, $secs, $wthreads, $conns;
        printf "medians of the rounds; CPU = utime+stime of all httpd processes of the instance / requests;\n";
        printf "JWKS = fetches from the issuer during the case (sum of rounds); answered = share of requests\n";
        printf "with the status the case expects; cache = the module'"'"'s verified-token cache hit rate;\n";
        printf "xplain = ratio to plain Apache in this run (the Zipf case: to plain Apache with its headers;\n";
        printf "the proxied cases: to the plain reverse proxy);\n";
        printf "other = CPU share of the machine used by anything but this httpd (and a proxied case'"'"'s backend),\n";
        printf "wrk and the issuer (worst round).\n\n";
        my $fmt = "%-44s %9s %6s %8s %6s %9s %6s %6s %14s %6s %6s\n";
        printf $fmt, "case", "req/s", "xplain", "p99 ms", "xplain", "CPU us/r", "xplain", "JWKS", "answered", "cache", "other";
        printf $fmt, "-" x 44, "-" x 9, "-" x 6, "-" x 8, "-" x 6, "-" x 9, "-" x 6, "-" x 6, "-" x 14, "-" x 6, "-" x 6;
        for my $id (@order) {
            my $x = $m{$id} or next;
            my $p = $m{$ref{$id}} || $p;
            printf $fmt, $label{$id}, sprintf("%.0f", $x->{rps}), sprintf("%.2f", $x->{rps} / $p->{rps}),
                sprintf("%.2f", $x->{p99}), sprintf("%.2f", $x->{p99} / $p->{p99}),
                sprintf("%.1f", $x->{cpu}), sprintf("%.2f", $x->{cpu} / $p->{cpu}),
                $x->{jw}, $x->{as}, $x->{hit}, sprintf("%.0f%%", $x->{other});
        }
        for my $z (grep { $m{$_} } qw(agw-zipf agw-zipf-b)) {
            my $x = $m{$z};
            my $r = $m{$ref{$z}} || $p;
            printf "\n%s: %.3f of plain Apache'"'"'s req/s, p99 %.2f ms (plain %.2f), CPU %.1f us/request (plain %.1f),\n"
                . "verified-token cache hit rate %s (host-wide hits / (hits + misses), all rounds),\n"
                . "context switches of httpd threads per request %.2f (plain %.2f), minor page faults per request %.3f (plain %.3f)\n",
                $label{$z}, $x->{rps} / $r->{rps}, $x->{p99}, $r->{p99}, $x->{cpu}, $r->{cpu}, $x->{hit}, $x->{cs}, $r->{cs}, $x->{flt}, $r->{flt};
        }
        if (my $x = $m{"agw-dpop"} and my $s = $m{"agw-same"}) {
            printf "\nDPoP: a new proof per request (one ES256 verify, its jti written to the Auth0Cache) against\n"
                . "the same token as Bearer: %+.1f us CPU/request (%.1f vs %.1f), req/s x%.3f, p99 %.2f vs %.2f ms\n",
                $x->{cpu} - $s->{cpu}, $x->{cpu}, $s->{cpu}, $x->{rps} / $s->{rps}, $x->{p99}, $s->{p99};
        }
        if (my $r = $m{"px-plain"}) {
            print "\nproxied (mod_proxy_http to a plain Apache backend; ratios to the plain reverse proxy):\n";
            for my $id (grep { $m{$_} } qw(agw-px agw-pxdpop)) {
                my $x = $m{$id};
                printf "  %-42s req/s x%.3f, p99 %.2f ms (plain proxy %.2f), CPU %+.1f us/request over it (%.1f vs %.1f)\n",
                    $label{$id}, $x->{rps} / $r->{rps}, $x->{p99}, $r->{p99}, $x->{cpu} - $r->{cpu}, $x->{cpu}, $r->{cpu};
            }
            printf "  token requests the issuer saw, whole run (1 per instance: the token is cached): %s\n",
                join(", ", split / /, $tokens) if $tokens;
        }
        if (my $x = $m{"agw-pxdpop"} and my $s = $m{"agw-px"}) {
            printf "\nDPoP, proxied: a DPoP-bound backend token and a fresh proof per request (one ES256 sign)\n"
                . "against the client'"'"'s Bearer token: %+.1f us CPU/request (%.1f vs %.1f), req/s x%.3f, p99 %.2f vs %.2f ms\n",
                $x->{cpu} - $s->{cpu}, $x->{cpu}, $s->{cpu}, $x->{rps} / $s->{rps}, $x->{p99}, $s->{p99};
        }
        if (grep { /^base-/ } keys %m) {
            print "\nthis build against the baseline build (BASELINE), same rounds: req/s and CPU/request ratios\n";
            for my $case (qw(same rs es flood zipf)) {
                my ($x, $b) = ($m{"agw-$case"}, $m{"base-$case"});
                next unless $x && $b;
                my $r = $m{$ref{"agw-$case"}} || $p;
                printf "  %-42s req/s x%.3f (xplain %.2f vs %.2f), CPU/request x%.3f (%.1f vs %.1f us)\n",
                    $label{"agw-$case"}, $x->{rps} / $b->{rps}, $x->{rps} / $r->{rps}, $b->{rps} / $r->{rps},
                    $x->{cpu} / $b->{cpu}, $x->{cpu}, $b->{cpu};
            }
        }
        my $sockerr = sum(map { $m{$_} ? $m{$_}{sock} : 0 } @order);
        printf "\nsocket errors/timeouts seen by wrk: %d\n", $sockerr;
        my @t = (["agw-same", ">=", 0.95, "same token req/s"], ["agw-rs", ">=", 0.75, "new RS256 req/s"],
                 ["agw-es", ">=", 0.55, "new ES256 req/s"], ["agw-flood", ">=", 0.70, "bad-signature flood req/s"]);
        print "\ntargets (issue 5), as ratios to plain Apache in this run:\n";
        for (@t) {
            my ($id, $op, $want, $what) = @$_;
            my $x = $m{$id} or next;
            my $got = $x->{rps} / $p->{rps};
            printf "  %-28s %.3f (target %s %.2f)  %s\n", $what, $got, $op, $want, $got >= $want ? "met" : "MISSED";
        }
        if (my $x = $m{"agw-same"}) {
            my $got = $x->{cpu} / $p->{cpu};
            printf "  %-28s %.3f (target <= 1.10)  %s\n", "CPU/request, cached token", $got, $got <= 1.10 ? "met" : "MISSED";
        }
        if (my $x = $m{"agw-flood"}) {
            my $allowed = int(($secs + $cooldown - 1) / $cooldown);
            printf "  %-28s at most %d in one %ds round (allowed %d per %ds cooldown)  %s\n",
                "JWKS fetches under flood", $x->{jwmax}, $secs, $allowed, $cooldown,
                $x->{jwmax} <= $allowed ? "met" : "MISSED";
        }
    ' "$RESULTS" "$specs" "$CLK_TCK" "$SECONDS_PER_RUN" "$COOLDOWN" "$ROUNDS" "$CONNECTIONS" "$THREADS" "$tokens"
}

# ---- the comparison -----------------------------------------------------------------------------

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The MPM's processes and threads (bench/httpd.conf.in).
mpm_setup() {
    if [[ "$MPM" == prefork ]]; then
        printf '%d children (StartServers, Min/MaxSpareServers, MaxRequestWorkers, ServerLimit %d)' \
            "$PREFORK_CHILDREN" "$PREFORK_CHILDREN"
    else
        printf 'one child x 64 threads (ServerLimit 1, ThreadsPerChild 64)'
    fi
}

# Whether an mod_auth0gw instance's counters (and so the cache hit rate) are the host's.
counters_scope() {
    local shared
    shared="$(curl -sf -m 10 "http://127.0.0.1:${PORT[$1]}/auth0-status?json" | perl -MJSON::PP -e '
        print decode_json(do { local $/; <STDIN> })->{counters}{shared_memory} ? "yes" : "no"')" || shared="?"
    case "$shared" in
        yes) printf 'Cache hits and misses are the module'"'"'s host-wide counters (/auth0-status?json token_cache).' ;;
        no) printf 'WARNING: the module has no shared memory: hits and misses are one process'"'"'s only.' ;;
        *) printf 'WARNING: the status page of %s did not answer: scope of the counters unknown.' "$1" ;;
    esac
}

# Which build was measured: the commit, whether the module's sources differ from it, and the
# start of the copied .so's SHA-256.
module_version() {
    local rev dirty=""
    rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no git")"
    if [[ "$rev" != "no git" ]] && ! git -C "$ROOT" diff --quiet HEAD -- src mod_auth0gw 2>/dev/null; then
        dirty=" + uncommitted changes in src/ or mod_auth0gw/"
    fi
    printf 'commit %s%s, mod_auth0gw.so sha256 %s' "$rev" "$dirty" "$(sha256sum "$MODULE" | cut -c1-12)"
    [[ -z "$BASELINE" ]] || printf '; baseline: %s, sha256 %s' "$BASELINE" "$(sha256sum "$BASE_MODULE" | cut -c1-12)"
}

# Every case: "id|label|instance|token file|expected status". The plain instance gets the
# same Authorization header (it ignores it), so that every case sends the same request bytes
# and only the gate's work differs.
define_cases() {
    add_case plain "plain Apache (no auth)" plain same.txt 200
    add_case agw-same "auth0gw: same RS256 token" agw same.txt 200
    add_case agw-rs "auth0gw: new RS256 token per request" agw rs256.txt 200
    add_case agw-es "auth0gw: new ES256 token per request" agw es256.txt 200
    add_case agw-flood "auth0gw: bad-signature flood" agw flood.txt 401
    add_case agw-nocache "auth0gw, Auth0TokenCache 0: same RS256" agw-nocache same.txt 200
    # One DPoP-bound RS256 token (cnf.jkt), a new ES256 proof per request (bench/dpop.js)
    add_case agw-dpop "auth0gw: DPoP token, new proof per request" agw dpop.txt 200
    # Plain Apache with the same (longer) Authorization headers in the same order: the Zipf
    # case's reference.
    add_case plain-zipf "plain Apache, Zipf-mix headers" plain zipf.txt 200
    add_case agw-zipf "auth0gw: Zipf mix, 2,000 users" agw zipf.txt 200 plain-zipf
    # Proxied to the backend instance, the same caller's token everywhere (the plain proxy
    # forwards it, the gateway client replaces it): ratios to the plain reverse proxy.
    add_case px-plain "plain Apache reverse proxy" px-plain same.txt 200 px-plain
    add_case agw-px "proxied, client-credentials token (Bearer)" agw-px same.txt 200 px-plain
    add_case agw-pxdpop "proxied, DPoP-bound token, proof/request" agw-pxdpop same.txt 200 px-plain
    if [[ -n "$BASELINE" ]]; then
        add_case base-same "baseline build: same RS256 token" base same.txt 200
        add_case base-rs "baseline build: new RS256 token per request" base rs256.txt 200
        add_case base-es "baseline build: new ES256 token per request" base es256.txt 200
        add_case base-flood "baseline build: bad-signature flood" base flood.txt 401
        add_case base-zipf "baseline build: Zipf mix, 2,000 users" base zipf.txt 200 plain-zipf
    fi
    if ((PEERS)); then
        add_case oauth2-same "mod_oauth2: same RS256 token" oauth2 same.txt 200
        add_case oauth2-rs "mod_oauth2: new RS256 token per request" oauth2 rs256.txt 200
        add_case oauth2-es "mod_oauth2: new ES256 token per request" oauth2 es256.txt 200
        add_case oauth2-flood "mod_oauth2: bad-signature flood" oauth2 flood.txt 401
        add_case openidc-same "mod_auth_openidc: same RS256 token" openidc same.txt 200
        add_case openidc-rs "mod_auth_openidc: new RS256 token per request" openidc rs256.txt 200
        add_case openidc-es "mod_auth_openidc: new ES256 token per request" openidc es256.txt 200
        add_case openidc-flood "mod_auth_openidc: bad-signature flood" openidc flood.txt 401
    fi
}

# start_instances NAME...: configures and starts these instances on free ports (a reverse
# proxy's backend first, also when not named).
start_instances() {
    local ports i names=()
    for name in "$@"; do
        if [[ "$name" == px-plain || "$name" == agw-px* ]] && [[ " $* " != *" backend "* ]]; then names=(backend); fi
    done
    names+=("$@")
    read -r -a ports <<<"$(free_ports "${#names[@]}")"
    i=0
    for name in "${names[@]}"; do PORT[$name]=${ports[$i]}; i=$((i + 1)); done
    for name in "${names[@]}"; do
        case "$name" in
            plain|backend) new_instance "$name" PLAIN ;;
            agw) new_instance agw AGW ;;
            agw-nocache) new_instance agw-nocache AGW 0 ;;
            base|build-*) new_instance "$name" AGW ;;
            px-plain) new_instance px-plain PROXY ;;
            agw-px*) prepare_client "$name"; new_instance "$name" AGWPX ;;
            oauth2) new_instance oauth2 OAUTH2 ;;
            openidc) new_instance openidc OPENIDC ;;
        esac
        start_instance "$name"
    done
    say "httpd instances: $(for name in "${names[@]}"; do printf '%s=127.0.0.1:%s ' "$name" "${PORT[$name]}"; done)"
}

bench_main() {
    local spec id label inst file expect code round names=(plain agw agw-nocache backend px-plain agw-px agw-pxdpop)
    local load0 i res tokens=()
    ((PEERS)) && names+=(oauth2 openidc)
    [[ -n "$BASELINE" ]] && names+=(base)
    for spec in $EXTRA_BUILDS; do names+=("build-${spec%%=*}"); done
    start_instances "${names[@]}"
    define_cases
    for spec in $EXTRA_BUILDS; do
        add_case "build-${spec%%=*}-zipf" "build ${spec%%=*}: Zipf mix" "build-${spec%%=*}" zipf.txt 200 plain-zipf
    done

    # Each case answers as it should before it is measured; a peer that cannot is left out,
    # and the output says so.
    local kept=()
    for spec in "${CASES[@]}"; do
        IFS='|' read -r id label inst file expect <<<"$spec"
        [[ -z "$ONLY_CASES" || "$id" == plain || "$id" == build-* || " $ONLY_CASES " == *" $id "* ]] || continue
        code="$(probe "$inst" "$file")"
        if [[ "$code" != "$expect" ]]; then
            case "$inst" in
                oauth2|openidc)
                    PEER_NOTES+=("$label: left out, answers $code instead of $expect with the same policy (see $(rel "$B/$inst/error_log"))")
                    continue ;;
                *) tail -n 5 "$B/$inst/error_log" >&2 || true
                   die "$label: expected $expect, got $code (error_log tail above)" ;;
            esac
        fi
        kept+=("$spec")
    done
    CASES=("${kept[@]}")
    for inst in agw-px agw-pxdpop; do
        say "$inst: the backend gets $(check_injection "$inst")"
    done

    load0="$(loadavg)"
    say "warm-up: ${WARMUP}s per case"
    for spec in "${CASES[@]}"; do
        IFS='|' read -r id label inst file expect <<<"$spec"
        if [[ "$file" == dpop.txt ]]; then
            dpop_proofs "$inst" "$WARMUP"
            res="$(run_wrk "$inst" "$file" "$id" "$WARMUP")"
            DPOP_RATE=$(($(field requests "$res") / WARMUP))
        else
            run_wrk "$inst" "$file" "$id" "$WARMUP" >/dev/null
        fi
    done
    : >"$RESULTS"
    # Short rounds, each starting one case later than the one before, so that a burst of
    # other work on the machine lands on different cases and the medians shed it.
    local n=${#CASES[@]} k
    for ((round = 1; round <= ROUNDS; round++)); do
        say "round $round of $ROUNDS"
        for ((k = 0; k < n; k++)); do
            measure_case "${CASES[$(((k + round - 1) % n))]}" "$round"
        done
    done
    for inst in agw-px agw-pxdpop; do tokens+=("$inst=$(token_requests "$inst")"); done
    print_table "${tokens[*]}"
    printf '\nsetup: %s; %s cores; httpd %s, %s MPM,\n' "$(uname -srm)" "$(nproc)" \
        "$("$APACHE_BIN" -v | sed -n 's/^Server version: //p')" "$MPM"
    printf '%s per instance;\n' "$(mpm_setup)"
    printf 'KeepAlive unlimited, EnableMMAP %s; token pools: %s RS256 and %s ES256 (wrk, one thread,\n' \
        "$MMAP" "$POOL" "$POOL"
    printf 'cycles through each), %s bad-signature tokens (1 in 10 with an unknown kid);\n' "$FLOOD_TOKENS"
    printf 'Auth0KeyRefreshCooldown %ss. wrk and the issuer share the cores with httpd.\n' "$COOLDOWN"
    printf 'Load average before: %s, after: %s.\n' "$load0" "$(loadavg)"
    printf 'Zipf mix: %s;\nevery round replays the order from its start.\n%s\n' "$(zipf_info)" "$(counters_scope agw)"
    printf 'DPoP case: one RS256 token with cnf.jkt, proofs made by bench/dpop.js before each run (not\n'
    printf 'timed): %s.\n' "$(IFS=';'; printf '%s' "${DPOP_MADE[*]-none}" | sed 's/;/; /g')"
    printf 'Proxied cases: mod_proxy_http to a plain Apache backend on loopback (the same file, its CPU\n'
    printf 'not counted), backend connections reused; the clients'"'"' tokens (RS256, 24 h) from the issuer, the\n'
    printf 'DPoP client'"'"'s key EC P-256 (openssl genpkey), no gate on the proxied location.\n'
    printf 'module: %s\n' "$(module_version)"
    if perl -e 'my $busy = 0; while (<STDIN>) { my @f = split /\t/; chomp $f[11]; $busy = 1 if $f[11] > 10 }
        exit !$busy' <"$RESULTS"; then
        printf 'WARNING: other work took over 10%% of the machine during some rounds (column "other"):\n'
        printf 'absolute numbers are low and noisy there; the ratios (interleaved rounds) less so.\n'
    fi
    if ((PEERS)); then
        printf '\npeers: mod_oauth2 %s, mod_auth_openidc %s. Policy: RS256/ES256 keys from the same JWKS,\n' \
            "$(dpkg-query -W -f='${Version}' libapache2-mod-oauth2)" "$(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc)"
        printf 'exp checked, iss and aud required by Require lines. Differences: mod_oauth2 fetches the JWKS\n'
        printf 'without TLS verification (liboauth2 has no CA setting); neither peer restricts algorithms.\n'
        for i in "${PEER_NOTES[@]-}"; do [[ -n "$i" ]] && printf '  %s\n' "$i"; done
    fi
    printf 'raw rounds: %s; configs: %s/*/httpd.conf\n' "$(rel "$RESULTS")" "$(rel "$B")"
}

# ---- profiling one case --------------------------------------------------------------------------

# perf on the instance's child (prefork: all its children) while wrk runs the case: where its CPU goes by library and by
# function (self time), then the call tree under BENCH_PROFILE_FOCUS (default gw_authenticate,
# the module's check_authn hook; for the proxied gateway-client cases gw_proxy_fixups, where the
# token and proof are put in the proxied request) with each callee's share of all the child's
# samples.
profile_main() {
    local want=$1 spec id label inst file expect child data out focus res perf_pid
    focus=gw_authenticate
    [[ "$want" == agw-px* ]] && focus=gw_proxy_fixups
    focus="${BENCH_PROFILE_FOCUS:-$focus}"
    need perf linux-perf
    define_cases
    for spec in "${CASES[@]}"; do
        IFS='|' read -r id label inst file expect <<<"$spec"
        [[ "$id" == "$want" ]] && break
    done
    [[ "$id" == "$want" ]] || die "no case '$want'; cases: $(printf '%s ' "${CASES[@]%%|*}")"
    start_instances "$inst"
    [[ "$(probe "$inst" "$file")" == "$expect" ]] || die "$label does not answer $expect"
    if [[ "$MPM" == prefork ]]; then
        child="$(instance_children "$inst" | paste -sd, -)"
    else
        read -r child < <(instance_children "$inst")
    fi
    [[ "$file" == dpop.txt ]] && dpop_proofs "$inst" "$((WARMUP + SECONDS_PER_RUN))"
    run_wrk "$inst" "$file" "$id" "$WARMUP" >/dev/null
    data="$B/perf-$id.data"
    out="$B/perf-$id.txt"
    perf record -q -F 499 --call-graph dwarf,8192 -p "$child" -o "$data" -- sleep "$SECONDS_PER_RUN" \
        >"$B/perf-$id.log" 2>&1 &
    perf_pid=$!
    res="$(run_wrk "$inst" "$file" "$id" "$SECONDS_PER_RUN")"
    wait "$perf_pid" || { cat "$B/perf-$id.log" >&2; die "perf record failed"; }
    say "profiled $label: $(field requests "$res") requests in ${SECONDS_PER_RUN}s; reading the samples"
    {
        printf '%s: perf, %ss, child pid(s) %s; shares of all their samples\n\nby library (self):\n' \
            "$label" "$SECONDS_PER_RUN" "$child"
        perf report -i "$data" --no-children --sort dso --stdio -g none --percent-limit 0.5 2>/dev/null \
            | grep -v '^#' | grep -v '^$'
        printf '\nby function (self, over 0.7%%):\n'
        perf report -i "$data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.7 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//'
        printf '\ncall tree under %s (self + callees, over 0.3%%):\n' "$focus"
        # awk and head stop reading early: the SIGPIPE of the commands before them is no failure
        # (with pipefail and set -e it ended the script before the profile was shown).
        perf report -i "$data" --children --sort symbol --stdio -g caller,0.3 2>/dev/null \
            | grep -v '^#' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' \
            | awk -v f="$focus" '$0 ~ ("[]] " f "$") { p = 1 } p && /^$/ { exit } p' | head -n 150 || true
    } >"$out"
    cat "$out"
    printf '\nfull data: %s (perf report -i %s)\n' "$(rel "$data")" "$(rel "$data")"
}

# ---- the memory check ----------------------------------------------------------------------------

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

memory_main() {
    local child done_req=0 res req bad t_end c bytes ev rss0 rss1 secs
    PORT[agw-mem]="$(free_ports 1)"
    new_instance agw-mem AGW "$MEM_CACHE"
    start_instance agw-mem
    read -r child < <(instance_children agw-mem)
    [[ -n "$child" ]] || die "agw-mem has no child process"
    [[ "$(instance_children agw-mem | wc -l)" -eq 1 ]] || die "agw-mem has more than one child"
    rss0="$(rss_kib "$child")"
    [[ "$(probe agw-mem rs256.txt)" == 200 ]] || die "agw-mem does not accept the pool's tokens"
    rss1="$(rss_kib "$child")"
    t_end=$((SECONDS + MEM_MINUTES * 60))
    printf '\nmemory check: %s requests in rounds of up to %ss; %s distinct valid RS256 tokens sent in\n' \
        "$MEM_REQUESTS" "$MEM_CHUNK_SECONDS" "$POOL"
    printf 'turn, each %s time(s) in a row (the cache admits a token on its second sighting: with\n' "$MEM_REPEAT"
    printf '2 every token is inserted and, as the pool of %s is sent in turn, every insert evicts;\n' "$POOL"
    printf 'with 1 none is); one child process (pid %s), Auth0TokenCache %s; stopped after\n' "$child" "$MEM_CACHE"
    printf '%s minutes at most.\n\n' "$MEM_MINUTES"
    printf '%12s %10s %10s %10s %12s %12s %12s\n' requests "RSS MiB" "req/s" "cache hit" "cache ent." "cache bytes" evictions
    printf '%12s %10.1f\n' "fresh" "$(perl -e "print $rss0/1024")"
    printf '%12s %10.1f\n' 1 "$(perl -e "print $rss1/1024")"
    : >"$B/state/mem.pos"
    local h0 m0 h1 m1
    read -r h0 m0 _ < <(cache_stats agw-mem)
    local rate=0
    while ((done_req < MEM_REQUESTS && SECONDS + MEM_CHUNK_SECONDS <= t_end)); do
        secs=$MEM_CHUNK_SECONDS
        # The last round only as long as the requests left need, so that the pool is not
        # started over (a token sent again long after it was evicted is new to the module).
        ((rate == 0)) || secs=$(((MEM_REQUESTS - done_req + rate - 1) / rate))
        ((secs >= 1 && secs <= MEM_CHUNK_SECONDS)) || secs=$((secs < 1 ? 1 : MEM_CHUNK_SECONDS))
        res="$(run_wrk agw-mem rs256.txt mem "$secs" "$MEM_REPEAT")"
        req="$(field requests "$res")"
        bad=$(( $(field status_errors "$res") + $(field connect "$res") + $(field read "$res") \
            + $(field write "$res") + $(field timeout "$res") ))
        kill -0 "$child" 2>/dev/null || die "the child process $child is gone (see $(rel "$B/agw-mem/error_log"))"
        ((bad == 0)) || die "$bad of $req requests failed: the memory check needs every request answered 200"
        done_req=$((done_req + req))
        rate=$((req / secs))
        read -r h1 m1 c bytes ev < <(cache_stats agw-mem)
        printf '%12d %10.1f %10.0f %9.1f%% %12s %12s %12s\n' "$done_req" "$(perl -e "print $(rss_kib "$child")/1024")" \
            "$(perl -e 'printf "%.0f", $ARGV[0] / ($ARGV[1] / 1e6)' "$req" "$(field duration_us "$res")")" \
            "$(perl -e 'my ($h, $m) = @ARGV; printf "%.1f", ($h + $m) ? 100 * $h / ($h + $m) : 0' $((h1 - h0)) $((m1 - m0)))" \
            "$c" "$bytes" "$ev"
        h0=$h1 m0=$m1
    done
    # The module's own count, so that the table cannot be read as requests it never checked.
    curl -sf -m 10 "http://127.0.0.1:${PORT[agw-mem]}/auth0-status?json" | perl -MJSON::PP -e '
        my $d = decode_json(do { local $/; <STDIN> });
        printf "\nthe module accepted %d requests (the probe included), %d of them after verifying the\n"
            . "signature (verified-token cache misses) and %d from its cache.\n",
            $d->{requests}{accepted}, $d->{token_cache}{misses}, $d->{token_cache}{hits};' \
        || die "the status page of agw-mem did not answer"
    printf '\nRSS of the child: %.1f MiB after its first request, %.1f MiB after %d requests (VmHWM %s).\n' \
        "$(perl -e "print $rss1/1024")" "$(perl -e "print $(rss_kib "$child")/1024")" "$done_req" \
        "$(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$child/status")"
    ((done_req >= MEM_REQUESTS)) || printf 'stopped early (BENCH_MEMORY_MINUTES=%s): %d of %d requests done.\n' \
        "$MEM_MINUTES" "$done_req" "$MEM_REQUESTS"
    # glibc gives threads separate malloc arenas; claims parsed by one thread and freed by
    # another's eviction can fragment them. One arena tells fragmentation from a leak.
    printf 'malloc arenas: %s (MALLOC_ARENA_MAX=1 make bench-memory: RSS growth that vanishes with one\n' \
        "${MALLOC_ARENA_MAX:-glibc default}"
    printf 'arena is fragmentation between the threads'"'"' arenas, growth that stays is a leak).\n'
}

# ---- prefork: 32 children, waiting for them --------------------------------------------------------

# wait_children NAME N: waits until the instance has N child processes.
wait_children() {
    local name=$1 want=$2 i n=0
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        n="$(instance_children "$name" | wc -l)"
        ((n >= want)) && return 0
        sleep 0.1
    done
    die "$name has $n child processes, not $want, ${START_TIMEOUT}s after its start (see $(rel "$B/$name/error_log"))"
}

# ---- graceful restart --------------------------------------------------------------------------------

# graceful_once NAME: sends SIGUSR1 to the instance's parent (what `apache2 -k graceful` sends
# after its configuration test) and prints three times in ms from the signal: the first child
# of the new generation forked; all PREFORK_CHILDREN children of the new generation (started
# after the signal: /proc/PID/stat's start time, 1/CLK_TCK s resolution); and those children
# serving, that is the scoreboard (/server-status?auto) showing every slot ready or busy
# (not starting, not gracefully finishing); then how many of the new children were forked a
# second or more after the signal (see graceful_main). Polls every 5 ms; "-" for a point not
# reached within GRACEFUL_TIMEOUT s.
graceful_once() {
    local name=$1
    perl -MTime::HiRes=time,sleep -MIO::Socket::INET -e '
        use strict; use warnings;
        my ($parent, $port, $want, $timeout, $tck) = @ARGV;
        sub uptime_ticks { open(my $f, "<", "/proc/uptime") or die "/proc/uptime: $!"; my ($u) = split / /, <$f>; int($u * $tck) }
        # start times (clock ticks since boot) of the parent'"'"'s children
        sub starts {
            my @st;
            for my $f (glob "/proc/[0-9]*/stat") {
                open(my $fh, "<", $f) or next;
                my $s = <$fh>;
                close $fh;
                next unless defined $s && $s =~ /^\d+ \(.*\) (.*)$/s;
                my @x = split / /, $1;   # state ppid ... starttime (22nd field of stat)
                push @st, $x[19] if $x[1] == $parent && $x[0] ne "Z";
            }
            return @st;
        }
        # slots of the scoreboard that are ready (_) or busy (R W K D C L); -1 if no answer
        sub serving_slots {
            my $body = eval {
                local $SIG{ALRM} = sub { die "timeout\n" };
                alarm 2;
                my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Timeout => 1) or die "connect\n";
                print $s "GET /server-status?auto HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
                local $/;
                my $b = <$s>;
                alarm 0;
                $b;
            };
            return -1 unless defined $body && $body =~ /^Scoreboard: (\S+)/m;
            return ($1 =~ tr/_RWKDCL//);
        }
        my $t0 = time;
        my $tick0 = uptime_ticks();
        kill "USR1", $parent or die "cannot signal $parent: $!\n";
        my ($first, $forked, $serving, @new);
        while (time - $t0 < $timeout) {
            @new = grep { $_ >= $tick0 } starts();
            my $new = @new;
            $first //= time if $new >= 1;
            if ($new >= $want) {
                $forked //= time;
                if (serving_slots() >= $want) { $serving = time; last }
            }
            sleep 0.005;
        }
        my $late = grep { $_ - $tick0 >= $tck } @new;
        print join(" ", (map { defined $_ ? sprintf("%.0f", 1000 * ($_ - $t0)) : "-" } $first, $forked, $serving), $late), "\n";
    ' "$(cat "$B/$name/httpd.pid")" "${PORT[$name]}" "$PREFORK_CHILDREN" "$GRACEFUL_TIMEOUT" "$CLK_TCK"
}

# graceful_under_load NAME CONNECTIONS: wrk sends a valid token to NAME while graceful_once
# runs (none with 0 connections), each request on a connection of its own: an old prefork child
# serves a keep-alive connection until the client ends it, so that with keep-alive the time
# measured is wrk's (seen: 9 s for plain Apache one time, 70 ms the next), not the restart's.
# Sets GRACEFUL_LINE to graceful_once's figures and what wrk saw: "FIRST FORKED SERVING LATE
# requests non2xx sockerr".
GRACEFUL_LINE=""
graceful_under_load() {
    local name=$1 conns=$2 args out="$B/state/graceful-wrk.out" times res
    if ((conns == 0)); then
        GRACEFUL_LINE="$(graceful_once "$name") 0 0 0"
        return 0
    fi
    mapfile -t args < <(wrk_args "$name" same.txt "graceful-$name")
    wrk -t "$THREADS" -c "$conns" -d 600s --timeout 5s -H "Connection: close" -s "$LUA" "${args[@]}" \
        >"$out" 2>&1 &
    WRK_PID=$!
    sleep 2
    times="$(graceful_once "$name")"
    sleep 1
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" || { cat "$out" >&2; die "wrk failed during the graceful restart of $name"; }
    WRK_PID=""
    res="$(grep '^RESULT ' "$out")" || { cat "$out" >&2; die "wrk printed no RESULT line"; }
    [[ "$(probe "$name" same.txt)" == 200 ]] \
        || die "$name does not answer 200 after the graceful restart (see $(rel "$B/$name/error_log"))"
    GRACEFUL_LINE="$times $(field requests "$res") $(field status_errors "$res") $(( $(field connect "$res") \
        + $(field read "$res") + $(field write "$res") + $(field timeout "$res") ))"
}

# The figures of graceful_under_load for one instance and load, one line a repetition, as one
# line of medians (and wrk's totals under load).
graceful_report() {
    perl -e '
        use strict; use warnings;
        my ($label, $loaded) = @ARGV;
        my @r = map { chomp; [split / /] } grep { /\S/ } <STDIN>;
        sub median { my @s = sort { $a <=> $b } grep { $_ ne "-" } @_; return "-" unless @s;
            my $n = @s; $n % 2 ? $s[$n/2] : ($s[$n/2-1] + $s[$n/2]) / 2 }
        my @serving = map { $_->[2] } @r;
        printf "%-26s %-20s %7s %7s %6s  %s\n", $label, join(" ", @serving), median(@serving),
            median(map { $_->[1] } @r), median(map { $_->[0] } @r), join(" ", map { $_->[3] } @r);
        if ($loaded) {
            my ($req, $st, $sock) = (0, 0, 0);
            for (@r) { $req += $_->[4]; $st += $_->[5]; $sock += $_->[6] }
            printf "%-26s wrk: %d requests, %d not 200, %d socket errors/timeouts\n", "", $req, $st, $sock;
        }' "$@"
}

graceful_main() {
    local rep name load line names=(plain agw)
    local -A rows
    STATUS_PAGE=1
    [[ -n "$BASELINE" ]] && names+=(base)
    start_instances "${names[@]}"
    for name in "${names[@]}"; do
        wait_children "$name" "$PREFORK_CHILDREN"
        [[ "$(probe "$name" same.txt)" == 200 ]] || die "$name does not accept the token (see $(rel "$B/$name/error_log"))"
    done
    # Interleaved, so that a burst of other work on the machine does not land on one of them only.
    for ((rep = 1; rep <= GRACEFUL_REPEATS; rep++)); do
        for load in 0 "$GRACEFUL_CONNECTIONS"; do
            for name in "${names[@]}"; do
                graceful_under_load "$name" "$load"
                line=$GRACEFUL_LINE
                say "graceful $rep of $GRACEFUL_REPEATS, $name, $load connections: first new child, all forked," \
                    "all serving (ms), forked late, wrk requests, non-2xx, socket errors: $line"
                rows[$name.$load]+="$line"$'\n'
                sleep 1
            done
        done
    done
    printf '\ngraceful restart (SIGUSR1 to the parent, what apache2 -k graceful sends), %s MPM, %d children;\n' \
        "$MPM" "$PREFORK_CHILDREN"
    printf 'idle, and under load (wrk, %d thread, %d connections, Connection: close, one valid token;\n' \
        "$THREADS" "$GRACEFUL_CONNECTIONS"
    printf 'plain Apache ignores it); %d repetitions of each, interleaved. Times in ms from the signal until\n' \
        "$GRACEFUL_REPEATS"
    printf 'all %d children of the new generation serve (the scoreboard shows every slot ready or busy),\n' \
        "$PREFORK_CHILDREN"
    printf 'until all %d are forked, until the first is; polled every 5 ms, start times to %s ms.\n' \
        "$PREFORK_CHILDREN" "$((1000 / CLK_TCK))"
    printf '"late": new children forked 1 s or more after the signal. Under load prefork'"'"'s restart\n'
    printf 'sometimes takes whole seconds more (seen: up to 9 s for plain Apache with 8 connections, as\n'
    printf 'many late children as seconds): likely children busy at the signal exit without reading\n'
    printf 'their pipe-of-death message, new children read it and exit, and prefork replaces those once\n'
    printf 'a second (prefork.c). A median over few repetitions can land on such a restart.\n\n'
    printf '%-26s %-20s %7s %7s %6s  %s\n' "" "all serving, each" median forked first late
    for load in 0 "$GRACEFUL_CONNECTIONS"; do
        for name in "${names[@]}"; do
            printf '%s' "${rows[$name.$load]}" | graceful_report \
                "$(case "$name" in plain) echo "plain Apache" ;; agw) echo "mod_auth0gw" ;; base) echo "baseline" ;; esac), $([[ "$load" == 0 ]] && echo idle || echo "under load")" \
                "$load"
        done
    done
    printf '\nmodule: %s\n' "$(module_version)"
}

# ---- memory per child under prefork --------------------------------------------------------------------

# children_memory NAME: "PRIVATE PSS TOTAL N MEAN" in KiB: the medians over the instance's N
# children of Private_Clean + Private_Dirty and of Pss (/proc/PID/smaps_rollup), the Pss of all
# its processes, parent and the module's fetcher included, and the mean of the children's private
# memory. The fetcher (agw-fetcher: one per host, it makes the transfers) is not a child that
# serves: it counts in the total only.
children_memory() {
    local parent
    parent="$(cat "$B/$1/httpd.pid")"
    perl -e '
        use strict; use warnings;
        my $parent = shift;
        my (@priv, @pss, $total);
        sub rollup {
            my %v;
            open(my $fh, "<", "/proc/$_[0]/smaps_rollup") or return;
            while (<$fh>) { $v{$1} = $2 if /^(\w+):\s+(\d+) kB/ }
            return \%v;
        }
        for my $f (glob "/proc/[0-9]*/stat") {
            open(my $fh, "<", $f) or next;
            my $s = <$fh>;
            close $fh;
            next unless defined $s && $s =~ /^(\d+) \((.*)\) \S+ (\d+) /s;
            my ($pid, $comm, $ppid) = ($1, $2, $3);
            next unless $pid == $parent || $ppid == $parent;
            my $v = rollup($pid) or next;
            $total += $v->{Pss};
            next if $pid == $parent || $comm eq "agw-fetcher";
            push @priv, $v->{Private_Clean} + $v->{Private_Dirty};
            push @pss, $v->{Pss};
        }
        sub median { my @s = sort { $a <=> $b } @_; my $n = @s; $n % 2 ? $s[$n/2] : ($s[$n/2-1] + $s[$n/2]) / 2 }
        die "no readable smaps_rollup of the children of $parent\n" unless @priv;
        my $sum = 0;
        $sum += $_ for @priv;
        printf "%d %d %d %d %d\n", median(@priv), median(@pss), $total, scalar @priv, $sum / @priv;' "$parent"
}

# save_smaps NAME WHEN: with BENCH_CHILD_MEMORY_SMAPS=DIR, copies /proc/PID/smaps of the instance's
# children to DIR/NAME/WHEN/PID (to attribute their private memory by mapping).
save_smaps() {
    local parent pid dir="$CM_SMAPS/$1/$2"
    parent="$(cat "$B/$1/httpd.pid")"
    mkdir -p "$dir"
    for pid in $(pgrep -P "$parent"); do
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == agw-fetcher ]] && continue
        cat "/proc/$pid/smaps" >"$dir/$pid" 2>/dev/null || true
    done
}

# child_memory_one NAME KIND CACHE: starts the instance, sets CM_ROW to "idle(PRIVATE PSS
# TOTAL N) loaded(PRIVATE PSS TOTAL N) requests hits misses" and stops it (CM_SCOPE: whether
# the counters are host-wide).
CM_ROW=""
CM_SCOPE=""
child_memory_one() {
    local name=$1 kind=$2 cache=$3 idle loaded res h0 m0 h1 m1
    PORT[$name]="$(free_ports 1)"
    new_instance "$name" "$kind" "$cache"
    start_instance "$name"
    wait_children "$name" "$PREFORK_CHILDREN"
    sleep 2
    idle="$(children_memory "$name")"
    [[ -z "$CM_SMAPS" ]] || save_smaps "$name" idle
    [[ "$(probe "$name" zipf.txt)" == 200 ]] || die "$name does not accept the Zipf tokens (see $(rel "$B/$name/error_log"))"
    read -r h0 m0 _ < <(cache_stats "$name")
    say "$name: the Zipf mix for ${CM_SECONDS}s"
    res="$(run_wrk "$name" zipf.txt "cm-$name" "$CM_SECONDS")"
    read -r h1 m1 _ < <(cache_stats "$name")
    [[ "$kind" == AGW ]] && CM_SCOPE="$(counters_scope "$name")"
    sleep 1
    loaded="$(children_memory "$name")"
    [[ -z "$CM_SMAPS" ]] || save_smaps "$name" loaded
    stop_instance_dir "$B/$name"
    if [[ "$h0" == - ]]; then h0=0 m0=0 h1=0 m1=0; fi
    CM_ROW="$idle $loaded $(field requests "$res") $((h1 - h0)) $((m1 - m0))"
}

child_memory_main() {
    local cache out=() labels=()
    labels+=("plain Apache")
    child_memory_one cm-plain PLAIN default
    out+=("$CM_ROW")
    for cache in $CM_CACHES; do
        if [[ -n "$BASELINE" ]]; then
            labels+=("baseline, cache $cache")
            child_memory_one "cm-base-$cache" AGW "$cache"
            out+=("$CM_ROW")
        fi
        labels+=("Auth0TokenCache $cache")
        child_memory_one "cm-$cache" AGW "$cache"
        out+=("$CM_ROW")
    done
    printf '\nmemory per child: %s MPM, %d children; medians over the children of Private_Clean +\n' "$MPM" "$PREFORK_CHILDREN"
    printf 'Private_Dirty ("private") and of Pss (/proc/PID/smaps_rollup), MiB; "(mean)": the mean of\n'
    printf 'the children'"'"'s private memory (a few children that fetched keys weigh in it); "all PSS" = Pss\n'
    printf 'of the parent and every child. idle: 2 s after the start; loaded: 1 s after %ss of the Zipf mix\n' "$CM_SECONDS"
    printf '(wrk %d thread, %d connections):\n%s.\n\n' "$THREADS" "$CONNECTIONS" "$(zipf_info)"
    local i
    for ((i = 0; i < ${#out[@]}; i++)); do printf '%s|%s\n' "${labels[$i]}" "${out[$i]}"; done | perl -e '
        use strict; use warnings;
        my $fmt = "%-24s %8s %8s %8s %8s %8s %8s %8s %9s %7s\n";
        printf $fmt, "", "idle", "", "", "loaded", "", "", "", "", "cache";
        printf $fmt, "instance", "private", "PSS", "all PSS", "private", "(mean)", "PSS", "all PSS", "requests", "hits";
        printf $fmt, "-" x 24, ("-" x 8) x 7, "-" x 9, "-" x 7;
        while (<STDIN>) {
            chomp;
            my ($label, $v) = split /\|/;
            # idle: priv pss total n mean, loaded: priv pss total n mean, requests hits misses
            my @v = split / /, $v;
            my $mib = sub { sprintf "%.2f", $_[0] / 1024 };
            my ($h, $m) = @v[11, 12];
            printf $fmt, $label, $mib->($v[0]), $mib->($v[1]), $mib->($v[2]), $mib->($v[5]), $mib->($v[9]),
                $mib->($v[6]), $mib->($v[7]), $v[10], ($h + $m) ? sprintf("%.0f%%", 100 * $h / ($h + $m)) : "-";
        }'
    printf '\ncache hits = host-wide hits / (hits + misses) during the load. %s\n' "$CM_SCOPE"
    printf 'module: %s\n' "$(module_version)"
}

# ---- instructions per request ----------------------------------------------------------------------

declare -A INSTR INSTR_SHA

# await_x NAME PID LOG: waits until the -X process PID of instance NAME answers (its start-up
# output in LOG); dies when it does not.
await_x() {
    local name=$1 pid=$2 log=$3 i code=000
    for ((i = 0; i < START_TIMEOUT * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        code="$(curl -s -m 30 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$name]}$URL_PATH" || true)"
        [[ "$code" != 000 ]] && break
        sleep 0.2
    done
    [[ "$code" != 000 ]] || { tail -n 20 "$log" "$B/$name/error_log" >&2 || true; die "$name did not start"; }
}

# Perl run by --instructions and --pages before their own code, with the URL, the token file,
# the order file and a count as its first four arguments: @seq, the Zipf order's first tokens,
# and $get, which sends one with keep-alive and dies on anything but 200.
ZIPF_SEQ_PERL='
    my ($url, $tokens, $order, $n) = splice @ARGV, 0, 4;
    open my $t, "<", $tokens or die "$tokens: $!\n";
    chomp(my @tok = <$t>);
    open my $o, "<", $order or die "$order: $!\n";
    my @seq;
    while (<$o>) { last if @seq >= $n; chomp; push @seq, $tok[$_ - 1]; }
    my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 60);
    my $get = sub {
        my $res = $http->get($url, { headers => { Authorization => "Bearer $_[0]" } });
        die "$url answered $res->{status}\n" unless $res->{status} == 200;
    };'

# instr_total NAME PASSES: starts instance NAME as one process (-X) under callgrind, sends the
# Zipf order's first INSTR_REQUESTS requests PASSES times over one kept-alive connection, stops
# it and prints the instructions it executed (start-up and stop included).
instr_total() {
    local name=$1 passes=$2 dir="$B/$1" out="$B/$1/callgrind.out" pid
    rm -f "$out" "$dir/error_log"
    rm -rf "$dir/callgrind"
    # no key set kept from the run before (Auth0StateDir's default, under DefaultRuntimeDir):
    # every run fetches it at its first request, so that the one-time costs (the fetch, and
    # loading libcurl in the process that fetches) are the same in the run of three passes
    # and the run of four, and cancel out
    if [[ -d "$dir/run/auth0gw" ]]; then
        find "$dir/run/auth0gw" -maxdepth 1 -type f -name 'jwks-*' -delete
    fi
    # one file per process (%p): the module's key fetcher, forked from the -X process, exits
    # after it and would otherwise overwrite its counts with its own. callgrind creates each
    # file at the start (as root) and writes it at the exit, as RUN_USER by then: chowned once
    # the server answers, when both processes exist.
    install -d -m 0755 -o "$RUN_USER" "$dir/callgrind"
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind/out.%p" "$APACHE_BIN" -X \
        -f "$dir/httpd.conf" >"$dir/callgrind.log" 2>&1 &
    pid=$!
    await_x "$name" "$pid" "$dir/callgrind.log"
    chown "$RUN_USER" "$dir"/callgrind/out.*
    perl -MHTTP::Tiny -e "$ZIPF_SEQ_PERL"'
        my ($passes) = @ARGV;
        $get->($_) for (@seq) x $passes;' "http://127.0.0.1:${PORT[$name]}$URL_PATH" "$TOKENS/zipf.txt" "$TOKENS/zipf.order" \
        "$INSTR_REQUESTS" "$passes" || { kill "$pid"; die "$name: the requests failed"; }
    kill -TERM "$pid"
    wait "$pid" || true
    # valgrind runs the command in its own process: the -X process's pid is $pid
    [[ -s "$dir/callgrind/out.$pid" ]] || die "$name: callgrind wrote no counts for pid $pid"
    mv "$dir/callgrind/out.$pid" "$out"
    sed -n 's/^summary: //p' "$out"
}

# instr_sha NAME: the instructions inside agw_crypt_sha256 (inclusive) in NAME's last run.
instr_sha() {
    callgrind_annotate --inclusive=yes "$B/$1/callgrind.out" 2>/dev/null \
        | sed -nE 's/^ *([0-9,]+) .*:agw_crypt_sha256( .*)?$/\1/p' | head -n 1 | tr -d ,
}

# x_instances: the configurations and ports of plain Apache, the module and (BASELINE) the
# baseline, for --instructions and --pages; their names in X_NAMES.
x_instances() {
    local ports i inst kind
    X_NAMES=(plain agw)
    [[ -n "$BASELINE" ]] && X_NAMES+=(base)
    read -r -a ports < <(free_ports "${#X_NAMES[@]}")
    for ((i = 0; i < ${#X_NAMES[@]}; i++)); do PORT[${X_NAMES[$i]}]=${ports[$i]}; done
    for inst in "${X_NAMES[@]}"; do
        kind=AGW
        [[ "$inst" == plain ]] && kind=PLAIN
        new_instance "$inst" "$kind"
    done
}

instructions_main() {
    local inst names a b sa sb
    need valgrind valgrind
    need callgrind_annotate valgrind
    x_instances
    names=("${X_NAMES[@]}")
    for inst in "${names[@]}"; do
        # three passes fill the caches (a token is admitted at its second sighting); the
        # fourth is the one counted, as the difference between a run of four and one of three
        say "$inst: callgrind, $INSTR_REQUESTS requests x 3, then x 4"
        a="$(instr_total "$inst" 3)"
        sa="$(instr_sha "$inst")"
        b="$(instr_total "$inst" 4)"
        sb="$(instr_sha "$inst")"
        INSTR[$inst]=$(((b - a) / INSTR_REQUESTS))
        INSTR_SHA[$inst]=$(((${sb:-0} - ${sa:-0}) / INSTR_REQUESTS))
    done
    printf '\ninstructions per request (valgrind callgrind, one httpd process, exact counts): the Zipf\n'
    printf 'order'"'"'s first %s requests over one kept-alive connection, after three passes of them\n' "$INSTR_REQUESTS"
    printf '(every token then held by the caches); plain Apache gets the same headers.\n\n'
    printf '%-12s %12s %8s %12s %16s\n' instance "instr/req" xplain "over plain" "SHA-256 of it"
    for inst in "${names[@]}"; do
        printf '%-12s %12d %8.3f %12d %16s\n' "$inst" "${INSTR[$inst]}" \
            "$(perl -e 'print $ARGV[0] / $ARGV[1]' "${INSTR[$inst]}" "${INSTR[plain]}")" \
            "$((INSTR[$inst] - INSTR[plain]))" "$([[ "$inst" == plain ]] && echo - || echo "${INSTR_SHA[$inst]}")"
    done
    printf '\nUnder valgrind the token'"'"'s SHA-256 (the caches'"'"' key) runs without the CPU'"'"'s SHA\n'
    printf 'extensions: its count is many times its share of the time where the CPU has them.\n'
    printf 'module: %s\n' "$(module_version)"
}

# ---- pages touched per request ---------------------------------------------------------------------

# pages_run NAME: starts instance NAME as one process (-X), sends the Zipf order's first
# PAGES_REQUESTS requests three times over one kept-alive connection (the caches then hold every
# token), then each of them once more, clearing the process's referenced bits before each
# (/proc/PID/clear_refs) and reading them after it (smaps' Referenced, by mapping); prints one
# line per mapping kind: the median pages per request and the mean.
pages_run() {
    local name=$1 dir="$B/$1" pid
    rm -f "$dir/error_log"
    "$APACHE_BIN" -X -f "$dir/httpd.conf" >"$dir/pages.log" 2>&1 &
    pid=$!
    await_x "$name" "$pid" "$dir/pages.log"
    perl -MHTTP::Tiny -MTime::HiRes=sleep -e "$ZIPF_SEQ_PERL"'
        my ($pid, $mod) = @ARGV;
        # a mapping kind: the executable, the module, libcrypto, other libraries, the heap,
        # the stack, shared memory (the module'"'"'s tables, the scoreboard) and anonymous memory
        my $kind = sub {
            my $m = shift;
            return "httpd" if $m =~ m{/(apache2|httpd)$};
            return "module" if $m eq $mod;
            return "libcrypto" if $m =~ m{/libcrypto\.so};
            return "other libraries" if $m =~ m{\.so[.0-9]*$};
            return "heap" if $m eq "[heap]";
            return "stack" if $m eq "[stack]";
            return "shared memory" if $m =~ m{^/(dev/zero|SYSV|dev/shm/)|\(deleted\)$};
            return "anonymous";
        };
        $get->($_) for (@seq) x 3;
        my (%all, @total);
        for my $k (@seq) {
            sleep 0.02;    # the request before has ended (its logging and pool clean-up)
            open my $c, ">", "/proc/$pid/clear_refs" or die "clear_refs: $!\n";
            print $c "1\n";
            close $c;
            $get->($k);
            sleep 0.02;
            open my $sm, "<", "/proc/$pid/smaps" or die "smaps: $!\n";
            my ($map, %kb) = ("");
            while (<$sm>) {
                if (/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/) { $map = $1; next; }
                $kb{$kind->($map)} += $1 if /^Referenced:\s+(\d+) kB/;
            }
            my $sum = 0;
            for (keys %kb) { push @{$all{$_}}, $kb{$_} / 4; $sum += $kb{$_} / 4; }
            push @total, $sum;
        }
        my $med = sub { my @v = sort { $a <=> $b } @_; $v[$#v / 2] };
        my $mean = sub { my $s = 0; $s += $_ for @_; $s / @_ };
        printf "%s\t%d\t%.1f\n", "all", $med->(@total), $mean->(@total);
        for (sort keys %all) {
            my @v = @{$all{$_}};
            push @v, (0) x (@seq - @v);
            printf "%s\t%d\t%.1f\n", $_, $med->(@v), $mean->(@v);
        }' "http://127.0.0.1:${PORT[$name]}$URL_PATH" "$TOKENS/zipf.txt" "$TOKENS/zipf.order" \
        "$PAGES_REQUESTS" "$pid" "$(readlink -f "$([[ "$name" == base ]] && echo "$BASE_MODULE" || echo "$MODULE")")" \
        || { kill "$pid"; die "$name: the requests failed"; }
    kill -TERM "$pid"
    wait "$pid" || true
}

pages_main() {
    local inst names
    x_instances
    names=("${X_NAMES[@]}")
    for inst in "${names[@]}"; do
        say "$inst: ${PAGES_REQUESTS} requests x 3, then each once more with the referenced bits cleared"
        pages_run "$inst" >"$B/$inst/pages.tsv"
    done
    printf '
4 KiB pages a request touches (one httpd process, -X; smaps'"'"' Referenced after
'
    printf '/proc/PID/clear_refs, per request): the Zipf order'"'"'s first %s requests over one kept-alive
' "$PAGES_REQUESTS"
    printf 'connection after three passes of them; plain Apache gets the same headers. Medians (means).
'
    printf 'Without PCID (this machine: %s) every switch between prefork children empties the TLB,
' \
        "$(grep -qw pcid /proc/cpuinfo && echo "it has PCID" || echo "no pcid flag")"
    printf 'so each page is a TLB miss at every request.

'
    perl -e '
        my @names = @ARGV;
        my (%v, %kinds);
        for my $n (@names) {
            open my $f, "<", "'"$B"'/$n/pages.tsv" or die;
            while (<$f>) { chomp; my ($k, $med, $mean) = split /\t/; $v{$n}{$k} = "$med ($mean)"; $kinds{$k} = 1; }
        }
        printf "%-16s" . (" %14s" x @names) . "\n", "mapping", @names;
        for my $k ("all", sort grep { $_ ne "all" } keys %kinds) {
            printf "%-16s" . (" %14s" x @names) . "\n", $k, map { $v{$_}{$k} // "-" } @names;
        }' "${names[@]}"
    printf '
module: %s
' "$(module_version)"
}

# ---- main ------------------------------------------------------------------------------------------

mkdir -p "$B" "$ISSUER_DIR" "$B/state"
chmod 755 "$B" "$ISSUER_DIR"
stop_leftovers
rm -f "$MODULE"
cp "$BUILT_MODULE" "$MODULE"
if [[ -n "$BASELINE" ]]; then
    [[ -f "$BASELINE" ]] || die "BASELINE=$BASELINE: no such file (give a mod_auth0gw.so built elsewhere)"
    mkdir -p "$B/baseline"
    rm -f "$BASE_MODULE"
    cp "$BASELINE" "$BASE_MODULE"
fi
if [[ -n "$EXTRA_BUILDS" ]]; then
    [[ "$MODE" == bench ]] || die "BENCH_BUILDS is for the comparison (bench/run.sh without options) only"
    rm -rf "$B/builds"
    mkdir -p "$B/builds"
    for spec in $EXTRA_BUILDS; do
        [[ "$spec" =~ ^[a-z0-9-]+=.+ ]] || die "BENCH_BUILDS: '$spec' is not NAME=PATH (NAME: a-z, 0-9, -)"
        [[ -f "${spec#*=}" ]] || die "BENCH_BUILDS: ${spec#*=}: no such file (give a mod_auth0gw.so)"
        [[ ! -e "$B/builds/${spec%%=*}.so" ]] || die "BENCH_BUILDS: the name ${spec%%=*} is given twice"
        cp "${spec#*=}" "$B/builds/${spec%%=*}.so"
    done
fi
((PEERS)) && [[ "$MODE" == bench || "$MODE" == profile ]] && install_peers
trap cleanup EXIT
trap 'die "interrupted"' INT TERM
# Everything ends after BENCH_MAX_MINUTES, whatever hangs.
(
    sleep $((MAX_MINUTES * 60)) &
    nap=$!
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    wait "$nap" && say "stopped after BENCH_MAX_MINUTES=$MAX_MINUTES" && kill -TERM $$ 2>/dev/null
) </dev/null >/dev/null &
WATCHDOG=$!
rm -f "$B"/state/*.pos
run_user
make_certs
start_issuer
admin_post reset '{}'
mint_tokens
write_docroot
case "$MODE" in
    memory) memory_main ;;
    graceful) graceful_main ;;
    child-memory) child_memory_main ;;
    profile) profile_main "$PROFILE_CASE" ;;
    instructions) instructions_main ;;
    pages) pages_main ;;
    *) bench_main ;;
esac
