#!/bin/sh
# pack-rock.sh OUT_DIR: a .src.rock of the working tree. Takes the versioned
# rockspec, points its source at a tarball of this checkout (tracked files
# and untracked ones git does not ignore), and runs `luarocks pack`, so the
# full pack -> install path can be exercised without a rocks server.
set -eu
out=$1
root=$(pwd)
version=$(lua5.4 -e 'io.write(dofile("lua/clarifai/version.lua").VERSION)')
spec="rockspec/clarifai-$version-1.rockspec"
[ -f "$spec" ] || { echo "pack-rock: no $spec for version $version" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/clarifai-$version"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  git ls-files --cached --others --exclude-standard -z | xargs -0 -I{} sh -c \
    '[ -f "$1" ] && mkdir -p "$2/$(dirname "$1")" && cp -p "$1" "$2/$1" || true' _ {} "$out/clarifai-$version"
else
  tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$out/clarifai-$version"
fi
tar -czf "$out/clarifai-$version.tar.gz" -C "$out" "clarifai-$version"
rm -rf "$out/clarifai-$version"
# the same rockspec, its source the tarball
lua5.4 - "$spec" "$out/clarifai-$version-1.rockspec" "file://$root/$out/clarifai-$version.tar.gz" \
  "clarifai-$version" <<'LUA'
local src, dst, url, dir = arg[1], arg[2], arg[3], arg[4]
local text = assert(io.open(src)):read("*a")
local n
text, n = text:gsub("\nsource = %b{}", string.format("\nsource = {\n  url = %q,\n  dir = %q,\n}", url, dir), 1)
assert(n == 1, "no source table in " .. src)
local f = assert(io.open(dst, "w"))
f:write(text)
f:close()
LUA
cd "$out"
luarocks pack "clarifai-$version-1.rockspec" > pack.log 2>&1 || { cat pack.log >&2; exit 1; }
ls "$root/$out"/clarifai-"$version"-1.src.rock
