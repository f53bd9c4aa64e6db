rockspec_format = "3.0"
package = "clarifai"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Native, scriptable run control for Clarifai pipeline runs",
  detailed = [[
A `clarifai` command (pipelinerun/pr pause, cancel, resume) and a Lua library
(require "clarifai") for controlling Clarifai pipeline version runs. HTTP is
libcurl and YAML is libyaml, through small C modules; the rest is Lua.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4",
  "lua-cjson",
  "argparse",
  "luasocket",
}
external_dependencies = {
  -- curl's header lives under a multiarch include dir on Debian: find it by its library.
  CURL = { library = "curl" },
  YAML = { header = "yaml.h" },
}
build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    CURL_LIBDIR = "$(CURL_LIBDIR)",
    YAML_INCDIR = "$(YAML_INCDIR)",
    YAML_LIBDIR = "$(YAML_LIBDIR)",
    WERROR = "",
  },
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    INST_BINDIR = "$(BINDIR)",
    LUA_INTERP = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    WERROR = "",
  },
}
-- The launchers find their modules relative to themselves: no wrapper needed.
deploy = { wrap_bin_scripts = false }
test = {
  type = "busted",
}
