#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) and runs each for FXLEARN_FUZZ_SECONDS (default 30)
# from the seed corpus in tests/fuzz/corpus/<target>; fails on any crash, leak, sanitizer
# report or timeout. The growing corpus is kept in build/fuzz/corpus/<target> (the repo holds
# only the seeds), crash inputs in build/fuzz/crashes/<target>/.
#   tools/fuzz.sh                         # every target, 30 s each
#   FXLEARN_FUZZ_SECONDS=600 tools/fuzz.sh frame
#   FXLEARN_FUZZ_RUNS=10000000 tools/fuzz.sh   # a run count instead of a time (docs/reliability.md)
# Prints "<target>: <executions> execs in <s> s" per target.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FXLEARN_FUZZ_SECONDS:-30}
RUNS=${FXLEARN_FUZZ_RUNS:-}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(frame blob dispatch)

mkdir -p build/fuzz
# The clang builds keep -Werror (tests/fuzz/fuzz.mk): a warning fails the run.
make -s fuzz >build/fuzz/build.log 2>&1 || { cat build/fuzz/build.log >&2; exit 1; }
declare -A MAXLEN=([frame]=4096 [blob]=4096 [dispatch]=8192)
status=0
for t in "${TARGETS[@]}"; do
    corpus=build/fuzz/corpus/$t
    crashes=build/fuzz/crashes/$t
    mkdir -p "$corpus" "$crashes"
    cp -n tests/fuzz/corpus/$t/* "$corpus/"
    limit=(-max_total_time="$SECONDS_EACH")
    [ -n "$RUNS" ] && limit=(-runs="$RUNS")
    log=build/fuzz/$t.log
    start=$(date +%s)
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        build/fuzz/fuzz_$t "${limit[@]}" -max_len="${MAXLEN[$t]}" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1; then
        execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
        echo "$t: $execs execs in $(( $(date +%s) - start )) s, corpus $(ls "$corpus" | wc -l) inputs"
    else
        echo "$t: FAILED (log: $log; inputs: $crashes/)" >&2
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" >&2 || tail -20 "$log" >&2
        status=1
    fi
done
exit $status
