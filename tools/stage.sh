#!/bin/sh
# stage.sh NAME COMMAND... : runs one stage of `make test` and writes its
# results line — "NAME PASSED FAILED SECONDS" — to $RESULTS (default
# build/results.txt); the only script that writes one. The counts are the
# last "N passed, M failed" line the command prints (a stage of one check
# that prints none counts 1 passed or 1 failed by its exit status). Exits
# non-zero when the command did or when anything failed, so `make NAME`
# alone fails too.
name=$1; shift
results=${RESULTS:-build/results.txt}
mkdir -p "$(dirname "$results")" build
log=build/stage-$name.log
start=$(date +%s.%N)
{ "$@"; echo "$?" > "$log.rc"; } 2>&1 | tee "$log"
rc=$(cat "$log.rc" 2>/dev/null || echo 1)
rm -f "$log.rc"
end=$(date +%s.%N)
counts=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
if [ -n "$counts" ]; then
  passed=${counts%% passed*}
  failed=${counts#*, }; failed=${failed%% failed*}
elif [ "$rc" -eq 0 ]; then passed=1; failed=0
else passed=0; failed=1; fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
echo "$name $passed $failed $seconds" >> "$results"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
