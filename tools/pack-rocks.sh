#!/bin/sh
# pack-rocks.sh OUT_DIR: the rocks of this version laid out as a rocks server
# holds them (luarocks.org's layout), so that the whole publish -> install
# path can be tried offline:
#
#   OUT_DIR/clarifai-V-1.rockspec            the release rockspecs, unchanged
#   OUT_DIR/clarifai-V-1.src.rock            ... and their source rocks
#   OUT_DIR/clarifai-emulator-V-1.rockspec
#   OUT_DIR/clarifai-emulator-V-1.src.rock
#   OUT_DIR/manifest, manifest-5.x           (luarocks-admin make-manifest)
#   OUT_DIR/dev/clarifai-scm-1.rockspec      the development rockspecs
#   OUT_DIR/dev/clarifai-emulator-scm-1.rockspec
#   OUT_DIR/dev/manifest ...
#
# `luarocks install clarifai` against it gets the release; `--dev` adds dev/.
# A .src.rock holds its rockspec as written (its source stays the project's
# repository and tag: nothing of this machine) and the source tree under the
# directory luarocks expects for that source (the repository's name), taken
# from the working tree: tracked files and untracked ones git does not ignore.
set -eu
out=$1
root=$(pwd)
version=$(lua5.4 -e 'io.write(dofile("lua/clarifai/version.lua").VERSION)')
rm -rf "$out"
mkdir -p "$out/dev"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The files of the working tree, one per line.
files() {
  if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard
  else
    find . -type f ! -path './build*' ! -path './.git/*' | sed 's|^\./||'
  fi
}

# src_rock NAME FILTER: NAME-V-1.src.rock with the files FILTER (a grep -E
# pattern on paths) lets through.
src_rock() {
  name=$1 filter=$2
  spec="rockspec/$name-$version-1.rockspec"
  [ -f "$spec" ] || { echo "pack-rocks: no $spec for version $version" >&2; exit 1; }
  # the directory luarocks changes into: the repository's name, from the source url
  dir=$(lua5.4 - "$spec" <<'LUA'
local t = {}
assert(loadfile(arg[1], "t", t))()
io.write((t.source.url:match("([^/]+)$"):gsub("%.git$", "")))
LUA
)
  stage="$work/$name"
  mkdir -p "$stage/$dir"
  files | grep -E "$filter" | while IFS= read -r f; do
    [ -f "$f" ] || continue
    mkdir -p "$stage/$dir/$(dirname "$f")"
    cp -p "$f" "$stage/$dir/$f"
  done
  cp "$spec" "$stage/"
  (cd "$stage" && zip -q -r -X "$root/$out/$name-$version-1.src.rock" "$name-$version-1.rockspec" "$dir")
  cp "$spec" "$out/"
}

# clarifai: everything (its build, tests and docs); the emulator: what it installs
src_rock clarifai '.'
src_rock clarifai-emulator '^(lua/clarifai/emulator/|bin/clarifai-emulator$|README\.md$|LICENSE)'
cp rockspec/clarifai-scm-1.rockspec rockspec/clarifai-emulator-scm-1.rockspec "$out/dev/"
luarocks-admin make-manifest "$out" > "$work/manifest.log" 2>&1 || { cat "$work/manifest.log" >&2; exit 1; }
luarocks-admin make-manifest "$out/dev" > "$work/manifest.log" 2>&1 || { cat "$work/manifest.log" >&2; exit 1; }
ls "$out"/*.src.rock
