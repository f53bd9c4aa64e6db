#!/bin/sh
# summary.sh RESULTS STAGE... : the last word of `make test`.
# RESULTS holds one "stage passed failed seconds" line per stage that ran
# (tools/stage.sh writes them). Every STAGE named must have reported: one
# that did not (its build failed, it crashed) counts as a failure. Prints a
# line per stage with its time, then "N passed, N failed"; exits non-zero
# unless everything passed.
results=$1
shift
[ -f "$results" ] || : > "$results"
awk -v expected="$*" '
  { passed[$1] += $2; failed[$1] += $3; secs[$1] += $4; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
  END {
    m = split(expected, want, " ")
    for (i = 1; i <= m; i++) if (!(want[i] in seen)) { missing[want[i]] = 1; order[++n] = want[i] }
    for (i = 1; i <= n; i++) {
      s = order[i]
      if (s in missing) {
        printf "  %-17s did not report (counted as 1 failed)\n", s; f += 1
      } else {
        printf "  %-17s %5d passed, %d failed  %6.1f s\n", s, passed[s], failed[s], secs[s]
        p += passed[s]; f += failed[s]
      }
    }
    printf "%d passed, %d failed\n", p, f
    exit (f > 0 || p == 0)
  }' "$results"
