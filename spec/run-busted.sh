#!/bin/sh
# Runs the busted suite for one stage, prints "STAGE: N passed, M failed"
# (tools/stage.sh records it) and exits non-zero when a spec failed or
# busted itself did. Usage: run-busted.sh STAGE BUSTED-COMMAND...
# With SPEC_GROUPS set (groups of spec files separated by ";"), each group
# and the files no group names run as busted processes at once, their TAP
# logs joined: specs mostly wait (on servers, sockets and signals), so the
# suite takes about the time of its slowest group.
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
rc=0
if [ -n "$SPEC_GROUPS" ]; then
  named=" $(echo "$SPEC_GROUPS" | tr ';' ' ') "
  rest=""
  for f in spec/*_spec.lua; do
    case "$named" in *" $f "*) ;; *) rest="$rest $f" ;; esac
  done
  k=0; pids=""
  oldifs=$IFS; IFS=';'
  for group in $SPEC_GROUPS $rest; do
    IFS=$oldifs
    k=$((k + 1))
    # shellcheck disable=SC2086
    run "$log.$k" $group & pids="$pids $!"
    IFS=';'
  done
  IFS=$oldifs
  for p in $pids; do wait "$p" || rc=1; done
  : > "$log"
  i=1
  while [ $i -le $k ]; do cat "$log.$i" >> "$log"; rm -f "$log.$i"; i=$((i + 1)); done
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
