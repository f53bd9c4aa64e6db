-- The benchmark driver: measures the clarifai command side by side with curl
-- (and the YAML loader side by side with libyaml and PyYAML), prints the
-- table and writes it as Markdown. Started by bench/run.sh, which builds
-- everything first:
--
--   lua5.4 bench/bench.lua --root DIR --mode full|smoke --work TMPDIR
--                          --data DIR --md FILE --pids FILE
--
-- Every timed command is started directly (posix_spawn, no shell) by the
-- benchcore module and timed from spawn to reap. Contenders of a figure run
-- interleaved (A B C A B C ...) after one untimed warm-up run each; the
-- figures are medians. Exits non-zero when a comparison cannot be run.

local opts = {}
do
  local i = 1
  while arg[i] do
    local k, v = arg[i]:match("^%-%-([%w-]+)$"), arg[i + 1]
    if not k or not v then error("bad argument " .. tostring(arg[i]), 0) end
    opts[k] = v
    i = i + 2
  end
end
for _, k in ipairs({ "root", "mode", "work", "data", "md", "pids" }) do
  if not opts[k] then error("missing --" .. k, 0) end
end

local ROOT, WORK, DATA = opts.root, opts.work, opts.data
local SMOKE = opts.mode == "smoke"
package.cpath = ROOT .. "/build/bench/?.so;" .. package.cpath

local bc = require "benchcore"
local socket = require "socket"

local SETTINGS = SMOKE and {
  reps_fast = 3, reps_batch = 2, reps_rss = 2, reps_yaml = 2,
  batch = 50, idle = 3, yaml_bytes = 1000000, lock_bytes = 80000,
} or {
  reps_fast = 30, reps_batch = 5, reps_rss = 5, reps_yaml = 5,
  batch = 1000, idle = 30, yaml_bytes = 10000000, lock_bytes = 80000,
}

local TOKEN = "demo-pat-7c0ffee"
local PARALLEL = 8
local PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
local CHECKOUT = ROOT .. "/bin/clarifai"
local ROCK = ROOT .. "/build/bench-tree/bin/clarifai"
local SCAN = ROOT .. "/build/bench/yaml_scan"
local PYTHON = "/usr/bin/python3"
local LAUNCHERS = {
  { key = "checkout", path = CHECKOUT, label = "./bin/clarifai" },
  { key = "rock", path = ROCK, label = "clarifai (rock)" },
}

-- Small helpers -------------------------------------------------------------------

local function say(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
  io.stderr:flush()
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then assert(os.execute(string.format("chmod %s '%s'", mode, path))) end
end

local function mkdir(path)
  assert(os.execute("mkdir -p '" .. path .. "'"))
end

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function tail(text, n)
  local lines = {}
  for line in (text or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  local from = math.max(1, #lines - (n or 8) + 1)
  return table.concat(lines, "\n", from)
end

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function command_output(cmd)
  local p = io.popen(cmd .. " 2>&1")
  if not p then return "" end
  local s = p:read("a") or ""
  p:close()
  return (s:gsub("%s+$", ""))
end

local function env_for(home)
  return { PATH_ENV, "HOME=" .. home, "LANG=C.UTF-8" }
end

-- Processes the run started and has not reaped yet: listed in the pid file
-- so that bench/run.sh can stop them if this driver dies.
local live = {}
local function save_pids()
  local list = {}
  for pid in pairs(live) do list[#list + 1] = tostring(pid) end
  write_file(opts.pids, table.concat(list, "\n") .. "\n")
end
local function started(pid) live[pid] = true save_pids() end
local function stop(pid, grace)
  if not live[pid] then return end
  bc.kill(pid, 15)
  local deadline = bc.now() + (grace or 3)
  while bc.now() < deadline do
    local stat = read_file("/proc/" .. pid .. "/stat")
    if not stat or stat:match("^%d+ %b() (%a)") == "Z" then break end
    bc.sleep(0.01)
  end
  bc.kill(pid, 9)
  bc.wait(pid)
  live[pid] = nil
  save_pids()
end
local function exited(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  return not stat or stat:match("^%d+ %b() (%a)") == "Z"
end

-- Reaps pid once it has exited by itself (within secs), else stops it and
-- returns nil.
local function wait_exit(pid, secs)
  local deadline = bc.now() + secs
  while bc.now() < deadline do
    if exited(pid) then
      local r = bc.wait(pid)
      live[pid] = nil
      save_pids()
      return r
    end
    bc.sleep(0.01)
  end
  stop(pid)
  return nil
end

local function stop_all()
  for pid in pairs(live) do stop(pid) end
end

-- Minimal HTTP/1.1 client (keep-alive) for readiness checks and the
-- emulator's control API. Not used for anything that is timed.

local Conn = {}
Conn.__index = Conn

local function connect(port)
  local s = socket.tcp()
  s:settimeout(10)
  local ok, err = s:connect("127.0.0.1", port)
  if not ok then s:close() return nil, err end
  s:setoption("tcp-nodelay", true)
  return setmetatable({ sock = s, port = port }, Conn)
end

function Conn:close() if self.sock then self.sock:close() self.sock = nil end end

local function read_response(sock)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local status = tonumber(line:match("^HTTP/%d%.%d (%d+)"))
  if not status then return nil, "bad status line: " .. line end
  local headers = {}
  while true do
    local h, herr = sock:receive("*l")
    if not h then return nil, herr end
    if h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  local body = ""
  if (headers["transfer-encoding"] or ""):lower():find("chunked", 1, true) then
    local parts = {}
    while true do
      local size = tonumber((sock:receive("*l") or ""):match("^(%x+)") or "", 16)
      if not size then return nil, "bad chunk" end
      if size == 0 then
        repeat local t = sock:receive("*l") until not t or t == ""
        break
      end
      parts[#parts + 1] = sock:receive(size)
      sock:receive("*l")
    end
    body = table.concat(parts)
  elseif headers["content-length"] then
    local n = tonumber(headers["content-length"])
    if n > 0 then body = sock:receive(n) end
  end
  return status, body, headers
end

function Conn:request(method, path, body)
  for attempt = 1, 2 do
    if not self.sock then
      local c, err = connect(self.port)
      if not c then error("cannot connect to 127.0.0.1:" .. self.port .. ": " .. tostring(err), 0) end
      self.sock = c.sock
    end
    local data = string.format("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
      .. "Content-Length: %d\r\n\r\n%s", method, path, self.port, #(body or ""), body or "")
    local ok = self.sock:send(data)
    if ok then
      local status, rbody, headers = read_response(self.sock)
      if status then
        if (headers.connection or ""):lower() == "close" then self:close() end
        return status, rbody
      end
    end
    self:close()
    if attempt == 2 then error("no response from 127.0.0.1:" .. self.port .. " for " .. method .. " " .. path, 0) end
  end
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- Servers --------------------------------------------------------------------------

local PATCH_BODY = '{"status":{"code":10000,"description":"Ok","req_id":"bench"},'
  .. '"pipeline_version_runs":[{"id":"r","orchestration_status":{"status":{"code":64008}}}]}'
-- GET (run, logs): a run that stays Running, no log entries.
local GET_BODY = '{"status":{"code":10000,"description":"Ok","req_id":"bench"},'
  .. '"pipeline_version_run":{"id":"r","orchestration_status":{"status":{"code":64001}}},"log_entries":[]}'

local servers = {}

local function nginx_conf(dir, port, temp_lines)
  return table.concat({
    "worker_processes 1;",
    "daemon off;",
    "pid " .. dir .. "/nginx.pid;",
    "error_log " .. dir .. "/error.log warn;",
    "events { worker_connections 1024; }",
    "http {",
    "  access_log off;",
    table.concat(temp_lines, "\n"),
    "  keepalive_timeout 75s;",
    "  keepalive_requests 1000000;",
    "  server {",
    "    listen 127.0.0.1:" .. port .. ";",
    "    location /v2/ {",
    "      default_type application/json;",
    "      if ($request_method = GET) { return 200 '" .. GET_BODY .. "'; }",
    "      return 200 '" .. PATCH_BODY .. "';",
    "    }",
    "    location / { return 404; }",
    "  }",
    "}",
    "",
  }, "\n")
end

local function wait_http(port, path, seconds, pid)
  local deadline = bc.now() + seconds
  while bc.now() < deadline do
    local c = connect(port)
    if c then
      local ok, status = pcall(Conn.request, c, "GET", path)
      c:close()
      if ok and status then return status end
    end
    if pid then
      local stat = read_file("/proc/" .. pid .. "/stat")
      if not stat or stat:match("^%d+ %b() (%a)") == "Z" then return nil end
    end
    bc.sleep(0.02)
  end
  return nil
end

local function start_nginx()
  local dir = WORK .. "/nginx"
  mkdir(dir .. "/temp")
  local temp = {}
  for _, k in ipairs({ "client_body", "proxy", "fastcgi", "uwsgi", "scgi" }) do
    temp[#temp + 1] = string.format("  %s_temp_path %s/temp/%s;", k, dir, k)
  end
  -- Drop temp-path directives of modules this nginx build does not have.
  for _ = 1, #temp do
    write_file(dir .. "/nginx.conf", nginx_conf(dir, 1, temp))
    local out = command_output(string.format("nginx -t -q -p %s/ -e %s/error.log -c %s/nginx.conf",
      sh_quote(dir), sh_quote(dir), sh_quote(dir)))
    local bad = out:match('unknown directive "([%w_]+)"')
    if not bad then break end
    for i, l in ipairs(temp) do
      if l:find(bad, 1, true) then table.remove(temp, i) break end
    end
  end
  for _ = 1, 5 do
    local port = free_port()
    write_file(dir .. "/nginx.conf", nginx_conf(dir, port, temp))
    local pid = bc.start({
      argv = { "nginx", "-p", dir .. "/", "-e", dir .. "/error.log", "-c", dir .. "/nginx.conf" },
      env = env_for(WORK), cwd = dir, stdout = dir .. "/stdout", stderr = dir .. "/stderr",
    })
    started(pid)
    local status = wait_http(port, "/v2/ready", 5, pid)
    if status == 200 then
      servers.nginx = { key = "nginx", pid = pid, port = port, base = "http://127.0.0.1:" .. port }
      return servers.nginx
    end
    stop(pid)
  end
  error("nginx did not start: " .. tail(read_file(dir .. "/error.log")), 0)
end

local function start_emulator()
  local out, err = WORK .. "/emulator.out", WORK .. "/emulator.err"
  local pid = bc.start({
    argv = { "lua5.4", "bin/clarifai-emulator", "--port", "0", "--tick", "0", "--quiet",
             "--exit-with", tostring(bc.getpid()) },
    env = env_for(WORK), cwd = ROOT, stdout = out, stderr = err,
  })
  started(pid)
  local deadline = bc.now() + 10
  while bc.now() < deadline do
    local first = (read_file(out) or ""):match("^([^\n]*)\n")
    if first then
      local port = first:match("^listening on http://127%.0%.0%.1:(%d+)$")
      if not port then error("emulator printed an unexpected first line: " .. first, 0) end
      port = tonumber(port)
      local emu = { key = "emulator", pid = pid, port = port, base = "http://127.0.0.1:" .. port }
      emu.control = setmetatable({ port = port }, Conn)
      servers.emulator = emu
      return emu
    end
    bc.sleep(0.02)
  end
  error("the emulator did not start: " .. tail(read_file(err)), 0)
end

local function control(emu, method, path, body)
  local status, rbody = emu.control:request(method, "/_emulator" .. path, body or "{}")
  if status ~= 200 then
    error(string.format("emulator control %s %s: HTTP %s %s", method, path, tostring(status), rbody or ""), 0)
  end
  return rbody
end

local function put_running(emu, id)
  control(emu, "POST", "/runs", string.format('{"id":"%s","state":"JOB_RUNNING"}', id))
end

-- Fixtures -------------------------------------------------------------------------

local function generate(kind, bytes, name)
  local path = DATA .. "/" .. name
  local stamp = path .. ".ok"
  local gen = ROOT .. "/bench/gen_yaml.lua"
  local want = kind .. " " .. bytes .. " " .. (command_output("cksum < " .. sh_quote(gen)))
  if read_file(stamp) ~= want or not read_file(path) then
    local r = bc.run({ argv = { "lua5.4", gen, kind, tostring(bytes), path }, env = env_for(WORK),
                       stderr = WORK .. "/gen.err" })
    if r.status ~= 0 then error("generating " .. name .. " failed: " .. tail(read_file(WORK .. "/gen.err")), 0) end
    write_file(stamp, want)
  end
  local f = assert(io.open(path, "rb"))
  local size = f:seek("end")
  f:close()
  return path, size
end

-- A HOME with ~/.config/clarifai/config whose current context points at base.
local function make_home(name, base)
  local home = WORK .. "/" .. name
  mkdir(home .. "/.config/clarifai")
  write_file(home .. "/.config/clarifai/config", table.concat({
    "contexts:",
    "  default:",
    "    name: default",
    "    CLARIFAI_API_BASE: https://api.clarifai.com",
    "    CLARIFAI_PAT: ENVVAR",
    "    CLARIFAI_USER_ID: demo-user",
    "  bench:",
    "    name: bench",
    "    CLARIFAI_API_BASE: " .. base,
    "    CLARIFAI_PAT: " .. TOKEN,
    "    CLARIFAI_USER_ID: demo-user",
    "    CLARIFAI_UI: https://clarifai.com",
    "current_context: bench",
    "",
  }, "\n"), "600")
  return home
end

-- Requests the command would send, from its own --dry-run output (the
-- token it masks is put back). Each: {method, url, headers = {...}, body}.
local function dry_run(launcher, home, cwd, ids)
  local argv = { launcher, "pr", "pause" }
  for _, id in ipairs(ids) do argv[#argv + 1] = id end
  argv[#argv + 1] = "--dry-run"
  local out, err = WORK .. "/dry.out", WORK .. "/dry.err"
  local r = bc.run({ argv = argv, env = env_for(home), cwd = cwd, stdout = out, stderr = err })
  if r.status ~= 0 then error("--dry-run failed: " .. tail(read_file(err)), 0) end
  local reqs, cur, phase = {}, nil, nil
  for line in (read_file(out) .. "\n"):gmatch("([^\n]*)\n") do
    local method, url = line:match("^(%u+) (https?://%S+)$")
    if method and phase ~= "headers" then
      cur = { method = method, url = url, headers = {} }
      reqs[#reqs + 1] = cur
      phase = "headers"
    elseif phase == "headers" then
      if line == "" then phase = "body"
      else
        if line:lower():match("^authorization:") then line = "Authorization: Key " .. TOKEN end
        cur.headers[#cur.headers + 1] = line
      end
    elseif phase == "body" and line ~= "" then
      cur.body = line
      phase = nil
    end
  end
  if #reqs ~= #ids then error(string.format("--dry-run printed %d requests for %d ids", #reqs, #ids), 0) end
  for _, q in ipairs(reqs) do
    if not q.body then error("--dry-run printed a request without a body", 0) end
  end
  return reqs
end

local function curl_argv(req)
  local argv = { "curl", "-q", "-sS", "-f", "-X", req.method }
  for _, h in ipairs(req.headers) do argv[#argv + 1] = "-H"; argv[#argv + 1] = h end
  argv[#argv + 1] = "--data-raw"
  argv[#argv + 1] = req.body
  argv[#argv + 1] = req.url
  return argv
end

local function curl_config(reqs, path)
  local function q(s) return '"' .. s:gsub('[\\"]', "\\%0") .. '"' end
  local out = {}
  for i, req in ipairs(reqs) do
    if i > 1 then out[#out + 1] = "next" end
    out[#out + 1] = "url = " .. q(req.url)
    out[#out + 1] = "request = " .. q(req.method)
    for _, h in ipairs(req.headers) do out[#out + 1] = "header = " .. q(h) end
    out[#out + 1] = "data-raw = " .. q(req.body)
    out[#out + 1] = "fail"
  end
  write_file(path, table.concat(out, "\n") .. "\n")
  return path
end

-- A shell loop running one curl per request (bodies read from a file).
local function curl_loop(reqs, dir)
  local bodies = {}
  for i, req in ipairs(reqs) do bodies[i] = req.body end
  write_file(dir .. "/bodies.txt", table.concat(bodies, "\n") .. "\n")
  local first = reqs[1]
  local args = { "curl -q -sS -f -X " .. first.method }
  for _, h in ipairs(first.headers) do args[#args + 1] = "-H " .. sh_quote(h) end
  args[#args + 1] = '--data-raw "$body"'
  args[#args + 1] = sh_quote(first.url)
  write_file(dir .. "/loop.sh", table.concat({
    "while IFS= read -r body; do",
    "  " .. table.concat(args, " ") .. " || exit 1",
    "done < " .. sh_quote(dir .. "/bodies.txt"),
    "",
  }, "\n"))
  return dir .. "/loop.sh"
end

-- The request a program sends, captured by a one-shot listener.
local function capture(port_to_spec)
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(10)
  local _, port = srv:getsockname()
  local spec = port_to_spec(tonumber(port))
  spec.stdout, spec.stderr = WORK .. "/capture.out", WORK .. "/capture.err"
  local pid = bc.start(spec)
  started(pid)
  local c = srv:accept()
  srv:close()
  if not c then stop(pid) error("no request arrived from " .. spec.argv[1], 0) end
  c:settimeout(10)
  local req = { headers = {} }
  req.line = c:receive("*l")
  local length = 0
  while true do
    local h = c:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    req.headers[#req.headers + 1] = k:lower() .. ": " .. v
    if k:lower() == "content-length" then length = tonumber(v) end
  end
  req.body = length > 0 and c:receive(length) or ""
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #PATCH_BODY
    .. "\r\nConnection: close\r\n\r\n" .. PATCH_BODY)
  c:close()
  local r = wait_exit(pid, 10)
  if not r or r.status ~= 0 then error(spec.argv[1] .. " failed against the capture listener: "
    .. tail(read_file(spec.stderr)), 0) end
  table.sort(req.headers)
  return req
end

-- Timing ---------------------------------------------------------------------------

-- A contender: {label, argv, env, cwd, before = fn, check = fn(stdout_text)}.
-- One run; raises when it fails. `out` captures stdout (else /dev/null).
local function run_once(c, out)
  if c.before then c.before() end
  local err = WORK .. "/run.err"
  local r = bc.run({ argv = c.argv, env = c.env, cwd = c.cwd, stdout = out or "/dev/null", stderr = err })
  if r.status ~= 0 then
    error(string.format("%s: exited %s%s\n%s", c.label, tostring(r.status),
      r.signal and (" (signal " .. r.signal .. ")") or "", tail(read_file(err))), 0)
  end
  return r
end

-- Warm-up (checked) once each, then `reps` interleaved timed rounds.
-- Returns, per contender, the list of run results (and captured stdout
-- when c.capture is set).
local function measure(list, reps)
  for _, c in ipairs(list) do
    local out = WORK .. "/warm.out"
    run_once(c, out)
    if c.check then c.check(read_file(out) or "") end
    c.runs = {}
  end
  for _ = 1, reps do
    for _, c in ipairs(list) do
      local out = c.capture and (WORK .. "/timed.out") or nil
      local r = run_once(c, out)
      if c.capture then r.stdout = read_file(out) or "" end
      c.runs[#c.runs + 1] = r
    end
  end
  return list
end

local function wall_ms(c)
  local xs = {}
  for i, r in ipairs(c.runs) do xs[i] = r.wall * 1000 end
  return median(xs)
end

local function expect_lines(pattern, n)
  return function(text)
    local k = 0
    for _ in text:gmatch(pattern) do k = k + 1 end
    if k ~= n then error(string.format("expected %d lines matching %q, got %d:\n%s", n, pattern, k, tail(text)), 0) end
  end
end

-- Results --------------------------------------------------------------------------

local rows = {}
local function row(t) rows[#rows + 1] = t return t end

-- Figures --------------------------------------------------------------------------

local info = {}

local function figure_startup(home, cwd)
  say("startup: --help vs curl --version (%d rounds)", SETTINGS.reps_fast)
  local list = {}
  for _, l in ipairs(LAUNCHERS) do
    list[#list + 1] = { label = l.label, argv = { l.path, "pr", "pause", "--help" }, env = env_for(home), cwd = cwd,
      check = function(text)
        if not text:find("Usage: clarifai", 1, true) then error("--help printed no usage:\n" .. tail(text), 0) end
      end }
  end
  local curl = { label = "curl --version", argv = { "curl", "--version" }, env = env_for(home), cwd = cwd }
  list[#list + 1] = curl
  measure(list, SETTINGS.reps_fast)
  local base = wall_ms(curl)
  for i = 1, #LAUNCHERS do
    local v = wall_ms(list[i])
    row({ fig = "start and exit", contender = "`" .. LAUNCHERS[i].label .. " pr pause --help`", unit = "ms",
      nginx = v, ratio_n = v / base, target = "≤ 0.5×", met = v / base <= 0.5, single = true })
  end
  row({ fig = "start and exit", contender = "`curl --version`", unit = "ms", nginx = base, ratio_n = 1,
    baseline = true, single = true })
end

-- Contenders of the one-pause and batch figures against one server.
local function pause_contenders(srv, home, cwd, ids, before)
  local reqs = dry_run(CHECKOUT, home, cwd, ids)
  local list = {}
  for _, l in ipairs(LAUNCHERS) do
    local argv = { l.path, "pr", "pause" }
    for _, id in ipairs(ids) do argv[#argv + 1] = id end
    if #ids > 1 then argv[#argv + 1] = "--parallel"; argv[#argv + 1] = tostring(PARALLEL) end
    list[#list + 1] = { key = l.key, label = l.label, argv = argv, env = env_for(home), cwd = cwd, before = before,
      check = expect_lines("Pipeline version run [^\n]* has been paused%.", #ids) }
  end
  return list, reqs
end

local function figure_one_pause(homes, cwd)
  say("one pause vs one curl PATCH (%d rounds per server)", SETTINGS.reps_fast)
  local res = {}
  for _, key in ipairs({ "nginx", "emulator" }) do
    local srv = servers[key]
    local before = nil
    if key == "emulator" then before = function() put_running(srv, "bench-one") end end
    local list, reqs = pause_contenders(srv, homes[key], cwd, { "bench-one" }, before)
    local curl = { key = "curl", label = "curl -X PATCH", argv = curl_argv(reqs[1]), env = env_for(homes[key]),
      cwd = cwd, before = before }
    list[#list + 1] = curl
    measure(list, SETTINGS.reps_fast)
    res[key] = {}
    for _, c in ipairs(list) do res[key][c.key] = wall_ms(c) end
  end
  for _, l in ipairs(LAUNCHERS) do
    local n, e = res.nginx[l.key], res.emulator[l.key]
    row({ fig = "one pause (lockfile + config file)", contender = "`" .. l.label .. " pr pause RUN`", unit = "ms",
      nginx = n, emulator = e, ratio_n = n / res.nginx.curl, ratio_e = e / res.emulator.curl,
      target = "≤ 1.3×", met = n / res.nginx.curl <= 1.3 })
  end
  row({ fig = "one pause (lockfile + config file)", contender = "`curl -X PATCH` (same request)", unit = "ms",
    nginx = res.nginx.curl, emulator = res.emulator.curl, ratio_n = 1, ratio_e = 1, baseline = true })
end

local function batch_ids(n)
  local ids = {}
  for i = 1, n do ids[i] = string.format("bench-%04d", i) end
  return ids
end

local function recreate(emu, ids)
  control(emu, "POST", "/reset", '{"seed":false}')
  for _, id in ipairs(ids) do put_running(emu, id) end
end

local function figure_batch(homes, cwd)
  local n = SETTINGS.batch
  say("%d pauses vs curl --parallel vs a curl loop (%d rounds per server)", n, SETTINGS.reps_batch)
  local ids = batch_ids(n)
  local res = {}
  for _, key in ipairs({ "nginx", "emulator" }) do
    local srv = servers[key]
    local before = nil
    if key == "emulator" then before = function() recreate(srv, ids) end end
    local list, reqs = pause_contenders(srv, homes[key], cwd, ids, before)
    local dir = WORK .. "/batch-" .. key
    mkdir(dir)
    local cfg = curl_config(reqs, dir .. "/curl.cfg")
    list[#list + 1] = { key = "parallel", label = "curl --parallel", before = before, env = env_for(homes[key]),
      cwd = cwd, argv = { "curl", "-q", "-sS", "--parallel", "--parallel-max", tostring(PARALLEL), "-K", cfg } }
    list[#list + 1] = { key = "loop", label = "curl loop", before = before, env = env_for(homes[key]), cwd = cwd,
      argv = { "sh", curl_loop(reqs, dir) } }
    measure(list, SETTINGS.reps_batch)
    res[key] = {}
    for _, c in ipairs(list) do res[key][c.key] = wall_ms(c) end
  end
  local fig = string.format("%d pauses, parallelism %d", n, PARALLEL)
  for _, l in ipairs(LAUNCHERS) do
    local v, e = res.nginx[l.key], res.emulator[l.key]
    row({ fig = fig, contender = string.format("`%s pr pause ID×%d --parallel %d`", l.label, n, PARALLEL),
      unit = "ms", nginx = v, emulator = e, ratio_n = v / res.nginx.parallel, ratio_e = e / res.emulator.parallel,
      target = "≤ 1.2×", met = v / res.nginx.parallel <= 1.2 })
  end
  row({ fig = fig, contender = string.format("`curl --parallel --parallel-max %d -K cfg` (%d entries)", PARALLEL, n),
    unit = "ms", nginx = res.nginx.parallel, emulator = res.emulator.parallel, ratio_n = 1, ratio_e = 1,
    baseline = true })
  local fig2 = string.format("%d pauses vs a shell loop", n)
  for _, l in ipairs(LAUNCHERS) do
    local v, e = res.nginx[l.key], res.emulator[l.key]
    row({ fig = fig2, contender = string.format("`%s pr pause ID×%d --parallel %d`", l.label, n, PARALLEL),
      unit = "ms", nginx = v, emulator = e, ratio_n = res.nginx.loop / v, ratio_e = res.emulator.loop / e,
      faster = true, target = "≥ 20× faster", met = res.nginx.loop / v >= 20 })
  end
  row({ fig = fig2, contender = string.format("shell loop of %d `curl -X PATCH`", n), unit = "ms",
    nginx = res.nginx.loop, emulator = res.emulator.loop, ratio_n = 1, ratio_e = 1, baseline = true })
end

-- Peak RSS through /usr/bin/time -f %M.
local function rss_kb(c, reps)
  local file = WORK .. "/time.out"
  local timed = {}
  for k, v in pairs(c) do timed[k] = v end
  timed.argv = { "/usr/bin/time", "-f", "%M", "-o", file }
  for _, a in ipairs(c.argv) do timed.argv[#timed.argv + 1] = a end
  local xs = {}
  for i = 1, reps do
    os.remove(file)
    run_once(timed)
    local kb = tonumber((read_file(file) or ""):match("(%d+)%s*$"))
    if not kb then error("no peak RSS from /usr/bin/time for " .. c.label, 0) end
    xs[i] = kb
  end
  return xs
end

local function figure_rss(homes, cwd)
  local n = SETTINGS.batch
  say("peak RSS (/usr/bin/time -f %%M, %d runs each per server)", SETTINGS.reps_rss)
  local ids = batch_ids(n)
  local res = {}
  for _, key in ipairs({ "nginx", "emulator" }) do
    local srv = servers[key]
    local one_before, batch_before
    if key == "emulator" then
      one_before = function() put_running(srv, "bench-one") end
      batch_before = function() recreate(srv, ids) end
    end
    local one = pause_contenders(srv, homes[key], cwd, { "bench-one" }, one_before)
    local reqs_one = dry_run(CHECKOUT, homes[key], cwd, { "bench-one" })
    one[#one + 1] = { key = "curl", label = "curl -X PATCH", argv = curl_argv(reqs_one[1]), env = env_for(homes[key]),
      cwd = cwd, before = one_before }
    local many, reqs = pause_contenders(srv, homes[key], cwd, ids, batch_before)
    local cfg = curl_config(reqs, WORK .. "/batch-" .. key .. "/curl.cfg")
    many[#many + 1] = { key = "parallel", label = "curl --parallel", before = batch_before, env = env_for(homes[key]),
      cwd = cwd, argv = { "curl", "-q", "-sS", "--parallel", "--parallel-max", tostring(PARALLEL), "-K", cfg } }
    -- interleaved: one run of each contender per round
    local samples = {}
    for _ = 1, SETTINGS.reps_rss do
      for _, set in ipairs({ { "one", one }, { "many", many } }) do
        for _, c in ipairs(set[2]) do
          local id = set[1] .. ":" .. c.key
          samples[id] = samples[id] or {}
          table.insert(samples[id], rss_kb(c, 1)[1])
        end
      end
    end
    res[key] = {}
    for id, xs in pairs(samples) do res[key][id] = median(xs) / 1024 end
  end
  for _, l in ipairs(LAUNCHERS) do
    local v, e = res.nginx["one:" .. l.key], res.emulator["one:" .. l.key]
    row({ fig = "peak RSS, one pause", contender = "`" .. l.label .. " pr pause RUN`", unit = "MiB",
      nginx = v, emulator = e, ratio_n = v / res.nginx["one:curl"], ratio_e = e / res.emulator["one:curl"],
      target = "≤ 12 MiB", met = v <= 12 })
  end
  row({ fig = "peak RSS, one pause", contender = "`curl -X PATCH`", unit = "MiB", nginx = res.nginx["one:curl"],
    emulator = res.emulator["one:curl"], ratio_n = 1, ratio_e = 1, baseline = true })
  local fig = string.format("peak RSS, %d pauses", n)
  for _, l in ipairs(LAUNCHERS) do
    local v, e = res.nginx["many:" .. l.key], res.emulator["many:" .. l.key]
    row({ fig = fig, contender = string.format("`%s pr pause ID×%d --parallel %d`", l.label, n, PARALLEL),
      unit = "MiB", nginx = v, emulator = e, ratio_n = v / res.nginx["many:parallel"],
      ratio_e = e / res.emulator["many:parallel"], target = "≤ 20 MiB", met = v <= 20 })
  end
  row({ fig = fig, contender = string.format("`curl --parallel --parallel-max %d -K cfg`", PARALLEL), unit = "MiB",
    nginx = res.nginx["many:parallel"], emulator = res.emulator["many:parallel"], ratio_n = 1, ratio_e = 1,
    baseline = true })
end

local function parse_ms(text)
  local ms = tonumber(text:match("ms=([%d.]+)"))
  if not ms then error("no in-process time in output: " .. tail(text), 0) end
  return ms
end

local function figure_yaml(files)
  say("YAML loading (%d rounds per file)", SETTINGS.reps_yaml)
  for _, file in ipairs(files) do
    local lua_code = string.format([[
package.cpath = %q .. package.cpath
local core = require "clarifai.yaml.core"
local now = require("benchcore").now
local t0 = now()
local f = assert(io.open(%q, "rb"))
local text = f:read("a")
f:close()
local value, err = core.load(text, { max_size = 16 * 1024 * 1024 })
local t1 = now()
assert(type(value) == "table", err)
io.write(string.format("ms=%%.3f\n", (t1 - t0) * 1000))
io.stdout:flush()
os.exit(0) -- as the clarifai command ends: the tree is not freed piece by piece
]], ROOT .. "/build/?.so;" .. ROOT .. "/build/bench/?.so;", file.path)
    local py_code = table.concat({
      "import sys, time, yaml",
      "t0 = time.perf_counter()",
      "doc = yaml.load(open(sys.argv[1]), Loader=yaml.CSafeLoader)",
      "t1 = time.perf_counter()",
      "assert isinstance(doc, dict)",
      "print('ms=%.3f' % ((t1 - t0) * 1000))",
    }, "\n")
    local env = env_for(WORK)
    local list = {
      { key = "lua", label = "lua", argv = { "lua5.4", "-e", lua_code }, env = env, cwd = ROOT, capture = true,
        check = parse_ms },
      { key = "scan", label = "scan", argv = { SCAN, file.path }, env = env, cwd = ROOT, capture = true,
        check = parse_ms },
      { key = "python", label = "python", argv = { PYTHON, "-c", py_code, file.path }, env = env, cwd = ROOT,
        capture = true, check = parse_ms },
    }
    measure(list, SETTINGS.reps_yaml)
    local whole, inproc = {}, {}
    for _, c in ipairs(list) do
      whole[c.key] = wall_ms(c)
      local xs = {}
      for i, r in ipairs(c.runs) do xs[i] = parse_ms(r.stdout) end
      inproc[c.key] = median(xs)
    end
    local mb = string.format("%.1f MB", file.size / 1e6)
    for _, kind in ipairs({ { "in-process", inproc }, { "whole process", whole } }) do
      local v = kind[2]
      local fig = string.format("%s %s, %s", mb, file.what, kind[1])
      row({ fig = fig, contender = "`clarifai.yaml.core.load` (lua5.4 -e)", unit = "ms", nginx = v.lua,
        ratio_n = v.lua / v.scan, target = "≤ 2×", met = v.lua / v.scan <= 2, single = true })
      row({ fig = fig, contender = "PyYAML `CSafeLoader` (python3)", unit = "ms", nginx = v.python,
        ratio_n = v.python / v.scan, single = true })
      row({ fig = fig, contender = "libyaml event scan (C, -O2)", unit = "ms", nginx = v.scan, ratio_n = 1,
        baseline = true, single = true })
    end
  end
end

local function proc_cpu_ticks(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if not stat then return nil end
  local rest = stat:match("^%d+ %b() (.*)$")
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = w end
  if f[1] == "Z" then return nil end
  -- fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name
  return tonumber(f[12]) + tonumber(f[13])
end

local function figure_idle(homes, cwd)
  local secs = SETTINGS.idle
  say("idle CPU over %d s of `pr pause --wait` and `pr monitor`", secs)
  local emu = servers.emulator
  control(emu, "POST", "/reset", '{"seed":false}')
  control(emu, "POST", "/config", '{"transition_delay": 3600}')
  local procs = {}
  for _, key in ipairs({ "nginx", "emulator" }) do
    for _, l in ipairs(LAUNCHERS) do
      for _, cmd in ipairs({ "wait", "monitor" }) do
        local id = "idle-" .. cmd .. "-" .. l.key
        if key == "emulator" then put_running(emu, id) end
        local argv = cmd == "wait" and { l.path, "pr", "pause", id, "--wait" } or { l.path, "pr", "monitor", id }
        procs[#procs + 1] = { key = key, launcher = l, cmd = cmd, argv = argv, home = homes[key] }
      end
    end
  end
  for i, p in ipairs(procs) do
    p.err = WORK .. "/idle-" .. i .. ".err"
    p.t0 = bc.now()
    p.pid = bc.start({ argv = p.argv, env = env_for(p.home), cwd = cwd, stdout = WORK .. "/idle-" .. i .. ".out",
      stderr = p.err })
    started(p.pid)
  end
  local deadline = procs[#procs].t0 + secs
  while bc.now() < deadline do bc.sleep(math.min(0.5, deadline - bc.now())) end
  local tck = bc.clk_tck()
  local failed
  for _, p in ipairs(procs) do
    local ticks = proc_cpu_ticks(p.pid)
    local t = bc.now()
    if not ticks then
      failed = failed or string.format("`%s` ended before %d s: %s", table.concat(p.argv, " ", 2), secs,
        tail(read_file(p.err)))
    else
      p.pct = ticks / tck / (t - p.t0) * 100
    end
  end
  for _, p in ipairs(procs) do stop(p.pid) end
  control(emu, "POST", "/reset", '{"seed":false}')
  if failed then error(failed, 0) end
  for _, l in ipairs(LAUNCHERS) do
    for _, cmd in ipairs({ "wait", "monitor" }) do
      local v = {}
      for _, p in ipairs(procs) do
        if p.launcher == l and p.cmd == cmd then v[p.key] = p.pct end
      end
      local what = cmd == "wait" and "pr pause RUN --wait" or "pr monitor RUN"
      row({ fig = string.format("CPU while idle, %d s", secs), contender = "`" .. l.label .. " " .. what .. "`",
        unit = "%", nginx = v.nginx, emulator = v.emulator, target = "< 1 %", met = v.nginx < 1 })
    end
  end
end

-- The request check: curl must send what the command sends.
local function check_same_request(cwd)
  for _, l in ipairs(LAUNCHERS) do
    local home, reqs
    local a = capture(function(port)
      home = make_home("home-capture", "http://127.0.0.1:" .. port)
      reqs = dry_run(l.path, home, cwd, { "bench-one" })
      return { argv = { l.path, "pr", "pause", "bench-one" }, env = env_for(home), cwd = cwd }
    end)
    local b = capture(function(port)
      home = make_home("home-capture", "http://127.0.0.1:" .. port)
      reqs = dry_run(l.path, home, cwd, { "bench-one" })
      return { argv = curl_argv(reqs[1]), env = env_for(home), cwd = cwd }
    end)
    -- the two listeners had different ports
    local sa = (a.line .. "\n" .. table.concat(a.headers, "\n") .. "\n\n" .. a.body)
      :gsub("127%.0%.0%.1:%d+", "127.0.0.1:PORT")
    local sb = (b.line .. "\n" .. table.concat(b.headers, "\n") .. "\n\n" .. b.body)
      :gsub("127%.0%.0%.1:%d+", "127.0.0.1:PORT")
    if sa ~= sb then
      error("curl does not send the request " .. l.label .. " sends:\n--- " .. l.label .. "\n" .. sa
        .. "\n--- curl\n" .. sb, 0)
    end
    if not info.request then
      local i, j = sa:find("Key " .. TOKEN, 1, true)
      if i then sa = sa:sub(1, i - 1) .. "Key <token>" .. sa:sub(j + 1) end
      info.request = sa
    end
  end
end

-- Output ---------------------------------------------------------------------------

local function fmt_value(v, unit)
  if v == nil then return "—" end
  if unit == "MiB" then return string.format("%.1f MiB", v) end
  if unit == "%" then return string.format("%.3f %%", v) end
  if v >= 100 then return string.format("%.0f ms", v) end
  if v >= 10 then return string.format("%.1f ms", v) end
  return string.format("%.2f ms", v)
end

local function fmt_ratio(r, t)
  if r == nil then return "—" end
  if t.baseline then return "1 (baseline)" end
  if t.faster then return string.format("%.1f× faster", r) end
  return string.format("%.2f×", r)
end

local function cells(t)
  local met = ""
  if t.target then met = t.met and "yes" or "**no**" end
  return {
    t.fig, t.contender, fmt_value(t.nginx, t.unit), t.single and "—" or fmt_value(t.emulator, t.unit),
    fmt_ratio(t.ratio_n, t), t.single and "—" or fmt_ratio(t.ratio_e, t), t.target or "", met,
  }
end

local HEADER = { "figure", "contender", "median (nginx)", "median (emulator)", "ratio (nginx)",
  "ratio (emulator)", "target", "met?" }

local function text_table()
  local all = { HEADER }
  for _, t in ipairs(rows) do
    local c = cells(t)
    for i, s in ipairs(c) do c[i] = s:gsub("%*%*", ""):gsub("`", "") end
    all[#all + 1] = c
  end
  local widths = {}
  for _, r in ipairs(all) do
    for i, s in ipairs(r) do widths[i] = math.max(widths[i] or 0, utf8.len(s) or #s) end
  end
  local out = {}
  for k, r in ipairs(all) do
    local parts = {}
    for i, s in ipairs(r) do parts[i] = s .. string.rep(" ", widths[i] - (utf8.len(s) or #s)) end
    out[#out + 1] = table.concat(parts, "  "):gsub("%s+$", "")
    if k == 1 then
      local dashes = {}
      for i, w in ipairs(widths) do dashes[i] = string.rep("-", w) end
      out[#out + 1] = table.concat(dashes, "  ")
    end
  end
  return table.concat(out, "\n")
end

local function md_table()
  local out = { "| " .. table.concat(HEADER, " | ") .. " |", "|" .. string.rep("---|", #HEADER) }
  for _, t in ipairs(rows) do
    out[#out + 1] = "| " .. table.concat(cells(t), " | ") .. " |"
  end
  return table.concat(out, "\n")
end

local function machine()
  local cpuinfo = read_file("/proc/cpuinfo") or ""
  local model = cpuinfo:match("model name%s*:%s*([^\n]+)") or "unknown"
  local cores = 0
  for _ in cpuinfo:gmatch("\nprocessor%s*:") do cores = cores + 1 end
  if cpuinfo:match("^processor%s*:") then cores = cores + 1 end
  local mem = tonumber((read_file("/proc/meminfo") or ""):match("MemTotal:%s*(%d+)")) or 0
  local libcurl = command_output("lua5.4 -e " .. sh_quote("package.cpath=" .. string.format("%q", ROOT
    .. "/build/?.so;") .. "..package.cpath; io.write(require('clarifai.http.core').version())"))
  return {
    { "CPU", model },
    { "cores", tostring(cores) },
    { "memory", string.format("%.1f GiB", mem / 1024 / 1024) },
    { "kernel", (read_file("/proc/sys/kernel/osrelease") or ""):gsub("%s+$", "") },
    { "Debian", (read_file("/etc/debian_version") or ""):gsub("%s+$", "") },
    { "Lua", (command_output("lua5.4 -v"):match("^Lua [%d.]+") or "?") },
    { "libcurl (linked by clarifai)", libcurl },
    { "curl", command_output("curl --version"):match("^[^\n]*") },
    { "libyaml", command_output(sh_quote(SCAN) .. " --version") },
    { "nginx", command_output("nginx -v"):gsub("^nginx version: ", "") },
    { "load average (1, 5, 15 min) before / after", (info.load_before or "?") .. " / " .. (info.load_after or "?") },
    { "Python / PyYAML", command_output(PYTHON .. " -c " .. sh_quote(
      "import sys, yaml; print(sys.version.split()[0], '/', yaml.__version__, "
      .. "'(libyaml bindings)' if yaml.__with_libyaml__ else '')")) },
  }
end

local function markdown(elapsed)
  local s = SETTINGS
  local out = {}
  local function add(line) out[#out + 1] = line or "" end
  if SMOKE then
    add("# Benchmarks (smoke run)")
    add()
    add("Produced by `sh bench/run.sh --smoke` on " .. os.date("!%Y-%m-%d %H:%M UTC")
      .. ": tiny repetition counts, not for reading figures from.")
  else
    add("# Benchmarks")
    add()
    add("Produced by `make bench` on " .. os.date("!%Y-%m-%d %H:%M UTC") .. string.format(" (%.0f s)", elapsed)
      .. (info.commit and (", at " .. info.commit) or "") .. ".")
  end
  add()
  add("Medians. Ratios compare a row with its figure's baseline measured in the same run; `met?` judges the "
    .. "static-responder (nginx) column, the emulator column is shown beside it.")
  add()
  add(md_table())
  add()
  add("## Method")
  add()
  add("- Every timed command is started directly with `posix_spawn` (no shell in between) by a small C helper "
    .. "(`bench/benchcore.c`) and timed with `CLOCK_MONOTONIC` from spawn to reap; stdout goes to `/dev/null`, "
    .. "stderr to a file. A non-zero exit status fails the run.")
  add("- The contenders of a figure run interleaved (A B C A B C …) after one untimed warm-up run of each, "
    .. "whose output is checked (e.g. one `has been paused.` line per run id). Figures are medians: "
    .. string.format("%d runs each for startup and one pause, %d for the %d-pause batches, %d for peak RSS, "
      .. "%d for YAML loading.", s.reps_fast, s.reps_batch, s.batch, s.reps_rss, s.reps_yaml))
  add("- Contenders for the command: `./bin/clarifai` from the checkout and `clarifai` installed by "
    .. "`luarocks --lua-version=5.4 make --deps-mode=none --tree build/bench-tree rockspec/clarifai-scm-1.rockspec`.")
  add("- Every command runs with only `PATH`, `LANG=C.UTF-8` and `HOME` set. `HOME` holds "
    .. "`.config/clarifai/config` (mode 600) whose current context carries the token and the API base of the "
    .. "server in use; the working directory holds a `config-lock.yaml` of "
    .. string.format("%d bytes", info.lock_size or 0)
    .. " (an Argo Workflow spec as a `|` block scalar under "
    .. "`pipeline.orchestration_spec.argo_orchestration_spec`). The command gets no id flags and no "
    .. "`CLARIFAI_PAT`: ids come from the lockfile, credentials from the config file.")
  add("- curl sends the identical request: method, URL, headers and body are taken from the command's own "
    .. "`--dry-run` output, and before timing a one-shot listener captures one request from each and compares "
    .. "request line, header set and body. The request:")
  add()
  add("  ```")
  for line in (info.request or ""):gmatch("[^\n]*") do add("  " .. line) end
  add("  ```")
  add()
  add("- **start and exit**: `clarifai pr pause --help` against `curl --version`.")
  add("- **one pause**: `clarifai pr pause bench-one` against `curl -q -sS -f -X PATCH -H … --data-raw BODY URL`.")
  add(string.format("- **%d pauses**: `clarifai pr pause bench-0001 … --parallel %d` (%d distinct run ids) against "
    .. "`curl -q -sS --parallel --parallel-max %d -K cfg`, where cfg has one entry per request (url, request, "
    .. "header lines, data-raw, fail) separated by `next`, and against a `sh` loop running one "
    .. "`curl -q -sS -f -X PATCH` per run.", s.batch, PARALLEL, s.batch, PARALLEL))
  add("- **peak RSS**: `/usr/bin/time -f %M` around the same commands (maximum resident set size of the process).")
  add(string.format("- **YAML**: an Argo Workflow spec of %d bytes (%s steps: templates with containers, env, "
    .. "resources, retry strategies; block and flow style) and a lockfile of %d bytes carrying such a spec "
    .. "as one block scalar. Contenders: `lua5.4 -e` with `package.cpath` set to `build/?.so`, "
    .. "`require \"clarifai.yaml.core\".load(text, {max_size = 16 MiB})`; `bench/yaml_scan.c` (`cc -O2 -lyaml`) "
    .. "pulling every libyaml parser event and building nothing; "
    .. "`/usr/bin/python3` with `yaml.load(open(f), Loader=yaml.CSafeLoader)`. In-process time covers reading "
    .. "the file and loading it (monotonic clock inside the process); whole-process time covers everything from "
    .. "spawn to reap. The Lua contender ends with `os.exit(0)`, as the `clarifai` command does (the loaded "
    .. "tree is left to the kernel rather than freed object by object).", info.spec_size or 0, info.spec_steps or "?", info.biglock_size or 0))
  add(string.format("- **CPU while idle**: `clarifai pr pause RUN --wait` (the API accepts the pause but the "
    .. "run never gets there) and `clarifai pr monitor RUN` (a run that stays Running), default poll intervals; "
    .. "user + system time from `/proc/PID/stat` read after %d s while the process is still running, as a "
    .. "percentage of its wall time (start-up included).", s.idle))
  add("- **Servers**, both on 127.0.0.1 with ports chosen at run time: a static responder — nginx "
    .. "(1 worker, `access_log off`, keep-alive on) answering every request under `/v2/` with HTTP 200, "
    .. "`Content-Type: application/json` and a Clarifai success body (PATCH: the run list with the run paused; "
    .. "GET: a Running run and no log entries) — so the server is not the bottleneck; and the project's emulator "
    .. "(`lua5.4 bin/clarifai-emulator --port 0 --tick 0 --quiet`, single-threaded Lua), where the runs are "
    .. "(re)created Running through its control API before every timed run so each contender does the same work.")
  add()
  add("## Machine")
  add()
  add("| | |")
  add("|---|---|")
  for _, kv in ipairs(machine()) do add("| " .. kv[1] .. " | " .. kv[2]:gsub("|", "\\|") .. " |") end
  add()
  add("## Reproduce")
  add()
  add("```sh")
  add("make bench                 # sh bench/run.sh: installs what is missing, builds, rewrites BENCHMARKS.md")
  add("sh bench/run.sh --smoke    # quick run of every comparison, writes build/bench-smoke.md")
  add("```")
  add()
  add("Run as root (or with sudo) the first time so that missing Debian packages (nginx-light, python3-yaml, "
    .. "time, …) can be installed. Nothing else should be running on the machine.")
  add()
  return table.concat(out, "\n")
end

-- Main -----------------------------------------------------------------------------

local function loadavg()
  return ((read_file("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)"))
end

local function main()
  local t_start = bc.now()
  info.load_before = loadavg()
  local rev = command_output("git -C " .. sh_quote(ROOT) .. " rev-parse --short HEAD 2>/dev/null")
  if rev:match("^%x+$") then
    local dirty = command_output("git -C " .. sh_quote(ROOT) .. " status --porcelain --untracked-files=no 2>/dev/null")
    info.commit = "commit " .. rev .. (dirty ~= "" and " with uncommitted changes" or "")
  end
  mkdir(WORK)
  mkdir(DATA)
  local cwd = WORK .. "/pipeline"
  mkdir(cwd)
  local lock, lock_size = generate("lock", SETTINGS.lock_bytes, "config-lock-" .. SETTINGS.lock_bytes .. ".yaml")
  write_file(cwd .. "/config-lock.yaml", read_file(lock))
  info.lock_size = lock_size

  say("starting nginx and the emulator")
  start_nginx()
  start_emulator()
  local homes = {
    nginx = make_home("home-nginx", servers.nginx.base),
    emulator = make_home("home-emulator", servers.emulator.base),
  }

  say("checking that curl sends the same request")
  check_same_request(cwd)

  figure_startup(homes.nginx, cwd)
  figure_one_pause(homes, cwd)
  figure_batch(homes, cwd)
  figure_rss(homes, cwd)

  say("generating YAML files")
  local spec, spec_size = generate("spec", SETTINGS.yaml_bytes, "spec-" .. SETTINGS.yaml_bytes .. ".yaml")
  local biglock, biglock_size = generate("lock", SETTINGS.yaml_bytes, "lock-" .. SETTINGS.yaml_bytes .. ".yaml")
  local steps = 0
  for _ in (read_file(spec) or ""):gmatch("\n  %- name: step%-%d+") do steps = steps + 1 end
  info.spec_size, info.biglock_size, info.spec_steps = spec_size, biglock_size, steps
  figure_yaml({
    { path = spec, size = spec_size, what = "Argo spec" },
    { path = biglock, size = biglock_size, what = "config-lock.yaml" },
  })

  figure_idle(homes, cwd)

  info.load_after = loadavg()
  stop_all()
  print(text_table())
  local md = markdown(bc.now() - t_start)
  write_file(opts.md, md)
  say("wrote %s", opts.md)
end

local ok, err = xpcall(main, function(e)
  if type(e) == "string" and e:find("interrupted!", 1, true) then return e end
  return debug.traceback(tostring(e), 2)
end)
stop_all()
if not ok then
  say("bench: %s", tostring(err))
  os.exit(1)
end
