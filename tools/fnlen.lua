-- fnlen.lua MAX FILE... : fails (exit 1) when a function in the Lua files
-- is longer than MAX lines, naming each; directories are searched for
-- *.lua. Spans come from the compiler's own listing (luac -p -l), so every
-- function counts, anonymous and nested ones too.
local max = tonumber(arg[1])
if not max or not arg[2] then
  io.stderr:write("usage: fnlen.lua MAX FILE|DIR...\n")
  os.exit(2)
end
local luac = os.getenv("LUAC") or "luac5.4"

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local files = {}
for i = 2, #arg do
  local p = io.popen("find " .. quote(arg[i]) .. " -name '*.lua' -type f | sort")
  for f in p:lines() do files[#files + 1] = f end
  p:close()
end

local bad, count = 0, 0
for _, f in ipairs(files) do
  local p = io.popen(luac .. " -p -l " .. quote(f) .. " 2>&1")
  local listing = p:read("*a")
  local ok = p:close()
  if not ok then
    io.stderr:write(listing)
    os.exit(1)
  end
  for first, last in listing:gmatch("\nfunction <[^:]*:(%d+),(%d+)>") do
    count = count + 1
    local n = tonumber(last) - tonumber(first) + 1
    if n > max then
      bad = bad + 1
      print(string.format("%s:%s: function is %d lines long (limit %d)", f, first, n, max))
    end
  end
end
if bad > 0 then os.exit(1) end
print(string.format("function length: %d functions in %d files, none over %d lines", count, #files, max))
