-- The clarifai library: run control for Clarifai pipeline version runs.
--
--   local clarifai = require "clarifai"
--   local result, message, err = clarifai.runs.pause{ user_id = "u", app_id = "a",
--     pipeline_id = "p", pipeline_version_id = "v", run_id = "r" }
--
-- Failures return nil, a message and an error { kind, message, exit_code,
-- ... } (clarifai.errors), so `assert(clarifai.runs.pause(ref))` shows the
-- message on every Lua.

local version = require "clarifai.version"

local M = {
  VERSION = version.VERSION,
  _VERSION = version._VERSION,
  states = require "clarifai.states",
  errors = require "clarifai.errors",
}

-- Submodules load on first use so `require "clarifai"` stays cheap.
local lazy = {
  runs = "clarifai.runs", watch = "clarifai.watch", client = "clarifai.client", config = "clarifai.config",
  ids = "clarifai.ids", timefmt = "clarifai.timefmt", json = "clarifai.json", defaults = "clarifai.defaults",
  limits = "clarifai.limits", async = "clarifai.async", monitor = "clarifai.monitor",
}

return setmetatable(M, {
  __index = function(t, k)
    local name = lazy[k]
    if not name then return nil end
    local mod = require(name)
    rawset(t, k, mod)
    return mod
  end,
})
