-- Loads this tool's modules from precompiled chunks when they are there and
-- still match their sources (a binary chunk loads several times faster than
-- source is compiled, and a command loads some twenty modules). A chunk is
-- used only when its source has the fingerprint (size and hash) recorded
-- when the chunk was built: an edited source, in a checkout or an installed
-- tree, is loaded as source (install may reset modification times, so they
-- are not trusted alone). Reading the source is skipped while stat still
-- says exactly what it said at build time (device, inode, size, modification
-- and status-change times: a write changes the last one, which no call can
-- set back; see clarifai.sys.core's stat_sig). Any module without a matching
-- chunk comes from source.

local M = {}

-- C modules from other packages that the commands load.
local C_MODULES = { cjson = true }

local warmup = require "clarifai.warmup"
local searchpath = warmup.searchpath

-- The fingerprints recorded at build time: { [path under the source root]
-- = "SIZE:HASH" }, and the stat signatures: { [path] = signature }.
local function read_sums(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local sums, sigs = {}, {}
  for line in f:read("*a"):gmatch("[^\n]+") do
    local rel, sum, sig = line:match("^(%S+) (%S+) ?(%S*)$")
    if rel then
      sums[rel] = sum
      if sig ~= "" then sigs[rel] = sig end
    end
  end
  f:close()
  return sums, sigs
end

-- Does the source of `rel` (the first of `sources` that has it) still have
-- this fingerprint? Its stat signature `sig`, when recorded and still the
-- same, says yes without reading it. With no source to compare, the chunk
-- stands alone.
local function matches(sys, sources, rel, sum, sig)
  for _, dir in ipairs(sources) do
    local path = dir .. "/" .. rel
    if sig and sig ~= "" and sys.stat_sig and sys.stat_sig(path) == sig then return true end
    local d = sys.digest(path)
    if d then return d == sum end
  end
  return true
end

--[[
install{ luac = dir of chunks, sources = {dirs of the sources} }
Adds a searcher before Lua's own for this tool's modules: a chunk whose
source still matches (see above), else nothing (Lua's own searchers load
the source).
]]
function M.install(opts)
  local sys = warmup.open_c("clarifai.sys.core")
  if not sys or not sys.digest then return false end
  local luac, sources = opts.luac, opts.sources or {}
  -- read when a module outside the bundle is first asked for (a pause asks
  -- for none)
  local sums, sigs
  local function sum_of(rel)
    if not sums then sums, sigs = read_sums(luac .. "/sums.txt") end
    if not sums then sums, sigs = {}, {} end
    return sums[rel], sigs[rel]
  end
  -- C modules go straight to package.cpath (warmup.find_c: the HTTP module
  -- with lazy binding)
  local function search_c(name)
    local open, where = warmup.find_c(name)
    if open then return open, where end
    if where then return "\n\t" .. tostring(where) end
    return nil
  end
  local function search(name)
    if C_MODULES[name] or name:match("^clarifai%.[%w_]+%.core$") then return search_c(name) end
    if name:sub(1, 9) ~= "clarifai." and name ~= "clarifai" then return nil end
    local base = name:gsub("%.", "/")
    for _, tail in ipairs({ ".lua", "/init.lua" }) do
      local rel = base .. tail
      -- chunks are stored as .luac, so nothing takes them for source modules
      local sum, sig = sum_of(rel)
      if sum and matches(sys, sources, rel, sum, sig) then
        local chunk = luac .. "/" .. rel .. "c"
        local f, err = loadfile(chunk, "b")
        if f then return f, chunk end
        return "\n\t" .. tostring(err)
      end
    end
    return "\n\tno matching precompiled chunk for '" .. name .. "'"
  end
  local searchers = package.searchers or package.loaders -- luacheck: ignore 143 (5.1)
  table.insert(searchers, 2, search)
  if not M.preload_bundle(luac .. "/bundle.luac", sys, sources) then
    sum_of("")
    if next(sums) == nil then -- no chunks at all
      table.remove(searchers, 2)
      return false
    end
  end
  return true
end

--[[
preload_bundle(path, sys, sources) -> whether there is one: the modules
every pause, cancel and resume needs, in one chunk (tools/bundle.lua): one
file to open instead of two dozen. Each goes to package.preload; when required, it is taken from the
bundle if its source still matches the bundle's fingerprint, else loaded
from its source.
]]
function M.preload_bundle(path, sys, sources)
  local chunk = loadfile(path, "b")
  if not chunk then return false end
  local ok, modules = pcall(chunk)
  if not ok or type(modules) ~= "table" then return false end
  for name, m in pairs(modules) do
    if not package.preload[name] then
      package.preload[name] = function(...)
        if matches(sys, sources, m.path, m.sum, m.sig) then return m.load(...) end
        local src = assert(searchpath(name, package.path))
        return assert(loadfile(src))(...)
      end
    end
  end
  return true
end

return M
