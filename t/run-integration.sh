#!/usr/bin/env bash
# Runs the Apache::Test integration suite (make integration) from a clean state and fails unless it really ran tests and passed.
set -euo pipefail

cd "$(dirname "$0")/.."

log="$(mktemp -t agw-integration.XXXXXX)"
trap 'rm -f "$log"' EXIT

perl t/TEST -clean >/dev/null

# -verbose: Apache::Test prints got/expected of a failed assertion only in verbose mode.
status=0
perl t/TEST -port select -verbose "$@" 2>&1 | tee "$log" || status=$?

# Apache::TestRun can exit 0 without running anything (as root, or when httpd could not
# start); demand the harness's own summary.
if ! grep -Eq '^Result: PASS' "$log"; then
    echo "run-integration.sh: the suite did not pass (no 'Result: PASS')" >&2
    [ "$status" -ne 0 ] || status=1
fi
tests="$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$log" | tail -1)"
if [ -z "$tests" ] || [ "$tests" -eq 0 ]; then
    echo "run-integration.sh: no tests were run" >&2
    [ "$status" -ne 0 ] || status=1
fi

# httpd children that crashed left cores in t/state/cores (CoreDumpDirectory).
shopt -s nullglob
for core in t/state/cores/core*; do
    echo "run-integration.sh: httpd child dumped core: $core" >&2
    if command -v gdb >/dev/null 2>&1; then
        gdb -batch -ex 'thread apply all bt' /usr/sbin/apache2 "$core" 2>&1 | tail -n 80 >&2 || true
    fi
    [ "$status" -ne 0 ] || status=1
done
exit "$status"
