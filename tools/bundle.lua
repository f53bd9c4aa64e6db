-- bundle.lua OUT SRC_ROOT C_DIR FILE... : one precompiled chunk holding the
-- given modules (the ones every pause/cancel/resume loads), so the command
-- opens one file instead of two dozen. Running the chunk returns
--   { [module name] = { path = path under SRC_ROOT, sum = "SIZE:HASH" of
--     that source, sig = what stat said of it ("" when it had just been
--     written) (tools/fingerprint.lua), load = function } }
-- and clarifai.loader puts in package.preload those whose source still has
-- that fingerprint. C_DIR: as for tools/compile.lua.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local fingerprint = require "fingerprint"
local out, src_root, c_dir = arg[1], arg[2], arg[3]
local parts = { "local M = {}\n" }
for i = 4, #arg do
  local src = arg[i]
  local rel = src:sub(#src_root + 2)
  local name = rel:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  local f = assert(io.open(src, "rb"))
  local code = f:read("*a")
  f:close()
  assert(loadfile(src)) -- each module compiles on its own
  parts[#parts + 1] = string.format("M[%q] = { path = %q, sum = %q, sig = %s, load = function(...)\n%s\nend }\n", name,
    rel, fingerprint.of(src, c_dir), string.format("%q", fingerprint.sig(src, c_dir) or ""), code)
end
parts[#parts + 1] = "return M\n"
local chunk = assert((loadstring or load)(table.concat(parts), "=bundle")) -- luacheck: ignore 113 (5.1)
local f = assert(io.open(out .. ".tmp", "wb"))
f:write(string.dump(chunk, true))
f:close()
assert(os.rename(out .. ".tmp", out))
