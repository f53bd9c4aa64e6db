#!/bin/sh
# Benchmarks: the clarifai command side by side with curl (on loopback, and
# in a network lab: TLS 1.3 + HTTP/2 nginx behind a delay proxy), and the
# YAML loader side by side with a plain libyaml scan and PyYAML.
#
#   sh bench/run.sh           full run; prints the table, rewrites BENCHMARKS.md
#                             and its charts (bench/charts/*.svg)
#   sh bench/run.sh --smoke   every comparison with tiny repetition counts;
#                             writes build/bench-smoke.md and its charts
#                             (build/bench-charts/); fails only when a
#                             comparison cannot be run (not on missed targets)
#   sh bench/run.sh [--smoke] --only figures.pause[,figures.rss...]
#                             just those figure modules, at the mode's counts;
#                             writes build/bench-only.md and
#                             build/bench-only-charts/ (BENCHMARKS.md stays)
#
# Installs missing Debian packages (as root, or through sudo), builds the
# project and the benchmark helpers, installs the rock into build/bench-tree,
# then hands over to bench/bench.lua (the driver; bench/lib/ and
# bench/figures/ hold the rest). Servers listen on 127.0.0.1 only, on ports
# chosen at run time, and are stopped on exit.
set -eu

mode=full
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --only) [ $# -ge 2 ] || { echo "bench: --only needs a list of figure modules" >&2; exit 2; }
            only=$2; shift ;;
    *) echo "usage: sh bench/run.sh [--smoke] [--only figures.NAME[,...]]" >&2; exit 2 ;;
  esac
  shift
done

cd "$(dirname "$0")/.."
root=$(pwd)
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

# ---- packages -------------------------------------------------------------------
pkgs="make gcc pkg-config lua5.4 liblua5.4-dev lua-cjson lua-argparse lua-socket luarocks
      libcurl4-openssl-dev libyaml-dev curl python3 python3-yaml time openssl"
installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}
missing=""
for p in $pkgs; do
  installed "$p" || missing="$missing $p"
done
if ! installed nginx-light && ! installed nginx && ! [ -x /usr/sbin/nginx ]; then
  missing="$missing nginx-light"
fi
if [ -n "$missing" ]; then
  echo "bench: installing:$missing" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

# ---- build ----------------------------------------------------------------------
make --no-print-directory all >&2
mkdir -p build/bench
cc -O2 -Wall -Wextra -o build/bench/yaml_scan bench/yaml_scan.c -lyaml
cc -O2 -Wall -Wextra -shared -fPIC $(pkg-config --cflags lua5.4) \
  -o build/bench/benchcore.so bench/benchcore.c
if ! luarocks --lua-version=5.4 make --deps-mode=none --tree build/bench-tree \
     rockspec/clarifai-scm-1.rockspec > build/bench/rock.log 2>&1; then
  cat build/bench/rock.log >&2
  echo "bench: luarocks make failed" >&2
  exit 1
fi

# ---- run --------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/clarifai-bench.XXXXXX")
pids="$work/pids"
cleanup() {
  # Whatever the driver started and did not stop (it lists them in $pids).
  if [ -f "$pids" ]; then
    for pid in $(cat "$pids"); do
      kill "$pid" 2>/dev/null || true
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The charts: bench/charts/ (committed, linked from BENCHMARKS.md) in a full
# run, under build/ otherwise.
if [ -n "$only" ]; then md="$root/build/bench-only.md"; charts="$root/build/bench-only-charts"
elif [ "$mode" = full ]; then md="$root/BENCHMARKS.md"; charts="$root/bench/charts"
else md="$root/build/bench-smoke.md"; charts="$root/build/bench-charts"; fi
set -- --root "$root" --mode "$mode" --work "$work" --data "$root/build/bench/data" --md "$md" --pids "$pids" \
  --charts "$charts"
if [ -n "$only" ]; then set -- "$@" --only "$only"; fi
lua5.4 bench/bench.lua "$@"
