--- Clients: the API base, the token, timeouts and one HTTP session whose connections are reused across calls.
-- A client builds the headers every request carries and reports each
-- exchange to an optional trace function (with the Authorization header
-- redacted). Every call of `clarifai.runs`, `clarifai.watch` and
-- `clarifai.monitor` takes one as opts.client; without it they use the
-- default client, resolved exactly as the CLI resolves it (environment, config
-- file, context). Defaults and ranges of the options: `clarifai.limits`.
-- @module clarifai.client
-- @usage
-- local client = require "clarifai.client"
-- local c = assert(client.new{ pat = os.getenv("CLARIFAI_PAT"), request_timeout = 20 })
-- local result = assert(require("clarifai.runs").pause(ref, { client = c }))
-- c:close()

local args = require "clarifai.args"
local config = require "clarifai.config"
local text = require "clarifai.text"
local version = require "clarifai.version"

local M = {}
local raw = {} -- the functions before export (failing with nil, err): for calls from here

local Client = {}
Client.__index = Client

local defaults = require "clarifai.defaults"

--- The User-Agent every request carries unless the client's user_agent
-- says otherwise: `"clarifai-lua/"` and the version.
-- @class field
-- @name USER_AGENT
M.USER_AGENT = "clarifai-lua/" .. version.VERSION

-- CA locations from the environment (libcurl does not read these itself).
local function ca_from_env(getenv)
  local file = getenv("CLARIFAI_ROOT_CERTIFICATES_PATH") or getenv("CURL_CA_BUNDLE") or getenv("SSL_CERT_FILE")
  local dir = getenv("SSL_CERT_DIR")
  if file == "" then file = nil end
  if dir == "" then dir = nil end
  return file, dir
end

-- Does `host` match a NO_PROXY list (libcurl's rules: "*", names matching
-- themselves and their subdomains, a leading dot ignored, IPv4 addresses
-- and CIDR ranges)?
local function no_proxy_match(list, host)
  host = host:lower():gsub("^%[(.*)%]$", "%1")
  local function ipv4(s)
    local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then return nil end
    return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
  end
  for entry in list:gmatch("[^,%s]+") do
    entry = entry:lower():gsub("^%.", "")
    if entry == "*" or entry == host then return true end
    local net, bits = entry:match("^([%d.]+)/(%d+)$")
    local h = ipv4(host)
    if net and h and ipv4(net) then
      local span = 2 ^ (32 - math.min(32, tonumber(bits)))
      if math.floor(h / span) == math.floor(ipv4(net) / span) then return true end
    elseif #host > #entry and host:sub(-#entry - 1) == "." .. entry then
      return true
    end
  end
  return false
end

-- Loopback is always reached directly: the token must not go to a proxy
-- in clear text (plain http is allowed only because it stays on this host).
local ALWAYS_DIRECT = "localhost,127.0.0.0/8,::1"

--- The proxy libcurl would take from the environment, resolved here so it is explicit.
-- https_proxy/HTTPS_PROXY for https, http_proxy (never HTTP_PROXY, as
-- libcurl) for http, else all_proxy/ALL_PROXY; none for loopback or a host
-- no_proxy/NO_PROXY names (libcurl's rules: "*", names matching themselves
-- and their subdomains, a leading dot ignored, IPv4 addresses and CIDR
-- ranges). Loopback is always reached directly: the token must not go to a
-- proxy in clear text.
-- @string base an API base URL with its scheme (as `new` normalises it)
-- @tparam function getenv reads the environment: getenv(name) returns a string or nil
-- (such as os.getenv)
-- @treturn string the proxy URL, or "" for none
-- @treturn string the no-proxy list the session uses (NO_PROXY with the
-- loopback hosts added)
-- @usage
-- local proxy, noproxy = client.proxy_for("https://api.clarifai.com", os.getenv)
-- print(proxy ~= "" and proxy or "direct", noproxy)
function M.proxy_for(base, getenv)
  local scheme, authority = base:match("^(%a+)://([^/]*)")
  local host = authority:match("^(%[[^%]]*%])") or authority:match("^([^:]*)")
  local no = getenv("no_proxy") or getenv("NO_PROXY") or ""
  local noproxy = no ~= "" and (no .. "," .. ALWAYS_DIRECT) or ALWAYS_DIRECT
  if config.is_loopback(host) or no_proxy_match(noproxy, host) then return "", noproxy end
  local function env(a, b)
    local v = getenv(a) or (b and getenv(b))
    return v ~= "" and v or nil
  end
  local p = (scheme == "https" and env("https_proxy", "HTTPS_PROXY") or (scheme == "http" and env("http_proxy")))
    or env("all_proxy", "ALL_PROXY")
  return p or "", noproxy
end

-- The options of new(), and from_config()'s (new's, and where to find the config).
local NEW = { pat = "string", api_base = "string", connect_timeout = "connect_timeout",
  request_timeout = "request_timeout", deadline = "deadline", max_size = "max_size", skim = "skim",
  trace = "function", trap_signals = "boolean", ca_file = "string", ca_path = "string", user_agent = "string",
  getenv = "function" }
local CONFIG = args.spec(NEW, { config_path = "string", context = "string", need_pat = "boolean" })
M.NEW_OPTIONS, M.CONFIG_OPTIONS = NEW, CONFIG

--- A new client from explicit settings (no config file is read).
-- The HTTP session is made (and libcurl loaded) on the first request. CA
-- locations not given come from CLARIFAI_ROOT_CERTIFICATES_PATH,
-- CURL_CA_BUNDLE or SSL_CERT_FILE, and SSL_CERT_DIR; the proxy from the
-- environment (`proxy_for`). Defaults: `clarifai.defaults`.
-- @tparam table opts the settings:
-- @tparam[opt] string opts.pat the personal access token (a printable word)
-- @tparam[opt] string opts.api_base the API base (default
-- https://api.clarifai.com); without a scheme it is https; plain http only
-- to a loopback host
-- @tparam[opt=10] number opts.connect_timeout seconds to establish a
-- connection, more than 0 and at most 86400
-- @tparam[opt=30] number opts.request_timeout seconds for one HTTP attempt,
-- more than 0 and at most 86400
-- @tparam[opt=60] number opts.deadline seconds for one run's change
-- (attempts, backoff, reconciliation), more than 0 and at most 86400
-- @tparam[opt=8388608] int opts.max_size the largest response body accepted,
-- in bytes (those kept: the long strings `skim` drops do not count; a
-- skimmed reply may send up to 256 MiB, or max_size if larger)
-- @tparam[opt=16384] int opts.skim in the replies that carry runs or
-- pipeline versions (never logs), every string value longer than this many
-- bytes is replaced by null as the reply arrives (the Argo spec and status
-- texts, hundreds of KB a run), so a page of big runs is read in bounded
-- memory; 0 keeps every string
-- @tparam[opt] function opts.trace trace(line) receives the request line,
-- the headers (Authorization redacted) and the response status of each
-- exchange
-- @tparam[opt] boolean opts.trap_signals SIGINT, SIGTERM and SIGHUP stop a
-- batch cleanly instead of killing the process (the CLI sets it)
-- @tparam[opt] string opts.ca_file a CA bundle
-- @tparam[opt] string opts.ca_path a directory of CA certificates
-- @tparam[opt] string opts.user_agent the User-Agent (default `USER_AGENT`)
-- @tparam[opt] function opts.getenv reads the environment (default os.getenv)
-- @treturn Client the client
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`), kind "config": an API
-- base that is not an http(s) URL, carries credentials or is plain http to
-- another host; a token with spaces or control characters
-- @raise when opts is not a table, a field has the wrong type, or a number
-- is out of range (and, by the rule of every public function: an option key
-- it does not take or a callback that is not callable; a bad value returns
-- nil, message, err instead)
-- @usage
-- local c = assert(client.new{ pat = os.getenv("CLARIFAI_PAT"), api_base = "https://api.clarifai.com",
--   trace = function(line) io.stderr:write(line, "\n") end })
function M.new(opts)
  local fn = "clarifai.client.new"
  args.of(fn, "argument #1 (options)", "table", opts)
  args.opts(fn, opts, NEW)
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
    connect_timeout = opts.connect_timeout or defaults.connect_timeout,
    request_timeout = opts.request_timeout or defaults.request_timeout,
    deadline = opts.deadline or defaults.deadline,
    max_size = opts.max_size or defaults.max_size,
    skim = opts.skim or defaults.skim,
    trace = opts.trace,
    trap_signals = opts.trap_signals,
    ca_file = opts.ca_file or ca_file,
    ca_path = opts.ca_path or ca_path,
    user_agent = opts.user_agent or M.USER_AGENT,
  }, Client)
  c.proxy, c.noproxy = M.proxy_for(checked, getenv)
  return c
end

-- Options every from_config() call starts from (the CLI's --config,
-- --context and --verbose when it runs a user script), and the cached
-- default client built from them.
local base_opts, default_client = {}, nil

--- Sets the options every `from_config` call starts from, and forgets the default client.
-- The default client, if one was made, is closed; the next `default` builds
-- a new one from these options. The CLI sets its --config, --context and
-- --verbose here when it runs a user script.
-- @tparam[opt] table opts options of `from_config` (nil: none)
-- @return nothing
-- @usage client.set_defaults{ config_path = "/etc/clarifai/config", context = "staging" }
function M.set_defaults(opts)
  base_opts = opts or {}
  if default_client then default_client:close() end
  default_client = nil
end

--- A new client with the token and API base resolved as the CLI resolves them.
-- The token is CLARIFAI_PAT in the environment, else the selected context's;
-- the API base CLARIFAI_API_BASE, else the context's, else the default. The
-- context is opts.context or the config file's current_context; the file is
-- opts.config_path or ~/.config/clarifai/config. Options given to
-- `set_defaults` come first, these over them.
-- @tparam[opt] table opts { config_path?, context?, getenv?, need_pat?, and
-- the options of `new` } (need_pat = false: no token needed, for what sends
-- nothing)
-- @treturn Client the client
-- @treturn table settings { pat, api_base, context, config_path,
-- pat_source, warnings = {...} }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`), kind "config": no
-- token anywhere, an unreadable or invalid config file, an unknown context,
-- an unusable API base
-- @raise as `new`, for a client option of the wrong type or out of range
-- (and, by the rule of every public function: an option key it does not take
-- or a callback that is not callable; a bad value returns nil, message, err
-- instead)
-- @usage
-- local c, settings = assert(client.from_config{ context = "staging" })
-- print(settings.api_base, settings.pat_source)
function M.from_config(opts)
  args.opts("clarifai.client.from_config", opts, CONFIG)
  local merged = {}
  for k, v in pairs(base_opts) do merged[k] = v end
  for k, v in pairs(opts or {}) do merged[k] = v end
  opts = merged
  local settings, err = config.resolve(opts)
  if not settings then return nil, err end
  local copts = {}
  for k, v in pairs(opts) do
    if NEW[k] then copts[k] = v end
  end
  copts.pat, copts.api_base = settings.pat, settings.api_base
  local c, cerr = raw.new(copts)
  if not c then return nil, cerr end
  return c, settings
end

--- The shared default client, resolved as the CLI resolves it (made once, then cached).
-- What every call given no client options (opts.client, opts.pat,
-- opts.config_path, ...) uses outside a workflow (a workflow of
-- `clarifai.async` gets a client of its own).
-- @treturn Client the default client
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error of `from_config` (`clarifai.errors`)
-- @usage local c = assert(client.default()) print(c.api_base)
function M.default()
  if default_client then return default_client end
  local c, err = raw.from_config({})
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

--- A client, made by `new`, `from_config` or `default`.
-- Its fields hold its settings: pat, api_base, connect_timeout,
-- request_timeout, deadline, max_size, skim, trace, trap_signals, ca_file,
-- ca_path, user_agent, proxy and noproxy. The methods below are its public ones
-- (`client.Client` is its metatable). Under Lua 5.4 it closes itself as a
-- to-be-closed variable (`local c <close> = ...`).
-- @type Client

-- The most bytes a reply that carries runs may bring before its long
-- strings are skimmed: never less than what a reply may keep.
local function received_cap(self) return math.max(defaults.max_received, self.max_size) end

--- A request table for the HTTP session, from method, API path and optional body.
-- It carries the client's headers (the token among them), timeouts, size
-- limit, CA locations and proxy; `describe` shows it with the token redacted.
-- @string method the HTTP method ("GET", "PATCH", ...)
-- @string path the API path (appended to the client's api_base)
-- @tparam[opt] string body the JSON body
-- @treturn table the request { method, url, headers, body, connect_timeout,
-- timeout, max_size, low_speed_limit, low_speed_time, ca_file, ca_path,
-- proxy, noproxy, and for a reply that carries runs skim and max_received }
-- @usage
-- local req = c:build("GET", "/v2/users/u/apps/a/pipelines")
-- for _, line in ipairs(client.describe(req)) do print(line) end
function Client:build(method, path, body)
  local skim = self.skim > 0 and require("clarifai.api").skimmed(path) or nil
  return {
    skim = skim and self.skim or nil,
    max_received = skim and received_cap(self) or nil,
    method = method,
    url = self.api_base .. path,
    headers = self:headers(body ~= nil),
    body = body,
    connect_timeout = self.connect_timeout,
    timeout = self.request_timeout,
    max_size = self.max_size,
    low_speed_limit = defaults.low_speed_limit,
    low_speed_time = math.max(1, math.floor(self.request_timeout)),
    ca_file = self.ca_file,
    ca_path = self.ca_path,
    proxy = self.proxy,
    noproxy = self.noproxy,
  }
end

--- @section end

--- A request as text, with the token redacted: for --verbose and --dry-run.
-- @tparam table req a request of `Client:build`
-- @tparam[opt] boolean with_body also the body's line
-- @treturn {string,...} lines: "> METHOD URL", then "> " and each header
-- (Authorization: Key ********), then the body when asked for
-- @usage
-- for _, line in ipairs(client.describe(c:build("PATCH", path, body), true)) do print(line) end
function M.describe(req, with_body)
  local lines = { "> " .. req.method .. " " .. req.url }
  for _, h in ipairs(req.headers) do
    if h:lower():match("^authorization:") then h = "Authorization: Key ********" end
    lines[#lines + 1] = "> " .. h
  end
  if with_body and req.body then lines[#lines + 1] = "> " .. req.body end
  return lines
end

--- @type Client

--- The client's HTTP session, created (and libcurl loaded) on first use.
-- Commands that send nothing never load it. With trap_signals set (the CLI
-- sets it), SIGINT, SIGTERM and SIGHUP stop a batch cleanly instead of
-- killing it. The session is shared by every call made with this client;
-- calling its abort_all() takes away every call's transfers (the calls then
-- raise instead of waiting for ever).
-- @treturn userdata the session (clarifai.http.core)
-- @raise when the HTTP session cannot be started
-- @usage local session = c:session()
function Client:session()
  if not self.http then
    if self.trap_signals then require("clarifai.sys.core").trap_signals() end
    local session, err = require("clarifai.http.core").new()
    if not session then error("cannot start an HTTP session: " .. tostring(err), 0) end
    self.http = session
  end
  return self.http
end

-- What api.decode needs to turn a reply into a result or an error.
function Client:decode_context(what)
  return { what = what, secrets = self:secrets(), base = self.api_base, max_size = self.max_size,
    max_received = received_cap(self) }
end

-- A note for the trace (--verbose): what the library decided and why.
function Client:note(line)
  if self.trace then self.trace("* " .. text.sanitize(line)) end
end

-- Trace lines for --verbose: the exact request (token redacted), then the outcome.
function Client:trace_request(req)
  if not self.proxy_told then
    self.proxy_told = true
    self.trace("* " .. (self.proxy ~= "" and ("proxy: " .. text.mask_userinfo(self.proxy)) or "no proxy")
      .. " (direct: " .. self.noproxy .. ")")
  end
  for _, line in ipairs(M.describe(req, false)) do self.trace(line) end
end

function Client:trace_response(req, r)
  if r.status and not r.error_code then
    local skimmed = (r.skimmed or 0) > 0 and string.format(", %d string%s over %d bytes dropped", r.skimmed,
      r.skimmed == 1 and "" or "s", req.skim) or ""
    self.trace(string.format("< HTTP %d (%s %s, %.0f ms%s)", r.status, req.method, req.url, (r.time or 0) * 1000,
      skimmed))
  else
    self.trace(string.format("< %s: %s (%s %s)", r.error_code, text.scrub(text.sanitize(r.error or ""),
      self:secrets()), req.method, req.url))
  end
end

--- Closes the client's HTTP session (its connections); the client stays usable.
-- A later request opens a new session. Safe to call twice; also the
-- client's `__close`.
-- @return nothing
-- @usage
-- local c = assert(client.new{ pat = pat })
-- assert(require("clarifai.runs").resume(ref, { client = c }))
-- c:close()
function Client:close()
  if self.http then
    self.http:close()
    self.http = nil
  end
end
Client.__close = Client.close

M.Client = Client

require("clarifai.errors").export(M, { "new", "from_config", "default" }, raw)

return M
