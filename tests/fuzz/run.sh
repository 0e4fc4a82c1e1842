#!/bin/sh
# Run each libFuzzer target given for FUZZ_TIME seconds (default 60) on its
# committed seed corpus (tests/fuzz/corpus/NAME, read-only here) plus a
# working corpus in $FB/corpus/NAME that keeps what the fuzzer learns
# between runs. A crash leaves its input in $FB/crashes/ and fails the run:
# minimise it, fix the bug, and copy the input to tests/fuzz/regress/NAME/,
# where `make test` (tests/test_fuzz.c) replays it forever after.
# Every run appends "target,seconds,execs,result" to $FB/fuzz-log.csv.
FB=${FB:-build-fuzz}
T=${FUZZ_TIME:-60}
mkdir -p "$FB/crashes"
[ -f "$FB/fuzz-log.csv" ] || echo "date,target,seconds,execs,result" >"$FB/fuzz-log.csv"
fail=0
for bin in "$@"; do
    name=$(basename "$bin" | sed 's/^fuzz_//')
    seeds="tests/fuzz/corpus/$name"
    work="$FB/corpus/$name"
    mkdir -p "$work"
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    log="$FB/$name.log"
    start=$(date +%s)
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a parser
    # that believes a header and allocates gigabytes is a bug too
    if "$bin" -max_total_time="$T" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$FB/crashes/$name-" $dict "$work" "$seeds" >"$log" 2>&1; then
        result=ok
    else
        result=CRASH; fail=1
    fi
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ),$name,$secs,${execs:-0},$result" >>"$FB/fuzz-log.csv"
    echo "fuzz $name: $result, ${secs}s, ${execs:-0} inputs (log: $log)"
    if [ "$result" != ok ]; then
        grep -E "ERROR|SUMMARY|invariant|Test unit written" "$log" | head -n 10 | sed 's/^/    /'
    fi
done
awk -F, 'NR > 1 { s[$2] += $3 } END { for (k in s) printf "  %-12s %6d s fuzzed in all\n", k, s[k] }' \
    "$FB/fuzz-log.csv" | sort
exit $fail
