-- bundle.lua OUT SRC_ROOT FILE... : one precompiled chunk holding the given
-- modules (the ones every pause/cancel/resume loads), so the command opens
-- one file instead of two dozen. Running the chunk returns
--   { [module name] = { path = path under SRC_ROOT, load = function } }
-- and clarifai.loader puts the fresh ones in package.preload.
local out, src_root = arg[1], arg[2]
local parts = { "local M = {}\n" }
for i = 3, #arg do
  local src = arg[i]
  local rel = src:sub(#src_root + 2)
  local name = rel:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  local f = assert(io.open(src, "rb"))
  local code = f:read("*a")
  f:close()
  assert(loadfile(src)) -- each module compiles on its own
  parts[#parts + 1] = string.format("M[%q] = { path = %q, load = function(...)\n%s\nend }\n", name, rel, code)
end
parts[#parts + 1] = "return M\n"
local chunk = assert((loadstring or load)(table.concat(parts), "=bundle")) -- luacheck: ignore 113 (5.1)
local f = assert(io.open(out .. ".tmp", "wb"))
f:write(string.dump(chunk, true))
f:close()
assert(os.rename(out .. ".tmp", out))
