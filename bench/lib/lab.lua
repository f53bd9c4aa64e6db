-- The network lab: nginx speaking TLS 1.3 and HTTP/2 on 127.0.0.1 with a
-- throwaway CA made at run time, reached through bench/delayproxy.lua, which
-- delays every byte so that each round trip costs a chosen RTT. One server
-- answers like the static responder; a second one proxies /v2 to the
-- emulator (plain HTTP/1.1 upstream) so runs really change state.
--
-- Counting: the proxy prints one `accept N` line per connection it accepts
-- (connections opened by a client); nginx logs every request with its
-- connection serial number and $ssl_session_reused, so the connections that
-- carried requests are split into full and resumed TLS handshakes.

local ctx = require "lib.ctx"
local proc = require "lib.proc"
local servers = require "lib.servers"

local M = {}

local LOG_FORMAT = "log_format lab '$msec $connection $connection_requests $ssl_session_reused "
  .. "$ssl_protocol $server_protocol $request_method $status';"

-- A CA and a server certificate for IP:127.0.0.1 and DNS:localhost (P-256,
-- valid two days), made with the openssl command line.
local function make_certs(dir)
  local q = proc.sh_quote
  proc.write_file(dir .. "/server.ext", table.concat({
    "subjectAltName = IP:127.0.0.1, DNS:localhost",
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature",
    "extendedKeyUsage = serverAuth",
    "",
  }, "\n"))
  local steps = {
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
      .. " -subj '/CN=clarifai bench lab CA' -addext 'basicConstraints=critical,CA:TRUE'"
      .. " -addext 'keyUsage=critical,keyCertSign,cRLSign' -keyout ca.key -out ca.pem",
    "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=localhost'"
      .. " -keyout server.key -out server.csr",
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
      .. " -extfile server.ext -out server.pem",
    "openssl verify -CAfile ca.pem server.pem",
  }
  for _, cmd in ipairs(steps) do
    local out = proc.command_output("cd " .. q(dir) .. " && { " .. cmd .. "; } 2>&1; echo \"rc=$?\"")
    if not out:match("rc=0$") then error("lab certificates: `" .. cmd .. "` failed:\n" .. proc.tail(out), 0) end
  end
  return dir .. "/ca.pem"
end

-- Starts the lab's nginx: ports[1] static answers, ports[2] /v2 → emulator.
function M.start()
  local dir = ctx.work .. "/lab"
  proc.mkdir(dir)
  local ca = make_certs(dir)
  local emu = ctx.servers.emulator
  local function conf(temps, ports)
    local function server(port, log, body)
      local lines = {
        "  server {",
        "    listen 127.0.0.1:" .. port .. " ssl http2;",
        "    access_log " .. dir .. "/" .. log .. " lab;",
        "    location /v2/ {",
      }
      for _, l in ipairs(body) do lines[#lines + 1] = "      " .. l end
      lines[#lines + 1] = "    }"
      lines[#lines + 1] = "    location / { return 404; }"
      lines[#lines + 1] = "  }"
      return table.concat(lines, "\n")
    end
    return table.concat({
      servers.nginx_head(dir, temps, 4096),
      "  " .. LOG_FORMAT,
      "  keepalive_timeout 75s;",
      "  keepalive_requests 100000;",
      "  http2_max_concurrent_streams 256;",
      "  ssl_protocols TLSv1.3;",
      "  ssl_certificate " .. dir .. "/server.pem;",
      "  ssl_certificate_key " .. dir .. "/server.key;",
      "  ssl_session_cache shared:lab:1m;",
      "  ssl_session_tickets on;",
      "  upstream emulator { server 127.0.0.1:" .. emu.port .. "; keepalive 32; }",
      server(ports[1], "static.log", {
        "default_type application/json;",
        "if ($request_method = GET) { return 200 '" .. servers.GET_BODY .. "'; }",
        "return 200 '" .. servers.PATCH_BODY .. "';",
      }),
      server(ports[2], "emulator.log", {
        "proxy_pass http://emulator;",
        "proxy_http_version 1.1;",
        "proxy_set_header Connection \"\";",
        "proxy_set_header Host $host;",
      }),
      "}",
      "",
    }, "\n")
  end
  local n = servers.start_nginx({ dir = dir, nports = 2, conf = conf, ready = function(ports, pid)
    return servers.wait_listen(ports[1], 5, pid) and servers.wait_listen(ports[2], 5, pid)
  end })
  M.lab = { pid = n.pid, dir = dir, ca = ca, static_port = n.ports[1], emu_port = n.ports[2],
            static_log = dir .. "/static.log", emu_log = dir .. "/emulator.log" }
  return M.lab
end

-- The delay proxy ----------------------------------------------------------------------

local Proxy = {}
Proxy.__index = Proxy

-- A proxy on a free port to 127.0.0.1:upstream adding delay_ms each way.
-- opts: connect_rtt (bool), jitter_ms.
function M.proxy(delay_ms, upstream, opts)
  opts = opts or {}
  M.proxies = (M.proxies or 0) + 1
  local out = string.format("%s/lab/proxy-%d.out", ctx.work, M.proxies)
  local argv = { "lua5.4", ctx.root .. "/bench/delayproxy.lua", "--upstream", tostring(upstream),
                 "--delay", tostring(delay_ms), "--jitter", tostring(opts.jitter_ms or 0) }
  if opts.connect_rtt then argv[#argv + 1] = "--connect-rtt" end
  local pid = proc.start({ argv = argv, env = proc.env_for(ctx.work), cwd = ctx.work, stdout = out,
                           stderr = out .. ".err" })
  local deadline = proc.now() + 5
  while proc.now() < deadline do
    local port = tonumber((proc.read_file(out) or ""):match("^listening on 127%.0%.0%.1:(%d+)\n"))
    if port then
      return setmetatable({ pid = pid, port = port, out = out, delay_ms = delay_ms, rtt_ms = 2 * delay_ms }, Proxy)
    end
    if proc.exited(pid) then break end
    proc.sleep(0.01)
  end
  proc.stop(pid)
  error("the delay proxy did not start: " .. proc.tail(proc.read_file(out .. ".err")), 0)
end

-- Connections accepted so far.
function Proxy:accepted()
  local n = 0
  for k in (proc.read_file(self.out) or ""):gmatch("\naccept (%d+)") do n = tonumber(k) end
  return n
end

function Proxy:stop() proc.stop(self.pid) end

-- nginx's log --------------------------------------------------------------------------

-- What the log holds after byte `offset`: {requests, connections, full,
-- resumed, statuses = {code = n}, protocols = {"HTTP/2.0" = n}, first, last
-- (times of the first and last request, epoch seconds), methods = {},
-- per_conn (requests per connection, largest first: "172 + 28 × 1")}.
function M.log_stats(path, offset)
  local text = (proc.read_file(path) or ""):sub((offset or 0) + 1)
  local st = { requests = 0, connections = 0, full = 0, resumed = 0, statuses = {}, protocols = {}, methods = {} }
  local seen = {}
  for line in text:gmatch("[^\n]+") do
    local msec, conn, _, reused, _, proto, method, status =
      line:match("^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$")
    if conn then
      st.requests = st.requests + 1
      st.statuses[status] = (st.statuses[status] or 0) + 1
      st.protocols[proto] = (st.protocols[proto] or 0) + 1
      st.methods[method] = (st.methods[method] or 0) + 1
      local t = tonumber(msec)
      st.first = st.first and math.min(st.first, t) or t
      st.last = st.last and math.max(st.last, t) or t
      if not seen[conn] then
        seen[conn] = 0
        st.connections = st.connections + 1
        if reused == "r" then st.resumed = st.resumed + 1 else st.full = st.full + 1 end
      end
      seen[conn] = seen[conn] + 1
    end
  end
  -- requests per connection, e.g. "172 + 28 × 1"
  local counts = {}
  for _, k in pairs(seen) do counts[#counts + 1] = k end
  table.sort(counts, function(a, b) return a > b end)
  local parts, i = {}, 1
  while counts[i] do
    local j = i
    while counts[j + 1] == counts[i] do j = j + 1 end
    parts[#parts + 1] = (j > i) and string.format("%d × %d", j - i + 1, counts[i]) or tostring(counts[i])
    i = j + 1
  end
  st.per_conn = #parts > 0 and table.concat(parts, " + ") or "—"
  return st
end

-- before/after hooks for a contender that record, per timed run, the
-- connections the proxy accepted and nginx's view of them (r.conns,
-- r.tls_full, r.tls_resumed, r.requests, r.h2, r.per_conn).
function M.counting(c, proxy, log)
  local mark
  local before = c.before
  c.before = function()
    if before then before() end
    mark = { accepted = proxy:accepted(), offset = proc.file_size(log) or 0 }
  end
  c.after = function(r)
    -- the log line of the last request may trail its response by a moment
    local st
    for _ = 1, 50 do
      st = M.log_stats(log, mark.offset)
      if not c.expect_requests or st.requests >= c.expect_requests then break end
      proc.sleep(0.01)
    end
    r.conns = proxy:accepted() - mark.accepted
    r.tls_full, r.tls_resumed, r.requests = st.full, st.resumed, st.requests
    r.h2 = st.protocols["HTTP/2.0"] or 0
    r.per_conn = st.per_conn
  end
  return c
end

function M.stop()
  if M.lab then proc.stop(M.lab.pid) M.lab = nil end
end

return M
