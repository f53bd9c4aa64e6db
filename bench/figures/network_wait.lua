-- `clarifai pr pause ID... --wait` in the network lab, against runs that
-- really change state: nginx (TLS 1.3, HTTP/2, behind the delay proxy)
-- proxies /v2 to the emulator, whose transition_delay makes every accepted
-- pause take effect some seconds later. Measured: the requests the command
-- sends (the emulator's request log) and how long after the last transition
-- it exits.

local cjson = require("cjson").new()
local socket = require "socket"
local ctx = require "lib.ctx"
local lab = require "lib.lab"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"
local servers = require "lib.servers"

local M = {}

local PAUSED = "Pipeline version run [^\n]* has been paused%."

-- The emulator's request log by kind: PATCH, GET of one run, GET of the
-- list, anything else; and the time of the last PATCH (epoch seconds).
local function request_counts(emu)
  local log = cjson.decode(servers.control(emu, "GET", "/requests")).requests
  local n = { patch = 0, get_one = 0, get_list = 0, other = 0, all = #log }
  local last_patch
  for _, q in ipairs(log) do
    local path = q.path or ""
    if q.method == "PATCH" then
      n.patch = n.patch + 1
      last_patch = math.max(last_patch or 0, q.time)
    elseif q.method == "GET" and path:match("/runs/[^/]+$") then
      n.get_one = n.get_one + 1
    elseif q.method == "GET" and path:match("/runs$") then
      n.get_list = n.get_list + 1
    else
      n.other = n.other + 1
    end
  end
  return n, last_patch
end

function M.run(section)
  local L, emu = ctx.settings.lab, ctx.servers.emulator
  local n, delay, interval = L.wait_runs, L.wait_delay, L.wait_interval
  local t = report.add_table(section, string.format("`--wait` over %d runs (nginx → emulator; each pause takes "
    .. "effect %g s after it is accepted)", n, delay),
    { "RTT", "runs", "`--interval`", "PATCH", "GET one run", "GET list", "other", "requests in all",
      "connections", "last transition → exit", "total time" })
  local ids = {}
  for i = 1, n do ids[i] = "w" .. i end
  for _, rtt in ipairs(L.rtts) do
    proc.say("  RTT %d ms: --wait over %d runs (%d rounds)", rtt, n, L.wait_reps)
    local px = lab.proxy(rtt / 2, lab.lab.emu_port, { connect_rtt = true })
    local home = requests.make_home("home-lab-wait-" .. rtt, "https://127.0.0.1:" .. px.port)
    local argv = { requests.CHECKOUT, "pr", "pause" }
    for _, id in ipairs(ids) do argv[#argv + 1] = id end
    for _, a in ipairs({ "--wait", "--interval", tostring(interval), "--timeout", tostring(delay + 120) }) do
      argv[#argv + 1] = a
    end
    local c = lab.counting({ label = "./bin/clarifai pr pause ID… --wait", argv = argv, cwd = ctx.cwd,
      env = proc.env_for(home, { "SSL_CERT_FILE=" .. lab.lab.ca }) }, px, lab.lab.emu_log)
    local rows = { patch = {}, get_one = {}, get_list = {}, other = {}, all = {}, conns = {}, lag = {}, total = {} }
    for _ = 1, L.wait_reps do
      servers.control(emu, "POST", "/reset", '{"seed":false}')
      servers.control(emu, "POST", "/runs", string.format('{"prefix":"w","count":%d,"state":"JOB_RUNNING"}', n))
      servers.control(emu, "POST", "/config", string.format('{"transition_delay": %g}', delay))
      local out = ctx.work .. "/wait.out"
      local t0 = socket.gettime()
      local r = proc.run_once(c, out)
      proc.expect_lines(PAUSED, n)(proc.read_file(out) or "")
      local counts, last_patch = request_counts(emu)
      for k, v in pairs(counts) do rows[k][#rows[k] + 1] = v end
      rows.conns[#rows.conns + 1] = r.conns
      rows.lag[#rows.lag + 1] = t0 + r.wall - (last_patch + delay)
      rows.total[#rows.total + 1] = r.wall
    end
    px:stop()
    local function med(k) return proc.median(rows[k]) end
    t.rows[#t.rows + 1] = { rtt .. " ms", tostring(n), string.format("%g s", interval),
      string.format("%g", med("patch")), string.format("%g", med("get_one")), string.format("%g", med("get_list")),
      string.format("%g", med("other")), string.format("%g", med("all")), string.format("%g", med("conns")),
      report.secs(med("lag")), report.secs(med("total")) }
  end
  servers.control(emu, "POST", "/config", '{"transition_delay": 0}')
  servers.control(emu, "POST", "/reset", '{"seed":false}')
  ctx.info.wait_method = string.format("- **`--wait`**: before each run the emulator is reset and gets runs "
    .. "w1…w%d, Running, and `transition_delay` %g s; then `clarifai pr pause w1 … w%d --wait --interval %g` "
    .. "runs through the proxy and nginx. Requests are counted in the emulator's request log (everything the "
    .. "command sent; the emulator is reached only through nginx); connections at the proxy. The last "
    .. "transition is the time of the last PATCH the emulator logged plus `transition_delay` (when the last run "
    .. "became Paused); *last transition → exit* is the command's exit (spawn time + wall time, same clock) "
    .. "minus that. Medians of %d runs; every run's output is checked (%d `has been paused.` lines).",
    n, delay, n, interval, L.wait_reps, n)
end

return M
