-- JSON for the emulator. Decoding is lua-cjson's; encoding is our own
-- because cjson 2.1.0 turns an empty Lua table into `{}`, while the API
-- always sends its list fields, empty or not, as `[]`.

local cjson = require("cjson").new()

local M = {}

M.null = cjson.null

local array_mt = { __name = "json.array" }

-- Marks t (or a new table) as a JSON array, so it encodes as `[]` when empty.
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

function M.is_array(t)
  return getmetatable(t) == array_mt
end

-- Decodes text; returns value or nil, message (never raises).
function M.decode(text)
  local ok, v = pcall(cjson.decode, text)
  if ok then return v end
  return nil, tostring(v)
end

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function number(n)
  if math.type(n) == "integer" then return string.format("%d", n) end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if n == math.floor(n) and math.abs(n) < 2^53 then return string.format("%d", math.tointeger(n)) end
  local s = string.format("%.14g", n)
  if tonumber(s) ~= n then s = string.format("%.17g", n) end
  return s
end

-- Keys that read best first; the rest follow in alphabetical order.
local first = { status = 1, id = 2, code = 3, description = 4, details = 5 }

local function key_less(a, b)
  local fa, fb = first[a] or 100, first[b] or 100
  if fa ~= fb then return fa < fb end
  return a < b
end

local encode

local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

encode = function(v, out)
  local ty = type(v)
  if v == nil or v == M.null then
    out[#out + 1] = "null"
  elseif ty == "string" then
    out[#out + 1] = quote(v)
  elseif ty == "number" then
    out[#out + 1] = number(v)
  elseif ty == "boolean" then
    out[#out + 1] = tostring(v)
  elseif ty == "table" then
    if getmetatable(v) == array_mt or is_sequence(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys, key_less)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = quote(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out)
      end
      out[#out + 1] = "}"
    end
  else
    error("cannot encode a " .. ty .. " as JSON", 3)
  end
end

function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

return M
