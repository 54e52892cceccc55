#!/bin/sh
# Test-only wrapper (tests/e2e_claude.rs): runs `BIN hook` with the hook payload on stdin and
# appends how long it took to return, in microseconds, to LOG. usage: timed_hook.sh BIN LOG
t0=$(date +%s%N)
"$1" hook
t1=$(date +%s%N)
echo $(((t1 - t0) / 1000)) >>"$2"
exit 0
