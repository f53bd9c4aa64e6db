-- compile.lua OUT_DIR SRC_ROOT FILE... : writes each Lua file as a binary
-- chunk of the running interpreter under OUT_DIR, at the same path relative
-- to SRC_ROOT, as NAME.luac. Debug information is stripped (smaller chunks
-- load faster); `clarifai --debug` loads the sources instead, so its
-- tracebacks still name file and line.
local out_dir, src_root = arg[1], arg[2]
for i = 3, #arg do
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
end
