-- The servers the benchmarks talk to, all on 127.0.0.1 with ports chosen at
-- run time: nginx as a static responder, the project's emulator (and its
-- control API), and the generic nginx start-up the network lab builds on.
-- HTTP here goes through spec/support/http.lua, the raw LuaSocket client the
-- specs use; nothing in this file is timed.

local socket = require "socket"
local http = require "support.http"
local ctx = require "lib.ctx"
local proc = require "lib.proc"

local M = {}

-- The static responder's answers: PATCH gets the run list with the run
-- paused; GET (run, logs) a run that stays Running and no log entries.
M.PATCH_BODY = '{"status":{"code":10000,"description":"Ok","req_id":"bench"},'
  .. '"pipeline_version_runs":[{"id":"r","orchestration_status":{"status":{"code":64008}}}]}'
M.GET_BODY = '{"status":{"code":10000,"description":"Ok","req_id":"bench"},'
  .. '"pipeline_version_run":{"id":"r","orchestration_status":{"status":{"code":64001}}},"log_entries":[]}'

function M.free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- A keep-alive connection for many control requests in a row (the emulator
-- keeps connections open); reconnects once when the server closed it.
local Conn = {}
Conn.__index = Conn

function M.conn(port) return setmetatable({ port = port }, Conn) end

function Conn:close() if self.sock then self.sock:close() self.sock = nil end end

-- status, body (raises when no response arrives); extra: more headers.
function Conn:request(method, path, body, extra)
  for attempt = 1, 2 do
    if not self.sock then
      local s, err = http.connect(self.port, 10)
      if not s then error("cannot connect to 127.0.0.1:" .. self.port .. ": " .. tostring(err), 0) end
      self.sock = s
    end
    local headers = { ["Content-Type"] = "application/json" }
    for k, v in pairs(extra or {}) do headers[k] = v end
    if http.send_request(self.sock, method, path, body or "", headers) then
      local res = http.read_response(self.sock)
      if res then
        if (res.headers.connection or ""):lower() == "close" then self:close() end
        return res.status, res.body
      end
    end
    self:close()
    if attempt == 2 then error("no response from 127.0.0.1:" .. self.port .. " for " .. method .. " " .. path, 0) end
  end
end

-- Polls with one-shot GETs until the server answers (its status), the
-- process `pid` ends, or `seconds` pass (nil).
function M.wait_http(port, path, seconds, pid)
  local deadline = proc.now() + seconds
  while proc.now() < deadline do
    local res = http.http(port, "GET", path, nil, nil, 2)
    if res then return res.status end
    if pid and proc.exited(pid) then return nil end
    proc.sleep(0.02)
  end
  return nil
end

-- Polls until a TCP connection to port succeeds (true), pid ends or time is up.
function M.wait_listen(port, seconds, pid)
  local deadline = proc.now() + seconds
  while proc.now() < deadline do
    local s = http.connect(port, 1)
    if s then s:close() return true end
    if pid and proc.exited(pid) then return false end
    proc.sleep(0.02)
  end
  return false
end

-- nginx -----------------------------------------------------------------------------

-- *_temp_path lines for dir, without those of modules this nginx build lacks
-- (nginx-light has no fastcgi/uwsgi/scgi): found by asking `nginx -t`.
local function temp_lines(dir, conf_of)
  local lines = {}
  for _, k in ipairs({ "client_body", "proxy", "fastcgi", "uwsgi", "scgi" }) do
    lines[#lines + 1] = string.format("  %s_temp_path %s/temp/%s;", k, dir, k)
  end
  for _ = 1, #lines do
    proc.write_file(dir .. "/nginx.conf", conf_of(lines))
    local out = proc.command_output(string.format("nginx -t -q -p %s/ -e %s/error.log -c %s/nginx.conf",
      proc.sh_quote(dir), proc.sh_quote(dir), proc.sh_quote(dir)))
    local bad = out:match('unknown directive "([%w_]+)"')
    if not bad then break end
    for i, l in ipairs(lines) do
      if l:find(bad, 1, true) then table.remove(lines, i) break end
    end
  end
  return lines
end

-- The lines every benchmark nginx starts with (one worker, in the foreground).
function M.nginx_head(dir, temps, connections)
  return table.concat({
    "worker_processes 1;",
    "daemon off;",
    "pid " .. dir .. "/nginx.pid;",
    "error_log " .. dir .. "/error.log warn;",
    "events { worker_connections " .. (connections or 1024) .. "; }",
    "http {",
    table.concat(temps, "\n"),
  }, "\n")
end

--[[
start_nginx{dir, nports, conf = fn(temp_lines, ports) -> text, ready = fn(ports, pid) -> bool}
Starts nginx with `nports` free ports (retried on a lost race for a port);
returns {pid, ports, dir}.
]]
function M.start_nginx(o)
  local dir = o.dir
  proc.mkdir(dir .. "/temp")
  local dummy = {}
  for i = 1, o.nports do dummy[i] = 1 end
  local temps = temp_lines(dir, function(lines) return o.conf(lines, dummy) end)
  for _ = 1, 5 do
    local ports = {}
    for i = 1, o.nports do ports[i] = M.free_port() end
    proc.write_file(dir .. "/nginx.conf", o.conf(temps, ports))
    local pid = proc.start({
      argv = { "nginx", "-p", dir .. "/", "-e", dir .. "/error.log", "-c", dir .. "/nginx.conf" },
      env = proc.env_for(ctx.work), cwd = dir, stdout = dir .. "/stdout", stderr = dir .. "/stderr",
    })
    if o.ready(ports, pid) then return { pid = pid, ports = ports, dir = dir } end
    proc.stop(pid)
  end
  error("nginx did not start: " .. proc.tail(proc.read_file(dir .. "/error.log")), 0)
end

-- The static responder: plain HTTP/1.1, keep-alive, no access log.
function M.start_static()
  local function conf(temps, ports)
    return table.concat({
      M.nginx_head(ctx.work .. "/nginx", temps),
      "  access_log off;",
      "  keepalive_timeout 75s;",
      "  keepalive_requests 1000000;",
      "  server {",
      "    listen 127.0.0.1:" .. ports[1] .. ";",
      "    location /v2/ {",
      "      default_type application/json;",
      "      if ($request_method = GET) { return 200 '" .. M.GET_BODY .. "'; }",
      "      return 200 '" .. M.PATCH_BODY .. "';",
      "    }",
      "    location / { return 404; }",
      "  }",
      "}",
      "",
    }, "\n")
  end
  local n = M.start_nginx({ dir = ctx.work .. "/nginx", nports = 1, conf = conf,
    ready = function(ports, pid) return M.wait_http(ports[1], "/v2/ready", 5, pid) == 200 end })
  local port = n.ports[1]
  ctx.servers.nginx = { key = "nginx", pid = n.pid, port = port, base = "http://127.0.0.1:" .. port }
  return ctx.servers.nginx
end

-- The emulator ----------------------------------------------------------------------

function M.start_emulator()
  local out, err = ctx.work .. "/emulator.out", ctx.work .. "/emulator.err"
  local pid = proc.start({
    argv = { "lua5.4", "bin/clarifai-emulator", "--port", "0", "--tick", "0", "--quiet",
             "--exit-with", tostring(proc.getpid()) },
    env = proc.env_for(ctx.work), cwd = ctx.root, stdout = out, stderr = err,
  })
  local deadline = proc.now() + 10
  while proc.now() < deadline do
    local first = (proc.read_file(out) or ""):match("^([^\n]*)\n")
    if first then
      local port = first:match("^listening on http://127%.0%.0%.1:(%d+)$")
      if not port then error("emulator printed an unexpected first line: " .. first, 0) end
      port = tonumber(port)
      local emu = { key = "emulator", pid = pid, port = port, base = "http://127.0.0.1:" .. port,
                    control = M.conn(port) }
      ctx.servers.emulator = emu
      return emu
    end
    if proc.exited(pid) then break end
    proc.sleep(0.02)
  end
  error("the emulator did not start: " .. proc.tail(proc.read_file(err)), 0)
end

-- A control request (/_emulator + path); its body, raising unless HTTP 200.
function M.control(emu, method, path, body)
  local status, rbody = emu.control:request(method, "/_emulator" .. path, body or "{}")
  if status ~= 200 then
    error(string.format("emulator control %s %s: HTTP %s %s", method, path, tostring(status), rbody or ""), 0)
  end
  return rbody
end

function M.put_running(emu, id)
  M.control(emu, "POST", "/runs", string.format('{"id":"%s","state":"JOB_RUNNING"}', id))
end

-- A clean emulator holding exactly these runs, all Running.
function M.recreate(emu, ids)
  M.control(emu, "POST", "/reset", '{"seed":false}')
  for _, id in ipairs(ids) do M.put_running(emu, id) end
end

function M.method()
  return "- **Servers**, both on 127.0.0.1 with ports chosen at run time: a static responder — nginx "
    .. "(1 worker, `access_log off`, keep-alive on) answering every request under `/v2/` with HTTP 200, "
    .. "`Content-Type: application/json` and a Clarifai success body (PATCH: the run list with the run paused; "
    .. "GET: a Running run and no log entries) — so the server is not the bottleneck; and the project's emulator "
    .. "(`lua5.4 bin/clarifai-emulator --port 0 --tick 0 --quiet`, single-threaded Lua), where the runs are "
    .. "(re)created Running through its control API before every timed run so each contender does the same work."
end

return M
