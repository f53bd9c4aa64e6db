#!/bin/sh
# cross.sh: the macOS cross-build's helpers and its check (see the Makefile's
# `cross` and `test-cross`, and doc/topics/platforms.md).
#
#   cross.sh headers DIR
#       copies Lua 5.4's headers (with Debian's lua5.4-deb-multiarch.h that
#       its luaconf.h includes), curl's curl/ folder and yaml.h into DIR:
#       the only include folder the cross-build has (this machine's
#       /usr/include would put glibc's headers before the macOS ones).
#   cross.sh stub OUT INSTALL-NAME CURRENT COMPAT PREFIX OBJECT...
#       writes a text stub (.tbd, tapi v4) for the library at INSTALL-NAME
#       exporting the symbols starting with PREFIX that the OBJECTs leave
#       undefined, for x86_64 and arm64 macOS: what the modules are linked
#       against, so each records the library it needs.
#   cross.sh check DIR TARGET...
#       checks the modules in DIR/TARGET/clarifai/{http,yaml,sys}/core.so
#       and prints "cross: N passed, M failed" last; non-zero when any
#       failed. With ZIG and CROSS_CFLAGS set (the Makefile sets them) it
#       also checks that the check rejects an HTTP module linked without its
#       stub, and that the poll(2) backend compiles for each target.
set -u
NM=${LLVM_NM:-llvm-nm}
OBJDUMP=${LLVM_OBJDUMP:-llvm-objdump}
# What each module must record (besides libSystem), and the rpaths of yaml.
CURL_LIB=${CURL_INSTALL_NAME:-/usr/lib/libcurl.4.dylib}
YAML_LIB=${YAML_INSTALL_NAME:-@rpath/libyaml-0.2.dylib}
YAML_RPATHS=${YAML_RPATHS:-/opt/homebrew/opt/libyaml/lib /usr/local/opt/libyaml/lib /opt/local/lib}

die() { echo "cross: $*" >&2; exit 1; }

headers() {
  out=$1
  lua=${CROSS_LUA_INCDIR:-$(pkg-config --variable=includedir lua5.4 2>/dev/null || echo /usr/include)/lua5.4}
  multiarch=$(cc -print-multiarch 2>/dev/null || true)
  [ -f "$lua/lua.h" ] || die "no Lua 5.4 headers in $lua (liblua5.4-dev)"
  curl=""
  for d in ${CROSS_CURL_INCDIR:-} /usr/include/$multiarch /usr/include; do
    if [ -f "$d/curl/curl.h" ]; then curl=$d/curl; break; fi
  done
  [ -n "$curl" ] || die "no curl/curl.h (libcurl4-openssl-dev)"
  yaml=${CROSS_YAML_INCDIR:-/usr/include}/yaml.h
  [ -f "$yaml" ] || die "no yaml.h (libyaml-dev)"
  rm -rf "$out" && mkdir -p "$out" || exit 1
  cp "$lua"/*.h "$out"/ && cp -R "$curl" "$out"/curl && cp "$yaml" "$out"/ || exit 1
  if grep -q 'lua5.4-deb-multiarch.h' "$lua/luaconf.h"; then
    cp "/usr/include/$multiarch/lua5.4-deb-multiarch.h" "$out"/ || exit 1
  fi
}

stub() {
  out=$1 name=$2 current=$3 compat=$4 prefix=$5
  shift 5
  syms=$("$NM" -u -j "$@" | grep "^$prefix" | sort -u | paste -sd, - | sed 's/,/, /g')
  [ -n "$syms" ] || die "no $prefix symbols undefined in $*"
  mkdir -p "$(dirname "$out")"
  cat > "$out.tmp" <<EOF
--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '$name'
current-version: $current
compatibility-version: $compat
exports:
  - targets:         [ x86_64-macos, arm64-macos ]
    symbols:         [ $syms ]
...
EOF
  mv "$out.tmp" "$out"
}

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
# verdict DESCRIPTION PROBLEM: passes when PROBLEM is empty.
verdict() { if [ -z "$2" ]; then ok "$1"; else fail "$1: $2"; fi; }

# The symbols bound with no library ordinal (dynamic lookup), from the bind
# tables and from the symbol table: the two must agree.
flat_binds() {
  "$OBJDUMP" --macho --bind --lazy-bind --weak-bind "$1" | awk 'NF >= 2 && $(NF-1) == "flat-namespace" { print $NF }' | sort -u
}
flat_syms() {
  "$NM" -m -u "$1" | awk '/\(dynamically looked up\)/ { print $3 }' | sort -u
}

# problems FILE MODULE ARCH: what is wrong with one module, one line each
# (nothing: it is right).
problems() {
  f=$1 m=$2 arch=$3
  [ -f "$f" ] || { echo "missing"; return; }
  hdr=$("$OBJDUMP" --macho --private-header "$f" | tail -1)
  case "$hdr" in *" $arch "*DYLIB*) ;; *) echo "not a $arch Mach-O dylib: $hdr" ;; esac
  exports=$("$NM" -g --defined-only -j "$f" | paste -sd' ' -)
  [ "$exports" = "_luaopen_clarifai_${m}_core" ] || echo "exports '$exports', not only _luaopen_clarifai_${m}_core"
  want="/usr/lib/libSystem.B.dylib"
  case $m in http) want="$want $CURL_LIB" ;; yaml) want="$want $YAML_LIB" ;; esac
  want=$(echo "$want" | tr ' ' '\n' | sort | paste -sd' ' -)
  libs=$("$OBJDUMP" --macho --dylibs-used "$f" | tail -n +3 | awk '{ print $1 }' | sort | paste -sd' ' -)
  [ "$libs" = "$want" ] || echo "records '$libs', not '$want'"
  fb=$(flat_binds "$f") fs=$(flat_syms "$f")
  [ -n "$fb" ] || echo "nothing left to dynamic lookup (the Lua API should be)"
  [ "$fb" = "$fs" ] || echo "bind tables and symbol table disagree on dynamic lookups"
  stray=$(echo "$fb" | grep -v -E '^_luaL?_' | paste -sd' ' -)
  [ -z "$stray" ] || echo "left to dynamic lookup besides the Lua API: $stray"
  case $m in
    http) lib=$CURL_LIB prefix=_curl_ ;;
    yaml) lib=$YAML_LIB prefix=_yaml_ ;;
    *) lib="" prefix="" ;;
  esac
  if [ -n "$prefix" ]; then
    lib=$(basename "$lib" | sed 's/\..*//') # the name llvm-nm gives a library: libcurl, libyaml-0
    mine=$("$NM" -m -u "$f" | grep -c " $prefix")
    from=$("$NM" -m -u "$f" | grep " $prefix" | grep -c "(from $lib)")
    [ "$mine" -gt 0 ] && [ "$mine" = "$from" ] || echo "$from of $mine ${prefix}* symbols bound to $lib"
  fi
  case $m in
    yaml)
      rp=$("$OBJDUMP" --macho --private-headers "$f" | awk '$1 == "path" { print $2 }' | paste -sd' ' -)
      [ "$rp" = "$YAML_RPATHS" ] || echo "rpaths '$rp', not '$YAML_RPATHS'" ;;
    http)
      "$NM" -m -u "$f" | grep -q "_kevent (from libSystem)" || echo "does not wait with kqueue" ;;
  esac
}

arch_of() { case $1 in x86_64-*) echo X86_64 ;; aarch64-*) echo ARM64 ;; *) echo "?" ;; esac; }

check() {
  dir=$1
  shift
  if ! command -v "$OBJDUMP" > /dev/null || ! command -v "$NM" > /dev/null; then
    die "needs llvm-objdump and llvm-nm (Debian's llvm)"
  fi
  for t in "$@"; do
    for m in http yaml sys; do
      what="$t $m:"
      case $m in
        http) what="$what records libcurl, exports only luaopen, leaves only lua_*/luaL_* to dynamic lookup, waits with kqueue" ;;
        yaml) what="$what records libyaml (and its rpaths), exports only luaopen, leaves only lua_*/luaL_* to dynamic lookup" ;;
        sys) what="$what records libSystem alone, exports only luaopen, leaves only lua_*/luaL_* to dynamic lookup" ;;
      esac
      verdict "$what" "$(problems "$dir/$t/clarifai/$m/core.so" "$m" "$(arch_of "$t")" | paste -sd';' -)"
    done
  done
  if [ -n "${ZIG:-}" ] && [ -n "${CROSS_CFLAGS:-}" ]; then
    t=$1 neg=$dir/negative
    mkdir -p "$neg"
    # The check must reject what `-undefined dynamic_lookup` alone gives:
    # libcurl's symbols looked up at run time, no libcurl recorded.
    # shellcheck disable=SC2086
    if $ZIG build-lib -dynamic -target "$t.${CROSS_MINOS:-11.0}" -fno-compiler-rt -fallow-shlib-undefined -lc \
         "$dir/$t/obj/http.o" -femit-bin="$neg/core.so" --name core > "$neg/log.txt" 2>&1; then
      p=$(problems "$neg/core.so" http "$(arch_of "$t")")
      if echo "$p" | grep -q "^records '" && echo "$p" | grep -q "besides the Lua API: _curl_"; then
        ok "an HTTP module linked without its stub is rejected ($(echo "$p" | cut -c1-60 | paste -sd';' -)...)"
      else
        fail "an HTTP module linked without its stub is rejected: the check said '$p'"
      fi
    else
      fail "an HTTP module linked without its stub is rejected: $(tail -3 "$neg/log.txt")"
    fi
    for t in "$@"; do
      # shellcheck disable=SC2086
      if $ZIG cc -target "$t.${CROSS_MINOS:-11.0}" $CROSS_CFLAGS -DCLARIFAI_POLLER_POLL -c -o "$neg/http-poll.o" \
           csrc/http.c > "$neg/log.txt" 2>&1 \
         && "$NM" -u -j "$neg/http-poll.o" | grep -q '^_pthread_create$'; then
        ok "$t: the poll(2) backend compiles (-DCLARIFAI_POLLER_POLL)"
      else
        fail "$t: the poll(2) backend compiles: $(tail -5 "$neg/log.txt")"
      fi
    done
  fi
  echo "cross: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  headers) headers "$@" ;;
  stub) stub "$@" ;;
  check) check "$@" ;;
  *) die "usage: cross.sh headers DIR | stub OUT NAME CURRENT COMPAT PREFIX OBJ... | check DIR TARGET..." ;;
esac
