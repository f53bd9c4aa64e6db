-- Runs bin/clarifai as a subprocess with a clean environment and captures
-- stdout, stderr, the exit code and the elapsed time.

local M = {}

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = shell_quote

local root = assert(io.popen("pwd")):read("*l")
M.root = root
M.bin = root .. "/bin/clarifai"
-- The interpreter the CLI runs under (CLARIFAI_LUA: the portable runs set it),
-- as words (for spawn) and as a shell command (M.lua).
M.lua_argv = { os.getenv("CLARIFAI_LUA") or "lua5.4" }

-- The sanitizer stage preloads its runtime into busted (which loads the C
-- modules itself). Every process a spec starts (sh, env, setsid, timeout,
-- mktemp, rm...) would inherit it and pay its start-up (mapping the shadow
-- memory: a few ms each, most of that stage's time) for nothing: the
-- preload is cleared for them and given back to the CLI's interpreter.
local SANITIZER = os.getenv("CLARIFAI_SANITIZE") and os.getenv("ASAN_LIB")
if SANITIZER and SANITIZER ~= "" then
  assert(require("clarifai.sys.core").setenv("LD_PRELOAD", ""))
  table.insert(M.lua_argv, 1, "LD_PRELOAD=" .. SANITIZER)
  table.insert(M.lua_argv, 1, "env")
end
do
  local words = {}
  for i, w in ipairs(M.lua_argv) do words[i] = w:find("^[%w_./=+-]+$") and w or shell_quote(w) end
  M.lua = table.concat(words, " ")
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end
M.slurp = slurp

-- Environment variables a user's shell might carry that would change results.
local SCRUB = {
  "CLARIFAI_PAT", "CLARIFAI_API_BASE", "CLARIFAI_SESSION_TOKEN", "CLARIFAI_USER_ID",
  "CLARIFAI_APP_ID", "CLARIFAI_PYTHON_CLI", "CLARIFAI_CONNECT_TIMEOUT", "CLARIFAI_REQUEST_TIMEOUT",
  "CLARIFAI_DEADLINE", "CLARIFAI_MAX_RESPONSE_SIZE", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
  "all_proxy", "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
  "CLARIFAI_ROOT_CERTIFICATES_PATH",
}

-- Temporary directories: every one a spec makes is removed when the suite
-- ends (spec/helper.lua), and cli.run removes its own at once.
local made = {}

function M.tmpdir()
  local p = assert(io.popen("mktemp -d -t clarifai-spec.XXXXXXXX"))
  local dir = p:read("*l")
  p:close()
  made[#made + 1] = dir
  return dir
end

function M.rmtree(dir)
  if type(dir) == "string" and dir:match("/clarifai%-spec%.[%w]+$") then
    os.execute("rm -rf " .. shell_quote(dir))
  end
end

function M.cleanup()
  for _, dir in ipairs(made) do M.rmtree(dir) end
  made = {}
end

local function now()
  local ok, sys = pcall(require, "clarifai.sys.core")
  if ok then return sys.monotime() end
  return os.time()
end

-- Seconds after which a CLI run is killed (exit 137: never a documented code).
M.WATCHDOG = 120

-- One CLI invocation as a shell command writing its exit code to job.rc.
local function prepare(args, opts)
  opts = opts or {}
  local job = { opts = opts, cwd = opts.cwd or M.tmpdir(), home = opts.home or M.tmpdir(),
    out = os.tmpname(), err = os.tmpname(), inp = os.tmpname(), rc = os.tmpname() }
  local f = assert(io.open(job.inp, "wb"))
  f:write(opts.stdin or "")
  f:close()
  local envs = { "env" }
  for _, k in ipairs(SCRUB) do envs[#envs + 1] = "-u " .. k end
  envs[#envs + 1] = "HOME=" .. shell_quote(job.home)
  for k, v in pairs(opts.env or {}) do envs[#envs + 1] = k .. "=" .. shell_quote(v) end
  local argv = {}
  for i, a in ipairs(args) do argv[i] = shell_quote(a) end
  -- the interpreter the CLI runs under: CLARIFAI_LUA for the portable runs
  -- (opts.wrap: words that start it, e.g. /usr/bin/time -f %M -o FILE)
  local lua = opts.lua or M.lua
  if opts.wrap then
    local words = {}
    for i, w in ipairs(opts.wrap) do words[i] = shell_quote(w) end
    lua = table.concat(words, " ") .. " " .. lua
  end
  -- setsid: no controlling terminal, so a developer's own terminal never
  -- receives a prompt (the prompt itself is tested on a pty)
  job.cmd = string.format("(cd %s && setsid -w %s timeout -s KILL %d %s %s %s <%s >%s 2>%s; echo $? > %s)",
    shell_quote(job.cwd), table.concat(envs, " "), M.WATCHDOG, lua, shell_quote(opts.bin or M.bin), table.concat(argv, " "),
    shell_quote(job.inp), shell_quote(job.out), shell_quote(job.err), shell_quote(job.rc))
  return job
end

local function collect(job, elapsed)
  local r = { out = slurp(job.out), err = slurp(job.err), code = tonumber(slurp(job.rc):match("%d+")),
    elapsed = elapsed, cwd = job.cwd, home = job.home }
  for _, f in ipairs({ job.out, job.err, job.inp, job.rc }) do os.remove(f) end
  if not job.opts.cwd then M.rmtree(job.cwd) end
  if not job.opts.home then M.rmtree(job.home) end
  return r
end

--[[
run(args, opts) -> { out, err, code, elapsed }
opts.env: table of variables to set; opts.cwd: working directory (default a
fresh empty one); opts.home: HOME (default a fresh empty one); opts.stdin: text;
opts.wrap: a command line (a list of words) the interpreter runs under.
]]
function M.run(args, opts)
  return M.run_all({ { args, opts } })[1]
end

-- run_all({ {args, opts}, ... }) -> results in order. The runs go at once,
-- so cases that each wait out retries cost the time of one; each elapsed is
-- the time until the last ended (an upper bound for every run).
function M.run_all(list)
  local jobs, parts = {}, {}
  for i, item in ipairs(list) do
    jobs[i] = prepare(item[1], item[2])
    parts[i] = jobs[i].cmd .. " &"
  end
  local t0 = now()
  local p = assert(io.popen(table.concat(parts, " ") .. " wait"))
  p:read("*a")
  p:close()
  local elapsed, out = now() - t0, {}
  for i, job in ipairs(jobs) do out[i] = collect(job, elapsed) end
  return out
end

--[[
spawn(args, opts) -> handle: starts the CLI in the background, detached
from any terminal, stdout and stderr to files (opts: env, stdin, cwd;
blocked_stdout: stdout is a FIFO whose reader holds it open and never reads,
so writes block once the pipe is full; handle:drain() reads what it holds).
  handle:kill(sig)        send a signal ("INT", "TERM", "HUP")
  handle:wait(seconds)    -> exit code, seconds from the call to the exit | nil
  handle:out(), handle:err(), handle:close()
]]
local Proc = {}
Proc.__index = Proc

function M.spawn(args, opts)
  opts = opts or {}
  local dir = M.tmpdir()
  local h = setmetatable({ dir = dir }, Proc)
  M.write(dir .. "/stdin", opts.stdin or "")
  local envs = { "env" }
  for _, k in ipairs(SCRUB) do envs[#envs + 1] = "-u " .. k end
  envs[#envs + 1] = "HOME=" .. shell_quote(opts.home or dir)
  for k, v in pairs(opts.env or {}) do envs[#envs + 1] = k .. "=" .. shell_quote(v) end
  local argv = {}
  for i, a in ipairs(args) do argv[i] = shell_quote(a) end
  if opts.blocked_stdout then
    os.execute(string.format("mkfifo %s && (sleep 120 < %s & echo $! > %s)", shell_quote(dir .. "/out"),
      shell_quote(dir .. "/out"), shell_quote(dir .. "/reader")))
  end
  -- opts.shell: a shell command line to run instead of the CLI (an example script)
  local what = opts.shell or (M.lua .. " " .. shell_quote(M.bin) .. " " .. table.concat(argv, " "))
  local inner = string.format("echo $$ > %s; exec %s %s <%s >%s 2>%s", shell_quote(dir .. "/pid"),
    table.concat(envs, " "), what, shell_quote(dir .. "/stdin"), shell_quote(dir .. "/out"), shell_quote(dir .. "/err"))
  local outer = string.format("cd %s && (setsid -w sh -c %s; echo $? > %s.tmp; mv %s.tmp %s) >/dev/null 2>&1 &",
    shell_quote(opts.cwd or dir), shell_quote(inner), shell_quote(dir .. "/rc"), shell_quote(dir .. "/rc"),
    shell_quote(dir .. "/rc"))
  os.execute(outer)
  local deadline = now() + 5
  while now() < deadline do
    local pid = tonumber((slurp(dir .. "/pid"):match("%d+")))
    if pid then h.pid = pid break end
    os.execute("sleep 0.01")
  end
  assert(h.pid, "the CLI did not start")
  return h
end

function Proc:kill(sig)
  os.execute(string.format("kill -%s %d 2>/dev/null", sig, self.pid))
  self.killed_at = now()
end

function Proc:wait(seconds)
  local t0 = self.killed_at or now()
  local deadline = now() + (seconds or 30)
  while now() < deadline do
    local rc = slurp(self.dir .. "/rc"):match("%d+")
    if rc then return tonumber(rc), now() - t0 end
    os.execute("sleep 0.01")
  end
  return nil
end

function Proc:out() return slurp(self.dir .. "/out") end
-- With blocked_stdout, after the exit: what the FIFO holds (written, never read).
function Proc:drain()
  -- opened read-write, so the open does not wait for a writer; cat then
  -- blocks on the empty pipe, and timeout ends it
  local p = assert(io.popen("timeout 1 cat 0<> " .. shell_quote(self.dir .. "/out")))
  local s = p:read("*a")
  p:close()
  return s
end
function Proc:err() return slurp(self.dir .. "/err") end
function Proc:close()
  if not slurp(self.dir .. "/rc"):match("%d+") then self:kill("KILL") self:wait(5) end
  local reader = tonumber((slurp(self.dir .. "/reader"):match("%d+")))
  if reader then os.execute("kill " .. reader .. " 2>/dev/null") end
  M.rmtree(self.dir)
end

--[[
on_tty(command, answer, env) -> everything the terminal showed, then "rc=N"
Runs a shell command on a pseudo-terminal (script -qec) and types `answer`
and Enter half a second later, for prompts read from /dev/tty. env: the
variables to set (e.g. the token and API base).
]]
function M.on_tty(command, answer, env)
  local sets = {}
  for k, v in pairs(env or {}) do sets[#sets + 1] = k .. "=" .. shell_quote(v) end
  local p = assert(io.popen(string.format("(sleep 0.5; echo %s) 2>/dev/null | env %s script -qec %s /dev/null 2>&1;"
    .. " echo \"rc=$?\"", shell_quote(answer), table.concat(sets, " "), shell_quote(command))))
  local out = p:read("*a")
  p:close()
  return out
end

--[[
pty(command, env [, cols]) -> everything the terminal showed, the exit code
Runs a shell command line on a pseudo-terminal (of `cols` columns), with
NO_COLOR unset and the variables in env set.
]]
function M.pty(command, env, cols)
  local envs = {}
  for k, v in pairs(env or {}) do envs[#envs + 1] = k .. "=" .. shell_quote(v) end
  if cols then command = "stty cols " .. cols .. "; " .. command end
  local p = assert(io.popen(string.format("env -u NO_COLOR %s script -qec %s /dev/null </dev/null 2>&1; echo \"rc=$?\"",
    table.concat(envs, " "), shell_quote(command))))
  local out = p:read("*a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

--[[
pty_start(command, env [, cols]) -> h: the shell command line on a
pseudo-terminal as M.pty runs it, but in the background. h.shown() is what
the terminal has shown so far; h.finish() waits for the end (within the
watchdog) and returns everything shown and the exit code.
]]
function M.pty_start(command, env, cols)
  local dir = M.tmpdir()
  local envs = {}
  for k, v in pairs(env or {}) do envs[#envs + 1] = k .. "=" .. shell_quote(v) end
  if cols then command = "stty cols " .. cols .. "; " .. command end
  local shown, rc = shell_quote(dir .. "/shown"), shell_quote(dir .. "/rc")
  os.execute(string.format("(env -u NO_COLOR %s script -qfec %s /dev/null </dev/null >%s 2>&1; echo $? > %s.tmp; "
    .. "mv %s.tmp %s) >/dev/null 2>&1 &", table.concat(envs, " "), shell_quote(command), shown, rc, rc, rc))
  local h = {}
  function h.shown() return slurp(dir .. "/shown") end
  function h.finish()
    local code = require("support.bounds").await("the command on the terminal to end", function()
      return slurp(dir .. "/rc"):match("%d+")
    end)
    return h.shown(), tonumber(code)
  end
  return h
end

-- The CLI's command line for argv, as a shell would run it.
function M.command_line(argv)
  local words = {}
  for i, a in ipairs(argv) do words[i] = shell_quote(a) end
  return M.lua .. " " .. shell_quote(M.bin) .. " " .. table.concat(words, " ")
end

-- The non-empty lines of s.
function M.lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- The number of keys of t.
function M.count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- The demo pipeline version's four id flags.
M.IDS = {
  "--user_id", "demo-user", "--app_id", "demo-app",
  "--pipeline_id", "hello-world-pipeline", "--pipeline_version_id", "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19",
}

-- args("pr", "pause", {ids...}, ...) -> one flat argv.
function M.args(...)
  local t = {}
  for _, part in ipairs({ ... }) do
    if type(part) == "table" then
      for _, a in ipairs(part) do t[#t + 1] = a end
    else
      t[#t + 1] = part
    end
  end
  return t
end

local DOCUMENTED = { [0] = true, [1] = true, [2] = true, [3] = true, [4] = true, [5] = true, [6] = true, [8] = true,
  [7] = true, [70] = true, [74] = true, [124] = true, [129] = true, [130] = true, [141] = true, [143] = true }

--[[
runner(get_url, token) -> run(argv, opts), run_all({ {argv, opts}, ... })
run() starts the CLI with CLARIFAI_API_BASE = get_url() and the canary token
in CLARIFAI_PAT (opts.env adds, opts.unset removes variables) and checks what
every run must hold: the token appears nowhere, no traceback or Lua error,
a documented exit code, and (opts.bound) an end within that named bound of
support.bounds. Every run is ended by a watchdog after M.WATCHDOG seconds
(a hang fails the spec instead of holding the suite).
run_all() does the same for several runs at once (see M.run_all).
]]
function M.runner(get_url, token)
  local function options(opts)
    opts = opts or {}
    local env = { CLARIFAI_API_BASE = get_url(), CLARIFAI_PAT = token }
    for k, v in pairs(opts.env or {}) do env[k] = v end
    for _, k in ipairs(opts.unset or {}) do env[k] = nil end
    return { env = env, cwd = opts.cwd, home = opts.home, stdin = opts.stdin, wrap = opts.wrap }
  end
  local function check(r, opts)
    assert(not r.out:find(token, 1, true), "token leaked on stdout")
    assert(not r.err:find(token, 1, true), "token leaked on stderr")
    assert(not r.err:find("traceback", 1, true), "traceback on stderr:\n" .. r.err)
    assert(not r.err:find("attempt to ", 1, true), "Lua error:\n" .. r.err)
    assert(DOCUMENTED[r.code], "undocumented exit code " .. tostring(r.code) .. "\n" .. r.err)
    if opts and opts.bound then require("support.bounds").check(opts.bound, r.elapsed, "the command") end
    return r
  end
  local function run(argv, opts)
    return check(M.run(argv, options(opts)), opts)
  end
  local function run_all(list)
    local prepared = {}
    for i, item in ipairs(list) do prepared[i] = { item[1], options(item[2]) } end
    local results = M.run_all(prepared)
    for i, r in ipairs(results) do check(r, list[i][2]) end
    return results
  end
  -- start(argv, opts) -> a running command (M.spawn); its :finish() waits
  -- for the exit (within the watchdog) and returns what run() would.
  local function start(argv, opts)
    local p = M.spawn(argv, options(opts))
    p.started_at = now()
    p.finish = function(self)
      local code = self:wait(require("support.bounds").limit("watchdog"))
      local r = { out = self:out(), err = self:err(), code = code, elapsed = now() - self.started_at }
      self:close()
      assert(code, "the command did not end within the watchdog:\n" .. r.err)
      return check(r, opts)
    end
    return p
  end
  return run, run_all, start
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

return M
