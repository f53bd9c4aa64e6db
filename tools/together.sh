#!/bin/sh
# together.sh TARGET... [-- TARGET...]... : runs `make TARGET` for each
# group at once (groups one after another), each target's output to a file
# shown when the group ends. A failed target does not stop the rest: the
# summary (tools/summary.sh) decides.
mkdir -p build
run_group() {
  pids=""
  for t in "$@"; do
    make --no-print-directory "$t" > "build/together-$t.txt" 2>&1 &
    pids="$pids $!"
  done
  for p in $pids; do wait "$p"; done
  for t in "$@"; do cat "build/together-$t.txt"; rm -f "build/together-$t.txt"; done
}
group=""
for a in "$@"; do
  if [ "$a" = "--" ]; then
    # shellcheck disable=SC2086
    [ -n "$group" ] && run_group $group
    group=""
  else
    group="$group $a"
  fi
done
# shellcheck disable=SC2086
[ -n "$group" ] && run_group $group
exit 0
