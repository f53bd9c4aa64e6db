-- An app's worth of runs at once: `clarifai pr pause --all-pipelines --all
-- --yes` over runs spread across the versions of several pipelines, against
-- the emulator (plain HTTP on loopback, and through the network lab's TLS
-- 1.3 + HTTP/2 nginx behind the delay proxy), under each way the service may
-- answer a PATCH naming many runs. Beside it: the same command one run per
-- request (`--group-size 1 --parallel 8`) and curl sending one PATCH per
-- run. Every timed run starts from a freshly made world and is checked
-- against the emulator afterwards: each run's outcome against its state
-- there, and how often each run was named in a PATCH (its request log).

local cjson = require("cjson").new()
local ctx = require "lib.ctx"
local lab = require "lib.lab"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"
local servers = require "lib.servers"

local M = {}

local USER, APP = "demo-user", "bulk-app"
local PAUSED, RUNNING = 64008, 64001
local MAX_REQUESTS, MAX_RATIO, MAX_SENDS = 250, 0.1, 3

-- The world's versions: {pipeline_id, pipeline_version_id, prefix}.
local function versions()
  local B, out = ctx.settings.bulk, {}
  for p = 1, B.pipelines do
    for v = 1, B.versions do
      out[#out + 1] = { pipeline_id = "pipe-" .. p, pipeline_version_id = "ver-" .. v,
                        prefix = string.format("p%d-v%d-", p, v) }
    end
  end
  return out
end

-- A clean emulator answering multi-run PATCHes in `mode`, holding the runs
-- of every version, all Running (a `fraction` of them turn Completed when a
-- PATCH first names them).
local function make_world(emu, mode, fraction)
  servers.control(emu, "POST", "/reset", '{"seed":false}')
  servers.control(emu, "POST", "/config", cjson.encode({ patch_mode = mode }))
  for _, v in ipairs(versions()) do
    servers.control(emu, "POST", "/runs", cjson.encode({ prefix = v.prefix, count = ctx.settings.bulk.per_version,
      state = "JOB_RUNNING", user_id = USER, app_id = APP, pipeline_id = v.pipeline_id,
      pipeline_version_id = v.pipeline_version_id }))
  end
  if fraction then
    servers.control(emu, "POST", "/faults", cjson.encode({ kind = "terminal_on_patch", fraction = fraction }))
  end
end

-- What reached the emulator: requests by kind and the most PATCHes naming
-- one run.
local function traffic(emu)
  local log = cjson.decode(servers.control(emu, "GET", "/requests")).requests
  local n = { patch = 0, list = 0, get = 0, other = 0, all = #log, max_sends = 0 }
  local sends = {}
  for _, q in ipairs(log) do
    local path = q.path or ""
    if q.method == "PATCH" then
      n.patch = n.patch + 1
      for _, item in ipairs(cjson.decode(q.body).pipeline_version_runs) do
        sends[item.id] = (sends[item.id] or 0) + 1
        n.max_sends = math.max(n.max_sends, sends[item.id])
      end
    elseif q.method == "GET" and path:match("/runs$") then n.list = n.list + 1
    elseif q.method == "GET" and path:match("/runs/[^/]+$") then n.get = n.get + 1
    else n.other = n.other + 1 end
  end
  return n
end

-- run id -> its state code in the emulator (one listing per version).
local function states(emu)
  local out, auth = {}, { Authorization = "Key " .. ctx.token }
  for _, v in ipairs(versions()) do
    local path = string.format("/v2/users/%s/apps/%s/pipelines/%s/versions/%s/runs?per_page=100000", USER, APP,
      v.pipeline_id, v.pipeline_version_id)
    local status, body = emu.control:request("GET", path, nil, auth)
    if status ~= 200 then error("listing " .. path .. ": HTTP " .. tostring(status), 0) end
    for _, run in ipairs(cjson.decode(body).pipeline_version_runs) do
      out[run.id] = run.orchestration_status.status.code
    end
  end
  return out
end

-- The command's -o jsonl output checked against the emulator: every run of
-- the world has exactly one result, `ok` runs are Paused there, `failed`
-- ones ended (Completed) before they could be; returns the outcome counts.
local function check_results(text, world, total)
  local seen, counts, summary = {}, { ok = 0, noop = 0, failed = 0, unknown = 0, not_sent = 0 }, nil
  for line in text:gmatch("[^\n]+") do
    local r = cjson.decode(line)
    if r.summary then summary = r.summary
    else
      if seen[r.run_id] then error("two results for run " .. r.run_id, 0) end
      seen[r.run_id] = true
      local code = world[r.run_id]
      if not code then error("a result for a run the emulator does not hold: " .. r.run_id, 0) end
      counts[r.outcome] = counts[r.outcome] + 1
      local true_ = (r.outcome == "ok" and code == PAUSED and r.state_code == PAUSED)
        or (r.outcome == "noop" and code == PAUSED)
        or (r.outcome == "failed" and code ~= PAUSED and code ~= RUNNING)
      if not true_ then
        error(string.format("run %s: outcome %s but the emulator holds state %s", r.run_id, r.outcome,
          tostring(code)), 0)
      end
    end
  end
  local n = 0
  for _ in pairs(seen) do n = n + 1 end
  if n ~= total then error(string.format("%d results for %d runs", n, total), 0) end
  if not summary or summary.ok ~= counts.ok or summary.failed ~= counts.failed then
    error("the summary line does not match the results", 0)
  end
  return counts
end

-- Every run of the world is Paused.
local function all_paused(world, total)
  local n = 0
  for id, code in pairs(world) do
    if code ~= PAUSED then error("run " .. id .. " is not paused (state " .. code .. ")", 0) end
    n = n + 1
  end
  if n ~= total then error(string.format("the emulator holds %d runs, not %d", n, total), 0) end
end

local function total_runs()
  local B = ctx.settings.bulk
  return B.pipelines * B.versions * B.per_version
end

local function command(env, cwd, extra)
  local argv = { requests.CHECKOUT, "pr", "pause", "--all-pipelines", "--all", "--yes", "--user_id", USER,
                 "--app_id", APP, "-o", "jsonl" }
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  return { argv = argv, env = env, cwd = cwd }
end

-- curl: one PATCH per run from a -K file whose entries are the command's own
-- requests for those runs (its --dry-run, version by version).
local function curl_contender(home, env, cwd, extra_cfg)
  local reqs = {}
  for _, v in ipairs(versions()) do
    local ids = {}
    for i = 1, ctx.settings.bulk.per_version do ids[i] = v.prefix .. i end
    local got = requests.dry_run(requests.CHECKOUT, home, cwd, ids, { flags = { "--user_id", USER, "--app_id", APP,
      "--pipeline_id", v.pipeline_id, "--pipeline_version_id", v.pipeline_version_id } })
    for _, q in ipairs(got) do reqs[#reqs + 1] = q end
  end
  local cfg = requests.curl_config(reqs, cwd .. "/curl-" .. #reqs .. ".cfg", extra_cfg)
  return { argv = { "curl", "-q", "-sS", "--parallel", "--parallel-max", tostring(ctx.parallel), "-K", cfg },
           env = env, cwd = cwd, curl = true }
end

-- One timed run of contender c on a fresh world; returns {wall, traffic,
-- counts}, having checked what it did.
local function run_checked(emu, c, mode, fraction)
  make_world(emu, mode, fraction)
  local out = ctx.work .. "/bulk.out"
  -- runs that ended before they could be paused fail the command: exit 7
  local r = proc.run_once({ label = c.label, argv = c.argv, env = c.env, cwd = c.cwd,
    allow = fraction and { [7] = true } or nil }, out)
  local tr = traffic(emu)
  local world, text = states(emu), proc.read_file(out) or ""
  local counts
  if c.curl then
    local k = 0
    for _ in text:gmatch('"code":' .. PAUSED) do k = k + 1 end
    if k ~= total_runs() then error(string.format("curl: %d answers with the run paused, not %d", k, total_runs()), 0) end
    all_paused(world, total_runs())
  else
    counts = check_results(text, world, total_runs())
    if not fraction then all_paused(world, total_runs()) end
  end
  if tr.max_sends > MAX_SENDS then error(string.format("%s: a run was sent %d times", c.label, tr.max_sends), 0) end
  return { wall = r.wall, traffic = tr, counts = counts }
end

-- Interleaved rounds (A B C A B C ...); contender c runs c.reps times.
local function measure(emu, list, mode)
  local most = 0
  for _, c in ipairs(list) do
    c.runs = {}
    most = math.max(most, c.reps)
  end
  for round = 1, most do
    for _, c in ipairs(list) do
      if round <= c.reps then c.runs[#c.runs + 1] = run_checked(emu, c, mode) end
    end
  end
end

local function median(c, f)
  local xs = {}
  for i, r in ipairs(c.runs) do xs[i] = f(r) end
  return proc.median(xs)
end

-- "206" when every run sent the same, else "206–210".
local function spread(c, f)
  local lo, hi
  for _, r in ipairs(c.runs) do
    local v = f(r)
    lo, hi = math.min(lo or v, v), math.max(hi or v, v)
  end
  return lo == hi and tostring(lo) or (lo .. "–" .. hi)
end

-- What the chart shows: per server and answer mode, each contender's
-- requests and time (series: grouped, one run per request, curl).
local chart = { categories = {}, requests = { {}, {}, {} }, time = { {}, {}, {} } }

local function time_rows(t, where, mode, list, grouped, singles)
  local base = median(singles, function(r) return r.wall end)
  local k = #chart.categories + 1
  chart.categories[k] = where:gsub(" %(loopback%)", ""):gsub(", RTT ", " RTT ") .. "\n" .. mode
  for _, c in ipairs(list) do
    local i = c == grouped and 1 or c == singles and 2 or 3
    chart.requests[i][k] = median(c, function(r) return r.traffic.all end)
    chart.time[i][k] = median(c, function(r) return r.wall end)
  end
  for _, c in ipairs(list) do
    local ms = median(c, function(r) return r.wall end) * 1000
    local target, met = "", ""
    if c == grouped and not ctx.smoke then -- the targets are for the full-size world
      local reqs_ok = median(c, function(r) return r.traffic.all end) <= MAX_REQUESTS
      local ratio_ok = ms / 1000 <= MAX_RATIO * base
      target = string.format("≤ %d requests; ≤ %g× the time", MAX_REQUESTS, MAX_RATIO)
      met = "requests: " .. report.met(reqs_ok) .. "; time: " .. report.met(ratio_ok)
    end
    t.rows[#t.rows + 1] = { where, mode, c.label, spread(c, function(r) return r.traffic.list end),
      spread(c, function(r) return r.traffic.patch end), spread(c, function(r) return r.traffic.all end),
      report.ms(ms), c == singles and "1 (baseline)" or report.ratio(ms / 1000 / base),
      tostring(#c.runs), target, met }
  end
end

-- The three contenders against one server (base URL in home).
local function contenders(home, env, cwd, reps, extra_cfg)
  local grouped = command(env, cwd)
  grouped.label, grouped.reps = "`pause --all-pipelines --all --yes`", reps.fast
  local singles = command(env, cwd, { "--group-size", "1", "--parallel", tostring(ctx.parallel) })
  singles.label, singles.reps = "… `--group-size 1 --parallel 8`", reps.slow
  local curl = curl_contender(home, env, cwd, extra_cfg)
  curl.label, curl.reps = string.format("`curl --parallel --parallel-max %d -K cfg`", ctx.parallel), reps.slow
  return grouped, singles, curl
end

local function timed(t, emu, where, home, env, cwd, reps, extra_cfg)
  local grouped, singles, curl = contenders(home, env, cwd, reps, extra_cfg)
  for _, mode in ipairs({ "atomic", "mixed" }) do
    proc.say("  %s, %s: grouped ×%d, one run per request ×%d, curl ×%d", where, mode, grouped.reps, singles.reps,
      mode == "atomic" and curl.reps or 0)
    -- curl sends one run per request: the same in every answer mode
    local list = mode == "atomic" and { grouped, singles, curl } or { grouped, singles }
    measure(emu, list, mode)
    time_rows(t, where, mode, list, grouped, singles)
  end
end

local function fault_rows(t, emu, env, cwd)
  local B = ctx.settings.bulk
  for _, mode in ipairs({ "atomic", "mixed", "single", "partial" }) do
    proc.say("  terminal_on_patch %g, %s", B.fraction, mode)
    local c = command(env, cwd)
    c.label = "grouped"
    local r = run_checked(emu, c, mode, B.fraction)
    local k, tr = r.counts, r.traffic
    t.rows[#t.rows + 1] = { mode, tostring(k.ok), tostring(k.failed), tostring(k.noop + k.unknown + k.not_sent),
      tostring(tr.list), tostring(tr.get), tostring(tr.patch), tostring(tr.all), tostring(tr.max_sends),
      report.secs(r.wall), string.format("every outcome true, ≤ %d sends per run", MAX_SENDS),
      report.met(k.unknown + k.not_sent == 0 and tr.max_sends <= MAX_SENDS) }
  end
end

function M.run()
  local B, emu = ctx.settings.bulk, ctx.servers.emulator
  local n = total_runs()
  local cwd = ctx.work .. "/bulk"
  proc.mkdir(cwd)
  proc.say("bulk: %d Running runs in %d versions of %d pipelines", n, B.pipelines * B.versions, B.pipelines)
  local s = report.section({ title = string.format("Bulk: %d runs of an app in few requests", n) })
  local t = report.add_table(s, string.format("`clarifai pr pause --all-pipelines --all --yes` over %d Running runs "
    .. "(%d pipelines × %d versions × %d runs), every run paused", n, B.pipelines, B.versions, B.per_version),
    { "server", "PATCH answers", "contender", "GET list", "PATCH", "requests in all", "time", "time ratio",
      "runs", "target", "met?" })
  local home = requests.make_home("home-bulk", emu.base)
  local env = proc.env_for(home)
  timed(t, emu, "emulator (loopback)", home, env, cwd, { fast = B.reps, slow = B.reps })

  local started = not lab.lab
  if started then lab.start() end
  local px = lab.proxy(B.rtt / 2, lab.lab.emu_port, { connect_rtt = true })
  local lab_home = requests.make_home("home-bulk-lab", "https://127.0.0.1:" .. px.port)
  local lab_env = proc.env_for(lab_home, { "SSL_CERT_FILE=" .. lab.lab.ca })
  timed(t, emu, string.format("lab, RTT %d ms", B.rtt), lab_home, lab_env, cwd,
    { fast = B.lab_reps, slow = B.lab_reps_slow }, { "cacert = " .. requests.cfg_quote(lab.lab.ca) })
  px:stop()
  if started then lab.stop() end

  report.chart(s, "bulk", {
    title = string.format("%s runs of an app: requests and time, grouped or one run per request", report.count(n)),
    subtitle = string.format("pause --all-pipelines --all --yes (groups of 100) vs --group-size 1 --parallel %d vs "
      .. "curl, one PATCH per run; medians", ctx.parallel),
    series = { "grouped (--all)", "one run per request", "curl, one PATCH per run" },
    panels = {
      { title = "requests", ylabel = "requests in all", categories = chart.categories, values = chart.requests,
        fmt = function(v) return string.format("%d", v) end,
        -- the targets are for the full-size world
        ref = not ctx.smoke and { value = MAX_REQUESTS, label = string.format("target: ≤ %d requests", MAX_REQUESTS) }
          or nil },
      { title = "time", ylabel = "time (s)", categories = chart.categories, values = chart.time,
        fmt = function(v) return string.format(v >= 10 and "%.0f" or v >= 1 and "%.1f" or "%.2f", v) end },
    },
  })
  local f = report.add_table(s, string.format("The same command when %g of the runs turn Completed as a PATCH first "
    .. "names them, under each answer mode (emulator, loopback)", B.fraction),
    { "PATCH answers", "ok", "failed", "other", "GET list", "GET run", "PATCH", "requests in all",
      "most sends of one run", "time", "target", "met?" })
  fault_rows(f, emu, env, cwd)
  servers.control(emu, "POST", "/reset", '{"seed":false}')
  servers.control(emu, "POST", "/config", '{"patch_mode":"atomic"}')
  s.method = M.method_lines(n)
end

function M.method_lines(n)
  local B = ctx.settings.bulk
  return {
    string.format("- **World**: before every timed run the emulator is reset and given %d Running runs: user "
      .. "`%s`, app `%s`, pipelines `pipe-1` … `pipe-%d`, versions `ver-1` … `ver-%d` of each, %d runs per version "
      .. "(`POST /_emulator/runs` with a count and the scope), and the answer mode for a PATCH naming many runs "
      .. "(`patch_mode`): `atomic` (one run that may not change refuses the request), `mixed` (the allowed runs "
      .. "change, 10010 lists each run's state), `single` (more than one run: 400), `partial` (the first allowed "
      .. "run changes, then 500). The real service's behaviour is not documented; the client must be right "
      .. "under each.", n, USER, APP, B.pipelines, B.versions, B.per_version),
    "- **Contenders**: the command from the checkout with no run ids, `--all-pipelines --all --yes --user_id "
      .. USER .. " --app_id " .. APP .. " -o jsonl` (default `--parallel`, default `--group-size` 100); the same "
      .. "with `--group-size 1 --parallel 8` (one run per PATCH); curl with `--parallel --parallel-max 8 -K cfg`, "
      .. "one entry per run taken from the command's own `--dry-run` for that version's ids (curl is given the "
      .. "run ids: it does not list). Time is spawn to reap; medians of interleaved rounds (`runs`).",
    "- **Checks** after every timed run: the emulator's request log gives the requests by kind and how many "
      .. "PATCHes named each run (never more than " .. MAX_SENDS .. "); one listing per version gives each run's "
      .. "state, against which every line of the command's jsonl output is checked (`ok`: Paused there, "
      .. "`failed`: Completed, one result per run, the summary line agreeing); curl: one answer per run with the "
      .. "run paused, and every run Paused.",
    string.format("- **Lab**: the network lab's nginx (TLS 1.3, HTTP/2) proxying `/v2/` to the same emulator, "
      .. "behind the delay proxy at RTT %d ms (`--connect-rtt`); the command trusts the lab CA through "
      .. "`SSL_CERT_FILE`, curl through a `cacert` line per entry.", B.rtt),
    string.format("- **Targets**: ≤ %d requests in all (listing included) and ≤ %g× the time of the same command "
      .. "one run per request, under `atomic` and `mixed`; with `terminal_on_patch{fraction=%g}` every outcome "
      .. "true and no run sent more than %d times, under every mode. On loopback the emulator answers a request "
      .. "in a fraction of a millisecond, so what every contender does besides the PATCHes (listing %d runs, "
      .. "the emulator rendering and changing them, writing %d results) is most of the time there, and the "
      .. "time target is not met; over the lab's link, where each request costs a round trip, it is.",
      MAX_REQUESTS, MAX_RATIO, B.fraction, MAX_SENDS, n, n),
  }
end

return M
