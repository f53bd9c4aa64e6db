-- compile.lua OUT_DIR SRC_ROOT C_DIR FILE... : writes each Lua file as a
-- binary chunk of the running interpreter under OUT_DIR, at the same path
-- relative to SRC_ROOT, as NAME.luac, and OUT_DIR/sums.txt: one line
-- "PATH SIZE:HASH[ SIG]" per source (tools/fingerprint.lua), which the
-- launcher compares with the source it finds before using a chunk (SIG, what
-- stat said of a settled source, spares it reading the source). Debug
-- information is stripped (smaller chunks load faster); `clarifai --debug`
-- loads the sources instead, so its tracebacks still name file and line.
-- C_DIR: this build's C modules (stat signatures; 5.1 and LuaJIT hash with
-- its clarifai.sys.core too).
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local fingerprint = require "fingerprint"
local out_dir, src_root, c_dir = arg[1], arg[2], arg[3]
local sums = {}
for i = 4, #arg do
  local src = arg[i]
  local rel = src:sub(#src_root + 2)
  local chunk = assert(loadfile(src))
  local dest = out_dir .. "/" .. rel .. "c" -- .luac
  local dir = dest:match("^(.*)/[^/]*$")
  assert(os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'"))
  local f = assert(io.open(dest .. ".tmp", "wb"))
  f:write(string.dump(chunk, true))
  f:close()
  assert(os.rename(dest .. ".tmp", dest))
  local sig = fingerprint.sig(src, c_dir)
  sums[#sums + 1] = rel .. " " .. fingerprint.of(src, c_dir) .. (sig and (" " .. sig) or "")
end
local f = assert(io.open(out_dir .. "/sums.txt", "wb"))
f:write(table.concat(sums, "\n"), "\n")
f:close()
