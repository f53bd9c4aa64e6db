--- Errors of the library.
-- Every public function fails with `nil, message, err` (luaposix style),
-- where err is { kind, message, exit_code, http_status?, api_code?,
-- api_name?, req_id?, ... } with a metatable (`Error`) whose __tostring is the
-- message: `assert(f(...))` shows the message on every Lua, and `error(err)`
-- reads well. exit_code is what the CLI exits with. Inside the library,
-- functions fail with `nil, err`; `export` turns that into the public form at
-- the module's edge.
--
-- Programmer errors (a wrong argument type, an out-of-range option, an
-- unknown action) are not failures: they raise one line that names the
-- function, the argument, what it must be and what it got.
-- @module clarifai.errors
-- @usage
-- local result, message, err = clarifai.runs.pause(ref)
-- if not result then
--   print(message, err.kind, err.exit_code, err.http_status, err.api_code, err.api_name, err.req_id)
-- end

local M = {}

--- The exit code of each kind of failure (kind to code); the README and the command's help list them.
-- ok 0; api and state 1 (the API refused the operation; a wait found the run
-- in another terminal state); usage 2; config 3; auth 4; transport and
-- protocol 5; unknown and transient 6; partial 7; declined 8; internal 70;
-- output 74; timeout 124; interrupted, cancelled (a workflow cancelled by
-- its host) and not_sent 130.
-- @class field
-- @name exit_codes
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
  output = 74,      -- the output could not be written (a full disk; a reader that went away: the CLI exits 141)
  timeout = 124,    -- a wait ran out of time
  interrupted = 130,
  cancelled = 130,  -- a workflow cancelled by its host (clarifai.async)
  not_sent = 130,   -- a batch stopped before this run's request started
}

--- The exit code of a stop by a signal: 128 + its number, as a shell reports a process the signal ended.
-- The one home of this rule (the command, monitor, wait and batches ask it).
-- @tparam ?int signal the signal's number (nil: none)
-- @treturn ?int 128 + signal, or nil without a signal
-- @usage os.exit(errors.signal_exit(err.signal) or err.exit_code)
function M.signal_exit(signal)
  return signal and (128 + signal) or nil
end

--- The exit codes as the command's help and the README show them: a list of {code, meaning} (strings).
-- @class field
-- @name exit_table
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
  { "141", "the reader of standard output went away (as SIGPIPE would end it); a change saves what it did not take" },
  { "143", "stopped by SIGTERM" },
}

local Error = {}
Error.__index = Error
Error.__name = "clarifai.error"
function Error.__tostring(e) return e.message end
--- The metatable of every error table (its `__name` is "clarifai.error", its `__tostring` the message).
-- @class field
-- @name Error
M.Error = Error

--- A new error: fields copied in, then kind and message, and exit_code unless fields set it.
-- @string kind a kind of `exit_codes` ("api", "usage", "transport", ...)
-- @string message the message (what `tostring` gives)
-- @tparam[opt] table fields more fields (http_status, api_code, req_id,
-- exit_code, ...)
-- @treturn table the error, with `Error` as its metatable
-- @raise when kind is not a kind of `exit_codes`
-- @usage error(errors.new("usage", "no run ids given"))
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

--- A new error: err's fields with changes applied.
-- A new kind brings its own exit code (unless changes set one). err itself is
-- never modified.
-- @tparam table err an error
-- @tparam table changes the fields to change
-- @treturn table the new error
-- @raise when the resulting kind is not a kind of `exit_codes`
-- @usage local e2 = errors.derive(err, { message = "run r1: " .. err.message })
function M.derive(err, changes)
  local fields = {}
  for k, v in pairs(err) do fields[k] = v end
  for k, v in pairs(changes) do fields[k] = v end
  if changes.kind and changes.exit_code == nil then fields.exit_code = nil end
  return M.new(fields.kind, fields.message, fields)
end

--- Is v an error of the library?
-- @param v any value
-- @treturn boolean true when v has `Error` as its metatable
-- @usage
-- local ok, e = pcall(workflow)
-- if not ok and errors.is(e) then os.exit(e.exit_code) end
function M.is(v)
  return getmetatable(v) == Error
end

-- A failure `nil, err` as the public `nil, message, err`; anything else as is.
local function public_values(v, e, ...)
  if v == nil and getmetatable(e) == Error then return nil, e.message, e end
  return v, e, ...
end

--- A function's failures in the public form.
-- The returned function calls fn; when fn returns nil and an error table, it
-- returns nil, the error's message and the error; anything else passes
-- unchanged.
-- @tparam function fn a function failing with `nil, err`
-- @treturn function the same function, failing with `nil, message, err`
-- @usage
-- local function load_ref(path) ... return nil, errors.new("usage", "no ref in " .. path) end
-- M.load_ref = errors.public(load_ref)
function M.public(fn)
  local entry = function(...) return public_values(fn(...)) end
  -- argument errors raised inside point at the line that called it
  require("clarifai.args").entries[entry] = true
  return entry
end

--- Wraps functions of a module in place with `public`, at the end of the module.
-- raw (a table) receives the unwrapped ones, for the module's own calls,
-- which fail with `nil, err`.
-- @tparam table mod the module
-- @tparam {string,...} names the names of its public functions
-- @tparam[opt] table raw where the unwrapped functions go (default a new table)
-- @treturn table raw
-- @raise when a name is not a function of the module ("errors.export: no
-- function NAME")
-- @usage
-- local M, raw = {}, {}
-- function M.read(ref) ... end          -- fails with nil, err
-- errors.export(M, { "read" }, raw)    -- M.read fails with nil, message, err; raw.read as before
-- return M
function M.export(mod, names, raw)
  raw = raw or {}
  for _, name in ipairs(names) do
    local fn = mod[name]
    if type(fn) ~= "function" then error("errors.export: no function " .. tostring(name), 2) end
    raw[name], mod[name] = fn, M.public(fn)
  end
  return raw
end

--- assert for the public form.
-- On success it returns all its arguments. On a failure (v nil or false) it
-- raises err itself when it is an error table (so a `clarifai script` ends
-- with that error's exit code), else the message ("assertion failed!" when
-- there is none). The script runner's `assert` is this one.
-- @param v the first value of a call
-- @tparam[opt] string message the failure's message
-- @tparam[opt] table err the failure's error
-- @param[opt] ... further values
-- @return v, message, err and the rest, on success
-- @raise on a failure: err when it is an error table, else the message
-- @usage local result = errors.assert(clarifai.runs.pause(ref))  -- raises the error table on a failure
function M.assert(v, ...)
  if v then return v, ... end
  local message, err = ...
  if getmetatable(err) == Error then error(err, 2) end
  error(message == nil and "assertion failed!" or message, 2)
end

--- The flat error object of `-o json` output: these seven keys, absent ones null.
-- @tparam ?table e an error, or nil
-- @treturn table { exit_code, kind, message, http_status, api_code, api_name,
-- req_id }, or `clarifai.json`'s null when e is nil
-- @usage print(require("clarifai.json").encode(errors.view(err)))
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
