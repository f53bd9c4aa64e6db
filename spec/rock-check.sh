#!/bin/sh
# Builds and installs the rock into a temporary tree, then runs the installed
# `clarifai --help` and one pause against the emulator from that tree.
# Appends "rockspec passed failed" to build/results.txt.
mkdir -p build
tree=$(mktemp -d)
log=build/rock.txt
passed=0; failed=0
check() { # name, then a command
  name=$1; shift
  if "$@" >> "$log" 2>&1; then passed=$((passed + 1)); echo "ok - rockspec: $name"
  else failed=$((failed + 1)); echo "not ok - rockspec: $name"; tail -20 "$log"; fi
}
: > "$log"
check "luarocks make" luarocks --lua-version=5.4 make --deps-mode=none --tree "$tree" rockspec/clarifai-scm-1.rockspec
check "installed clarifai --help" sh -c "cd / && '$tree/bin/clarifai' pr pause --help | grep -q 'Pausing is allowed only'"
emu_out=$(mktemp)
(cd / && exec "$tree/bin/clarifai-emulator" --port 0 --tick 0 > "$emu_out" 2>&1) &
emu_pid=$!
i=0
while [ $i -lt 50 ] && ! grep -q '^listening on ' "$emu_out"; do sleep 0.1; i=$((i + 1)); done
url=$(sed -n 's/^listening on //p' "$emu_out" | head -1)
check "installed clarifai pr pause" sh -c "cd / && env -u CLARIFAI_PAT HOME='$tree' CLARIFAI_PAT=demo-pat-7c0ffee CLARIFAI_API_BASE='$url' \
  '$tree/bin/clarifai' pr pause run-train-01 --user_id demo-user --app_id demo-app \
  --pipeline_id hello-world-pipeline --pipeline_version_id 8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19 \
  | grep -qx 'Pipeline version run run-train-01 has been paused.'"
kill "$emu_pid" 2>/dev/null; wait "$emu_pid" 2>/dev/null
rm -rf "$tree" "$emu_out"
echo "rockspec: $passed passed, $failed failed"
echo "rockspec $passed $failed" >> "${RESULTS:-build/results.txt}"
[ "$failed" -eq 0 ]
