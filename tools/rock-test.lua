-- `luarocks test`: builds with the interpreter luarocks runs this with, then
-- runs the specs (all of them under Lua 5.4, the portable subset elsewhere).
local lua = arg and arg[-1] or "lua5.4"
local name = lua:match("[^/]+$")
local target = name == "lua5.4" and "test-unit" or "test-portable"
local cmd = string.format("make --no-print-directory %s LUA=%s RESULTS=build/rock-test-results.txt", target, name)
print(cmd)
local ok = os.execute(cmd)
os.exit((ok == true or ok == 0) and 0 or 1)
