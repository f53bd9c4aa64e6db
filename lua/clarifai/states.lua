-- The one table of pipeline version run states and the transitions a user
-- may request. Help text, the library's checks and waits, and the emulator
-- all read it, so they cannot drift apart.

local compat = require "clarifai.compat"

local M = {}

-- Orchestration status codes (clarifai status_code.proto, JOB_* range).
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

M.by_code, M.by_name = {}, {}
for _, s in ipairs(M.list) do
  M.by_code[s.code] = s
  M.by_name[s.name] = s
end

-- Actions a user can request. `from` lists the states the API accepts the
-- request in; `target` is the code sent in the PATCH.
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
M.action_order = { "pause", "cancel", "resume" }

-- Each action's allowed source set as a lookup table.
for _, a in pairs(M.actions) do
  a.allowed = {}
  for _, c in ipairs(a.from) do a.allowed[c] = true end
end

-- Human label of a code (falls back to the name, then the number).
function M.label(code)
  local s = M.by_code[code]
  return s and s.label or tostring(code)
end

function M.name(code)
  local s = M.by_code[code]
  return s and s.name or tostring(code)
end

function M.is_terminal(code)
  local s = M.by_code[code]
  return s ~= nil and s.terminal == true
end

-- Accepts an integer code, a numeric string or an enum name; returns the code.
function M.code_of(v)
  if type(v) == "number" then return compat.tointeger(v) end
  if type(v) == "string" then
    if M.by_name[v] then return M.by_name[v].code end
    if v:match("^%d+$") then return compat.tointeger(tonumber(v)) end
  end
  return nil
end

-- Every state's name, in table order.
function M.names()
  local out = {}
  for i, s in ipairs(M.list) do out[i] = s.name end
  return out
end

function M.can(action, code)
  local a = M.actions[action]
  return a ~= nil and a.allowed[code] == true
end

-- The table as data: what `clarifai pr transitions -o json` prints.
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
