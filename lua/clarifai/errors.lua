-- Errors of the library. Every public function fails with `nil, message,
-- err` (luaposix style), where err is
--   { kind, message, exit_code, http_status?, api_code?, api_name?, req_id?, ... }
-- with a metatable whose __tostring is the message: `assert(f(...))` shows
-- the message on every Lua, and `error(err)` reads well. exit_code is what
-- the CLI exits with. Inside the library, functions fail with `nil, err`;
-- export() turns that into the public form at the module's edge.

local M = {}

-- Exit code of each kind of failure; README and `clarifai --help` list them.
M.exit_codes = {
  ok = 0,
  api = 1,          -- the API refused the operation (invalid transition, not found, bad request)
  state = 1,        -- a wait found the run in another terminal state
  usage = 2,
  config = 3,       -- no credentials, unreadable or invalid config, unusable API base
  auth = 4,         -- authentication or permission refused by the API
  transport = 5,    -- cannot connect, TLS, redirect
  protocol = 5,     -- malformed or unexpected response
  unknown = 6,      -- outcome unknown
  transient = 6,    -- a transient failure that persisted
  partial = 7,      -- some runs of a batch failed (or some results could not be shown)
  declined = 8,     -- the user said no at a confirmation prompt; nothing was sent
  internal = 70,
  output = 74,      -- the output could not be written (stdout closed or full)
  timeout = 124,    -- a wait ran out of time
  interrupted = 130,
  cancelled = 130,  -- a workflow cancelled by its host (clarifai.async)
  not_sent = 130,   -- a batch stopped before this run's request started
}

-- The table in the order `clarifai --help` and the README show it.
M.exit_table = {
  { "0", "done (including \"already in that state\")" },
  { "1", "the API refused the operation (invalid transition, run not found, bad request)" },
  { "2", "usage error (bad flags or arguments, invalid or missing ids)" },
  { "3", "local configuration (no credentials, unreadable or invalid config, unusable API base)" },
  { "4", "authentication or permission refused by the API" },
  { "5", "transport or protocol failure (cannot connect, TLS, malformed response, redirect)" },
  { "6", "outcome unknown, or a transient failure that persisted" },
  { "7", "some runs of a batch succeeded and some failed; or some results could not be shown" },
  { "8", "declined at the confirmation prompt; nothing was sent" },
  { "70", "internal error" },
  { "74", "the output could not be written; nothing more was sent" },
  { "124", "a wait timed out" },
  { "129", "stopped by SIGHUP" },
  { "130", "stopped by SIGINT (Ctrl-C)" },
  { "143", "stopped by SIGTERM" },
}

local Error = {}
Error.__index = Error
Error.__name = "clarifai.error"
function Error.__tostring(e) return e.message end
M.Error = Error

-- new(kind, message [, fields]) -> a new error; fields are copied in.
function M.new(kind, message, fields)
  local code = M.exit_codes[kind]
  if not code then error("unknown error kind " .. tostring(kind), 2) end
  local e = {}
  if fields then
    for k, v in pairs(fields) do e[k] = v end
  end
  e.kind, e.message = kind, message
  e.exit_code = e.exit_code or code
  return setmetatable(e, Error)
end

-- derive(err, changes) -> a new error: err's fields with changes applied
-- (a new kind brings its own exit code). err itself is never modified.
function M.derive(err, changes)
  local fields = {}
  for k, v in pairs(err) do fields[k] = v end
  for k, v in pairs(changes) do fields[k] = v end
  if changes.kind and changes.exit_code == nil then fields.exit_code = nil end
  return M.new(fields.kind, fields.message, fields)
end

function M.is(v)
  return getmetatable(v) == Error
end

-- A failure `nil, err` as the public `nil, message, err`; anything else as is.
local function public_values(v, e, ...)
  if v == nil and getmetatable(e) == Error then return nil, e.message, e end
  return v, e, ...
end

-- public(fn) -> fn with its failures in the public form.
function M.public(fn)
  return function(...) return public_values(fn(...)) end
end

-- export(module, names [, raw]) wraps these functions of the module in place
-- with public(); raw (a table) receives the unwrapped ones, for the module's
-- own calls. Returns raw.
function M.export(mod, names, raw)
  raw = raw or {}
  for _, name in ipairs(names) do
    local fn = mod[name]
    if type(fn) ~= "function" then error("errors.export: no function " .. tostring(name), 2) end
    raw[name], mod[name] = fn, M.public(fn)
  end
  return raw
end

-- assert(v, message, err, ...): assert for the public form. On a failure it
-- raises err itself when it is an error table (so a script ends with that
-- error's exit code), else the message.
function M.assert(v, ...)
  if v then return v, ... end
  local message, err = ...
  if getmetatable(err) == Error then error(err, 2) end
  error(message == nil and "assertion failed!" or message, 2)
end

-- The flat error object of -o json output: these seven keys, absent ones null.
function M.view(e)
  local json = require "clarifai.json"
  if e == nil then return json.null end
  local function v(x) if x == nil then return json.null end return x end
  return {
    exit_code = e.exit_code, kind = e.kind, message = e.message, http_status = v(e.http_status),
    api_code = v(e.api_code), api_name = v(e.api_name), req_id = v(e.req_id),
  }
end

return M
