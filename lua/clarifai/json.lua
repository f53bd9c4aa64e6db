--- JSON for the library, the command and the emulator.
-- Decoding is lua-cjson's (strict: no NaN/Infinity/hex, bounded depth);
-- encoding is our own so empty lists stay `[]` (Debian's lua-cjson 2.1.0
-- encodes every empty table as `{}`), keys come in a stable order and numbers
-- are the shortest text that reads back as the same number.
-- @module clarifai.json
-- @usage
-- local json = require "clarifai.json"
-- print(json.encode{ b = 1, a = json.array(), c = json.null })  -- {"a":[],"b":1,"c":null}
-- local doc = assert(json.decode('{"runs":[]}'))

local cjson = require "cjson"
local compat = require "clarifai.compat"

local M = {}

local decoder = cjson.new()
decoder.decode_invalid_numbers(false)
decoder.decode_max_depth(require("clarifai.limits").defaults.json_depth)

--- The metatable that marks a table as a JSON array (it matters only when the table is empty).
-- @class field
-- @name array_mt
M.array_mt = { __name = "json.array" }

--- Marks a table as a JSON array, so that it encodes as `[]` when empty.
-- @tparam[opt] table t the table (default a new one)
-- @treturn table t, with `array_mt` as its metatable
-- @usage local ids = json.array() print(json.encode{ ids = ids })  -- {"ids":[]}
function M.array(t) return setmetatable(t or {}, M.array_mt) end

--- Was a table marked by `array`?
-- @param t any value
-- @treturn boolean true when t has `array_mt` as its metatable (a plain
-- table is not, whatever its keys)
-- @usage print(json.is_array(json.array()), json.is_array({ 1, 2 }))  -- true false
function M.is_array(t) return getmetatable(t) == M.array_mt end

--- JSON null in decoded documents and for encoding (lua-cjson's `cjson.null`).
-- @class field
-- @name null
M.null = cjson.null

--- Decodes JSON text (strict: no NaN, Infinity or hex numbers; at most 128 levels deep).
-- Never raises. Objects and arrays decode as plain tables, null as `null`.
-- @string text the JSON text
-- @return the value
-- @treturn[2] nil
-- @treturn[2] string message why the text is not valid JSON
-- @usage
-- local doc, message = json.decode(body)
-- if not doc then print("not JSON: " .. message) end
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

-- The ASCII run at i as JSON: controls as short or \u escapes, quotes,
-- backslashes and slashes escaped, the rest as it is.
local function ascii_run(str, i)
  local b = str:byte(i)
  if b < 0x20 or b == 0x7f then return SHORT[b] or u(b), i + 1 end
  local j = str:find('[%z\1-\31"\\/\127-\255]', i) or #str + 1
  if j > i then return str:sub(i, j - 1), j end
  return "\\" .. str:sub(i, i), i + 1
end

-- A string as JSON: see M.encode_string below. Which characters are
-- escaped is text.walk's decision, as for the terminal.
local function encode_string(str)
  if not str:find("[%z\1-\31\127-\255]") then return plain_string(str) end
  local out = require("clarifai.text").walk(str, { '"' }, ascii_run, u)
  out[#out + 1] = '"'
  return table.concat(out)
end

--- A string as a JSON string, quotes included.
-- Control characters (C0, DEL, C1) and invisible format characters are
-- escaped as \uXXXX, never rewritten, so the text reads back exactly and
-- cannot drive a terminal; a byte that is not UTF-8 is written as the code
-- point of its value (\u00XX).
-- @function encode_string
-- @string str the string
-- @treturn string the JSON text
-- @usage print(json.encode_string("tab\there"))  -- "tab\there"
M.encode_string = encode_string

-- A number as JSON: see M.number below.
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

--- A number as JSON text: the shortest of %.15g, %.16g and %.17g that reads back as the number.
-- Integers (and integral floats below 2^53) have no decimal point; NaN and
-- the infinities are null.
-- @function number
-- @number n the number
-- @treturn string the JSON text
-- @usage print(json.number(0.1), json.number(3), json.number(2^53 + 2))  -- 0.1 3 9007199254740994
M.number = number

local function is_array(t)
  if getmetatable(t) == M.array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

-- An object's shape: its keys in output order and the text before each
-- value ('{"key":', then ',"key":'). Shapes are kept by the keys as pairs()
-- gives them, so objects of one shape (a batch's 10,000 results) are sorted
-- once; a kept shape is used only when it holds exactly the object's keys,
-- and the store is emptied when full.
local NO_RANK = {}
local shapes, n_shapes = {}, 0

local function same_keys(list, n, v)
  if #list ~= n then return false end
  for i = 1, n do
    if v[list[i]] == nil then return false end
  end
  return true
end

local function shape_of(v, first)
  local keys, n = {}, 0
  for k in pairs(v) do
    if type(k) == "string" then n = n + 1 keys[n] = k end
  end
  local rank = first or NO_RANK
  local sig = table.concat(keys, "\0")
  local known = shapes[rank]
  local shape = known and known[sig]
  if shape and same_keys(shape.keys, n, v) then return shape end
  table.sort(keys, function(a, b)
    local fa, fb = rank[a] or 1000, rank[b] or 1000
    if fa ~= fb then return fa < fb end
    return a < b
  end)
  local heads = {}
  for i, k in ipairs(keys) do heads[i] = (i == 1 and "{" or ",") .. encode_string(k) .. ":" end
  shape = { keys = keys, heads = heads }
  if n_shapes >= 256 then shapes, n_shapes = {}, 0 end
  shapes[rank] = shapes[rank] or {}
  shapes[rank][sig], n_shapes = shape, n_shapes + 1
  return shape
end

-- Appends v's text to out[n + 1 ...]; returns the new n.
local function encode(v, out, n, depth, first)
  local tv = type(v)
  n = n + 1
  if v == nil or v == M.null then out[n] = "null"
  elseif tv == "string" then out[n] = encode_string(v)
  elseif tv == "number" then out[n] = number(v)
  elseif tv == "boolean" then out[n] = v and "true" or "false"
  elseif tv == "table" then
    if depth > 100 then error("json: nesting too deep", 0) end
    if is_array(v) then
      local len = #v
      if len == 0 then out[n] = "[]" return n end
      out[n] = "["
      for i = 1, len do
        if i > 1 then n = n + 1 out[n] = "," end
        n = encode(v[i], out, n, depth + 1, first)
      end
      n = n + 1
      out[n] = "]"
    else
      local shape = shape_of(v, first)
      local keys, heads = shape.keys, shape.heads
      if not keys[1] then out[n] = "{}" return n end
      n = n - 1
      for i = 1, #keys do
        n = n + 1
        out[n] = heads[i]
        n = encode(v[keys[i]], out, n, depth + 1, first)
      end
      n = n + 1
      out[n] = "}"
    end
  else
    error("json: cannot encode a " .. tv, 0)
  end
  return n
end

--- Encodes a value as JSON text.
-- Object keys are sorted; `first` (key to rank) puts some keys ahead of the
-- rest, in rank order (the emulator writes `status` first, as the API does).
-- A table is an array when `array` marked it, or when its keys are exactly
-- 1..n (n above 0); any other table is an object (its keys that are not
-- strings are left out).
-- @param v the value: nil, `null`, a boolean, a number, a string or a table
-- @tparam[opt] table first key to rank: keys to write first
-- @treturn string the JSON text
-- @raise when v holds a function, a userdata or a thread ("json: cannot
-- encode a function"), or nests more than 100 levels
-- @usage
-- print(json.encode({ status = { code = 10000 }, id = "r1" }, { status = 1 }))
-- -- {"status":{"code":10000},"id":"r1"}
function M.encode(v, first)
  local out = {}
  encode(v, out, 0, 0, first)
  return table.concat(out)
end

return M
