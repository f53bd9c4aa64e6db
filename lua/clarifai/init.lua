-- The clarifai library: run control for Clarifai pipeline version runs.
--
--   local clarifai = require "clarifai"
--   local result, err = clarifai.runs.pause{ user_id = "u", app_id = "a",
--     pipeline_id = "p", pipeline_version_id = "v", run_id = "r" }
--
-- Failures return nil and an error { kind, message, exit_code, ... } whose
-- tostring() is its message (clarifai.errors).

local M = {
  VERSION = require("clarifai.version").VERSION,
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
