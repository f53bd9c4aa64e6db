-- A client: the API base, the token, timeouts and one HTTP session whose
-- connections are reused across calls. Builds the headers every request
-- carries and reports each exchange to an optional trace function (with the
-- Authorization header redacted).

local config = require "clarifai.config"
local text = require "clarifai.text"
local version = require "clarifai.version"

local M = {}

local Client = {}
Client.__index = Client

M.DEFAULTS = {
  connect_timeout = 10,   -- seconds to establish a connection
  request_timeout = 30,   -- seconds for one attempt
  deadline = 60,          -- seconds for one run's change, retries and reconciliation included
  max_size = 1024 * 1024, -- largest response body accepted
}

M.USER_AGENT = "clarifai-lua/" .. version.VERSION

-- CA locations from the environment (libcurl does not read these itself).
local function ca_from_env(getenv)
  local file = getenv("CLARIFAI_ROOT_CERTIFICATES_PATH") or getenv("CURL_CA_BUNDLE") or getenv("SSL_CERT_FILE")
  local dir = getenv("SSL_CERT_DIR")
  if file == "" then file = nil end
  if dir == "" then dir = nil end
  return file, dir
end

--[[
new{ pat, api_base?, connect_timeout?, request_timeout?, deadline?, max_size?, trace? }
trace(line) receives the request line, headers (Authorization redacted) and
the response status of each exchange.
]]
function M.new(opts)
  assert(type(opts) == "table", "client options must be a table")
  local base = opts.api_base or config.DEFAULT_BASE
  local checked, err = config.check_base(base)
  if not checked then return nil, err end
  if opts.pat ~= nil then
    local ok, perr = config.check_pat(opts.pat)
    if not ok then return nil, perr end
  end
  local getenv = opts.getenv or os.getenv
  local ca_file, ca_path = ca_from_env(getenv)
  local c = setmetatable({
    pat = opts.pat,
    api_base = checked,
    connect_timeout = opts.connect_timeout or M.DEFAULTS.connect_timeout,
    request_timeout = opts.request_timeout or M.DEFAULTS.request_timeout,
    deadline = opts.deadline or M.DEFAULTS.deadline,
    max_size = opts.max_size or M.DEFAULTS.max_size,
    trace = opts.trace,
    ca_file = opts.ca_file or ca_file,
    ca_path = opts.ca_path or ca_path,
    user_agent = opts.user_agent or M.USER_AGENT,
  }, Client)
  return c
end

-- Options every from_config() call starts from (the CLI's --config,
-- --context and --verbose when it runs a user script), and the cached
-- default client built from them.
local defaults, default_client = {}, nil

function M.set_defaults(opts)
  defaults = opts or {}
  if default_client then default_client:close() end
  default_client = nil
end

--[[
from_config{ config_path?, context?, getenv?, need_pat?, ...client options }
-> client, settings | nil, err. Resolves the token and base as the CLI does.
]]
function M.from_config(opts)
  local merged = {}
  for k, v in pairs(defaults) do merged[k] = v end
  for k, v in pairs(opts or {}) do merged[k] = v end
  opts = merged
  local settings, err = config.resolve(opts)
  if not settings then return nil, err end
  local copts = {}
  for k, v in pairs(opts) do copts[k] = v end
  copts.pat, copts.api_base = settings.pat, settings.api_base
  local c, cerr = M.new(copts)
  if not c then return nil, cerr end
  return c, settings
end

-- default() -> the shared client resolved as the CLI resolves it (cached).
function M.default()
  if default_client then return default_client end
  local c, err = M.from_config({})
  if not c then return nil, err end
  default_client = c
  return c
end

function Client:secrets()
  return { self.pat }
end

-- The header lines of a request; the token only here. Built once per
-- client: a batch of a thousand requests shares them.
function Client:headers(with_body)
  local key = with_body and "_headers_body" or "_headers"
  if not self[key] then
    local h = {
      "Authorization: Key " .. (self.pat or ""),
      "User-Agent: " .. self.user_agent,
      "Accept: application/json",
    }
    if with_body then h[#h + 1] = "Content-Type: application/json" end
    self[key] = h
  end
  return self[key]
end

-- A request table for http.core, from method, API path and optional body.
function Client:build(method, path, body)
  return {
    method = method,
    url = self.api_base .. path,
    headers = self:headers(body ~= nil),
    body = body,
    connect_timeout = self.connect_timeout,
    timeout = self.request_timeout,
    max_size = self.max_size,
    low_speed_limit = 1,
    low_speed_time = math.max(1, math.floor(self.request_timeout)),
    ca_file = self.ca_file,
    ca_path = self.ca_path,
  }
end

-- The request as text with the token redacted: for --verbose and --dry-run.
function M.describe(req, with_body)
  local lines = { "> " .. req.method .. " " .. req.url }
  for _, h in ipairs(req.headers) do
    if h:lower():match("^authorization:") then h = "Authorization: Key ********" end
    lines[#lines + 1] = "> " .. h
  end
  if with_body and req.body then lines[#lines + 1] = "> " .. req.body end
  return lines
end

-- The HTTP session, created (and libcurl loaded) on first use, so commands
-- that send nothing never load it. With trap_interrupt set (the CLI sets
-- it), Ctrl-C then aborts transfers and sleeps instead of killing mid-way.
function Client:session()
  if not self.http then
    local core = require "clarifai.http.core"
    if self.trap_interrupt then core.trap_interrupt() end
    self.http = core.new()
  end
  return self.http
end

-- perform(requests [, parallel]) -> results (see clarifai.http.core).
function Client:perform(reqs, parallel)
  if self.trace then
    for _, r in ipairs(reqs) do
      for _, line in ipairs(M.describe(r, false)) do self.trace(line) end
    end
  end
  local results = self:session():perform(reqs, parallel or 1)
  if self.trace then
    for i, r in ipairs(results) do
      if r.status then
        self.trace(string.format("< HTTP %d (%s %s, %.0f ms)", r.status, reqs[i].method, reqs[i].url,
          (r.time or 0) * 1000))
      else
        self.trace(string.format("< %s: %s", r.error_code,
          text.scrub(text.sanitize(r.error or ""), self:secrets())))
      end
    end
  end
  return results
end

-- request(method, path, body) -> result
function Client:request(method, path, body)
  return self:perform({ self:build(method, path, body) }, 1)[1]
end

function Client:close()
  if self.http then
    self.http:close()
    self.http = nil
  end
end
Client.__close = Client.close

M.Client = Client

return M
