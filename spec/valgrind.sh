#!/bin/sh
# Runs a subset of CLI invocations under valgrind against the emulator and
# prints "valgrind: N passed, M failed" (tools/stage.sh records it). A case fails on any
# memory error or definite leak (exit 99), or on an unexpected exit code.
mkdir -p build
log=build/valgrind.txt
: > "$log"
root=$(pwd)
work=$(mktemp -d)
emu_out="$work/emu.out"
(env -u LD_PRELOAD lua5.4 bin/clarifai-emulator --port 0 --tick 0 --quiet > "$emu_out" 2>&1) &
emu_pid=$!
trap 'kill $emu_pid 2>/dev/null; rm -rf "$work"' EXIT
i=0
while [ $i -lt 50 ] && ! grep -q '^listening on ' "$emu_out"; do sleep 0.1; i=$((i + 1)); done
url=$(sed -n 's/^listening on //p' "$emu_out" | head -1)
cat > "$work/config-lock.yaml" <<'LOCK'
pipeline:
  id: hello-world-pipeline
  user_id: demo-user
  app_id: demo-app
  version_id: 8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19
  orchestration_spec:
    argo_orchestration_spec: |
      apiVersion: argoproj.io/v1alpha1
      kind: Workflow
LOCK
mkdir -p "$work/home/.config/clarifai"
printf 'contexts:\n  emu:\n    CLARIFAI_API_BASE: %s\n    CLARIFAI_PAT: demo-pat-7c0ffee\n  dead:\n    CLARIFAI_API_BASE: http://127.0.0.1:1\n    CLARIFAI_PAT: demo-pat-7c0ffee\ncurrent_context: emu\n' "$url" \
  > "$work/home/.config/clarifai/config"
chmod 600 "$work/home/.config/clarifai/config"
printf 'contexts:\n  a: [unclosed\n' > "$work/bad-config"

VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite"
# Each case's verdict is a line in $verdicts; a case's own log is shown
# when it fails and kept in $log. Cases run in two lanes at once (each
# lane in order: its cases share runs), then the last one alone.
verdicts="$work/verdicts"
: > "$verdicts"
verdict() { # what ran, its exit code, the expected one, its log
  if [ "$2" = "$3" ]; then
    echo "ok - valgrind: $1 (exit $2)" | tee -a "$verdicts"
  else
    echo "not ok - valgrind: $1 (exit $2, expected $3)" | tee -a "$verdicts"; tail -30 "$4"
  fi
  cat "$4" >> "$log"
}
vg() { # expected-exit, then clarifai arguments
  expect=$1; shift
  clog="$work/case.$(date +%s%N)"
  ( cd "$work" && env -u CLARIFAI_PAT -u CLARIFAI_API_BASE HOME="$work/home" CLARIFAI_CLEAN_EXIT=1 \
      $VALGRIND lua5.4 "$root/bin/clarifai" "$@" ) > "$clog" 2>&1
  verdict "clarifai $*" $? "$expect" "$clog"
}
lane_a() { # run-train-01 and run-etl-04, and cases that send nothing
  vg 0 pr pause run-train-01
  vg 0 pr pause run-train-01
  vg 0 pr resume run-train-01 run-etl-04 --wait --interval 0.2
  vg 0 pr status run-train-01 -o json
  vg 0 pr history run-train-01
  vg 2 pr pause
  vg 0 pr transitions -o json
}
lane_b() { # the rest, then a workflow that pauses run-train-02
  vg 1 pr pause run-etl-05
  vg 0 pr list --status running,paused
  vg 0 pr cancel run-eval-03 --dry-run
  vg 3 --config "$work/bad-config" pr pause run-train-01
  vg 5 --context dead pr status run-train-01
  vg 124 pr monitor run-train-02 --timeout 0.5 --monitor_interval 0.2
  if lua5.4 -e 'require "luv"' 2>/dev/null; then vgs 0 run-train-02; fi
}
# Workflows in an event loop: one completes, one is cancelled mid-request
# (its transfer and watchers must be released: no definite leak).
cat > "$work/async.lua" <<LUA
package.path = "$root/lua/?.lua;$root/lua/?/init.lua;" .. package.path
package.cpath = "$root/build/?.so;" .. package.cpath
local uv, clarifai = require "luv", require "clarifai"
local async = require "clarifai.async.luv"
local ref = { user_id = "demo-user", app_id = "demo-app", pipeline_id = "hello-world-pipeline",
  pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19", run_id = arg[1] }
local c = assert(clarifai.client.new({ pat = "demo-pat-7c0ffee", api_base = "$url" }))
local outcome
local h = async.spawn(function() return clarifai.runs.pause(ref, { client = c }) end,
  function(ok, r) outcome = ok and r.outcome or r.kind end)
if arg[2] == "cancel" then
  local t = uv.new_timer()
  t:start(300, 0, function() t:close() h:cancel() end)
end
uv.run()
c:close()
print(outcome)
os.exit(outcome == (arg[2] == "cancel" and "cancelled" or "ok") and 0 or 1, true)
LUA
vgs() { # expected-exit, then the script's arguments
  expect=$1; shift
  clog="$work/case.$(date +%s%N)"
  ( cd "$work" && $VALGRIND lua5.4 "$work/async.lua" "$@" ) > "$clog" 2>&1
  verdict "async workflow $*" $? "$expect" "$clog"
}
lane_a > "$work/lane-a.out" 2>&1 &
a=$!
lane_b > "$work/lane-b.out" 2>&1 &
b=$!
wait "$a"; wait "$b"
cat "$work/lane-a.out" "$work/lane-b.out"
# Alone: the hanging PATCH must not catch another lane's request.
if lua5.4 -e 'require "luv"' 2>/dev/null; then
  curl -s -X POST "$url/_emulator/faults" -d '{"kind":"hang","method":"PATCH","apply":false}' > /dev/null
  vgs 0 run-eval-03 cancel
else
  echo "not ok - valgrind: luv is not installed (Debian lua-luv): the event-loop cases cannot run" | tee -a "$verdicts"
fi
# Alone too: runs as big as real ones (their long strings skimmed as they
# arrive), and a PATCH applied and left unanswered on a reused connection
# (not sent again: read back).
curl -s -X POST "$url/_emulator/config" -d '{"run_size":131072}' > /dev/null
vg 0 pr list --all -o json
vg 0 pr status run-train-01 run-etl-05 -o json
curl -s -X POST "$url/_emulator/faults" -d '{"kind":"apply_then_close","method":"PATCH","contains":"\"run-etl-04\""}' \
  > /dev/null
vg 0 pr pause run-train-01 run-etl-04 --parallel 1

passed=$(grep -c '^ok ' "$verdicts")
failed=$(grep -c '^not ok ' "$verdicts")
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
