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
decoder.decode_max_depth(require("clarifai.limits").defaults.json_depth)

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

local plain_string = cjson.encode -- a Lua string encodes as a JSON string

local SHORT = { [8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r" }
local function u(cp)
  if cp < 0x10000 then return string.format("\\u%04x", cp) end
  cp = cp - 0x10000
  return string.format("\\u%04x\\u%04x", 0xd800 + math.floor(cp / 0x400), 0xdc00 + cp % 0x400)
end

-- A string as JSON. Control characters (C0, DEL, C1) and invisible format
-- characters are escaped as \uXXXX, never rewritten, so the text reads back
-- exactly and cannot drive a terminal; a byte that is not UTF-8 is written
-- as the code point of its value (\u00XX).
local function encode_string(str)
  if not str:find("[%z\1-\31\127-\255]") then return plain_string(str) end
  local out, i, n = { '"' }, 1, #str
  local decode, is_format = compat.utf8_decode, require("clarifai.text").is_format
  while i <= n do
    local b = str:byte(i)
    if b < 0x20 or b == 0x7f then
      out[#out + 1] = SHORT[b] or u(b)
      i = i + 1
    elseif b < 0x80 then
      local j = str:find('[%z\1-\31"\\/\127-\255]', i) or n + 1
      if j > i then
        out[#out + 1] = str:sub(i, j - 1)
        i = j
      else
        out[#out + 1] = "\\" .. str:sub(i, i)
        i = i + 1
      end
    else
      local cp, nxt = decode(str, i)
      if not cp then
        out[#out + 1] = u(b)
        i = i + 1
      elseif cp <= 0x9f or is_format(cp) then
        out[#out + 1] = u(cp)
        i = nxt
      else
        out[#out + 1] = str:sub(i, nxt - 1)
        i = nxt
      end
    end
  end
  out[#out + 1] = '"'
  return table.concat(out)
end
M.encode_string = encode_string

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
