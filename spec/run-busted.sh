#!/bin/sh
# Runs the busted suite for one stage, appends "stage passed failed" to
# $RESULTS (default build/results.txt) and exits non-zero when a spec failed
# or busted itself did. Usage: run-busted.sh STAGE BUSTED-COMMAND...
stage=$1; shift
mkdir -p build
log=${LOG_DIR:-build}/busted-$stage.txt
if [ -n "$ASAN_LIB" ]; then
  # Sanitizer runtime only in the lua5.4 processes (see spec/support/cli.lua).
  LD_PRELOAD=$ASAN_LIB ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$@" -o TAP > "$log" 2>&1
else
  "$@" -o TAP > "$log" 2>&1
fi
rc=$?
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^not ok ' "$log")
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$failed" -ne 0 ] || [ "$rc" -ne 0 ]; then
  grep -v '^ok ' "$log" | head -200
fi
echo "$stage: $passed passed, $failed failed"
echo "$stage $passed $failed" >> "${RESULTS:-build/results.txt}"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
