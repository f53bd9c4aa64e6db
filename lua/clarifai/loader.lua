-- Loads this tool's modules from precompiled chunks when they are there and
-- not older than their sources (a binary chunk loads several times faster
-- than source is compiled, and a command loads some twenty modules). Any
-- module without a fresh chunk comes from source as usual.

local M = {}

-- C modules from other packages that the commands load.
local C_MODULES = { cjson = true }

-- package.searchpath (5.2+), for every Lua.
local searchpath = package.searchpath or function(name, path)
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

--[[
install{ luac = dir of chunks, sources = {dirs}, check = true }
Adds a searcher before Lua's own. With check, a chunk is used only when no
source of the same path is newer (a checkout being edited).
]]
function M.install(opts)
  local sys = package.loaded["clarifai.sys.core"]
  if not sys then
    local path = searchpath("clarifai.sys.core", package.cpath)
    local open = path and package.loadlib(path, "luaopen_clarifai_sys_core")
    if not open then return false end
    sys = open("clarifai.sys.core", path)
    package.loaded["clarifai.sys.core"] = sys
  end
  if not sys.mtime then return false end
  local luac, sources, check = opts.luac, opts.sources or {}, opts.check
  if not sys.mtime(luac) then return false end
  -- C modules go straight to package.cpath: Lua's own order would first try
  -- every package.path entry (a dozen failed opens each).
  local function search_c(name)
    local path = searchpath(name, package.cpath)
    if not path then return nil end
    local f, err = package.loadlib(path, "luaopen_" .. name:gsub("%.", "_"))
    if f then return f, path end
    return "\n\t" .. tostring(err)
  end
  local function search(name)
    if C_MODULES[name] or name:match("^clarifai%.[%w_]+%.core$") then return search_c(name) end
    if name:sub(1, 9) ~= "clarifai." and name ~= "clarifai" then return nil end
    local rel = name:gsub("%.", "/")
    for _, tail in ipairs({ ".lua", "/init.lua" }) do
      -- chunks are stored as .luac, so nothing takes them for source modules
      local chunk = luac .. "/" .. rel .. tail .. "c"
      local built = sys.mtime(chunk)
      if built then
        local fresh = true
        if check then
          for _, dir in ipairs(sources) do
            local src = sys.mtime(dir .. "/" .. rel .. tail)
            if src then fresh = src <= built break end
          end
        end
        if fresh then
          local f, err = loadfile(chunk, "b")
          if f then return f, chunk end
          return "\n\t" .. tostring(err)
        end
      end
    end
    return "\n\tno fresh precompiled chunk for '" .. name .. "'"
  end
  table.insert(package.searchers or package.loaders, 2, search) -- luacheck: ignore 143 (5.1)
  M.preload_bundle(luac .. "/bundle.luac", sys, check and sources or nil)
  return true
end

--[[
preload_bundle(path, sys [, sources]): the modules every pause, cancel and
resume needs, in one chunk (tools/bundle.lua): one file to open instead of
two dozen. Each module whose source is not newer than the bundle (checked
only when sources are given: a checkout) goes to package.preload.
]]
function M.preload_bundle(path, sys, sources)
  local built = sys.mtime(path)
  if not built then return end
  local chunk = loadfile(path, "b")
  local ok, modules = pcall(chunk or error)
  if not ok or type(modules) ~= "table" then return end
  for name, m in pairs(modules) do
    local fresh = true
    for _, dir in ipairs(sources or {}) do
      local src = sys.mtime(dir .. "/" .. m.path)
      if src then fresh = src <= built break end
    end
    if fresh and not package.preload[name] then package.preload[name] = m.load end
  end
end

return M
