#!/bin/sh
# The hook of watch_failures.sh: one line for a run that has just failed.
[ "$CLARIFAI_TO" = FAILED ] || exit 0
printf '%s %s failed (was %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$CLARIFAI_RUN_ID" "${CLARIFAI_FROM:-new}" \
  >> "${WATCH_FAILURES_FILE:-failed-runs.txt}"
