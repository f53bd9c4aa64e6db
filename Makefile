# clarifai: run-control CLI and Lua library.
# Every variable can be overridden (luarocks passes its own).

LUA            ?= lua5.4
LUA_VERSION    ?= 5.4
PKG_CONFIG     ?= pkg-config
CC             ?= cc
LUA_INCDIR     ?= $(shell $(PKG_CONFIG) --variable=includedir lua$(LUA_VERSION) 2>/dev/null)/lua$(LUA_VERSION)
CURL_INCDIR    ?= /usr/include
CURL_LIBDIR    ?= $(shell $(PKG_CONFIG) --variable=libdir libcurl 2>/dev/null)
YAML_INCDIR    ?= /usr/include
YAML_LIBDIR    ?= $(shell $(PKG_CONFIG) --variable=libdir yaml-0.1 2>/dev/null)
CURL_CFLAGS    ?= $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
WARN           ?= -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wwrite-strings \
                  -Wmissing-prototypes -Wstrict-prototypes -Wundef -Wformat=2
WERROR         ?= -Werror
CFLAGS         ?= -O2 -g
LIBFLAG        ?= -shared
ALL_CFLAGS      = $(CFLAGS) $(WARN) $(WERROR) -std=c99 -D_POSIX_C_SOURCE=200809L \
                  -fPIC -fvisibility=hidden -I$(LUA_INCDIR)
BUILD          ?= build
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
# Precompiled: what the command loads (not the loader itself, not the emulator).
LUAC_SOURCES := $(filter-out lua/clarifai/loader.lua lua/clarifai/emulator/%,$(LUA_SOURCES))
LUAC_STAMP = $(BUILD)/luac/.stamp
MODULES = $(HTTP_SO) $(YAML_SO) $(SYS_SO) $(LUAC_STAMP)

BUSTED   = $(LUA) /usr/bin/busted

.PHONY: all deps test test-unit test-asan test-valgrind fuzz lint rock-check bench bench-smoke demo install clean \
        check-summary

FUZZ_TIME ?= 60

all: $(MODULES)

$(HTTP_SO): csrc/http.c csrc/common.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(CURL_INCDIR) $(CURL_CFLAGS) $(LIBFLAG) -o $@ csrc/http.c -L$(CURL_LIBDIR) -lcurl

$(YAML_SO): csrc/yaml.c csrc/common.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(YAML_INCDIR) $(LIBFLAG) -o $@ csrc/yaml.c -L$(YAML_LIBDIR) -lyaml

$(SYS_SO): csrc/sys.c csrc/common.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ csrc/sys.c

# Precompiled chunks of every module (the launchers prefer them when fresh).
$(LUAC_STAMP): $(LUAC_SOURCES) tools/compile.lua
	@rm -rf $(BUILD)/luac
	@$(LUA) tools/compile.lua $(BUILD)/luac lua $(LUAC_SOURCES)
	@touch $@

# Debian 12 packages the build and the tests need; installed when missing.
DEB_PKGS = lua5.4 liblua5.4-dev lua-cjson lua-argparse lua-socket lua-busted lua-check \
           luarocks libcurl4-openssl-dev libyaml-dev pkg-config clang libclang-rt-14-dev valgrind \
           curl openssl

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The whole check. Every stage appends "stage passed failed" to
# $(RESULTS) and exits non-zero when it fails; `make test` runs them all
# anyway, then the summary fails if any stage failed or never reported
# (e.g. its build broke). Each stage also works alone: `make lint`.
RESULTS ?= $(CURDIR)/$(BUILD)/results.txt
export RESULTS
STAGES  = unit asan valgrind fuzz luacheck rockspec bench-smoke
STAGE   = sh tools/stage.sh $(RESULTS)

test: deps
	@rm -f $(RESULTS); mkdir -p $(BUILD)
	@for t in test-unit test-asan test-valgrind fuzz lint rock-check bench-smoke; do \
	  $(MAKE) --no-print-directory $$t || true; done
	@$(MAKE) --no-print-directory check-summary

test-unit: all
	@RESULTS=$(RESULTS) sh spec/run-busted.sh unit $(BUSTED)

test-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  LIBFLAG="-shared -fsanitize=address,undefined" all
	@ASAN_LIB=$$(clang -print-file-name=libclang_rt.asan-x86_64.so) RESULTS=$(RESULTS) \
	  CLARIFAI_BUILD_DIR=$(CURDIR)/build-asan CLARIFAI_SANITIZE=1 \
	  sh spec/run-busted.sh asan $(BUSTED)

# A CLI subset under valgrind (memory errors and definite leaks fail).
test-valgrind: all
	@sh spec/valgrind.sh

# libFuzzer on the YAML loader, time-boxed; new inputs go to build/, not the seeds.
fuzz:
	@mkdir -p $(BUILD)/fuzz-corpus
	@$(STAGE) fuzz sh -c 'clang -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -I$(LUA_INCDIR) fuzz/yaml_fuzz.c -o $(BUILD)/yaml_fuzz -llua$(LUA_VERSION) -lyaml \
	  && if $(BUILD)/yaml_fuzz -max_total_time=$(FUZZ_TIME) -max_len=8192 -timeout=10 \
	       $(BUILD)/fuzz-corpus fuzz/corpus/yaml > $(BUILD)/fuzz.txt 2>&1; then \
	    echo "fuzz: $$(grep -o "Done [0-9]* runs[^$$]*" $(BUILD)/fuzz.txt | tail -1), no crash"; \
	  else tail -40 $(BUILD)/fuzz.txt; exit 1; fi'

# luacheck with the repository's .luacheckrc (complexity limit included).
LINT_FILES ?= lua bin spec examples tools bench
lint:
	@mkdir -p $(BUILD)
	@$(STAGE) luacheck sh -c 'if luacheck -q $(LINT_FILES) > $(BUILD)/luacheck.txt 2>&1; then echo "luacheck: clean"; \
	  else cat $(BUILD)/luacheck.txt; exit 1; fi'

rock-check:
	@sh spec/rock-check.sh

# Benchmarks side by side with curl; writes BENCHMARKS.md (see bench/run.sh).
bench: deps all
	@sh bench/run.sh

# Every comparison with tiny counts, so the benchmarks cannot rot.
bench-smoke: all
	@$(STAGE) bench-smoke sh -c 'if sh bench/run.sh --smoke > $(BUILD)/bench-smoke.txt 2>&1; then \
	  echo "bench smoke: every comparison ran (build/bench-smoke.md)"; \
	  else tail -30 $(BUILD)/bench-smoke.txt; exit 1; fi'

check-summary:
	@sh tools/summary.sh $(RESULTS) $(STAGES)

demo: deps all
	@sh examples/demo.sh

install: all
	mkdir -p $(DESTDIR)$(INST_LIBDIR)/clarifai/http $(DESTDIR)$(INST_LIBDIR)/clarifai/yaml \
	  $(DESTDIR)$(INST_LIBDIR)/clarifai/sys $(DESTDIR)$(INST_LUADIR) $(DESTDIR)$(INST_BINDIR)
	cp $(HTTP_SO) $(DESTDIR)$(INST_LIBDIR)/clarifai/http/core.so
	cp $(YAML_SO) $(DESTDIR)$(INST_LIBDIR)/clarifai/yaml/core.so
	cp $(SYS_SO) $(DESTDIR)$(INST_LIBDIR)/clarifai/sys/core.so
	cp -R lua/clarifai $(DESTDIR)$(INST_LUADIR)/
	mkdir -p $(DESTDIR)$(INST_LIBDIR)/clarifai/luac
	cp -R $(BUILD)/luac/clarifai $(DESTDIR)$(INST_LIBDIR)/clarifai/luac/
	for f in clarifai clarifai-emulator; do \
	  sed -e '1s|^#!.*|#!$(LUA_INTERP)|' bin/$$f > $(DESTDIR)$(INST_BINDIR)/$$f && chmod 755 $(DESTDIR)$(INST_BINDIR)/$$f; \
	done

clean:
	rm -rf build build-asan
