--- The clarifai library: run control for Clarifai pipeline version runs.
--
-- `require "clarifai"` is cheap: it loads `clarifai.states` and
-- `clarifai.errors`; every other submodule loads on first use, as a field of
-- this table (`clarifai.runs`, `clarifai.watch`, ...), or with its own
-- `require`.
--
-- Failures return nil, a message and an error { kind, message, exit_code,
-- ... } (`clarifai.errors`), so `assert(clarifai.runs.pause(ref))` shows the
-- message on every Lua. One rule for every public function, checked before
-- anything is sent: a programmer error (a wrong argument type, an
-- out-of-range option, an option key the function does not take, a callback
-- that is not callable, an unknown action) raises one line that names the
-- function and the argument, pointing at the caller's line (level 2), never
-- at a file of the library; a bad value (an unknown state name, an id the
-- API cannot take, a missing id) returns nil, message, err.
-- @module clarifai
-- @usage
-- local clarifai = require "clarifai"
-- local result, message, err = clarifai.runs.pause{ user_id = "u", app_id = "a",
--   pipeline_id = "p", pipeline_version_id = "v", run_id = "r" }
-- if result then print(result.run_id, result.state) else print(message, err.exit_code) end

--- The version: a string such as `"0.3.0"` (also in the rockspecs and the User-Agent).
-- @class field
-- @name VERSION

--- The name and version: a string such as `"clarifai 0.3.0"`.
-- As `cjson._VERSION` and `socket._VERSION` give theirs.
-- @class field
-- @name _VERSION

--- Submodule `clarifai.runs`: pause, cancel and resume runs (one or many), select runs, read them.
-- @class field
-- @name runs

--- Submodule `clarifai.watch`: wait until runs have completed an action.
-- @class field
-- @name watch

--- Submodule `clarifai.monitor`: watch one run until it ends (its state changes and log lines).
-- @class field
-- @name monitor

--- Submodule `clarifai.client`: clients (the API base, the token, timeouts and an HTTP session).
-- @class field
-- @name client

--- Submodule `clarifai.async`: run library calls inside an event loop.
-- Its adapters are `clarifai.async.luv` and `clarifai.async.cqueues`;
-- coroutines of your own inside a workflow: `clarifai.async.coroutine`.
-- @class field
-- @name async

--- Submodule `clarifai.states`: the run states and the transitions a user may request (loaded with this module).
-- @class field
-- @name states

--- Submodule `clarifai.errors`: the error tables and exit codes (loaded with this module).
-- @class field
-- @name errors

--- Submodule `clarifai.json`: the JSON encoder and decoder of the library.
-- @class field
-- @name json

--- Submodule `clarifai.limits`: every default and allowed range of the library and the command.
-- In one table; the library raises for a value outside its range.
-- @class field
-- @name limits

--- Submodule `clarifai.defaults`: the defaults alone (name to value).
-- Parallelism, timeouts, deadlines, intervals, page sizes.
-- @class field
-- @name defaults

--- Submodule `clarifai.config`: the config file and its contexts, resolved as the CLI resolves them.
-- @class field
-- @name config

--- Submodule `clarifai.ids`: the checks of ids, and refs completed from config-lock.yaml.
-- @class field
-- @name ids

--- Submodule `clarifai.timefmt`: the API's RFC 3339 timestamps, read and written.
-- @class field
-- @name timefmt

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
