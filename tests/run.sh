#!/bin/sh
# Run every test binary given; print one line per binary and a total.
pass=0; fail=0; failed=""
mkdir -p "$B/test-logs"
for t in "$@"; do
    name=$(basename "$t")
    log="$B/test-logs/$name.log"
    if "$t" >"$log" 2>&1; then
        pass=$((pass + 1)); echo "PASS $name"
    else
        fail=$((fail + 1)); failed="$failed $name"; echo "FAIL $name (log: $log)"
        tail -n 30 "$log" | sed 's/^/    /'
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
