#!/usr/bin/env bash
# Runs the integration suite (make integration-asan) against build/asan/mod_auth0gw.so, built with ASan + UBSan, in an httpd with the ASan runtime preloaded, and fails on any sanitizer report.
#
# Usage: t/run-asan.sh [test files]   (after `make build/asan/mod_auth0gw.so`)
# Leak detection is off: httpd frees most memory with its pools or not at all before exit
# (children end with exit(), the parent keeps pconf), so LeakSanitizer would report httpd's
# own allocations on every stop; memory errors and undefined behaviour are what we look for.
set -euo pipefail

cd "$(dirname "$0")/.."
top="$PWD"

module="$top/build/asan/mod_auth0gw.so"
[ -f "$module" ] || { echo "run-asan.sh: $module missing: run \`make integration-asan\`" >&2; exit 1; }
readelf -d "$module" | grep -q 'libasan' \
    || { echo "run-asan.sh: $module is not linked with ASan" >&2; exit 1; }
runtime="$(gcc -print-file-name=libasan.so)"
[ -f "$runtime" ] || { echo "run-asan.sh: gcc's libasan.so not found ($runtime)" >&2; exit 1; }

reports="$top/t/state/sanitizers"
export AGW_MODULE="$module"
export APACHE_TEST_HTTPD="$top/t/fixtures/asan-httpd.sh"
export AGW_ASAN_RUNTIME="$runtime"
export AGW_SANITIZER_DIR="$reports"
# One log_path for both: with gcc the two runtimes share it (UBSAN_OPTIONS' would win).
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:log_path=$reports/sanitizer"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$reports/sanitizer"

status=0
# -httpd: Apache::Test would otherwise take apxs's /usr/sbin/apache2 over APACHE_TEST_HTTPD.
bash t/run-integration.sh -httpd "$APACHE_TEST_HTTPD" "$@" || status=$?

# The httpd wrapper made the directory: its absence means no sanitized httpd ran at all.
if [ ! -d "$reports" ]; then
    echo "run-asan.sh: $reports was never made: no httpd ran with the ASan runtime" >&2
    exit 1
fi
shopt -s nullglob
found=0
for f in "$reports"/*; do
    [ -s "$f" ] || continue
    found=$((found + 1))
    echo "==== sanitizer report $f ====" >&2
    cat "$f" >&2
done
# gcc's UBSan runtime, loaded beside ASan's, still writes to stderr: httpd's error logs (the
# suite's own and those of the httpds the tests start) are searched too.
for f in t/logs/error_log t/state/proxy/httpd-*/logs/error_log; do
    [ -f "$f" ] || continue
    if grep -Eq 'runtime error:|ERROR: AddressSanitizer|UndefinedBehaviorSanitizer' "$f"; then
        found=$((found + 1))
        echo "==== sanitizer reports in $f ====" >&2
        grep -E -A12 'runtime error:|ERROR: AddressSanitizer|UndefinedBehaviorSanitizer' "$f" | head -n 200 >&2
    fi
done
if ((found)); then
    echo "run-asan.sh: sanitizer reports in $found file(s) above" >&2
    exit 1
fi
echo "run-asan.sh: no ASan or UBSan report (module $module, runtime $runtime)"
exit "$status"
