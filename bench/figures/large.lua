-- Large runs: `clarifai pr list --all` over runs as big as real ones (the
-- emulator's run_size: an Argo spec and status of about 256 KB each, whole
-- nodepools), time and peak RSS, beside curl fetching the same pages. The
-- command drops string values over 16 KB as the pages stream in
-- (doc/topics/large-runs.md); curl only writes the bytes to /dev/null.

local ctx = require "lib.ctx"
local proc = require "lib.proc"
local report = require "lib.report"
local servers = require "lib.servers"

local M = {}

local RSS_TARGET = 64 -- MiB
local PER_PAGE = 128 -- what list --all asks for a page
local IDS = { user = "demo-user", app = "demo-app", pipeline = "hello-world-pipeline",
  version = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" }

local function runs_path()
  return string.format("/v2/users/%s/apps/%s/pipelines/%s/versions/%s/runs", IDS.user, IDS.app, IDS.pipeline,
    IDS.version)
end

-- A clean emulator holding n Running runs of about `size` bytes each.
local function make_world(emu, n, size)
  servers.control(emu, "POST", "/reset", '{"seed":false}')
  servers.control(emu, "POST", "/config", string.format('{"run_size":%d}', size))
  servers.control(emu, "POST", "/runs", string.format('{"prefix":"big-","count":%d,"state":"JOB_RUNNING",'
    .. '"nodepool_id":"np","compute_cluster_id":"cc"}', n))
end

-- The contenders: the command (table output: a line per run) and one curl
-- fetching every page on one connection (status and size of each).
local function contenders(emu, n, home)
  local pages = math.ceil(n / PER_PAGE)
  local clarifai = { key = "clarifai", label = "clarifai", env = proc.env_for(home), cwd = ctx.cwd,
    argv = { ctx.root .. "/bin/clarifai", "pr", "list", "--all", "--user_id", IDS.user, "--app_id", IDS.app,
      "--pipeline_id", IDS.pipeline, "--pipeline_version_id", IDS.version },
    check = function(text)
      local k = 0
      for line in text:gmatch("[^\n]+") do
        if line:match("^big%-%d+%s") and line:find(" RUNNING ", 1, true) then k = k + 1 end
      end
      proc.expect("runs listed", k, n, text)
    end }
  local argv = { "curl", "-q", "-sS", "-H", "Authorization: Key " .. ctx.token, "-H", "Accept: application/json",
    "-w", "%{http_code} %{size_download}\\n" }
  for page = 1, pages do
    argv[#argv + 1] = string.format("%s%s?page=%d&per_page=%d", emu.base, runs_path(), page, PER_PAGE)
    argv[#argv + 1] = "-o"
    argv[#argv + 1] = "/dev/null"
  end
  local curl = { key = "curl", label = "curl", env = proc.env_for(home), cwd = ctx.cwd, argv = argv,
    check = function(text)
      local k = 0
      for _ in text:gmatch("200 %d+") do k = k + 1 end
      proc.expect("pages fetched", k, pages, text)
    end }
  return clarifai, curl, pages
end

function M.run()
  local L, emu = ctx.settings.large, ctx.servers.emulator
  local dir = ctx.work .. "/large"
  proc.mkdir(dir)
  proc.say("list --all over %d runs of %d KB vs curl fetching the pages (%d rounds)", L.runs, L.size // 1024,
    L.reps)
  make_world(emu, L.runs, L.size)
  local clarifai, curl, pages = contenders(emu, L.runs, ctx.homes.emulator)
  local list = { clarifai, curl }
  for _, c in ipairs(list) do proc.with_peak_rss(c, dir) end
  proc.measure(list, L.reps, { warmup = false })
  local status, body = emu.control:request("GET", runs_path() .. "?page=1&per_page=" .. PER_PAGE, nil,
    { Authorization = "Key " .. ctx.token })
  if status ~= 200 then error("reading a page: HTTP " .. tostring(status), 0) end
  local page_mb = #body / 1048576
  servers.control(emu, "POST", "/reset", "{}") -- the small runs of the other figures again
  local s = report.section({ title = "Large runs: list --all" })
  local t = report.add_table(s, nil, { "runs", "contender", "peak RSS", "RSS ratio", "time", "time ratio", "target",
    "met?" })
  local base_rss, base_ms = proc.median_of(curl, "rss_kb", 1 / 1024), proc.wall_ms(curl)
  local rss, ms = proc.median_of(clarifai, "rss_kb", 1 / 1024), proc.wall_ms(clarifai)
  local what = string.format("%d × %d KB", L.runs, L.size // 1024)
  t.rows[1] = { what, "`./bin/clarifai pr list --all`", report.mib(rss), report.ratio(rss / base_rss), report.ms(ms),
    report.ratio(ms / base_ms), string.format("≤ %d MiB", RSS_TARGET), report.met(rss <= RSS_TARGET) }
  t.rows[2] = { what, string.format("`curl` of the same %d page%s, one connection, to /dev/null", pages,
    pages == 1 and "" or "s"),
    report.mib(base_rss), "1 (baseline)", report.ms(base_ms), "1 (baseline)", "", "" }
  local cat = { string.format("%d runs\n× %d KB", L.runs, L.size // 1024) }
  report.chart(s, "large-runs", {
    title = "list --all over large runs, beside curl",
    subtitle = string.format("%d runs of about %d KB each (%d page%s of %d); curl fetches the same pages to /dev/null",
      L.runs, L.size // 1024, pages, pages == 1 and "" or "s", PER_PAGE),
    series = { "./bin/clarifai pr list --all", "curl (same pages)" },
    panels = {
      { title = "peak RSS", ylabel = "peak RSS (MiB)", categories = cat, values = { { rss }, { base_rss } },
        fmt = function(v) return string.format("%.1f", v) end,
        ref = { value = RSS_TARGET, label = string.format("target: %d MiB", RSS_TARGET) } },
      { title = "time", ylabel = "time (ms)", categories = cat, values = { { ms }, { base_ms } },
        fmt = function(v) return string.format("%.0f", v) end },
    },
  })
  s.method = {
    string.format("Against the emulator (plain HTTP/1.1 on 127.0.0.1) holding %d Running runs whose wire form is "
      .. "about %d KB each (`run_size`: the pipeline version's and the run's Argo spec, the Argo status as JSON "
      .. "text, a whole nodepool; a page of %d runs is %.1f MB). The command lists every page (`list --all`, "
      .. "table output to a file), dropping string values over 16 KB as they arrive; curl fetches the same %d "
      .. "pages with the same headers on one connection and writes them to /dev/null. Each run is started under "
      .. "`/usr/bin/time -f %%M` (peak RSS); time is spawn to reap; medians of %d interleaved rounds, every "
      .. "run's output checked (one line per run; one 200 per page).", L.runs, L.size // 1024, PER_PAGE, page_mb,
      pages, L.reps),
  }
end

return M
