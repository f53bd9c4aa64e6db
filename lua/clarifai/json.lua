-- JSON for the library, the command and the emulator. Decoding is
-- lua-cjson's (strict: no NaN/Infinity/hex, bounded depth); encoding is our
-- own so empty lists stay `[]` (Debian's lua-cjson 2.1.0 encodes every empty
-- table as `{}`), keys come in a stable order and numbers are the shortest
-- text that reads back as the same number.

local cjson = require "cjson"
local compat = require "clarifai.compat"

local M = {}

local decoder = cjson.new()
decoder.decode_invalid_numbers(false)
decoder.decode_max_depth(128)

-- Marks a table as a JSON array (matters only when it is empty).
M.array_mt = { __name = "json.array" }
function M.array(t) return setmetatable(t or {}, M.array_mt) end
function M.is_array(t) return getmetatable(t) == M.array_mt end

-- JSON null in decoded documents and for encoding.
M.null = cjson.null

-- decode(text) -> value | nil, message (never raises)
function M.decode(text)
  local ok, v = pcall(decoder.decode, text)
  if not ok then
    local msg = tostring(v):gsub("^.-:%d+: ", "")
    return nil, msg
  end
  return v
end

local encode_string = cjson.encode -- a Lua string encodes as a JSON string

-- The shortest of %.15g, %.16g, %.17g that reads back as n.
local function number(n)
  if compat.isinteger(n) then return string.format("%d", n) end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then return string.format("%.0f", n) end
  for digits = 15, 16 do
    local s = string.format("%." .. digits .. "g", n)
    if tonumber(s) == n then return s end
  end
  return string.format("%.17g", n)
end
M.number = number

local function is_array(t)
  if getmetatable(t) == M.array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, out, depth, first)
  local tv = type(v)
  if v == nil or v == M.null then out[#out + 1] = "null"
  elseif tv == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif tv == "number" then out[#out + 1] = number(v)
  elseif tv == "string" then out[#out + 1] = encode_string(v)
  elseif tv == "table" then
    if depth > 100 then error("json: nesting too deep", 0) end
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, depth + 1, first)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) == "string" then keys[#keys + 1] = k end
      end
      table.sort(keys, function(a, b)
        local fa, fb = first and first[a] or 1000, first and first[b] or 1000
        if fa ~= fb then return fa < fb end
        return a < b
      end)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode(v[k], out, depth + 1, first)
      end
      out[#out + 1] = "}"
    end
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

--[[
encode(value [, first]) -> text
Object keys are sorted; `first` (key -> rank) puts some keys ahead of the
rest, in rank order (the emulator writes `status` first, as the API does).
]]
function M.encode(v, first)
  local out = {}
  encode(v, out, 0, first)
  return table.concat(out)
end

return M
