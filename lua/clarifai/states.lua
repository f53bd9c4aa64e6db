--- The one table of pipeline version run states and the transitions a user may request.
-- Help text, the library's checks and waits, and the emulator all read it, so
-- they cannot drift apart. Codes are the API's orchestration status codes
-- (the JOB_* range of clarifai's status_code.proto).
-- @module clarifai.states
-- @usage
-- local states = require "clarifai.states"
-- print(states.name(64008), states.label(64008))  -- JOB_PAUSED  Paused
-- print(states.can("resume", states.by_name.JOB_PAUSED.code))  -- true

local compat = require "clarifai.compat"

local M = {}

--- Every state, in code order: a list of {code, name, label, terminal?}.
-- Queued 64000, Running 64001, Completed 64002 (terminal), Failed 64003
-- (terminal), Cancelled 64004 (terminal), Unexpected error 64006 (terminal),
-- Conflict 64007, Paused 64008.
-- @class field
-- @name list
M.list = {
  { code = 64000, name = "JOB_QUEUED",           label = "Queued" },
  { code = 64001, name = "JOB_RUNNING",          label = "Running" },
  { code = 64002, name = "JOB_COMPLETED",        label = "Completed",        terminal = true },
  { code = 64003, name = "JOB_FAILED",           label = "Failed",           terminal = true },
  { code = 64004, name = "JOB_CANCELLED",        label = "Cancelled",        terminal = true },
  { code = 64006, name = "JOB_UNEXPECTED_ERROR", label = "Unexpected error", terminal = true },
  { code = 64007, name = "JOB_CONFLICT",         label = "Conflict" },
  { code = 64008, name = "JOB_PAUSED",           label = "Paused" },
}

--- The states by code: code to the entry of `list`.
-- @class field
-- @name by_code

--- The states by name ("JOB_PAUSED"): name to the entry of `list`.
-- @class field
-- @name by_name
M.by_code, M.by_name = {}, {}
for _, s in ipairs(M.list) do
  M.by_code[s.code] = s
  M.by_name[s.name] = s
end

--- Actions a user can request: pause, cancel and resume.
-- Each is { target, past, verb, from, allowed }: `from` lists the states the
-- API accepts the request in (`allowed`, the same as a set); `target` is the
-- code sent in the PATCH. Pause: Queued or Running to Paused; cancel: Queued,
-- Running or Paused to Cancelled; resume: Paused to Running.
-- @class field
-- @name actions
M.actions = {
  pause = {
    target = 64008, past = "paused", verb = "Pausing",
    from = { 64000, 64001 },
  },
  cancel = {
    target = 64004, past = "cancelled", verb = "Cancelling",
    from = { 64000, 64001, 64008 },
  },
  resume = {
    target = 64001, past = "resumed", verb = "Resuming",
    from = { 64008 },
  },
}
--- The actions in the order help and `view` show them.
-- @class field
-- @name action_order
M.action_order = { "pause", "cancel", "resume" }

-- Each action's allowed source set as a lookup table.
for _, a in pairs(M.actions) do
  a.allowed = {}
  for _, c in ipairs(a.from) do a.allowed[c] = true end
end

--- The human label of a state code ("Paused").
-- @tparam int code a state code
-- @treturn string the label, or `tostring(code)` for a code not in the table
-- @usage print(states.label(64001))  -- Running
function M.label(code)
  local s = M.by_code[code]
  return s and s.label or tostring(code)
end

--- The name of a state code ("JOB_PAUSED").
-- @tparam int code a state code
-- @treturn string the name, or `tostring(code)` for a code not in the table
-- @usage print(states.name(64004))  -- JOB_CANCELLED
function M.name(code)
  local s = M.by_code[code]
  return s and s.name or tostring(code)
end

--- Is a state terminal (Completed, Failed, Cancelled, Unexpected error)?
-- @tparam int code a state code
-- @treturn boolean true for a terminal state; false otherwise, for an unknown
-- code too
-- @usage if states.is_terminal(code) then print("the run has ended") end
function M.is_terminal(code)
  local s = M.by_code[code]
  return s ~= nil and s.terminal == true
end

--- A state code from an integer code, a numeric string or a state's name.
-- The code need not be in the table.
-- @tparam string|number v 64008, "64008" or "JOB_PAUSED"
-- @treturn ?int the code, or nil when v is none of these
-- @usage print(states.code_of("JOB_PAUSED"), states.code_of("64001"), states.code_of("paused"))  -- 64008 64001 nil
function M.code_of(v)
  if type(v) == "number" then return compat.tointeger(v) end
  if type(v) == "string" then
    if M.by_name[v] then return M.by_name[v].code end
    if v:match("^%d+$") then return compat.tointeger(tonumber(v)) end
  end
  return nil
end

--- The short name of a state: its name without `JOB_` ("PAUSED"), as tables
-- and monitor show it; `short(code):lower()` ("paused") is how flags and
-- completion spell it. The one home of short names (`parse` reads them back).
-- @tparam int code a state code
-- @treturn string the short name, or `tostring(code)` for a code not in the table
-- @usage print(states.short(64008), states.short(64008):lower())  -- PAUSED  paused
function M.short(code)
  return (M.name(code):gsub("^JOB_", ""))
end

--- A state code from what a user may write: a code, a name or a short name in any case.
-- @tparam string|number v 64008, "64008", "JOB_PAUSED", "paused" or "Paused"
-- @treturn ?int the code, or nil when v is none of these
-- @usage print(states.parse("paused"), states.parse("JOB_RUNNING"))  -- 64008 64001
function M.parse(v)
  local code = M.code_of(v)
  if code then return code end
  if type(v) == "string" and M.by_name["JOB_" .. v:upper()] then return M.by_name["JOB_" .. v:upper()].code end
  return nil
end

--- Every state's name, in table order.
-- @treturn {string,...} the names
-- @usage print(table.concat(states.names(), ", "))
function M.names()
  local out = {}
  for i, s in ipairs(M.list) do out[i] = s.name end
  return out
end

--- May `action` be requested of a run in state `code`?
-- @string action "pause", "cancel" or "resume" (another name: false)
-- @tparam int code the run's state code
-- @treturn boolean true when the API accepts the request in that state
-- @usage print(states.can("pause", 64001), states.can("resume", 64001))  -- true false
function M.can(action, code)
  local a = M.actions[action]
  return a ~= nil and a.allowed[code] == true
end

--- The table as data: what `clarifai pr transitions -o json` prints.
-- @treturn table { states = { {name, code, label, terminal}, ... },
-- transitions = { {action, from = {names}, to = name, target_code}, ... } }
-- @usage print(require("clarifai.json").encode(states.view()))
function M.view()
  local array_mt = require("clarifai.json").array_mt
  local all, rows = setmetatable({}, array_mt), setmetatable({}, array_mt)
  for i, s in ipairs(M.list) do
    all[i] = { name = s.name, code = s.code, label = s.label, terminal = s.terminal == true }
  end
  for i, name in ipairs(M.action_order) do
    local a = M.actions[name]
    local from = setmetatable({}, array_mt)
    for k, code in ipairs(a.from) do from[k] = M.name(code) end
    rows[i] = { action = name, from = from, to = M.name(a.target), target_code = a.target }
  end
  return { states = all, transitions = rows }
end

return M
