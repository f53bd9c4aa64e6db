-- The development rock of the emulator: the newest source from the repository.
-- A local Clarifai API for demos and tests, apart from the library so that
-- only those who run it need LuaSocket.
rockspec_format = "3.0"
package = "clarifai-emulator"
version = "scm-1"
source = {
  url = "git+https://github.com/clarifai-lua/clarifai-lua.git",
}
description = {
  summary = "A local Clarifai API for pipeline runs, for demos and tests",
  detailed = [[
clarifai-emulator serves the Clarifai REST surface the clarifai command and
library use (pause, cancel, resume, status, list, history and logs of
pipeline version runs; pipelines, versions and nodepool listings) on
127.0.0.1, with the real wire format and state machine, runs that move by
themselves, answer modes for multi-run requests, and a control API for
fault injection and request logs.
]],
  homepage = "https://github.com/clarifai-lua/clarifai-lua",
  license = "MIT",
  labels = { "clarifai", "testing", "http" },
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "clarifai",
  "luasocket",
  "argparse",
}
build = {
  type = "builtin",
  modules = {
    ["clarifai.emulator.api"] = "lua/clarifai/emulator/api.lua",
    ["clarifai.emulator.main"] = "lua/clarifai/emulator/main.lua",
    ["clarifai.emulator.server"] = "lua/clarifai/emulator/server.lua",
    ["clarifai.emulator.world"] = "lua/clarifai/emulator/world.lua",
  },
  install = {
    bin = { ["clarifai-emulator"] = "bin/clarifai-emulator" },
  },
  copy_directories = {},
}
