#!/usr/bin/env bash
# `make demo` / `make demo-stop`: runs a private Apache on 127.0.0.1:8080 with conf/demo.conf in front of a local issuer, and walks through KrakenD's Auth0 guide against it with real requests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO="$ROOT/build/demo"
MODULE="$ROOT/build/mod_auth0gw.so"
TEMPLATE="$ROOT/conf/demo.conf"
HTTPD_CONF="$DEMO/httpd.conf"
ISSUER_DIR="$DEMO/issuer"
ISSUER_PIDFILE="$DEMO/issuer.pid"
HTTPD_PIDFILE="$DEMO/httpd.pid"
# Names the directory under /tmp that holds what httpd's children read, when they cannot
# read the repository (a clone in /root or in a 0700 directory).
PUBLIC_RECORD="$DEMO/public.dir"

GATEWAY=http://127.0.0.1:8080
AUDIENCE=https://api.demo.test/
BACKEND_AUDIENCE=https://orders.demo.test/
# The caller: the issuer fixture's built-in client (t/fixtures/issuer.js).
CLIENT_ID=agw-demo-client
CLIENT_SECRET=agw-demo-secret
# Apache's own client for the backend (step 5), registered with the issuer at start.
GATEWAY_CLIENT_ID=apache-gateway

START_TIMEOUT=15

die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

say() { printf 'demo: %s\n' "$*"; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found: run \`make deps\` first"
}

# Prints a path relative to the repository root, for commands a reader can paste.
rel() { printf '%s' "${1#"$ROOT"/}"; }

# shellcheck source=../t/fixtures/proc.sh
source "$ROOT/t/fixtures/proc.sh"

# ---- stop -----------------------------------------------------------------------------------

stop_httpd() {
    local pid
    [[ -f "$HTTPD_PIDFILE" ]] || { say "apache: not running"; return 0; }
    pid="$(cat "$HTTPD_PIDFILE")"
    if pid_is "$pid" "$HTTPD_CONF"; then
        "$APACHE_BIN" -f "$HTTPD_CONF" -k stop
        wait_gone "$pid" "$START_TIMEOUT" || { kill -KILL "$pid" 2>/dev/null || true; }
        say "apache: stopped (pid $pid)"
    else
        say "apache: not running (stale pid file)"
    fi
    rm -f "$HTTPD_PIDFILE"
}

stop_issuer() {
    local pid
    [[ -f "$ISSUER_PIDFILE" ]] || { say "issuer: not running"; return 0; }
    pid="$(cat "$ISSUER_PIDFILE")"
    if pid_is "$pid" issuer.js; then
        kill -TERM "$pid"
        wait_gone "$pid" "$START_TIMEOUT" || { kill -KILL "$pid" 2>/dev/null || true; }
        say "issuer: stopped (pid $pid)"
    else
        say "issuer: not running (stale pid file)"
    fi
    rm -f "$ISSUER_PIDFILE"
}

remove_public() {
    local dir
    [[ -f "$PUBLIC_RECORD" ]] || return 0
    dir="$(cat "$PUBLIC_RECORD")"
    # only ever a directory this script made
    if [[ "$dir" =~ ^/tmp/mod_auth0gw-demo\.[A-Za-z0-9]+$ && -d "$dir" ]]; then
        rm -rf -- "$dir"
        say "removed $dir"
    fi
    rm -f "$PUBLIC_RECORD"
}

do_stop() {
    stop_httpd
    stop_issuer
    remove_public
}

# ---- start ----------------------------------------------------------------------------------

# The issuer serves HTTPS with a certificate from a private CA, as a real tenant would
# (with a public one); the module is told about the CA with Auth0CAFile.
make_certs() {
    local made
    made="$(bash "$ROOT/t/fixtures/make-pki.sh" "$ISSUER_DIR" demo)"
    [[ "$made" != made ]] || say "made the issuer's test CA and certificate (openssl)"
}

# Sets ISSUER (its URL) and BACKEND (its plain-HTTP origin, for /echo).
start_issuer() {
    local info="$ISSUER_DIR/issuer.json" log="$DEMO/issuer.log" pid i
    rm -f "$info"
    # setsid: the issuer outlives this script and the terminal it ran in, like httpd.
    setsid node "$ROOT/t/fixtures/issuer.js" --port 0 --http-port 0 --dir "$ISSUER_DIR" \
        </dev/null >"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        [[ -s "$info" ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "the issuer exited at start (log above: $(rel "$log"))"; }
        sleep 0.1
    done
    [[ -s "$info" ]] || { kill "$pid" 2>/dev/null || true; die "the issuer did not start in ${START_TIMEOUT}s ($(rel "$log"))"; }
    read -r ISSUER_PID ISSUER ISSUER_HTTP_PORT < <(perl -MJSON::PP -e '
        my $j = decode_json(do { local $/; <STDIN> });
        print "$j->{pid} $j->{issuer} $j->{http_port}\n"' <"$info")
    echo "$ISSUER_PID" >"$ISSUER_PIDFILE"
    BACKEND="http://127.0.0.1:$ISSUER_HTTP_PORT"
    say "issuer: $ISSUER (pid $ISSUER_PID)"
    register_gateway_client
}

# Apache's client for step 5, with a fresh secret that only the issuer and the secret
# file (read by httpd at start, as root) know.
register_gateway_client() {
    local secret
    secret="$(openssl rand -hex 24)"
    (umask 077 && printf '%s\n' "$secret" >"$DEMO/orders.secret")
    curl -sf -o /dev/null -H 'Content-Type: application/json' "$BACKEND/admin/client" \
        -d "{\"client_id\": \"$GATEWAY_CLIENT_ID\", \"client_secret\": \"$secret\", \"scope\": \"read:orders\"}" \
        || die "could not register the gateway client with the issuer"
}

# Sets HTDOCS and CHILD_CA: the documents and the issuer's CA file as httpd's children read
# them. Started as root, the children run as USER; when USER cannot read the repository, both
# are copied to a world-readable directory of their own under /tmp (make demo-stop removes it).
child_readable_files() {
    local user=$1 public
    HTDOCS="$ROOT/demo/htdocs" CHILD_CA="$ISSUER_DIR/ca.pem"
    [[ "$(id -u)" -eq 0 ]] || return 0
    if runuser -u "$user" -- test -r "$HTDOCS/status.json" \
        && runuser -u "$user" -- test -r "$CHILD_CA"; then
        return 0
    fi
    public="$(mktemp -d /tmp/mod_auth0gw-demo.XXXXXX)"
    echo "$public" >"$PUBLIC_RECORD"
    cp -R "$ROOT/demo/htdocs" "$public/htdocs"
    cp "$ISSUER_DIR/ca.pem" "$public/ca.pem"
    chmod 755 "$public" "$public/htdocs"
    chmod 644 "$public"/htdocs/* "$public/ca.pem"
    HTDOCS="$public/htdocs" CHILD_CA="$public/ca.pem"
    runuser -u "$user" -- test -r "$HTDOCS/status.json" \
        || die "$user cannot read $HTDOCS either (is /tmp mounted with odd permissions?)"
    say "$user cannot read $(rel "$ROOT/demo/htdocs") here: serving a copy of it and of the issuer's CA from $public"
}

write_httpd_conf() {
    local user group
    if [[ "$(id -u)" -eq 0 ]]; then
        user=www-data group=www-data
        getent passwd "$user" >/dev/null || user=nobody
        getent group "$group" >/dev/null || group=nogroup
    else
        user="$(id -un)" group="$(id -gn)"
    fi
    # The children read the documents and the CA file as that user.
    child_readable_files "$user"
    sed -e "s|@DEMO_DIR@|$DEMO|g" -e "s|@HTDOCS@|$HTDOCS|g" -e "s|@MODULE@|$MODULE|g" \
        -e "s|@APACHE_MODULES@|$APACHE_MODULES|g" -e "s|@RUN_USER@|$user|g" \
        -e "s|@RUN_GROUP@|$group|g" -e "s|@ISSUER@|$ISSUER|g" \
        -e "s|@ISSUER_CA@|$CHILD_CA|g" -e "s|@AUDIENCE@|$AUDIENCE|g" \
        -e "s|@BACKEND_AUDIENCE@|$BACKEND_AUDIENCE|g" -e "s|@BACKEND@|$BACKEND|g" \
        -e "s|@GATEWAY_CLIENT_ID@|$GATEWAY_CLIENT_ID|g" \
        "$TEMPLATE" >"$HTTPD_CONF"
    if grep -n '@[A-Z_]*@' "$HTTPD_CONF" >&2; then
        die "unreplaced @NAME@ values in $(rel "$HTTPD_CONF") (lines above)"
    fi
}

start_httpd() {
    local i
    "$APACHE_BIN" -t -f "$HTTPD_CONF" >"$DEMO/configtest.log" 2>&1 \
        || { cat "$DEMO/configtest.log" >&2; die "apache2 -t rejected $(rel "$HTTPD_CONF") (above)"; }
    "$APACHE_BIN" -f "$HTTPD_CONF" -k start
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        curl -s -o /dev/null "$GATEWAY/__health" && break
        sleep 0.1
    done
    [[ -f "$HTTPD_PIDFILE" ]] || { tail -n 20 "$DEMO/error_log" >&2; die "apache did not start (error_log above)"; }
    say "apache: $GATEWAY (pid $(cat "$HTTPD_PIDFILE")), config $(rel "$HTTPD_CONF")"
}

# ---- walk-through ---------------------------------------------------------------------------

STEP=0
SHOW_BODY=1
BOLD='' PLAIN=''
if [[ -t 1 ]]; then
    BOLD=$'\033[1m' PLAIN=$'\033[0m'
fi

step() {
    STEP=$((STEP + 1))
    printf '\n%s%d. %s%s\n' "$BOLD" "$STEP" "$*" "$PLAIN"
}

# show_cmd LINE...: a command as the reader would type it, continuation lines indented.
show_cmd() {
    printf '   $ %s\n' "$1"
    shift
    for line in "$@"; do
        printf '       %s\n' "$line"
    done
}

# Shortens long tokens in what we print; the full value stays in $TOKEN.
abbreviate() { sed -E 's/(eyJ[A-Za-z0-9_-]{16})[A-Za-z0-9._-]{40,}/\1...(JWT)/g'; }

# request EXPECTED_STATUS curl-args...: runs curl, prints the status line, the headers that
# matter and the body, and fails the demo when the status is not the expected one.
request() {
    local expected=$1 status
    shift
    status="$(curl -s -D "$DEMO/last.headers" -o "$DEMO/last.body" -w '%{http_code}' "$@")" || true
    sed -n '1s/\r$//p' "$DEMO/last.headers" | sed 's/^/   /'
    grep -i -E '^(www-authenticate|content-type|retry-after):' "$DEMO/last.headers" \
        | tr -d '\r' | sed 's/^/   /' || true
    # Apache's own HTML error pages say nothing the status line does not.
    if [[ "$SHOW_BODY" == 1 && -s "$DEMO/last.body" ]] \
        && ! grep -qi '^content-type: *text/html' "$DEMO/last.headers"; then
        abbreviate <"$DEMO/last.body" | head -n 6 | cut -c 1-300 | sed 's/^/   /'
    fi
    if [[ "$status" != "$expected" ]]; then
        printf '\n' >&2
        tail -n 15 "$DEMO/error_log" >&2 || true
        die "step $STEP: expected HTTP $expected, got ${status:-no answer} (error_log tail above)"
    fi
}

get_token() {
    local audience=$1 out
    out="$(curl -s --cacert "$ISSUER_DIR/ca.pem" "${ISSUER}oauth/token" \
        -d grant_type=client_credentials -d "client_id=$CLIENT_ID" \
        -d "client_secret=$CLIENT_SECRET" -d "audience=$audience")" \
        || die "the issuer's token endpoint did not answer"
    printf '%s' "$out"
}

# Decodes a JWT's payload for display (the demo's own token; never done with real ones in logs).
jwt_payload() {
    perl -MMIME::Base64 -e '
        my (undef, $p) = split /\./, $ARGV[0];
        $p =~ tr{-_}{+/}; $p .= "=" x ((4 - length($p) % 4) % 4);
        print decode_base64($p), "\n"' "$1"
}

walk_through() {
    local ca token_json

    ca="$(rel "$ISSUER_DIR/ca.pem")"
    printf '\n%smod_auth0gw demo%s: Apache %s in front of the issuer %s\n' "$BOLD" "$PLAIN" "$GATEWAY" "$ISSUER"
    printf 'Configuration: %s (made from conf/demo.conf). Logs: %s/error_log\n' \
        "$(rel "$HTTPD_CONF")" "$(rel "$DEMO")"

    step "The health endpoint answers without a token"
    show_cmd "curl -i $GATEWAY/__health"
    request 200 "$GATEWAY/__health"

    step "The protected endpoint refuses a request without a token"
    show_cmd "curl -i $GATEWAY/auth0-protected"
    request 401 "$GATEWAY/auth0-protected"

    step "A machine gets an access token with its client credentials (Auth0's /oauth/token)"
    show_cmd "curl --cacert $ca ${ISSUER}oauth/token \\" \
        "-d grant_type=client_credentials -d client_id=$CLIENT_ID \\" \
        "-d client_secret=$CLIENT_SECRET -d audience=$AUDIENCE"
    token_json="$(get_token "$AUDIENCE")"
    printf '   %s\n' "$(abbreviate <<<"$token_json")"
    TOKEN="$(perl -MJSON::PP -e 'my $j = eval { decode_json($ARGV[0]) } or exit 1;
        print $j->{access_token} // exit 1' "$token_json")" \
        || die "step $STEP: no access_token in the issuer's answer"
    printf '   the token says: %s\n' "$(jwt_payload "$TOKEN")"

    step "The same request with the token is let in"
    show_cmd "curl -i -H \"Authorization: Bearer \$TOKEN\" $GATEWAY/auth0-protected"
    request 200 -H "Authorization: Bearer $TOKEN" "$GATEWAY/auth0-protected"

    walk_through_gateway

    # shellcheck disable=SC2016 # the $(...) is for the reader to paste, not for us
    printf '\nTry it yourself: TOKEN=$(curl -s --cacert %s %soauth/token -d grant_type=client_credentials -d client_id=%s -d client_secret=%s -d audience=%s | sed -E '"'"'s/.*"access_token":"([^"]+)".*/\\1/'"'"')\n' \
        "$ca" "$ISSUER" "$CLIENT_ID" "$CLIENT_SECRET" "$AUDIENCE"
    printf 'Stop it with: make demo-stop\n'
}

# ---- GATEWAY-TO-MACHINE (step 5) ----------------------------------------------------------
walk_through_gateway() {
    local injected
    step "Gateway-to-machine: the backend gets Apache's own token, not the caller's"
    show_cmd "curl -i -H \"Authorization: Bearer \$TOKEN\" $GATEWAY/orders/"
    SHOW_BODY=0 request 200 -H "Authorization: Bearer $TOKEN" "$GATEWAY/orders/"
    injected="$(perl -MJSON::PP -e '
        my $j = decode_json(do { local $/; <STDIN> });
        for (@{ $j->{headers} }) { print $1 if lc $_->[0] eq "authorization" && $_->[1] =~ /^Bearer (\S+)$/ }' \
        <"$DEMO/last.body")" || die "step $STEP: the backend's answer is not the echo JSON"
    [[ -n "$injected" ]] || die "step $STEP: the backend got no Bearer token"
    [[ "$injected" != "$TOKEN" ]] || die "step $STEP: the backend got the caller's token, not Apache's"
    printf '   the backend (the issuer'"'"'s /echo) received: Authorization: Bearer %s\n' \
        "$(abbreviate <<<"$injected")"
    printf '   which says: %s\n' "$(jwt_payload "$injected")"
}
# ---- end of GATEWAY-TO-MACHINE --------------------------------------------------------------

do_start() {
    need curl
    need node
    need openssl
    need perl
    APACHE_MODULES="$(apxs -q LIBEXECDIR)"
    [[ -f "$MODULE" ]] || die "$(rel "$MODULE") is missing: run \`make demo\` (it builds the module first)"
    [[ -f "$ROOT/t/fixtures/issuer.js" ]] || die "t/fixtures/issuer.js is missing"

    # A second `make demo` restarts cleanly instead of failing on busy ports.
    if [[ -f "$HTTPD_PIDFILE" || -f "$ISSUER_PIDFILE" || -f "$PUBLIC_RECORD" ]]; then
        say "stopping the previous demo first"
        do_stop
    fi
    if curl -s -o /dev/null "$GATEWAY/"; then
        die "something else already listens on 127.0.0.1:8080; stop it and run \`make demo\` again"
    fi

    mkdir -p "$DEMO/run" "$ISSUER_DIR"
    # Until Apache answers, a failure takes down what was started; after that the demo
    # stays up even if a step fails, so that its logs and endpoints can be looked at.
    trap 'stop_issuer; remove_public' EXIT
    make_certs
    start_issuer
    write_httpd_conf
    rm -f "$DEMO/error_log" "$DEMO/access_log"
    start_httpd
    trap - EXIT
    walk_through
}

command -v apxs >/dev/null 2>&1 || die "apxs not found (package apache2-dev): run \`make deps\` first"
APACHE_BIN="$(apxs -q SBINDIR)/$(apxs -q TARGET)"

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    *) die "usage: demo/demo.sh start|stop" ;;
esac
