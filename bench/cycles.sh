#!/usr/bin/env bash
# `make bench-cycles`: the cycles a prefork child spends in the hit path's steps, read from the
# CPU's time-stamp counter by a build with AGW_CYCLES (src/agw_cycles.h), on the Zipf mix of
# `make bench` (a benchmark, not a test): where a hit's cycles go, step by step. Each figure is the
# median over the children of each child's median over its ~15,000-30,000 requests; yet two
# instances of the very same build differ by up to 30% in one run (each instance's memory and
# children land differently), so the build is always measured twice (cycles and cycles-twin):
# a difference between builds means something only beyond the twins' own.
#
# Usage: bench/cycles.sh [NAME=PATH ...]   PATH: other builds made with CYCLES=1 (e.g. of another
#                                          commit, in its own tree: make BUILD=build/cycles
#                                          CYCLES=1 build/cycles/mod_auth0gw.so), measured in the
#                                          same interleaved rounds
# Prefork only: a child's histograms are plain per-process counters, right for one thread.
# Settings (environment): BENCH_ROUNDS (3), and bench/run.sh's.
# Steps: authn-hit / authn-verified = the whole check_authn hook by how the token was served;
# gate = the core's check; sha256, table (the host table's look-up) and brief (key held, claims
# checked from the brief; counted only where the brief accepts the token) inside it; conf, find
# and answer: the glue's completeness check, token look-up and answer (user, notes); the gate
# counts every outcome. Cycles at the TSC's rate (this machine: see /proc/cpuinfo); a sample
# beyond 65,536 cycles counts in "over" (a median of 65,568 means more than half were).
set -euo pipefail

[[ "${BENCH_MPM:-prefork}" == prefork ]] \
    || { echo "bench/cycles.sh: prefork only (a child's counters are not shared by threads), not BENCH_MPM=$BENCH_MPM" >&2; exit 1; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CYCLES_MODULE="$ROOT/build/cycles/mod_auth0gw.so"
[[ -f "$CYCLES_MODULE" ]] || { echo "bench/cycles.sh: $CYCLES_MODULE is missing: run make bench-cycles" >&2; exit 1; }
# (grep -c, not -q: with pipefail, nm killed by the closed pipe would read as a failure)
counts_cycles() { [[ "$(nm "$1" 2>/dev/null | grep -c ' agw_cycles_add$')" -gt 0 ]]; }
counts_cycles "$CYCLES_MODULE" || { echo "bench/cycles.sh: $CYCLES_MODULE was not built with CYCLES=1" >&2; exit 1; }
# the same build twice: two instances of one build differ by up to 30% in one run (each
# instance's memory and children land differently), which is the noise floor to read any
# difference between builds against
builds="cycles=$CYCLES_MODULE cycles-twin=$CYCLES_MODULE"
for spec in "$@"; do
    [[ "$spec" == *=* && -f "${spec#*=}" ]] || { echo "bench/cycles.sh: '$spec' is not NAME=PATH of a file" >&2; exit 1; }
    counts_cycles "${spec#*=}" || { echo "bench/cycles.sh: ${spec#*=} was not built with CYCLES=1" >&2; exit 1; }
    builds+=" $spec"
done

BENCH_MPM=prefork BENCH_ROUNDS="${BENCH_ROUNDS:-3}" BENCH_CASES=plain-zipf \
    BENCH_BUILDS="$builds" bash "$ROOT/bench/run.sh"

# every child logs its histograms (AGW0033) when it exits, at the end of the run
printf '\ncycles per request on the Zipf mix (prefork MPM): median over the children of each child'"'"'s\n'
printf 'median (64-cycle buckets); p90 likewise; n = samples of all children; over = of them beyond\n'
printf '65,536 cycles\n\n'
for spec in $builds; do
    name="${spec%%=*}"
    log="$ROOT/build/bench/build-$name/error_log"
    [[ -f "$log" ]] || { echo "bench/cycles.sh: no $log" >&2; exit 1; }
    perl -e '
        my ($name, $log) = @ARGV;
        my (%med, %p90, %n, %over);
        open my $f, "<", $log or die "$log: $!\n";
        while (<$f>) {
            next unless /AGW0033: cycles step=(\S+) n=(\d+) median=(\d+) p90=(\d+) over=(\d+)/;
            push @{$med{$1}}, $3; push @{$p90{$1}}, $4; $n{$1} += $2; $over{$1} += $5;
        }
        die "bench/cycles.sh: $log has no AGW0033 lines (did the children exit?)\n" unless %n;
        sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }
        for my $step (qw(authn-hit authn-verified gate sha256 table brief conf find answer)) {
            next unless $n{$step};
            printf "%-12s %-15s %8d cycles  p90 %8d  n %9d  over %7d  children %d\n", $name, $step,
                median(@{$med{$step}}), median(@{$p90{$step}}), $n{$step}, $over{$step},
                scalar @{$med{$step}};
        }' "$name" "$log"
done
