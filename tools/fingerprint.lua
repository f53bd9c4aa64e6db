-- fingerprint(path) -> "SIZE:HASH": a source file's size and 64-bit FNV-1a
-- hash over its bytes eight at a time (little-endian words, then the last
-- 0..7 bytes one by one), exactly as clarifai.sys.core's digest() computes
-- it when the launcher checks a precompiled chunk against its source. The build tools
-- run under any Lua: 5.3+ compute it here (integer arithmetic wraps at 64
-- bits); 5.1 and LuaJIT ask the C module of this build (C_DIR/clarifai/sys).
local M = {}

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

-- Lua 5.3+ only (the code is loaded as text so that 5.1 can parse this file).
local lua_fnv = math.type and load([[
  local data = ...
  local h, n = -3750763034362895579, #data -- 0xcbf29ce484222325
  local words = n - n % 8
  for i = 1, words, 8 do h = (h ~ string.unpack("<i8", data, i)) * 1099511628211 end
  for i = words + 1, n do h = (h ~ data:byte(i)) * 1099511628211 end
  return string.format("%d:%016x", n, h)
]])

function M.of(path, c_dir)
  if lua_fnv then return lua_fnv(read(path)) end
  package.cpath = c_dir .. "/?.so;" .. package.cpath
  return assert(require("clarifai.sys.core").digest(path))
end

return M
