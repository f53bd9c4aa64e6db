-- Argument checks of the public functions. One rule, for every public
-- function: a wrong type or an unknown option key is a programmer error,
-- raised as one line that names the function, the argument, what it must
-- be and what it got, pointing at the caller's line (level 2 of the public
-- function, never a file of the library); a bad value (an unknown state, an
-- id the API cannot take) is a runtime failure, returned as nil, message,
-- err. Every check runs before anything is sent.

local limits = require "clarifai.limits"

local M = {}

local function shown(v)
  if type(v) == "string" then return string.format("%q", #v > 40 and (v:sub(1, 40) .. "...") or v) end
  if type(v) == "table" or type(v) == "function" or type(v) == "userdata" or type(v) == "thread" then
    return "a " .. type(v)
  end
  return tostring(v)
end
M.shown = shown

-- The public entry points (errors.public registers each wrapper): a raise
-- inside one points at the line that called it.
M.entries = setmetatable({}, { __mode = "k" })

-- The error level of the code that called the public function on the stack
-- (from the function that calls this one), or `fallback`.
local function caller_level(fallback)
  local getinfo = debug.getinfo
  for level = 3, 40 do
    local info = getinfo(level, "f")
    if not info then break end
    if M.entries[info.func] then return level end
  end
  return fallback
end

-- raise(fn, label, must, v [, level]): "fn: label must be <must>, got <v>",
-- at the public function's caller.
function M.raise(fn, label, must, v, level)
  error(string.format("%s: %s must be %s, got %s", fn, label, must, shown(v)), caller_level((level or 2) + 1))
end

-- of(fn, label, kind, v [, optional]) -> v; kind: a Lua type name.
function M.of(fn, label, kind, v, optional)
  if (optional and v == nil) or type(v) == kind then return v end
  M.raise(fn, label, "a " .. kind, v, 3)
end

-- list(fn, label, v) -> v: a list (table) of ids.
function M.list(fn, label, v)
  if type(v) == "table" then return v end
  M.raise(fn, label, "a list of run ids", v, 3)
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and type(mt.__call) == "function"
end

-- What each kind of option must be.
local KINDS = {
  ["function"] = { test = callable, must = "a function" },
  table = { test = function(v) return type(v) == "table" end, must = "a table" },
  list = { test = function(v) return type(v) == "table" end, must = "a list" },
  boolean = { test = function(v) return type(v) == "boolean" end, must = "a boolean" },
  string = { test = function(v) return type(v) == "string" end, must = "a string" },
  number = { test = function(v) return type(v) == "number" end, must = "a number" },
  any = { test = function() return true end },
}

--[[
opts(fn, v, spec [, label]) -> v or {}: an options table (nil is {}). spec:
key -> what its value must be: the name of a clarifai.limits entry (a
number in that range), or "function" (callable), "table", "list",
"boolean", "string", "number", "any". A key spec does not name raises, as
does a value of the wrong kind or out of range; nil values pass.
]]
function M.opts(fn, v, spec, label)
  label = label or "opts"
  if v == nil then return {} end
  if type(v) ~= "table" then M.raise(fn, label, "a table or nil", v, 3) end
  for key, val in pairs(v) do
    local want = spec[key]
    if want == nil then
      -- the value is not shown: it may be a token given under a wrong name
      error(string.format("%s: %s.%s is not an option (the options: %s)", fn, label, tostring(key), M.keys(spec)),
        caller_level(2))
    end
    local kind = KINDS[want]
    if kind then
      if not kind.test(val) then M.raise(fn, label .. "." .. key, kind.must, val, 3) end
    else
      local level = caller_level(nil)
      limits.arg(fn, label .. "." .. key, want, val, level and level + 1 or 4)
    end
  end
  return v
end

-- "a, b or c": the keys of a spec, sorted.
function M.keys(spec)
  local names = {}
  for k in pairs(spec) do names[#names + 1] = tostring(k) end
  table.sort(names)
  if #names <= 1 then return names[1] or "(none)" end
  return table.concat(names, ", ", 1, #names - 1) .. " or " .. names[#names]
end

-- spec(...) -> one spec of the given ones merged.
function M.spec(...)
  local out = {}
  for _, s in ipairs({ ... }) do
    for k, v in pairs(s) do out[k] = v end
  end
  return out
end

-- The client options every call that sends takes.
M.CLIENT = { client = "table", pat = "string", api_base = "string", config_path = "string", context = "string",
  getenv = "function" }
-- What every call about runs takes: the client, where missing ids come from
-- (config-lock.yaml in dir; lockfile = false: never), and its stop and retry
-- callbacks.
M.CALL = M.spec(M.CLIENT, { dir = "string", lockfile = "boolean", on_retry = "function", should_stop = "function" })
-- What a call that polls adds: the specs' fake clock.
M.POLL = { clock = "function", sleep = "function" }

return M
