#!/bin/sh
# stage.sh RESULTS NAME COMMAND... : runs a one-check stage of `make test`,
# appends "NAME 1 0" or "NAME 0 1" to RESULTS, and exits with the command's
# status (so `make <stage>` alone fails when the check fails).
results=$1; name=$2; shift 2
"$@"
rc=$?
if [ "$rc" -eq 0 ]; then echo "$name 1 0" >> "$results"; else echo "$name 0 1" >> "$results"; fi
exit "$rc"
