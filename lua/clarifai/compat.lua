-- What differs between Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT, in one place: the
-- rest of the library is written against these few functions.

local M = {}

M.unpack = table.unpack or unpack -- luacheck: ignore 113 (5.1's global)

-- loadfile(path, env): a file's chunk with env as its globals (5.1 and
-- LuaJIT: setfenv; 5.2+: loadfile's own env argument).
local setfenv = rawget(_G, "setfenv")
function M.loadfile(path, env)
  if not setfenv then return loadfile(path, "bt", env) end
  local chunk, err = loadfile(path)
  if chunk then setfenv(chunk, env) end
  return chunk, err
end

local mtype = math.type

-- isinteger(v): an integer (5.3+), or a whole number within 2^53 (5.1/5.2).
if mtype then
  function M.isinteger(v) return mtype(v) == "integer" end
  -- tointeger(v): v as an integer when it has an exact integer value, else nil.
  function M.tointeger(v)
    if type(v) ~= "number" then return nil end
    return math.tointeger(v)
  end
else
  function M.isinteger(v)
    return type(v) == "number" and v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53
  end
  function M.tointeger(v)
    if M.isinteger(v) then return v end
    return nil
  end
end

-- decode(s, i) -> codepoint, index after it | nil when the bytes at i are
-- not well-formed UTF-8 (overlong forms, surrogates and > U+10FFFF refused).
function M.utf8_decode(s, i)
  local b = s:byte(i)
  if not b then return nil end
  if b < 0x80 then return b, i + 1 end
  local n, cp, min
  if b >= 0xc2 and b <= 0xdf then n, cp, min = 1, b - 0xc0, 0x80
  elseif b >= 0xe0 and b <= 0xef then n, cp, min = 2, b - 0xe0, 0x800
  elseif b >= 0xf0 and b <= 0xf4 then n, cp, min = 3, b - 0xf0, 0x10000
  else return nil end
  for k = 1, n do
    local c = s:byte(i + k)
    if not c or c < 0x80 or c > 0xbf then return nil end
    cp = cp * 64 + (c - 0x80)
  end
  if cp < min or cp > 0x10ffff or (cp >= 0xd800 and cp <= 0xdfff) then return nil end
  return cp, i + n + 1
end

-- utf8_len(s) -> number of characters | nil when s is not valid UTF-8.
function M.utf8_len(s)
  local i, n, len = 1, #s, 0
  while i <= n do
    if s:byte(i) < 0x80 then
      i = i + 1
    else
      local _, nxt = M.utf8_decode(s, i)
      if not nxt then return nil end
      i = nxt
    end
    len = len + 1
  end
  return len
end

return M
