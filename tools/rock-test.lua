-- `luarocks test`: builds with the interpreter luarocks runs this with, then
-- runs the specs (all of them under Lua 5.4, the portable subset elsewhere).
local lua = arg and arg[-1] or "lua5.4"
local name = lua:match("[^/]+$")
local target = name == "lua5.4" and "test-unit" or "test-portable"
-- (test-portable names its stage test-<interpreter>)
-- Inside `make test` (rock-check) the counts join the run's results as this
-- interpreter's stage; alone, they go to a file of their own.
local results = os.getenv("RESULTS") or "build/rock-test-results.txt"
local cmd = string.format("make --no-print-directory %s LUA=%s RESULTS='%s'", target, name, results)
print(cmd)
local ok = os.execute(cmd)
os.exit((ok == true or ok == 0) and 0 or 1)
