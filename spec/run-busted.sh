#!/bin/bash
# run-busted.sh STAGE BUSTED-COMMAND... : runs one stage's specs, prints
# "STAGE: N passed, M failed" (tools/stage.sh records it) and exits non-zero
# when a spec failed or busted itself did.
#
# Every *_spec.lua under SPEC_ROOT (default spec/), in any folder, or the
# files SPEC_FILES names, runs as its own busted
# process, SPEC_JOBS (default 4) at a time, the slowest (SLOW_SPECS) first:
# specs mostly wait (on servers, sockets and signals), so the stage takes
# about the time of its slowest file. Their TAP logs are joined in file order.
#
#   SPEC_SKIP   files this stage leaves out (the sanitizer stage: PURE_SPECS)
#   PURE_SPECS  files that load no C module: they run with the C modules'
#               build hidden, so one that starts loading a C module fails
#               here instead of silently escaping the sanitizer stage
#   ASAN_LIB    the sanitizer runtime, preloaded into the busted processes
#               (and so the lua5.4 commands they start; see spec/support/cli.lua)
stage=$1; shift
cmd=("$@")
jobs=${SPEC_JOBS:-4}
dir=${LOG_DIR:-build}
mkdir -p "$dir"
log=$dir/busted-$stage.txt
hidden=$dir/no-c-modules
mkdir -p "$hidden"

listed() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

# The files, slowest first, then the rest in name order.
files=()
for f in $SLOW_SPECS ${SPEC_FILES:-$(find "${SPEC_ROOT:-spec}" -name '*_spec.lua' | LC_ALL=C sort)}; do
  [ -n "$SPEC_FILES" ] && ! listed "$f" "$SPEC_FILES" && continue
  [ -f "$f" ] || continue
  listed "$f" "${files[*]}" && continue
  listed "$f" "$SPEC_SKIP" && continue
  files+=("$f")
done

# A file that hangs (a spec waiting on something that never comes) ends
# after SPEC_FILE_TIMEOUT seconds as a failure naming it, instead of holding
# the whole run (far longer than any file takes, even on one core).
limit=(timeout --foreground --kill-after=10 "${SPEC_FILE_TIMEOUT:-600}")

run_one() { # index, file
  out="$log.$1"
  if listed "$2" "$PURE_SPECS"; then
    CLARIFAI_BUILD_DIR=$hidden "${limit[@]}" "${cmd[@]}" -o TAP "$2" > "$out" 2>&1
  elif [ -n "$ASAN_LIB" ]; then
    "${limit[@]}" env LD_PRELOAD="$ASAN_LIB" ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "${cmd[@]}" -o TAP "$2" > "$out" 2>&1
  else
    "${limit[@]}" "${cmd[@]}" -o TAP "$2" > "$out" 2>&1
  fi
  rc=$?
  # busted exits non-zero for a failed spec; a crash leaves no "not ok" line
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "not ok - $2: still running after ${SPEC_FILE_TIMEOUT:-600} s (stopped)" >> "$out"
  elif [ $rc -ne 0 ] && ! grep -q '^not ok ' "$out"; then echo "not ok - $2: busted exited $rc" >> "$out"; fi
}

rc=0
running=0
for i in "${!files[@]}"; do
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  run_one "$i" "${files[$i]}" &
  running=$((running + 1))
done
wait
: > "$log"
for i in "${!files[@]}"; do cat "$log.$i" >> "$log"; rm -f "$log.$i"; done
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^not ok ' "$log")
if [ "$failed" -ne 0 ]; then
  grep -v '^ok ' "$log" | head -200
  rc=1
fi
echo "$stage: $passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$passed" -gt 0 ]
