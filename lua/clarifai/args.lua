-- Argument checks of the public functions: a wrong argument is a programmer
-- error, raised as one line that names the function, the argument, what it
-- must be and what it got (never an index error somewhere inside).

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

-- raise(fn, label, must, v [, level]): "fn: label must be <must>, got <v>"
function M.raise(fn, label, must, v, level)
  error(string.format("%s: %s must be %s, got %s", fn, label, must, shown(v)), (level or 2) + 1)
end

-- of(fn, label, kind, v [, optional]) -> v; kind: a Lua type name.
function M.of(fn, label, kind, v, optional)
  if (optional and v == nil) or type(v) == kind then return v end
  M.raise(fn, label, "a " .. kind, v, 3)
end

-- ids(fn, label, v) -> v: a list (table) of ids.
function M.list(fn, label, v)
  if type(v) == "table" then return v end
  M.raise(fn, label, "a list of run ids", v, 3)
end

-- opts(fn, v, names) -> v or {}: an options table whose numeric fields
-- (names: option -> clarifai.limits entry) are in range.
function M.opts(fn, v, names)
  if v == nil then return {} end
  if type(v) ~= "table" then M.raise(fn, "opts", "a table or nil", v, 3) end
  for key, limit in pairs(names or {}) do
    if v[key] ~= nil then limits.arg(fn, "opts." .. key, limit, v[key], 4) end
  end
  return v
end

return M
