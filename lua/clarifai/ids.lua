-- Completing a run reference: the ids given win; missing ones come from
-- ./config-lock.yaml when it exists (read only if something is missing).

local errors = require "clarifai.errors"
local lockfile = require "clarifai.lockfile"

local M = {}

M.FIELDS = { "user_id", "app_id", "pipeline_id", "pipeline_version_id" }

M.MISSING_LINE = "Missing required parameters. Either provide --user_id, --app_id, --pipeline_id, "
  .. "and --pipeline_version_id, or ensure config-lock.yaml exists."

--[[
resolve(ref [, opts]) -> complete copy of ref | nil, err (kind "usage")
opts.dir: where to look for config-lock.yaml (default: the current directory);
opts.lockfile = false: never read it.
The result's `lockfile_used` is true when any id came from the file.
]]
function M.resolve(ref, opts)
  opts = opts or {}
  local out = {}
  for k, v in pairs(ref) do out[k] = v end
  local missing = {}
  for _, f in ipairs(M.FIELDS) do
    if type(out[f]) ~= "string" or out[f] == "" then
      out[f] = nil
      missing[#missing + 1] = f
    end
  end
  if #missing == 0 then return out end

  local lock = { status = "absent", path = lockfile.NAME }
  if opts.lockfile ~= false then lock = lockfile.read(opts.dir) end
  if lock.status == "ok" then
    local still = {}
    for _, f in ipairs(missing) do
      if lock.ids[f] then
        out[f] = lock.ids[f]
        out.lockfile_used = true
      else
        still[#still + 1] = f
      end
    end
    if #still == 0 then return out end
    missing = still
  end

  local flags = {}
  for i, f in ipairs(missing) do flags[i] = "--" .. f end
  local lines = { M.MISSING_LINE, "  missing: " .. table.concat(flags, ", ") }
  if lock.status == "absent" then
    lines[#lines + 1] = "  config-lock.yaml: not found in the current directory"
  elseif lock.status == "invalid" then
    lines[#lines + 1] = "  config-lock.yaml is invalid: " .. lock.message
  else
    local keys = {}
    for _, k in ipairs(lockfile.KEYS) do
      for _, f in ipairs(missing) do
        if k.id == f then keys[#keys + 1] = "pipeline." .. k.key end
      end
    end
    lines[#lines + 1] = "  config-lock.yaml has no " .. table.concat(keys, ", ")
  end
  return nil, errors.new("usage", table.concat(lines, "\n"), { missing = missing })
end

return M
