-- config-lock.yaml (written by `clarifai pipeline upload`): the four ids of a
-- pipeline version, read from the current directory only, as the Python CLI
-- does. Values are used exactly as written (no YAML typing). The whole file
-- is checked (an error anywhere makes it invalid), but values longer than
-- defaults.lockfile_skim bytes (the Argo spec) are not kept.

local yaml = require "clarifai.yaml"

local M = {}

M.NAME = "config-lock.yaml"

-- Lockfile key for each id the commands need.
M.KEYS = {
  { id = "user_id", key = "user_id" },
  { id = "app_id", key = "app_id" },
  { id = "pipeline_id", key = "id" },
  { id = "pipeline_version_id", key = "version_id" },
}

-- key_of(field) -> the lockfile key under `pipeline:` for an id field.
function M.key_of(field)
  for _, k in ipairs(M.KEYS) do
    if k.id == field then return k.key end
  end
  return nil
end

-- read([dir]) -> { status = "absent" | "invalid" | "ok", ids = {...},
-- wrong = { field = "a list" | "a mapping" | "a string of more than N bytes" },
-- message = ... }
function M.read(dir)
  local path = (dir and dir ~= "." and (dir .. "/") or "") .. M.NAME
  local defaults = require "clarifai.defaults"
  local doc, err, code = yaml.load_file(path, defaults.lockfile_max, defaults.lockfile_skim)
  if code == "ENOENT" then
    return { status = "absent", path = path }
  elseif code then
    return { status = "invalid", path = path, message = err }
  end
  if type(doc) ~= "table" or type(doc.pipeline) ~= "table" then
    return { status = "invalid", path = path, message = path .. ": no 'pipeline' mapping" }
  end
  local ids, wrong = {}, {}
  for _, k in ipairs(M.KEYS) do
    local v = doc.pipeline[k.key]
    if type(v) == "string" and v ~= "" then
      ids[k.id] = v
    elseif v == false then -- a string too long to keep
      wrong[k.id] = "a string of more than " .. defaults.lockfile_skim .. " bytes"
    elseif type(v) == "table" then
      wrong[k.id] = (#v > 0 or next(v) == nil) and "a list" or "a mapping"
    elseif v ~= nil and v ~= "" then
      wrong[k.id] = "a " .. type(v)
    end
  end
  return { status = "ok", path = path, ids = ids, wrong = wrong }
end

return M
