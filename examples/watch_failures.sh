#!/bin/sh
# Append a line to a file (default ./failed-runs.txt) each time a run of the
# pipeline version fails, with the run and the state it failed from; stop
# after TIMEOUT (default 1h). The hook is a plain command: `clarifai pr
# watch` runs it for each event, never through a shell, with the event in
# its environment (CLARIFAI_EVENT, CLARIFAI_RUN_ID, CLARIFAI_FROM,
# CLARIFAI_TO, ...) and as a JSON line on its stdin; this one is a shell
# script only because it filters.
#
#   sh examples/watch_failures.sh [FILE] [TIMEOUT] [clarifai flags: --user_id ... ]
#
# Without id flags, they come from ./config-lock.yaml.
file=${1:-failed-runs.txt}; shift 2>/dev/null
timeout=${1:-1h}; shift 2>/dev/null
here=$(cd "$(dirname "$0")" && pwd)
CLARIFAI=${CLARIFAI:-clarifai}
export WATCH_FAILURES_FILE="$file"
exec $CLARIFAI pr watch --all --quiet-start --timeout "$timeout" --exec "sh '$here/on_failure.sh'" "$@"
