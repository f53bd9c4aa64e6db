-- Runs bin/clarifai as a subprocess with a clean environment and captures
-- stdout, stderr, the exit code and the elapsed time.

local M = {}

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = shell_quote

local root = assert(io.popen("pwd")):read("l")
M.root = root
M.bin = root .. "/bin/clarifai"

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
M.slurp = slurp

-- Environment variables a user's shell might carry that would change results.
local SCRUB = {
  "CLARIFAI_PAT", "CLARIFAI_API_BASE", "CLARIFAI_SESSION_TOKEN", "CLARIFAI_USER_ID",
  "CLARIFAI_APP_ID", "CLARIFAI_PYTHON_CLI", "CLARIFAI_CONNECT_TIMEOUT", "CLARIFAI_REQUEST_TIMEOUT",
  "CLARIFAI_DEADLINE", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
  "all_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
  "CLARIFAI_ROOT_CERTIFICATES_PATH",
}

function M.tmpdir()
  local p = assert(io.popen("mktemp -d")):read("l")
  return p
end

local function now()
  local ok, sys = pcall(require, "clarifai.sys.core")
  if ok then return sys.monotime() end
  return os.time()
end

--[[
run(args, opts) -> { out, err, code, elapsed }
opts.env: table of variables to set; opts.cwd: working directory (default a
fresh empty one); opts.home: HOME (default a fresh empty one); opts.stdin: text.
]]
function M.run(args, opts)
  opts = opts or {}
  local cwd = opts.cwd or M.tmpdir()
  local home = opts.home or M.tmpdir()
  local out, err, inp = os.tmpname(), os.tmpname(), os.tmpname()
  local f = assert(io.open(inp, "wb"))
  f:write(opts.stdin or "")
  f:close()
  local envs = { "env" }
  for _, k in ipairs(SCRUB) do envs[#envs + 1] = "-u " .. k end
  envs[#envs + 1] = "HOME=" .. shell_quote(home)
  for k, v in pairs(opts.env or {}) do envs[#envs + 1] = k .. "=" .. shell_quote(v) end
  local argv = {}
  for i, a in ipairs(args) do argv[i] = shell_quote(a) end
  local lua = opts.lua or "lua5.4"
  local cmd = string.format("cd %s && %s %s %s %s <%s >%s 2>%s; echo $?",
    shell_quote(cwd), table.concat(envs, " "), lua, shell_quote(opts.bin or M.bin), table.concat(argv, " "),
    shell_quote(inp), shell_quote(out), shell_quote(err))
  local t0 = now()
  local p = assert(io.popen(cmd))
  local code = tonumber(p:read("l"))
  p:close()
  local r = { out = slurp(out), err = slurp(err), code = code, elapsed = now() - t0, cwd = cwd, home = home }
  os.remove(out); os.remove(err); os.remove(inp)
  return r
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

return M
