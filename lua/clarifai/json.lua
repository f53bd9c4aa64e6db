-- JSON: lua-cjson for decoding (strict: no NaN/Infinity/hex, bounded depth),
-- a small encoder of our own so empty lists stay `[]` and key order is stable
-- (Debian's lua-cjson 2.1.0 encodes every empty table as `{}`).

local cjson = require "cjson"

local M = {}

local decoder = cjson.new()
decoder.decode_invalid_numbers(false)
decoder.decode_max_depth(128)

-- Marks a table as a JSON array (matters only when it is empty).
M.array_mt = { __name = "json.array" }
function M.array(t) return setmetatable(t or {}, M.array_mt) end

-- JSON null in decoded documents and for encoding.
M.null = cjson.null

-- decode(text) -> value | nil, message
function M.decode(text)
  local ok, v = pcall(decoder.decode, text)
  if not ok then
    local msg = tostring(v):gsub("^.-:%d+: ", "")
    return nil, msg
  end
  return v
end

local encode_string = cjson.encode -- a Lua string encodes as a JSON string

local function is_array(t)
  if getmetatable(t) == M.array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, out, depth)
  local tv = type(v)
  if v == nil or v == M.null then out[#out + 1] = "null"
  elseif tv == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif tv == "number" then
    if math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif v == math.floor(v) and math.abs(v) < 2^53 then out[#out + 1] = string.format("%d", math.tointeger(v))
    else out[#out + 1] = string.format("%.17g", v) end
  elseif tv == "string" then out[#out + 1] = encode_string(v)
  elseif tv == "table" then
    if depth > 100 then error("json: nesting too deep", 0) end
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) == "string" then keys[#keys + 1] = k end
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode(v[k], out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    error("json: cannot encode a " .. tv, 0)
  end
end

function M.encode(v)
  local out = {}
  encode(v, out, 0)
  return table.concat(out)
end

return M
