-- The delay proxy itself: what it costs with no delay (curl through it
-- against curl straight to nginx, interleaved), and how exactly it keeps the
-- round-trip time it is asked for (keep-alive HTTP/1.1 requests from this
-- process through the proxy to the static responder).

local http = require "support.http"
local ctx = require "lib.ctx"
local lab = require "lib.lab"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"

local M = {}

local function answers(n)
  return function(text)
    local k = 0
    for _ in text:gmatch('"code":64008') do k = k + 1 end
    if k ~= n then error(string.format("curl: expected %d answers, got %d:\n%s", n, k, proc.tail(text)), 0) end
  end
end

-- curl direct and through the proxy: one PATCH and a batch.
local function cost(t)
  local L, ca, cwd = ctx.settings.lab, lab.lab.ca, ctx.cwd
  local px = lab.proxy(0, lab.lab.static_port)
  local homes = {
    direct = requests.make_home("home-lab-direct", "https://127.0.0.1:" .. lab.lab.static_port),
    proxy = requests.make_home("home-lab-proxy0", "https://127.0.0.1:" .. px.port),
  }
  local ids = requests.batch_ids(L.overhead_batch)
  local one, many = {}, {}
  for _, key in ipairs({ "direct", "proxy" }) do
    local env = proc.env_for(homes[key])
    local req = requests.dry_run(requests.CHECKOUT, homes[key], cwd, { "bench-one" })[1]
    one[#one + 1] = { key = key, label = "curl " .. key, env = env, cwd = cwd, check = answers(1),
      argv = requests.curl_argv(req, { "--cacert", ca }) }
    local cfg = requests.curl_config(requests.dry_run(requests.CHECKOUT, homes[key], cwd, ids),
      ctx.work .. "/lab/overhead-" .. key .. ".cfg", { "cacert = " .. requests.cfg_quote(ca) })
    many[#many + 1] = { key = key, label = "curl --parallel " .. key, env = env, cwd = cwd, check = answers(#ids),
      argv = { "curl", "-q", "-sS", "--parallel", "--parallel-max", tostring(ctx.parallel), "-K", cfg } }
  end
  proc.say("  the proxy's cost at delay 0 (%d and %d rounds)", L.overhead_reps, L.overhead_batch_reps)
  proc.measure(one, L.overhead_reps)
  proc.measure(many, L.overhead_batch_reps)
  px:stop()
  for _, set in ipairs({ { one, "one PATCH (`curl -X PATCH --cacert`)" },
      { many, string.format("%d PATCH (`curl --parallel --parallel-max %d -K cfg`)", #ids, ctx.parallel) } }) do
    local direct, via = proc.wall_ms(set[1][1]), proc.wall_ms(set[1][2])
    t.rows[#t.rows + 1] = { set[2], "straight to nginx", report.ms(direct), "1 (baseline)" }
    t.rows[#t.rows + 1] = { set[2], "through the proxy, delay 0", report.ms(via), report.ratio(via / direct) }
    local cost_of = ctx.info.proxy_cost or {}
    ctx.info.proxy_cost = cost_of
    cost_of[#cost_of + 1] = { n = set[1] == one and 1 or #ids, direct = direct, via = via }
  end
end

-- Round trips through the proxy at each RTT, to the plain-HTTP static nginx.
local function accuracy(t)
  local L = ctx.settings.lab
  for _, rtt in ipairs(L.rtts) do
    local px = lab.proxy(rtt / 2, ctx.servers.nginx.port, { connect_rtt = true })
    local sock = assert(http.connect(px.port, 10))
    local function round_trip()
      local t0 = proc.now()
      assert(http.send_request(sock, "GET", "/v2/rtt-probe", nil, {}))
      local res, err = http.read_response(sock)
      if not res or res.status ~= 200 then error("RTT probe through the proxy failed: " .. tostring(err), 0) end
      return (proc.now() - t0) * 1000
    end
    local first = round_trip()
    local xs = {}
    for i = 1, L.rtt_probes do xs[i] = round_trip() end
    sock:close()
    px:stop()
    local med = proc.median(xs)
    ctx.info.proxy_rtt = ctx.info.proxy_rtt or {}
    ctx.info.proxy_rtt[#ctx.info.proxy_rtt + 1] = { rtt = rtt, round_trip = med, first = first }
    t.rows[#t.rows + 1] = { string.format("round trip at RTT %d ms (keep-alive GET, median of %d)", rtt, #xs),
      "through the proxy", report.ms(med), report.ratio(med / rtt) .. " of the RTT" }
    t.rows[#t.rows + 1] = { string.format("first request on a new connection at RTT %d ms", rtt),
      "through the proxy (`--connect-rtt`)", report.ms(first), report.ratio(first / (2 * rtt)) .. " of 2 × RTT" }
  end
end

function M.run(section)
  local t = report.add_table(section, "The delay proxy: its own cost (delay 0) and its accuracy",
    { "measurement", "contender", "median", "ratio" })
  cost(t)
  accuracy(t)
end

return M
