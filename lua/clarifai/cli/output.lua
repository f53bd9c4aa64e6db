-- Where the CLI writes: results to stdout, diagnostics to stderr. Every line
-- passes through here so the token can be scrubbed in one place.

local text = require "clarifai.text"

local M = {}

local secrets = {}

-- Registers a secret (the PAT) that must never be printed.
function M.add_secret(s)
  if type(s) == "string" and s ~= "" then secrets[#secrets + 1] = s end
end

local function clean(s)
  if secrets[1] then s = text.scrub(s, secrets) end
  if s:find("://", 1, true) then s = text.mask_userinfo(s) end
  return s
end

-- Proxy passwords from the environment are secrets too.
for _, name in ipairs({ "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" }) do
  local v = os.getenv(name)
  local pw = v and v:match("^%a[%w+.-]*://[^/@:]*:([^/@]+)@")
  if pw and #pw >= 4 then secrets[#secrets + 1] = pw end
end
M.clean = clean

-- A write to a closed pipe must not end the run with a Lua error.
local function write(f, s)
  local ok = f:write(s)
  return ok ~= nil
end

function M.out(line)
  return write(io.stdout, clean(line) .. "\n")
end

function M.err(line)
  return write(io.stderr, clean(line) .. "\n")
end

function M.flush()
  io.stdout:flush()
  io.stderr:flush()
end

return M
