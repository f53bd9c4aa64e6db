-- Error values shared by the library and the CLI. An error is a plain table:
--   { kind, message, exit_code, http_status?, api_code?, api_name?, req_id?, ... }
-- The library returns them (nil, err); the CLI prints err.message and exits
-- with err.exit_code.

local M = {}

-- Exit code of each kind of failure; README and `clarifai --help` list them.
M.exit_codes = {
  ok = 0,
  api = 1,          -- the API refused the operation (invalid transition, not found, bad request)
  state = 1,        -- a wait found the run in another terminal state
  usage = 2,
  config = 3,       -- no credentials, unreadable or invalid config, unusable API base
  auth = 4,         -- authentication or permission refused by the API
  transport = 5,    -- cannot connect, TLS, redirect
  protocol = 5,     -- malformed or unexpected response
  unknown = 6,      -- outcome unknown
  transient = 6,    -- a transient failure that persisted
  partial = 7,      -- some runs of a batch failed
  internal = 70,
  timeout = 124,    -- a wait ran out of time
  interrupted = 130,
}

-- The table in the order `clarifai --help` and the README show it.
M.exit_table = {
  { 0, "done (including \"already in that state\")" },
  { 1, "the API refused the operation (invalid transition, run not found, bad request)" },
  { 2, "usage error (bad flags or arguments, missing ids)" },
  { 3, "local configuration (no credentials, unreadable or invalid config, unusable API base)" },
  { 4, "authentication or permission refused by the API" },
  { 5, "transport or protocol failure (cannot connect, TLS, malformed response, redirect)" },
  { 6, "outcome unknown, or a transient failure that persisted" },
  { 7, "some runs of a batch succeeded and some failed" },
  { 70, "internal error" },
  { 124, "a wait timed out" },
  { 130, "interrupted" },
}

function M.new(kind, message, fields)
  local code = M.exit_codes[kind]
  if not code then error("unknown error kind " .. tostring(kind), 2) end
  local e = fields or {}
  e.kind, e.message, e.exit_code = kind, message, code
  return e
end

-- The flat error object of -o json output: these seven keys, absent ones null.
function M.view(e)
  local json = require "clarifai.json"
  if e == nil then return json.null end
  local function v(x) if x == nil then return json.null end return x end
  return {
    exit_code = e.exit_code, kind = e.kind, message = e.message, http_status = v(e.http_status),
    api_code = v(e.api_code), api_name = v(e.api_name), req_id = v(e.req_id),
  }
end

function M.exit_text()
  local lines = {}
  for _, row in ipairs(M.exit_table) do
    lines[#lines + 1] = string.format("  %-4d %s", row[1], row[2])
  end
  return table.concat(lines, "\n")
end

return M
