#!/usr/bin/env bash
# CI: as root, `make demo` then `make demo-stop` from a clone in a directory that httpd's user cannot enter (mktemp -d, 0700): the walk-through's 200 and 401 steps pass, and the stop leaves no process and no copy under /tmp.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC="$PWD"

say() { printf 'demo-private: %s\n' "$*"; }
die() {
    printf 'demo-private: FAILED: %s\n' "$*" >&2
    exit 1
}

if [[ "$(id -u)" -ne 0 ]]; then
    # Not root, the demo's children run as the invoking user, who can read the clone.
    say "skipped: the problem it checks only arises as root"
    exit 0
fi
user=www-data
getent passwd "$user" >/dev/null || user=nobody

work="$(mktemp -d -t agw-demo-private.XXXXXX)"
chmod 700 "$work"
repo="$work/repo"
log="$work/demo.log"
cleanup() {
    local rc=$?
    if [[ -d "$repo" ]]; then
        (cd "$repo" && make -s demo-stop >/dev/null 2>&1) || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

git clone -q --no-hardlinks "$SRC" "$repo"
# The demo's issuer needs no npm package, but `make deps` insists on t/interop's tree: give
# the clone a copy instead of a network install.
if [[ -d "$SRC/t/interop/node_modules" ]]; then
    cp -R "$SRC/t/interop/node_modules" "$repo/t/interop/"
    touch "$repo/t/interop/node_modules/.package-lock.json"
fi
if runuser -u "$user" -- test -r "$repo/demo/htdocs/status.json"; then
    die "$user can read $repo: this check would prove nothing"
fi

say "make demo in $repo (0700 parent, $user cannot read it)"
status=0
(cd "$repo" && timeout 170 make demo) >"$log" 2>&1 </dev/null || status=$?
cat "$log"
((status == 0)) || die "make demo exited with $status (output above)"
grep -q "demo: $user cannot read demo/htdocs here: serving a copy" "$log" \
    || die "the demo did not say it serves a copy of demo/htdocs"
public="$(cat "$repo/build/demo/public.dir")"
# Steps 1, 4 and 5 answer 200, step 2 answers 401 (the demo itself fails on any other status).
ok=$(grep -c '^   HTTP/1.1 200 OK' "$log" || true)
refused=$(grep -c '^   HTTP/1.1 401 Unauthorized' "$log" || true)
((ok == 3 && refused == 1)) || die "expected three 200 and one 401 steps, saw $ok and $refused"
say "walk-through: $ok steps answered 200, $refused answered 401"

httpd_pid="$(cat "$repo/build/demo/httpd.pid")"
(cd "$repo" && make demo-stop)
! kill -0 "$httpd_pid" 2>/dev/null || die "httpd (pid $httpd_pid) still runs after make demo-stop"
[[ ! -e "$public" ]] || die "make demo-stop left $public"
say "make demo-stop: httpd stopped, $public removed"
