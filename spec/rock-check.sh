#!/bin/sh
# The rocks as a user meets them. Prints "rockspec: N passed, M failed"
# (tools/stage.sh records it) and exits non-zero when a check fails:
#   - luarocks lint passes every rockspec;
#   - `make rock` lays out an offline rocks server (build/rocks: the release
#     rockspecs and .src.rocks at its root, the scm rockspecs in dev/), and
#     nothing in it names this machine (no file:// source, no checkout path);
#   - against that server alone, with only lua-cjson and argparse declared as
#     provided (the Debian packages), `luarocks install clarifai` (dependency
#     checks on) installs the release under Lua 5.4, 5.3, 5.2, 5.1 and LuaJIT
#     (5.1 with LuaJIT's headers, through a luarocks config); each installed
#     `clarifai --help` works, each installed `clarifai pr pause` pauses a run
#     on the emulator, `require "clarifai"` loads no LuaSocket, and
#     `luarocks show` lists only real modules (no emulator);
#   - 5.4: an edit to an installed source takes effect without --debug (its
#     precompiled chunk no longer matches); `luarocks doc clarifai --list`
#     lists the reference; `luarocks install clarifai-emulator` (LuaSocket
#     provided too) adds a working `clarifai-emulator`; `--dev` finds the scm
#     rockspecs and a plain search does not;
#   - `luarocks make` for 5.3 after one for 5.4 installs 5.3 objects;
#   - the event-loop examples run from the installed 5.4 rock.
# (`luarocks test` is the lua5.3 stage of `make test`: see the Makefile.)
root=$(pwd)
mkdir -p build/luarocks
log=build/rock.txt
: > "$log"
work=$(mktemp -d)
# Every check's verdict is a line in $verdicts (checks also run in
# background groups, which cannot count in the main shell's variables).
verdicts="$work/verdicts"
: > "$verdicts"
check() { # name, then a command
  name=$1; shift
  clog="$work/check.$$.$(date +%s%N)"
  if "$@" > "$clog" 2>&1; then echo "ok - rockspec: $name" | tee -a "$verdicts"
  else echo "not ok - rockspec: $name" | tee -a "$verdicts"; tail -20 "$clog"; fi
  cat "$clog" >> "$log"
  rm -f "$clog"
}

# Luarocks configs: the offline server, and the Lua dependencies the
# distribution provides (documented in the README).
server="rocks_servers = { \"$root/build/rocks\" }"
lib='rocks_provided = { ["lua-cjson"] = "2.1.0-1", argparse = "0.7.1-1" }'
emu='rocks_provided = { ["lua-cjson"] = "2.1.0-1", argparse = "0.7.1-1", luasocket = "3.1.0-1" }'
jit='lua_interpreter = "luajit"
variables = { LUA_BINDIR = "/usr/bin", LUA_INCDIR = "/usr/include/luajit-2.1" }'
printf '%s\n%s\n' "$server" "$lib" > build/luarocks/config.lua
printf '%s\n%s\n' "$server" "$emu" > build/luarocks/config-emulator.lua
printf -- '-- LuaJIT 2.1 as the 5.1 interpreter, with its own headers\n%s\n%s\n%s\n' "$jit" "$server" "$lib" \
  > build/luarocks/config-luajit.lua

emu_out="$work/emu.out"
(cd / && exec lua5.4 "$root/bin/clarifai-emulator" --port 0 --tick 0 > "$emu_out" 2>&1) &
emu_pid=$!
trap 'kill $emu_pid 2>/dev/null; rm -rf "$work"' EXIT
i=0
while [ $i -lt 50 ] && ! grep -q '^listening on ' "$emu_out"; do sleep 0.1; i=$((i + 1)); done
url=$(sed -n 's/^listening on //p' "$emu_out" | head -1)
ids="--user_id demo-user --app_id demo-app --pipeline_id hello-world-pipeline \
  --pipeline_version_id 8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19"

check "luarocks lint (every rockspec)" sh -c 'for s in rockspec/*.rockspec; do luarocks lint "$s" || exit 1; done'
check "make rock lays out a rocks server" sh -c 'make --no-print-directory rock && test -f build/rocks/manifest \
  && test -f build/rocks/dev/manifest && ls build/rocks/clarifai-*-1.src.rock build/rocks/dev/clarifai-scm-1.rockspec'
check "the rocks name nothing of this machine" sh -c "cd build/rocks && for r in *.src.rock; do \
    unzip -p \"\$r\" '*.rockspec' > '$work/packed.rockspec' || exit 1; \
    ! grep -e 'file://' -e '$root' '$work/packed.rockspec' || exit 1; done; \
  ! grep -l -e 'file://' -e '$root' *.rockspec dev/*.rockspec"

# Each interpreter's rock at once (their own trees; each pauses a run of
# its own), their lines shown in order.
flavor_checks() {
  flavor=$1
  case $flavor in
    luajit) ver=5.1; cfg="$root/build/luarocks/config-luajit.lua"; lua=luajit ;;
    *) ver=${flavor#lua}; cfg="$root/build/luarocks/config.lua"; lua=$flavor ;;
  esac
  tree="$work/$flavor"
  check "$flavor: luarocks install clarifai (the release, from the server)" sh -c "env LUAROCKS_CONFIG='$cfg' \
    luarocks --lua-version=$ver install clarifai --tree '$tree' && env LUAROCKS_CONFIG='$cfg' \
    luarocks --lua-version=$ver list --tree '$tree' --porcelain | grep -q '^clarifai	0.3.0-1	installed'"
  check "$flavor: the installed launcher runs $flavor" sh -c "head -1 '$tree/bin/clarifai' | grep -q '$flavor\$'"
  check "$flavor: installed clarifai --help" sh -c \
    "cd / && '$tree/bin/clarifai' pr pause --help | grep -q 'Pausing is allowed only'"
  curl -s -X POST "$url/_emulator/runs" -d "{\"id\":\"rock-$flavor\",\"state\":\"JOB_RUNNING\"}" > /dev/null
  check "$flavor: installed clarifai pr pause" sh -c "cd / && env HOME='$tree' CLARIFAI_PAT=demo-pat-7c0ffee \
    CLARIFAI_API_BASE='$url' '$tree/bin/clarifai' pr pause rock-$flavor $ids \
    | grep -qx 'Pipeline version run rock-$flavor has been paused.'"
  check "$flavor: require \"clarifai\" loads no LuaSocket" sh -c "cd / && eval \"\$(env LUAROCKS_CONFIG='$cfg' \
    luarocks --lua-version=$ver path --tree '$tree')\" && $lua -e 'local c = require \"clarifai\" \
    local _ = c.runs, c.client, c.watch, c.monitor, c.async, c.json, c.states \
    assert(c._VERSION == \"clarifai 0.3.0\", c._VERSION) \
    assert(not package.loaded.socket and not package.loaded[\"socket.core\"], \"socket loaded\")'"
  check "$flavor: luarocks show lists only real modules" sh -c "env LUAROCKS_CONFIG='$cfg' \
    luarocks --lua-version=$ver show clarifai --tree '$tree' > '$work/show-$flavor.txt' \
    && grep -q 'clarifai.http.core' '$work/show-$flavor.txt' && ! grep -q -e 'luac' -e 'emulator' '$work/show-$flavor.txt'"
}
flavor_pids=""
for flavor in lua5.4 lua5.3 lua5.2 lua5.1 luajit; do
  flavor_checks "$flavor" > "$work/flavor-$flavor.out" 2>&1 &
  flavor_pids="$flavor_pids $!"
done
# A luarocks make for 5.3 after one for 5.4 must not reuse the 5.4 objects.
# It builds in a copy of the checkout: `luarocks make` builds in the folder
# it runs in, and the lua5.3 stage's `luarocks test` may be building here.
mkdir -p "$work/src"
tar -C "$root" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work/src" -xf -
check "luarocks make: 5.4, then 5.3" sh -c "cd '$work/src' && luarocks --lua-version=5.4 make --deps-mode=none --tree '$work/m54' \
    rockspec/clarifai-scm-1.rockspec && luarocks --lua-version=5.3 make --deps-mode=none --tree '$work/m53' \
    rockspec/clarifai-scm-1.rockspec && lua5.3 -e \"package.cpath='$work/m53/lib/lua/5.3/?.so'; \
    assert(require('clarifai.http.core').new())\""
for p in $flavor_pids; do wait "$p"; done
for flavor in lua5.4 lua5.3 lua5.2 lua5.1 luajit; do cat "$work/flavor-$flavor.out"; done

t54="$work/lua5.4"
help54="$t54/share/lua/5.4/clarifai/cli/help.lua"
check "lua5.4: an edited installed source is used (its chunk no longer matches)" sh -c "cd / \
  && sed -i 's/is allowed only when/may happen only when/' '$help54' && touch -d '-1 day' '$help54' \
  && '$t54/bin/clarifai' pr pause --help | grep -q 'Pausing may happen only when' \
  && sed -i 's/may happen only when/is allowed only when/' '$help54' \
  && '$t54/bin/clarifai' pr pause --help | grep -q 'Pausing is allowed only when'"
check "lua5.4: luarocks doc clarifai --list lists the reference" sh -c "env \
  LUAROCKS_CONFIG='$root/build/luarocks/config.lua' luarocks --lua-version=5.4 doc clarifai --list --tree '$t54' \
  | grep -q 'index.html'"
check "lua5.4: luarocks install clarifai-emulator adds the emulator" sh -c "env \
  LUAROCKS_CONFIG='$root/build/luarocks/config-emulator.lua' luarocks --lua-version=5.4 install clarifai-emulator \
  --tree '$t54' && cd / && (timeout 5 '$t54/bin/clarifai-emulator' --port 0 --tick 0 || true) | head -1 \
  | grep -q '^listening on http://127.0.0.1:'"
check "--dev finds the scm rockspecs, a plain search only the release" sh -c "env \
  LUAROCKS_CONFIG='$root/build/luarocks/config.lua' luarocks --lua-version=5.4 search --porcelain --dev clarifai \
  | grep -q 'scm-1' && ! env LUAROCKS_CONFIG='$root/build/luarocks/config.lua' luarocks --lua-version=5.4 search \
  --porcelain clarifai | grep -q 'scm-1'"

# The event-loop examples from the installed 5.4 rock.
for ex in luv cqueues; do
  curl -s -X POST "$url/_emulator/reset" -d '{}' > /dev/null
  check "event loop example ($ex) from the installed rock" sh -c "cd / && eval \"\$(luarocks --lua-version=5.4 \
    path --tree '$t54')\" && env HOME='$work' CLARIFAI_PAT=demo-pat-7c0ffee CLARIFAI_API_BASE='$url' \
    lua5.4 '$root/examples/event_loop_$ex.lua' demo-user demo-app hello-world-pipeline \
    8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19 run-train-01 run-train-02 | grep -q 'ticked'"
done


passed=$(grep -c '^ok ' "$verdicts")
failed=$(grep -c '^not ok ' "$verdicts")
echo "rockspec: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
