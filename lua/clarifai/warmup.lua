-- The command's head start. For a command line that talks to the server,
-- the HTTP module (libcurl and some thirty libraries: mapping and binding
-- them is about half of a pause) starts loading on a thread of its own
-- (clarifai.sys.core's preload), so that it overlaps compiling the loader,
-- undumping the bundle and reading the config file and the lockfile. The
-- launcher requires this before anything else, so it is kept small: its own
-- compiling is on that path. The library never starts it.

local M = {}

-- package.searchpath (5.2+), for every Lua.
M.searchpath = package.searchpath or function(name, path)
  local file = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local candidate = template:gsub("%?", file)
    local f = io.open(candidate, "r")
    if f then
      f:close()
      return candidate
    end
  end
  return nil
end

local BACKGROUND = "clarifai.http.core"

--[[
find_c(name) -> luaopen function, path | nil (not on package.cpath) | nil,
message: a C module looked up straight on package.cpath (Lua's own order
would first try every package.path entry). The HTTP module is first opened
with lazy binding (sys.c's open_lazy, which waits for start's thread): its
thirty-odd libraries then bind a function when it is first called.
]]
function M.find_c(name)
  local path = M.searchpath(name, package.cpath)
  if not path then return nil end
  local sys = package.loaded["clarifai.sys.core"]
  if name == BACKGROUND and type(sys) == "table" and sys.open_lazy then sys.open_lazy(path) end
  local open, err = package.loadlib(path, "luaopen_" .. name:gsub("%.", "_"))
  if open then return open, path end
  return nil, err
end

-- A C module opened with find_c, into package.loaded; nil when it is not
-- there or does not open (a later require says why).
function M.open_c(name)
  local mod = package.loaded[name]
  if mod ~= nil then return mod end
  local open, path = M.find_c(name)
  if not open then return nil end
  mod = open(name, path)
  package.loaded[name] = mod
  return mod
end

-- Does this command line talk to the server? Every command but help,
-- --version, completion and a dry run does. A hint only: a run id spelled
-- "help" loses the head start, nothing else.
local QUIET = { ["-h"] = true, ["--help"] = true, help = true, ["--version"] = true, completion = true,
  ["--dry-run"] = true }
function M.talks(argv)
  if not argv or not argv[1] then return false end
  for _, a in ipairs(argv) do
    if QUIET[a] then return false end
  end
  return true
end

-- opened first: a dlopen on this thread while the other one loads would
-- wait for the whole load
local BEFORE = { "cjson", "clarifai.yaml.core" }

-- start(argv) -> whether the HTTP module is loading on its thread. First,
-- a closed stdin or stdout is held with /dev/null (sys.guard_std_fds), so
-- that no file opened from now on, by that thread or this one, takes its
-- number.
function M.start(argv)
  local sys = M.open_c("clarifai.sys.core")
  if not sys or not sys.preload then return false end
  sys.guard_std_fds()
  if not M.talks(argv) or package.loaded[BACKGROUND] then return false end
  local path = M.searchpath(BACKGROUND, package.cpath)
  if not path then return false end
  for _, name in ipairs(BEFORE) do pcall(M.open_c, name) end
  return sys.preload(path) == true
end

return M
