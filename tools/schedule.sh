#!/bin/bash
# schedule.sh JOBS TARGET... : runs `make TARGET` for each target, at most
# JOBS at once, starting them in the order given (longest first keeps the
# machine busy to the end). Each target's output goes to a file, shown
# whole when it ends, with a line saying when. A failed target does not stop
# the rest: the summary (tools/summary.sh) decides.
jobs=$1; shift
mkdir -p build
start=$(date +%s)
declare -A pid_of
show() { # target
  cat "build/schedule-$1.txt"
  rm -f "build/schedule-$1.txt"
  echo "== $1 ended at +$(( $(date +%s) - start )) s"
}
reap() { # waits for a target to end and shows each that has
  local done_
  wait -n
  for done_ in "${!pid_of[@]}"; do
    if ! kill -0 "${pid_of[$done_]}" 2>/dev/null; then
      wait "${pid_of[$done_]}"
      unset "pid_of[$done_]"
      show "$done_"
    fi
  done
}
for t in "$@"; do
  while [ "${#pid_of[@]}" -ge "$jobs" ]; do reap; done
  ${MAKE:-make} --no-print-directory "$t" > "build/schedule-$t.txt" 2>&1 &
  pid_of[$t]=$!
done
while [ "${#pid_of[@]}" -gt 0 ]; do reap; done
exit 0
