-- Starts bin/clarifai-emulator for a spec and talks to its control API.
-- Needs only LuaSocket: the product's own HTTP module is not involved.
--
--   local emulator = require "support.emulator"
--   local emu = emulator.start{ tick = 0 }
--   ... emu.url, emu:put_run{ id = "r1", state = "JOB_RUNNING" } ...
--   emu:stop()
--
-- start{} options: tick (default 0: runs move only when told), token (string
-- or list; default the demo token), reject_code, seed (false: --no-seed),
-- verbose (keep the request log on stderr), args (extra arguments),
-- wall_clock (true: the emulator's time runs with the wall clock; by default
-- it is frozen and moves only by emu:advance(seconds), so that scripted
-- moves and transition_delay happen when the spec says, never raced against
-- the command's start-up on a slow machine).
--
-- Ordering without wall-clock delays:
--   emu:await("the PATCH", function() return emu:count("PATCH") >= 1 end)
--   emu:advance(5)   -- the run's delayed change lands now
--
-- Bulk run control (see the emulator's PATCH modes and faults):
--   emu:config{ patch_mode = "atomic" | "mixed" | "single" | "partial" }
--   emu:fault{ kind = "terminal_on_patch", fraction = 0.05 }
--   emu:put_runs("r", 200, "JOB_RUNNING", { app_id = ..., pipeline_version_id = ..., nodepool_id = ...,
--     compute_cluster_id = ... })
--   emulator.patch_body({ "r1", "r2" }, "JOB_PAUSED"), emulator.nodepool_path("np", "cc")

local socket = require "socket"
local cjson = require("cjson").new()

local M = {}

M.DEMO = {
  token = "demo-pat-7c0ffee",
  user = "demo-user",
  app = "demo-app",
  pipeline = "hello-world-pipeline",
  version = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19",
}

-- Path of a version's runs collection (defaults: the demo ids), plus `rest`.
function M.runs_path(rest, ids)
  ids = ids or {}
  local p = string.format("/v2/users/%s/apps/%s/pipelines/%s/versions/%s/runs",
    ids.user or M.DEMO.user, ids.app or M.DEMO.app, ids.pipeline or M.DEMO.pipeline,
    ids.version or M.DEMO.version)
  return rest and (p .. rest) or p
end

-- Path of an app's pipelines, or of a pipeline's versions when ids.pipeline
-- is given (defaults: the demo user and app).
function M.pipelines_path(ids)
  ids = ids or {}
  local p = string.format("/v2/users/%s/apps/%s/pipelines", ids.user or M.DEMO.user, ids.app or M.DEMO.app)
  if ids.pipeline then p = p .. "/" .. ids.pipeline .. "/versions" end
  return p
end

-- Path of the runs on a nodepool; user owns the compute cluster (default `me`).
function M.nodepool_path(nodepool, cluster, user)
  return string.format("/v2/users/%s/compute_clusters/%s/nodepools/%s/pipeline_version_runs",
    user or "me", cluster, nodepool)
end

-- A PATCH body moving each run (an id or a list of ids) to `code`.
function M.patch_body(ids, code, action)
  if type(ids) == "string" then ids = { ids } end
  local runs = {}
  for i, id in ipairs(ids) do
    runs[i] = { id = id, orchestration_status = { status = { code = code } } }
  end
  return { pipeline_version_runs = runs, action = action or "overwrite" }
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function root_dir()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)spec/support/[^/]*$") or ""
  return dir == "" and "." or dir
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function own_pid()
  local stat = read_file("/proc/self/stat")
  return stat and stat:match("^(%d+)")
end

function M.alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  -- Reparented and not yet reaped: a zombie has exited all the same.
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

local function kill(pid, sig)
  os.execute(string.format("kill -%s %d 2>/dev/null", sig, pid))
end

local http = require "support.http"
M.connect, M.send_request, M.read_response, M.http = http.connect, http.send_request, http.read_response, http.http

-- Emulator process ----------------------------------------------------------------

local Emu = {}
Emu.__index = Emu

function M.start(opts)
  opts = opts or {}
  local tokens = opts.token or M.DEMO.token
  if type(tokens) == "string" then tokens = { tokens } end
  local args = { "--host", "127.0.0.1", "--port", "0", "--tick", tostring(opts.tick or 0) }
  for _, t in ipairs(tokens) do args[#args + 1] = "--token"; args[#args + 1] = t end
  if opts.reject_code then args[#args + 1] = "--reject-code"; args[#args + 1] = tostring(opts.reject_code) end
  if opts.seed == false then args[#args + 1] = "--no-seed" end
  if not opts.wall_clock then args[#args + 1] = "--frozen-clock" end
  if not opts.verbose then args[#args + 1] = "--quiet" end
  local me = own_pid()
  if me then args[#args + 1] = "--exit-with"; args[#args + 1] = me end
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end

  local root = root_dir()
  local out, err = os.tmpname(), os.tmpname()
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = shell_quote(a) end
  -- No LD_PRELOAD: a sanitizer run must not preload into the emulator. A
  -- session of its own: a signal meant for the specs' process group (a
  -- terminal's Ctrl-C, a kill of the group) is not the emulator's; it ends
  -- with the spec process all the same (--exit-with).
  local cmd = string.format("cd %s || exit 1; "
    .. "env -u LD_PRELOAD LUA_PATH=%s setsid %s bin/clarifai-emulator %s >%s 2>%s </dev/null & echo $!",
    shell_quote(root), shell_quote("lua/?.lua;lua/?/init.lua;;"), "lua5.4",
    table.concat(quoted, " "), shell_quote(out), shell_quote(err))
  local p = assert(io.popen(cmd))
  local pid = tonumber(p:read("*l"))
  p:close()
  assert(pid, "could not start the emulator")

  local emu = setmetatable({ pid = pid, token = tokens[1], tokens = tokens, out = out, err = err }, Emu)
  local deadline = socket.gettime() + 5
  while true do
    local first = (read_file(out) or ""):match("^([^\n]*)\n")
    if first then
      local url, port = first:match("^listening on (http://[^:/]+:(%d+))$")
      if not url then
        emu:stop()
        error("emulator printed an unexpected first line: " .. first, 2)
      end
      emu.url, emu.port = url, tonumber(port)
      return emu
    end
    if not M.alive(pid) or socket.gettime() > deadline then
      local msg = read_file(err) or ""
      emu:stop()
      error("emulator did not start within 5 s: " .. msg, 2)
    end
    socket.sleep(0.01)
  end
end

--[[
fixture(opts) -> emu: for a describe block. Starts an emulator in setup,
resets it before each test and stops it in teardown; the value returned
stands for it throughout (emu.url, emu:requests(), ...).
]]
function M.fixture(opts)
  local busted = require "busted"
  local current
  local proxy = setmetatable({}, { __index = function(_, k) return current[k] end })
  busted.setup(function() current = M.start(opts) end)
  busted.teardown(function() if current then current:stop() end end)
  busted.before_each(function() current:reset() end)
  return proxy
end

-- Kills the emulator and waits for it; safe to call more than once.
function Emu:stop()
  if self.stopped then return end
  self.stopped = true
  if M.alive(self.pid) then
    kill(self.pid, "TERM")
    local deadline = socket.gettime() + 3
    while M.alive(self.pid) and socket.gettime() < deadline do socket.sleep(0.01) end
    if M.alive(self.pid) then kill(self.pid, "KILL") end
  end
  os.remove(self.out)
  os.remove(self.err)
end

-- What the emulator wrote to stderr so far (with verbose, the request log).
function Emu:stderr()
  return read_file(self.err) or ""
end

-- Raw request: returns {status, headers, body} (or nil, err, partial).
function Emu:request(method, path, body, headers)
  return M.http(self.port, method, path, body, headers)
end

-- A /v2 call with `Authorization: Key <token>`; returns status, decoded body, response.
function Emu:api(method, path, body, token)
  local headers = { Authorization = "Key " .. (token or self.token) }
  if body then headers["Content-Type"] = "application/json" end
  local res, err = M.http(self.port, method, path, body, headers)
  if not res then error("request failed: " .. tostring(err), 2) end
  return res.status, cjson.decode(res.body), res
end

function Emu:control(method, path, body)
  local res, err = M.http(self.port, method, "/_emulator" .. path, body or {})
  if not res then
    error(string.format("control request failed: %s (the emulator has %s; it said: %s)", tostring(err),
      M.alive(self.pid) and "not exited" or "exited", self:stderr():sub(-500)), 2)
  end
  local decoded = cjson.decode(res.body)
  if res.status ~= 200 then
    error(string.format("control %s %s: %d %s", method, path, res.status, tostring(decoded.error)), 2)
  end
  return decoded
end

-- The request log (since: only the requests after the since-th).
function Emu:requests(since)
  return self:control("GET", "/requests" .. (since and ("?since=" .. since) or "")).requests
end
function Emu:reset(seed) return self:control("POST", "/reset", { seed = seed }) end
function Emu:put_run(t) return self:control("POST", "/runs", t).run end
-- count runs PREFIX1..PREFIXcount in one state (default Running); scope
-- (optional) places them all: user_id, app_id, pipeline_id,
-- pipeline_version_id, nodepool_id, compute_cluster_id,
-- compute_cluster_user_id, created_at.
function Emu:put_runs(prefix, count, state, scope)
  local body = { prefix = prefix, count = count, state = state }
  for k, v in pairs(scope or {}) do body[k] = v end
  return self:control("POST", "/runs", body).count
end
function Emu:get_run(id) return self:control("GET", "/runs/" .. id).run end
function Emu:set_state(id, state, message)
  return self:control("POST", "/runs/" .. id .. "/state", { state = state, message = message }).run
end
function Emu:add_logs(id, lines) return self:control("POST", "/runs/" .. id .. "/logs", { lines = lines }) end
function Emu:config(t) return self:control("POST", "/config", t or {}).config end

-- One fault ({kind = ...}) or a list of them.
function Emu:fault(t)
  if t.kind then t = { t } end
  return self:control("POST", "/faults", { faults = t }).faults
end
-- The requests of this method (every request without one) the server has seen.
function Emu:requests_of(method)
  local out = {}
  for _, req in ipairs(self:requests()) do
    if not method or req.method == method then out[#out + 1] = req end
  end
  return out
end

-- How many requests of this method the server has seen.
function Emu:count(method)
  local n = 0
  for _, req in ipairs(self:requests()) do
    if req.method == method then n = n + 1 end
  end
  return n
end

-- run id -> how many PATCH requests named it.
function Emu:patched_ids()
  local out = {}
  for _, req in ipairs(self:requests()) do
    if req.method == "PATCH" then
      for _, item in ipairs(cjson.decode(req.body).pipeline_version_runs) do out[item.id] = (out[item.id] or 0) + 1 end
    end
  end
  return out
end

-- Moves the emulator's time forward (frozen or not); what fell due happens.
function Emu:advance(seconds) return self:control("POST", "/clock", { advance = seconds }) end
-- The clock: {now, time, frozen}; with t ({frozen = bool, advance = s}) changes it first.
function Emu:clock(t)
  if t then return self:control("POST", "/clock", t) end
  return self:control("GET", "/clock")
end

-- Waits until pred() is true (returned) however long the machine takes,
-- within the suite's watchdog (support.bounds); `what` names it on failure.
function Emu.await(_, what, pred)
  return require("support.bounds").await(what, pred)
end

-- Waits until the server has seen at least n requests of this method
-- (whose path matches `pattern`, when given); returns the count.
function Emu:await_requests(method, n, pattern)
  return self:await(string.format("%d %s request(s)%s", n, method, pattern and (" to " .. pattern) or ""), function()
    local k = 0
    for _, req in ipairs(self:requests()) do
      if req.method == method and (not pattern or req.path:find(pattern)) then k = k + 1 end
    end
    return k >= n and k
  end)
end

-- Waits until every request of this method that reached the server has
-- been dealt with (one held by a delay fault has landed).
function Emu:await_handled(method)
  return self:await("every " .. method .. " handled", function()
    for _, req in ipairs(self:requests()) do
      if req.method == method and not req.handled then return false end
    end
    return true
  end)
end

function Emu:clear_faults() return self:control("DELETE", "/faults").faults end
function Emu:faults() return self:control("GET", "/faults").faults end

-- CPU seconds (user + system) the emulator process has used so far.
function Emu:cpu()
  local stat = read_file("/proc/" .. self.pid .. "/stat")
  if not stat then return nil end
  local fields = {}
  for f in stat:gsub("^.*%) ", ""):gmatch("%S+") do fields[#fields + 1] = f end
  local p = io.popen("getconf CLK_TCK 2>/dev/null")
  local hz = tonumber(p and p:read("*l") or "") or 100
  if p then p:close() end
  -- after "pid (comm) ": state is field 3, utime 14, stime 15
  return (tonumber(fields[12]) + tonumber(fields[13])) / hz
end
function Emu:shutdown() return self:control("POST", "/shutdown") end

return M
