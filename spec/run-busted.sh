#!/bin/sh
# Runs the busted suite for one stage, prints "STAGE: N passed, M failed"
# (tools/stage.sh records it) and exits non-zero when a spec failed or
# busted itself did. Usage: run-busted.sh STAGE BUSTED-COMMAND...
# With SPEC_SPLIT (a list of spec files) set, those files and the rest run
# as two busted processes at once, their TAP logs joined.
stage=$1; shift
mkdir -p build
log=${LOG_DIR:-build}/busted-$stage.txt
run() { # log file, then spec files (none: busted's default, every spec)
  out=$1; shift
  if [ -n "$ASAN_LIB" ]; then
    # Sanitizer runtime only in the lua5.4 processes (see spec/support/cli.lua).
    LD_PRELOAD=$ASAN_LIB ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $cmd -o TAP "$@" > "$out" 2>&1
  else
    $cmd -o TAP "$@" > "$out" 2>&1
  fi
}
cmd="$*"
if [ -n "$SPEC_SPLIT" ]; then
  # Two busted processes at once: the files SPEC_SPLIT names, and the rest.
  # Specs mostly wait (on servers, timeouts, signals), so the two cores
  # halve the stage without loading the machine.
  rest=""
  for f in spec/*_spec.lua; do
    case " $SPEC_SPLIT " in *" $f "*) ;; *) rest="$rest $f" ;; esac
  done
  run "$log.1" $SPEC_SPLIT & pid=$!
  run "$log.2" $rest; rc2=$?
  wait $pid; rc1=$?
  cat "$log.1" "$log.2" > "$log"; rm -f "$log.1" "$log.2"
  rc=$((rc1 | rc2))
else
  run "$log"
  rc=$?
fi
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^not ok ' "$log")
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$failed" -ne 0 ] || [ "$rc" -ne 0 ]; then
  grep -v '^ok ' "$log" | head -200
fi
echo "$stage: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
