-- YAML files: read safely (regular files only, size-capped, never blocking on
-- a FIFO or device), then parse with clarifai.yaml.core. Errors name the file:
-- "path:line:col: problem".

local defaults = require "clarifai.defaults"
local sys = require "clarifai.sys.core"

local M = {}

-- load_file(path, max_size [, skim]) -> value, mode | nil, message, code
-- code: "ENOENT", "EACCES", "NOT_REGULAR", "TOO_LARGE", "EIO" or a yaml_* code.
-- skim: values longer than this many bytes come back as false (the file is
-- still checked whole; see clarifai.yaml.core).
function M.load_file(path, max_size, skim)
  local text, mode_or_msg, code = sys.read_file(path, max_size)
  if not text then
    return nil, path .. ": " .. mode_or_msg, code
  end
  local core = require "clarifai.yaml.core"
  local value, err, ycode = core.load(text, { max_size = max_size, max_depth = defaults.yaml_depth, skim = skim })
  if err then
    return nil, path .. ":" .. err, ycode
  end
  return value, mode_or_msg
end

return M
