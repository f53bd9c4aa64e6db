-- Credentials and API base, resolved as the Python CLI does:
--   PAT:      CLARIFAI_PAT in the environment > the selected context.
--   API base: CLARIFAI_API_BASE in the environment > the context > default.
-- The context is `--context NAME` or `current_context` of the config file
-- (`--config PATH` or ~/.config/clarifai/config), in the flat form
-- (CLARIFAI_PAT: …) or the nested one (env: {CLARIFAI_PAT: …}); the value
-- ENVVAR means "read this variable from the environment".
-- This module never writes the config file.

local errors = require "clarifai.errors"
local yaml = require "clarifai.yaml"

local M = {}

M.DEFAULT_BASE = "https://api.clarifai.com"

function M.default_path(getenv)
  local home = (getenv or os.getenv)("HOME") or ""
  return home .. "/.config/clarifai/config"
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

-- Reads the config file. Returns doc (nil when the default file is absent),
-- mode | nil, err.
local function load(path, explicit)
  local doc, mode, code = yaml.load_file(path, require("clarifai.defaults").config_max)
  if code == "ENOENT" then
    if explicit then
      return nil, errors.new("config", "config file " .. path .. " does not exist")
    end
    return nil
  elseif code then
    local what = code and code:match("^yaml_") and "invalid config file " or "cannot read config file "
    return nil, errors.new("config", what .. mode)
  end
  if doc ~= nil and type(doc) ~= "table" then
    return nil, errors.new("config", "invalid config file " .. path .. ": expected a mapping")
  end
  if doc and doc.contexts ~= nil and type(doc.contexts) ~= "table" then
    return nil, errors.new("config", "invalid config file " .. path .. ": 'contexts' must be a mapping")
  end
  return doc, nil, mode
end

-- A context's value for KEY (e.g. "PAT"): flat CLARIFAI_PAT, flat pat, or
-- the nested env: mapping.
local function context_value(ctx, key)
  if type(ctx) ~= "table" then return nil end
  local long, short = "CLARIFAI_" .. key, key:lower()
  local v = ctx[long] or ctx[short]
  if v == nil and type(ctx.env) == "table" then v = ctx.env[long] or ctx.env[short] end
  if type(v) ~= "string" then return nil end
  return v
end

-- Only loopback hosts may be reached over plain http.
function M.is_loopback(host)
  host = host:lower()
  return host == "localhost" or host == "[::1]" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end
local is_loopback = M.is_loopback

-- check_base(url) -> normalised url | nil, err. A base without a scheme
-- (`api.clarifai.com`) is https, never plain http.
function M.check_base(url)
  if not url:find("://", 1, true) and url:match("^[%w.-]") then url = "https://" .. url end
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then
    return nil, errors.new("config", "API base '" .. url .. "' is not an http(s) URL")
  end
  scheme = scheme:lower()
  if authority:find("@", 1, true) then
    return nil, errors.new("config", "API base must not carry credentials")
  end
  local host = authority:match("^(%[[^%]]*%])") or authority:match("^([^:]*)")
  if host == "" then
    return nil, errors.new("config", "API base '" .. url .. "' has no host")
  end
  if scheme == "http" then
    if not is_loopback(host) then
      return nil, errors.new("config", "refusing plain http:// to " .. host
        .. " (only loopback hosts may use http); use https://")
    end
  elseif scheme ~= "https" then
    return nil, errors.new("config", "API base '" .. url .. "' must use https://")
  end
  if rest:find("[?#]") then
    return nil, errors.new("config", "API base '" .. url .. "' must not have a query or fragment")
  end
  return scheme .. "://" .. authority .. rest:gsub("/+$", "")
end

-- A token must be one printable word: anything else could inject headers.
function M.check_pat(pat)
  if pat:find("[%z\1-\32\127]") then
    return nil, errors.new("config", "the personal access token contains spaces or control characters;"
      .. " refusing to send it")
  end
  return pat
end

-- At most 20 names, sanitized: "a, b, …, and 12 more".
local function name_list(names)
  local text = require "clarifai.text"
  local shown = {}
  for i = 1, math.min(#names, 20) do shown[i] = text.sanitize(names[i]) end
  local list = table.concat(shown, ", ")
  if #names > 20 then list = list .. ", …, and " .. (#names - 20) .. " more" end
  return list
end

-- The context a resolution uses: --context NAME, else current_context.
-- -> { ctx, name, dangling = why current_context names no context } | nil, err
local function pick_context(opts, doc, path)
  local contexts = doc and doc.contexts or {}
  local name = opts.context or (doc and type(doc.current_context) == "string" and doc.current_context) or nil
  local ctx = name and contexts[name] or nil
  if opts.context and not doc then
    return nil, errors.new("config", string.format("Context '%s' not found: there is no config file at %s",
      opts.context, path), { config_path = path })
  end
  if opts.context and type(ctx) ~= "table" then
    return nil, errors.new("usage", string.format("Context '%s' not found. Available contexts: %s",
      opts.context, name_list(sorted_keys(contexts))))
  end
  if name and type(ctx) ~= "table" then
    local names = sorted_keys(contexts)
    return { dangling = string.format("current_context '%s' of %s names no context (contexts: %s)", name, path,
      #names > 0 and name_list(names) or "none") }
  end
  return { ctx = ctx, name = name }
end

-- lookup(key): env CLARIFAI_KEY (set, non-empty) > the context's value;
-- ENVVAR there defers to the environment. -> value, source | nil | nil, nil, err
local function lookup(getenv, ctx, name, key)
  local env = getenv("CLARIFAI_" .. key)
  if env and env ~= "" then return env, "env" end
  local v = context_value(ctx, key)
  if v == "ENVVAR" then
    return nil, nil, errors.new("config", string.format(
      "context '%s' sets CLARIFAI_%s to ENVVAR but the environment variable CLARIFAI_%s is not set",
      name, key, key))
  end
  if v and v ~= "" then return v, "config" end
  return nil
end

-- No token anywhere: say where we looked.
local function no_token(ctx, name, doc, path, dangling)
  if dangling then return errors.new("config", dangling .. "; set CLARIFAI_PAT or fix current_context") end
  local where = ctx and ("context '" .. name .. "' of " .. path)
    or (doc and ("any context of " .. path)) or (path .. " (not found)")
  return errors.new("config", "Authentication Required. Please authenticate in one of the "
    .. "following ways:\n  - set the CLARIFAI_PAT environment variable\n"
    .. "  - add CLARIFAI_PAT to a context in the config file (`clarifai login` writes one)\n"
    .. "No token was found in the environment or in " .. where .. ".")
end

--[[
resolve{ config_path?, context?, getenv?, need_pat? } -> settings | nil, err
settings = { pat, api_base, context, config_path, pat_source, warnings = {...} }
need_pat = false lets commands that send nothing (dry runs) work without one.
]]
function M.resolve(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local path = opts.config_path or M.default_path(getenv)
  local doc, err, mode = load(path, opts.config_path ~= nil)
  if err then return nil, err end
  local pick, perr0 = pick_context(opts, doc, path)
  if not pick then return nil, perr0 end
  local ctx, name, dangling = pick.ctx, pick.name, pick.dangling
  local settings = { config_path = path, context = ctx and name or nil, warnings = {} }

  local base, _, berr = lookup(getenv, ctx, name, "API_BASE")
  if berr then return nil, berr end
  local checked, cerr = M.check_base(base or M.DEFAULT_BASE)
  if not checked then return nil, cerr end
  settings.api_base = checked

  local pat, source, perr = lookup(getenv, ctx, name, "PAT")
  if perr then return nil, perr end
  if pat then
    local ok, kerr = M.check_pat(pat)
    if not ok then return nil, kerr end
    settings.pat, settings.pat_source = pat, source
    if source == "config" and mode and mode % 64 ~= 0 then
      settings.warnings[#settings.warnings + 1] = string.format(
        "warning: %s holds a token and is readable by others (mode %04o); run: chmod 600 %s",
        path, mode, path)
    end
  elseif opts.need_pat ~= false then
    return nil, no_token(ctx, name, doc, path, dangling)
  end
  if dangling then settings.warnings[#settings.warnings + 1] = "warning: " .. dangling end
  return settings
end

-- context_names(opts) -> the names of the config file's contexts, sorted
-- ({} when there is no readable config file). For shell completion.
function M.context_names(opts)
  opts = opts or {}
  local path = opts.config_path or M.default_path(opts.getenv)
  local doc = load(path, false)
  if type(doc) ~= "table" or type(doc.contexts) ~= "table" then return {} end
  return sorted_keys(doc.contexts)
end

return M
