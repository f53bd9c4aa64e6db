-- Loads this tool's modules from precompiled chunks when they are there and
-- not older than their sources (a binary chunk loads several times faster
-- than source is compiled, and a command loads some twenty modules). Any
-- module without a fresh chunk comes from source as usual.

local M = {}

--[[
install{ luac = dir of chunks, sources = {dirs}, check = true }
Adds a searcher before Lua's own. With check, a chunk is used only when no
source of the same path is newer (a checkout being edited).
]]
function M.install(opts)
  local ok, sys = pcall(require, "clarifai.sys.core")
  if not ok or not sys.mtime then return false end
  local luac, sources, check = opts.luac, opts.sources or {}, opts.check
  if not sys.mtime(luac) then return false end
  local function search(name)
    if name:sub(1, 9) ~= "clarifai." and name ~= "clarifai" then return nil end
    local rel = name:gsub("%.", "/")
    for _, tail in ipairs({ ".lua", "/init.lua" }) do
      local chunk = luac .. "/" .. rel .. tail
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
  table.insert(package.searchers, 2, search)
  return true
end

return M
