-- The network lab (bench/lib/lab.lua): the command against curl over TLS 1.3
-- and HTTP/2 at a round-trip time of 50 and 150 ms — one pause, batches at
-- parallelism 8 and 64 beside the physical limit, and the connections and
-- TLS handshakes each contender needs. network_wait.lua and
-- network_overhead.lua add their tables to the same section.

local ctx = require "lib.ctx"
local lab = require "lib.lab"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"

local M = {}

local PAUSED = "Pipeline version run [^\n]* has been paused%."
local TARGET = 1.05

-- "3" when every run gave 3, else "2–4" (min–max).
function M.spread(runs, key)
  local lo, hi
  for _, r in ipairs(runs) do
    local v = r[key]
    lo = lo and math.min(lo, v) or v
    hi = hi and math.max(hi, v) or v
  end
  if lo == nil then return "—" end
  if lo == hi then return tostring(lo) end
  return lo .. "–" .. hi
end

-- curl's stdout: n PATCH answers, and the write-out line of the first transfer.
local function curl_check(n)
  return function(text)
    local k = 0
    for _ in text:gmatch('"code":64008') do k = k + 1 end
    if k ~= n then error(string.format("curl: expected %d answers, got %d:\n%s", n, k, proc.tail(text)), 0) end
    if not text:match("appconnect=[%d.]+") then error("curl printed no time_appconnect:\n" .. proc.tail(text), 0) end
  end
end

local function appconnect_ms(c)
  local xs = {}
  for i, r in ipairs(c.runs) do xs[i] = tonumber(r.stdout:match("appconnect=([%d.]+)")) * 1000 end
  return proc.median(xs)
end

-- The command and curl sending the same n PATCHes at parallelism p through
-- the proxy, both counted; returns cmd, curl (measured).
local function contenders(px, home, ids, p, reps, tag)
  local L, cwd = ctx.settings.lab, ctx.cwd
  local ca = lab.lab.ca
  local env = proc.env_for(home, { "SSL_CERT_FILE=" .. ca })
  local reqs = requests.dry_run(requests.CHECKOUT, home, cwd, ids)
  local cmd = { key = "cmd", label = "./bin/clarifai", env = env, cwd = cwd, check = proc.expect_lines(PAUSED, #ids),
                argv = { requests.CHECKOUT, "pr", "pause" } }
  for _, id in ipairs(ids) do cmd.argv[#cmd.argv + 1] = id end
  local curl = { key = "curl", label = "curl", env = env, cwd = cwd, capture = true, check = curl_check(#ids) }
  if #ids == 1 then
    curl.argv = requests.curl_argv(reqs[1], { "--cacert", ca, "-w", "\nappconnect=%{time_appconnect}\n" })
  else
    cmd.argv[#cmd.argv + 1] = "--parallel"
    cmd.argv[#cmd.argv + 1] = tostring(p)
    local cfg = requests.curl_config(reqs, string.format("%s/lab/curl-%s.cfg", ctx.work, tag),
      { "cacert = " .. requests.cfg_quote(ca) }, { 'write-out = "\\nappconnect=%{time_appconnect}\\n"' })
    curl.argv = { "curl", "-q", "-sS", "--parallel", "--parallel-max", tostring(p), "-K", cfg }
  end
  for _, c in ipairs({ cmd, curl }) do
    c.expect_requests = #ids
    lab.counting(c, px, lab.lab.static_log)
  end
  proc.measure({ cmd, curl }, reps or L.batch_reps, { warmup = false })
  return cmd, curl
end

local function add_rows(t, conns, rtt, n, p, cmd, curl)
  local c_ms, b_ms = proc.wall_ms(cmd), proc.wall_ms(curl)
  local connect = appconnect_ms(curl)
  local limit = math.ceil(n / p) * rtt + connect
  local ratio = c_ms / b_ms
  local what = n == 1 and "`pr pause RUN`" or string.format("`pr pause ID×%d --parallel %d`", n, p)
  local curl_what = n == 1 and "`curl -X PATCH --cacert`"
    or string.format("`curl --parallel --parallel-max %d -K cfg`", p)
  local pcell = n == 1 and "—" or tostring(p)
  t.rows[#t.rows + 1] = { rtt .. " ms", tostring(n), pcell, "`./bin/clarifai " .. what:sub(2), report.ms(c_ms),
    report.ratio(ratio), report.ms(limit), report.ratio(c_ms / limit), n == 1 and "" or "≤ 1.05× curl",
    n == 1 and "" or report.met(ratio <= TARGET) }
  t.rows[#t.rows + 1] = { rtt .. " ms", tostring(n), pcell, curl_what, report.ms(b_ms), "1 (baseline)",
    report.ms(limit), report.ratio(b_ms / limit), "", "" }
  local ch = M.chart_data
  if ch then
    ch.categories[#ch.categories + 1] = string.format("RTT %d ms\n%s", rtt,
      n == 1 and "1 run" or string.format("%d runs, P %d", n, p))
    ch.cmd[#ch.cmd + 1] = c_ms / limit
    ch.curl[#ch.curl + 1] = b_ms / limit
  end
  if conns then M.conn_rows(conns, rtt, n, p, cmd, curl) end
  return connect
end

function M.conn_rows(t, rtt, n, p, cmd, curl)
  local pcell = n == 1 and "—" or tostring(p)
  for _, c in ipairs({ cmd, curl }) do
    local one = true
    for _, r in ipairs(c.runs) do one = one and r.conns == 1 end
    local is_cmd = c.key == "cmd"
    local dist, seen = {}, {}
    for _, r in ipairs(c.runs) do
      if not seen[r.per_conn] then seen[r.per_conn] = true dist[#dist + 1] = r.per_conn end
    end
    t.rows[#t.rows + 1] = { rtt .. " ms", tostring(n), pcell, is_cmd and "./bin/clarifai" or "curl",
      M.spread(c.runs, "conns"), M.spread(c.runs, "tls_full"), M.spread(c.runs, "tls_resumed"),
      M.spread(c.runs, "requests") .. " / " .. M.spread(c.runs, "h2"), table.concat(dist, "; "),
      is_cmd and "1 connection" or "", is_cmd and report.met(one) or "" }
  end
end

function M.run()
  local L = ctx.settings.lab
  proc.say("network lab: TLS 1.3 + HTTP/2 nginx behind the delay proxy, RTT %s ms", table.concat(L.rtts, ", "))
  lab.start()
  M.section = report.section({ title = "Network: TLS 1.3 and HTTP/2 over a delayed link" })
  local s = M.section
  M.times = report.add_table(s, "Time, the command against curl (same requests, same run)",
    { "RTT", "runs", "P", "contender", "median", "ratio to curl", "limit", "× limit", "target", "met?" })
  M.conns = report.add_table(s, "Connections opened (at the proxy) and TLS handshakes (nginx's log), per batch",
    { "RTT", "runs", "P", "contender", "connections", "TLS full", "TLS resumed", "requests / HTTP/2",
      "requests per connection", "target", "met?" })
  ctx.info.lab_connect = {}
  M.chart_data = { categories = {}, cmd = {}, curl = {} }
  for _, rtt in ipairs(L.rtts) do
    local px = lab.proxy(rtt / 2, lab.lab.static_port, { connect_rtt = true })
    local home = requests.make_home("home-lab-" .. rtt, "https://127.0.0.1:" .. px.port)
    proc.say("  RTT %d ms: one pause (%d rounds)", rtt, L.one_reps)
    local cmd, curl = contenders(px, home, { "bench-one" }, 1, L.one_reps, rtt .. "-1")
    ctx.info.lab_connect[rtt] = add_rows(M.times, M.conns, rtt, 1, 1, cmd, curl)
    for _, b in ipairs(L.batches) do
      proc.say("  RTT %d ms: %d pauses, parallelism %d (%d rounds)", rtt, b[1], b[2], L.batch_reps)
      cmd, curl = contenders(px, home, requests.batch_ids(b[1]), b[2], L.batch_reps, rtt .. "-" .. b[1])
      add_rows(M.times, M.conns, rtt, b[1], b[2], cmd, curl)
    end
    local probe = L.probe
    proc.say("  RTT %d ms: connections at parallelism %d (%d pauses, one run each)", rtt, probe[2], probe[1])
    cmd, curl = contenders(px, home, requests.batch_ids(probe[1]), probe[2], 1, rtt .. "-probe")
    M.conn_rows(M.conns, rtt, probe[1], probe[2], cmd, curl)
    px:stop()
  end
  local ch = M.chart_data
  report.chart(s, "network-limit", {
    title = "Time against the physical limit, by RTT and parallelism",
    subtitle = "TLS 1.3 + HTTP/2 over a delayed link; limit = ceil(runs / P) × RTT + connect; medians",
    series = { "./bin/clarifai pr pause", "curl (same requests)" },
    panels = { { ylabel = "time ÷ limit (×)", categories = ch.categories, values = { ch.cmd, ch.curl },
      fmt = function(v) return string.format("%.2f", v) end, ref = { value = 1, label = "the limit" } } },
  })
  require("figures.network_wait").run(M.section)
  require("figures.network_overhead").run(M.section)
  lab.stop()
  s.method = M.method_lines()
end

-- The proxy's measured cost and accuracy, as a clause for the method text.
function M.proxy_summary()
  local info, parts = ctx.info, {}
  for _, c in ipairs(info.proxy_cost or {}) do
    parts[#parts + 1] = string.format("%s took %s straight to nginx and %s through the proxy at delay 0",
      c.n == 1 and "one PATCH" or (c.n .. " PATCHes"), report.ms(c.direct), report.ms(c.via))
  end
  for _, r in ipairs(info.proxy_rtt or {}) do
    parts[#parts + 1] = string.format("asked for %d ms it gave round trips of %s (a new connection's first "
      .. "request: %s)", r.rtt, report.ms(r.round_trip), report.ms(r.first))
  end
  if #parts == 0 then return "" end
  return ": in this run " .. table.concat(parts, "; ")
end

function M.method_lines()
  local L = ctx.settings.lab
  local info = ctx.info
  local out = {
    "How the lab is built and what the columns mean:",
    "",
    "- **Server**: nginx (1 worker) on 127.0.0.1, `listen … ssl http2`, `ssl_protocols TLSv1.3`, "
      .. "`http2_max_concurrent_streams 256`, `keepalive_requests 100000`, session cache and tickets on. Its "
      .. "certificate is made at run time with the `openssl` command line: a throwaway P-256 CA and a server "
      .. "certificate for `IP:127.0.0.1` and `DNS:localhost` signed by it, valid two days. One server block "
      .. "answers like the static responder above; a second one proxies `/v2/` to the emulator (plain HTTP/1.1 "
      .. "upstream with keep-alive) for the `--wait` figure. The command trusts the CA through `SSL_CERT_FILE`, "
      .. "curl through `--cacert` (a `cacert` line in every entry of a `-K` file, where options are per transfer).",
    "- **Delayed link**: `bench/delayproxy.lua`, a single-threaded LuaSocket proxy between client and nginx. "
      .. "Every chunk it reads from one side is stamped on arrival and written to the other side RTT/2 later "
      .. "(release times kept in order per direction; an end of stream is delayed the same way), so every round "
      .. "trip costs the RTT more. With `--connect-rtt` (used here) a client's first bytes reach nginx no earlier "
      .. "than 1.5 × RTT after the accept, standing in for the TCP handshake that the loopback completes at once: "
      .. "a new connection costs 1 RTT (TCP) + 1 RTT (TLS 1.3) before its first request, as on a real link. "
      .. "`--jitter MS` exists (uniform ± MS per chunk, never reordering) but these figures use none. "
      .. "Its own cost and accuracy are measured below (*The delay proxy*)" .. M.proxy_summary() .. ".",
    "- **Time**: from spawn to reap, as everywhere. `runs` PATCH requests, each for a distinct run id, "
      .. "the command with `--parallel P` (ids as arguments) and curl with `--parallel --parallel-max P -K cfg` "
      .. "(the same requests, from the command's `--dry-run`). "
      .. string.format("Medians of %d interleaved rounds for one pause and %d for batches; no warm-up run here "
        .. "(earlier figures warmed every cache) — instead every timed run's output is checked (one `has been "
        .. "paused.` line per run; curl: one answer per request).", L.one_reps, L.batch_reps),
    "- **Limit**: `ceil(runs / P) × RTT + connect`, the time the requests need on this link with P in flight "
      .. "and nothing else, where connect is curl's `%{time_appconnect}` of its first transfer (TCP and TLS "
      .. "through the proxy), median of the curl runs of the same row. Process start-up and the servers' work "
      .. "are not in it, so both contenders sit slightly above 1×.",
    "- **Connections** are counted at the proxy (`accept N` lines: every TCP connection a client opened); "
      .. "**TLS full / resumed** per connection from nginx's access log (`$connection`, `$ssl_session_reused`), "
      .. "which only lists connections that carried a request; **requests / HTTP/2**: requests nginx logged for "
      .. "the run / of them over HTTP/2; **requests per connection**: how nginx's log spreads them over the "
      .. "connections (`172 + 28 × 1`: one connection carried 172, 28 carried one each; distinct runs separated "
      .. "by `;`). Each other cell is the value of every timed run, or min–max when runs differed. "
      .. string.format("The rows at P = %d are one run of each contender, for the connection count only.", L.probe[2]),
  }
  if info.wait_method then out[#out + 1] = info.wait_method end
  out[#out + 1] = string.format("- **The delay proxy**: its cost is curl through a proxy with delay 0 against curl "
    .. "straight to the same nginx port, interleaved (medians of %d runs for one PATCH, %d for the batch). Its "
    .. "accuracy: this driver opens one connection through the proxy to the plain-HTTP static responder and "
    .. "times keep-alive GETs (the first one on the new connection, then the median of %d more), in the same "
    .. "process with the monotonic clock.", L.overhead_reps, L.overhead_batch_reps, L.rtt_probes)
  return out
end

return M
