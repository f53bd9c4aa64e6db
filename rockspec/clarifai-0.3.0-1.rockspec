-- The 0.3.0 release.
-- Lua dependencies from the distribution instead of a rocks server: see
-- doc/topics/install.md.
rockspec_format = "3.0"
package = "clarifai"
version = "0.3.0-1"
source = {
  url = "git+https://github.com/clarifai-lua/clarifai-lua.git",
  tag = "v0.3.0",
}
description = {
  summary = "Native, scriptable run control for Clarifai pipeline runs",
  detailed = [[
A `clarifai` command (pipelinerun/pr pause, cancel, resume, status, list,
monitor, history) and a Lua library (require "clarifai") for controlling
Clarifai pipeline version runs: one run or a whole app's at once, safe retries,
a true record when interrupted, and workflows that run inside an event loop
(luv, cqueues). HTTP is libcurl and YAML is libyaml, through small C modules;
the rest is Lua. Lua 5.1 to 5.4 and LuaJIT 2.1.
]],
  homepage = "https://github.com/clarifai-lua/clarifai-lua",
  license = "MIT",
  labels = { "cli", "http", "clarifai" },
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson",
  "argparse",
}
-- the specs run the emulator (its own rock, clarifai-emulator) from the
-- source tree; it serves HTTP with LuaSocket
test_dependencies = {
  "busted",
  "luasocket",
}
external_dependencies = {
  -- found by library, not header: on Debian/Ubuntu curl.h sits in a multiarch directory.
  -- Elsewhere (Homebrew: /opt/homebrew/opt/curl) pass CURL_DIR=... and YAML_DIR=...
  CURL = { library = "curl" },
  YAML = { header = "yaml.h", library = "yaml" },
}
build = {
  type = "make",
  -- the API reference (LDoc), listed by `luarocks doc clarifai`
  copy_directories = { "doc" },
  -- rock-build empties its build directory first: a build for one Lua never installs another's objects
  build_target = "rock-build",
  build_variables = {
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    CURL_INCDIR = "$(CURL_INCDIR)",
    CURL_LIBDIR = "$(CURL_LIBDIR)",
    YAML_INCDIR = "$(YAML_INCDIR)",
    YAML_LIBDIR = "$(YAML_LIBDIR)",
    BUILD = "build-rock",
    WERROR = "",
  },
  install_variables = {
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    INST_BINDIR = "$(BINDIR)",
    -- precompiled chunks stay in the rock's own directory (not modules)
    INST_LUACDIR = "$(PREFIX)/luac",
    LUA_INTERP = "$(LUA)",
    BUILD = "build-rock",
    WERROR = "",
  },
}
-- The launchers find their modules relative to themselves: no wrapper needed.
deploy = { wrap_bin_scripts = false }
test = {
  type = "command",
  -- builds first, then the specs, with the interpreter luarocks runs it with
  script = "tools/rock-test.lua",
}
