-- fingerprint.of(path) -> "SIZE:HASH": a source file's size and 64-bit FNV-1a
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

local sys
local function sys_of(c_dir)
  if not sys then
    package.cpath = c_dir .. "/?.so;" .. package.cpath
    sys = require("clarifai.sys.core")
  end
  return sys
end

function M.of(path, c_dir)
  if lua_fnv then return lua_fnv(read(path)) end
  return assert(sys_of(c_dir).digest(path))
end

-- sig(path, c_dir) -> what stat says of the file (clarifai.sys.core's
-- stat_sig), or nil when it was written in the last seconds (it could be
-- written again within the same clock tick and keep its times) or the C
-- module has no stat_sig. With a signature recorded, the launcher trusts the
-- chunk while the source's stat is unchanged, without reading the source.
M.SETTLED = 2
function M.sig(path, c_dir)
  local ok, c = pcall(sys_of, c_dir)
  if not ok or not c.stat_sig then return nil end
  return c.stat_sig(path, M.SETTLED)
end

return M
