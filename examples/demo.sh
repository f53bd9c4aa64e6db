#!/bin/sh
# `make demo`: a narrated walkthrough against the bundled emulator.
# Starts the emulator on a free loopback port, works in a scratch pipeline
# directory (with a config-lock.yaml, as `clarifai pipeline upload` leaves
# one), and stops the emulator on exit.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
clarifai="$root/bin/clarifai"
work=$(mktemp -d)
emu_log="$work/emulator.out"

cleanup() {
  [ -n "${emu_pid:-}" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

lua5.4 "$root/bin/clarifai-emulator" --port 0 --tick 3 --quiet > "$emu_log" 2>&1 &
emu_pid=$!
i=0
while [ $i -lt 50 ] && ! grep -q '^listening on ' "$emu_log"; do sleep 0.1; i=$((i + 1)); done
url=$(sed -n 's/^listening on //p' "$emu_log" | head -1)
[ -n "$url" ] || { echo "the emulator did not start:"; cat "$emu_log"; exit 1; }

export CLARIFAI_API_BASE="$url" CLARIFAI_PAT=demo-pat-7c0ffee
unset CLARIFAI_SESSION_TOKEN
cd "$work"
cat > config-lock.yaml <<'LOCK'
pipeline:
  id: hello-world-pipeline
  user_id: demo-user
  app_id: demo-app
  version_id: 8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19
LOCK

failed=0
# Bold headings only on a terminal that can show them (not with NO_COLOR,
# TERM=dumb or when the output goes to a file or pipe).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
  say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
else
  say() { printf '\n# %s\n' "$*"; }
fi
run() { # show and run a command; `run !` expects a failure
  expect=0
  if [ "$1" = "!" ]; then expect=1; shift; fi
  printf '$ %s\n' "$*"
  "$@"
  rc=$?
  printf '  (exit %d)\n' "$rc"
  if [ "$expect" = 0 ] && [ "$rc" != 0 ]; then failed=1; fi
  if [ "$expect" = 1 ] && [ "$rc" = 0 ]; then failed=1; fi
}

say "The emulator is serving the Clarifai API at $url (demo token in CLARIFAI_PAT)."
say "We are in a pipeline directory: config-lock.yaml supplies the four ids."
cat config-lock.yaml
say "The allowed transitions, from the one state table:"
run "$clarifai" pr transitions
say "List the demo runs:"
run "$clarifai" pr list
say "Pause a running run:"
run "$clarifai" pr pause run-train-01
say "Its state now:"
run "$clarifai" pr status run-train-01
say "Resume it:"
run "$clarifai" pr resume run-train-01
say "Cancel a queued run:"
run "$clarifai" pr cancel run-eval-03
say "Cancelling it again changes nothing and still succeeds:"
run "$clarifai" pr cancel run-eval-03
say "A completed run cannot be paused; the API refuses and we exit 1:"
run ! "$clarifai" pr pause run-etl-05
say "Its status-change history:"
run "$clarifai" pr history run-eval-03
say "Several runs at once, waiting until each is really paused:"
run "$clarifai" pr pause run-train-02 run-train-01 --wait --timeout 30 --interval 0.5
say "The same as JSON, for scripts:"
run "$clarifai" pr resume run-train-02 -o json
say "A batch of 200 runs against a slow server, stopped by SIGINT after a second: every run is reported once (paused, unknown or not sent), then how to send the rest."
curl -s -X POST "$url/_emulator/runs" -d '{"prefix":"batch-","count":200}' > /dev/null
curl -s -X POST "$url/_emulator/faults" -d '{"kind":"delay","method":"PATCH","seconds":0.3,"times":1000}' > /dev/null
printf '$ %s\n' "clarifai pr list --status running --all -o ids | grep '^batch-' | timeout -s INT 1 clarifai pr pause -"
"$clarifai" pr list --status running --all -o ids | grep '^batch-' \
  | timeout --preserve-status -s INT 1 "$clarifai" pr pause - > batch.out 2> batch.err
rc=$?
printf '  (%d "has been paused" lines on stdout, %d "not sent:" lines on stderr; its last lines:)\n' \
  "$(wc -l < batch.out)" "$(grep -c '^not sent: ' batch.err)"
grep -v '^not sent: ' batch.err | tail -n 5 | sed 's/^/  /'
printf '  (exit %d)\n' "$rc"
[ "$rc" = 130 ] || failed=1
curl -s -X DELETE "$url/_emulator/faults" > /dev/null
say "Selections instead of ids: every queued or running run of every pipeline of the app. A preview first (it sends only listing requests):"
for p in ingest train; do
  for v in v1 v2; do
    curl -s -X POST "$url/_emulator/runs" -d "{\"prefix\":\"$p-$v-\",\"count\":60,\"state\":\"JOB_RUNNING\",
      \"user_id\":\"demo-user\",\"app_id\":\"demo-app\",\"pipeline_id\":\"$p\",\"pipeline_version_id\":\"$v\"}" > /dev/null
  done
done
run "$clarifai" pr pause --all --all-pipelines --dry-run
patches() { curl -s "$url/_emulator/requests" | grep -o '"method":"PATCH"' | wc -l; }
say "Then the change (-y: no question asked), the runs of each version grouped into one PATCH:"
before=$(patches)
printf '$ %s\n' "clarifai pr pause --all --all-pipelines --yes"
"$clarifai" pr pause --all --all-pipelines --yes > selection.out 2> selection.err
rc=$?
printf '  (%d "has been paused" lines on stdout, sent in %d PATCH requests; stderr: %s)\n' \
  "$(grep -c 'has been paused' selection.out)" "$(($(patches) - before))" "$(tail -n 1 selection.err)"
printf '  (exit %d)\n' "$rc"
[ "$rc" = 0 ] || failed=1
say "Watch and react: follow the version's live runs for 4 s, a line per state change, and a hook per event (a plain command, run without a shell; the event is in its environment and on its stdin):"
curl -s -X POST "$url/_emulator/runs" -d '{"id":"run-watched","state":"JOB_QUEUED"}' > /dev/null
cat > hook.sh <<'HOOK'
echo "  hook: $CLARIFAI_EVENT $CLARIFAI_RUN_ID ${CLARIFAI_FROM:-new} -> $CLARIFAI_TO"
HOOK
printf '$ %s\n' "clarifai pr watch --status queued,running,paused --quiet-start --interval 0.5 --timeout 4 --exec 'sh hook.sh'"
"$clarifai" pr watch --status queued,running,paused --quiet-start --interval 0.5 --timeout 4 --exec 'sh hook.sh'
rc=$?
printf '  (exit %d: --timeout ends a watch with 124)\n' "$rc"
[ "$rc" = 124 ] || failed=1
say "A missing run id is a usage error (exit 2) and sends nothing:"
run ! "$clarifai" pr resume --app_id demo-app
echo
if [ "$failed" = 0 ]; then echo "Demo finished."; else echo "Demo: a step did not behave as expected."; fi
exit "$failed"
