#!/bin/sh
# The rocks as a user meets them. Prints "rockspec: N passed, M failed"
# (tools/stage.sh records it) and exits non-zero when a check fails:
#   - luarocks lint passes both rockspecs;
#   - `make rock` packs a .src.rock of the working tree, and it installs with
#     `luarocks --lua-version=X install ./clarifai-*.src.rock --deps-mode=none
#     --tree T` under Lua 5.4, 5.3, 5.2, 5.1 and LuaJIT (5.1 with LuaJIT's
#     headers, through a luarocks config), each installed `clarifai --help`
#     works and each installed `clarifai pr pause` pauses a run on the emulator;
#   - `luarocks show` lists only real modules;
#   - `luarocks make` for 5.3 after one for 5.4 installs 5.3 objects;
#   - the event-loop examples run from the installed 5.4 rock;
#   - `luarocks test` builds and passes (Lua 5.3: the portable specs, whose
#     counts are the lua5.3 stage of `make test`).
root=$(pwd)
mkdir -p build/luarocks
log=build/rock.txt
: > "$log"
work=$(mktemp -d)
passed=0; failed=0
check() { # name, then a command
  name=$1; shift
  if "$@" >> "$log" 2>&1; then passed=$((passed + 1)); echo "ok - rockspec: $name"
  else failed=$((failed + 1)); echo "not ok - rockspec: $name"; tail -20 "$log"; fi
}

# Lua dependencies come from the distribution: tell luarocks so (documented in the README).
provided='rocks_provided = { busted = "2.1.1-1", ["lua-cjson"] = "2.1.0-1", argparse = "0.7.1-1", luasocket = "3.1.0-1" }'
echo "$provided" > build/luarocks/config.lua
cat > build/luarocks/config-luajit.lua <<EOF
-- LuaJIT 2.1 as the 5.1 interpreter, with its own headers
lua_interpreter = "luajit"
variables = { LUA_BINDIR = "/usr/bin", LUA_INCDIR = "/usr/include/luajit-2.1" }
$provided
EOF

emu_out="$work/emu.out"
(cd / && exec lua5.4 "$root/bin/clarifai-emulator" --port 0 --tick 0 > "$emu_out" 2>&1) &
emu_pid=$!
trap 'kill $emu_pid 2>/dev/null; rm -rf "$work"' EXIT
i=0
while [ $i -lt 50 ] && ! grep -q '^listening on ' "$emu_out"; do sleep 0.1; i=$((i + 1)); done
url=$(sed -n 's/^listening on //p' "$emu_out" | head -1)
ids="--user_id demo-user --app_id demo-app --pipeline_id hello-world-pipeline \
  --pipeline_version_id 8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19"

check "luarocks lint (scm and versioned)" sh -c 'for s in rockspec/*.rockspec; do luarocks lint "$s" || exit 1; done'
check "make rock packs a .src.rock" make --no-print-directory rock
rock=$(ls build/rock/clarifai-*-1.src.rock 2>/dev/null | head -1)

# install(name, lua version, config file or "") -> tree in $work/$name
for flavor in lua5.4 lua5.3 lua5.2 lua5.1 luajit; do
  case $flavor in
    luajit) ver=5.1; cfg="$root/build/luarocks/config-luajit.lua" ;;
    *) ver=${flavor#lua}; cfg="$root/build/luarocks/config.lua" ;;
  esac
  tree="$work/$flavor"
  check "$flavor: luarocks install the .src.rock" env LUAROCKS_CONFIG="$cfg" \
    luarocks --lua-version="$ver" install "$rock" --deps-mode=none --tree "$tree"
  check "$flavor: the installed launcher runs $flavor" sh -c "head -1 '$tree/bin/clarifai' | grep -q '$flavor\$'"
  check "$flavor: installed clarifai --help" sh -c \
    "cd / && '$tree/bin/clarifai' pr pause --help | grep -q 'Pausing is allowed only'"
  curl -s -X POST "$url/_emulator/reset" -d '{}' > /dev/null
  check "$flavor: installed clarifai pr pause" sh -c "cd / && env HOME='$tree' CLARIFAI_PAT=demo-pat-7c0ffee \
    CLARIFAI_API_BASE='$url' '$tree/bin/clarifai' pr pause run-train-01 $ids \
    | grep -qx 'Pipeline version run run-train-01 has been paused.'"
  check "$flavor: luarocks show lists only real modules" sh -c "env LUAROCKS_CONFIG='$cfg' \
    luarocks --lua-version=$ver show clarifai --tree '$tree' > '$work/show.txt' \
    && grep -q 'clarifai.http.core' '$work/show.txt' && ! grep -q 'luac' '$work/show.txt'"
done

# A luarocks make for 5.3 after one for 5.4 must not reuse the 5.4 objects.
check "luarocks make: 5.4, then 5.3" sh -c "luarocks --lua-version=5.4 make --deps-mode=none --tree '$work/m54' \
    rockspec/clarifai-scm-1.rockspec && luarocks --lua-version=5.3 make --deps-mode=none --tree '$work/m53' \
    rockspec/clarifai-scm-1.rockspec && lua5.3 -e \"package.cpath='$work/m53/lib/lua/5.3/?.so'; \
    assert(require('clarifai.http.core').new())\""

# The event-loop examples from the installed 5.4 rock.
for ex in luv cqueues; do
  curl -s -X POST "$url/_emulator/reset" -d '{}' > /dev/null
  check "event loop example ($ex) from the installed rock" sh -c "cd / && eval \"\$(luarocks --lua-version=5.4 \
    path --tree '$work/lua5.4')\" && env HOME='$work' CLARIFAI_PAT=demo-pat-7c0ffee CLARIFAI_API_BASE='$url' \
    lua5.4 '$root/examples/event_loop_$ex.lua' demo-user demo-app hello-world-pipeline \
    8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19 run-train-01 run-train-02 | grep -q 'ticked'"
done

check "luarocks test (builds, then the specs)" env LUAROCKS_CONFIG="$root/build/luarocks/config.lua" \
  luarocks --lua-version=5.3 test rockspec/clarifai-scm-1.rockspec

echo "rockspec: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
