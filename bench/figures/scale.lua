-- Many runs at once: peak RSS and time of `clarifai pr pause -` (ids on
-- stdin) in text, jsonl and json output, beside `curl --parallel
-- --parallel-max 8 -K cfg` sending the same requests, against the static
-- responder.

local ctx = require "lib.ctx"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"

local M = {}

local RSS_TARGET = 60 -- MiB, text and jsonl at the largest count

local function count(text, pattern)
  local k = 0
  for _ in text:gmatch(pattern) do k = k + 1 end
  return k
end

local CHECKS = {
  text = function(n) return proc.expect_lines("Pipeline version run [^\n]* has been paused%.", n) end,
  jsonl = function(n)
    return function(text) proc.expect("jsonl lines with outcome ok", count(text, '"outcome":"ok"'), n, text) end
  end,
  json = function(n)
    return function(text)
      local summary = text:match('"summary":(%b{})%s*}%s*$') or ""
      proc.expect("json summary ok", tonumber(summary:match('"ok":(%d+)')) or -1, n, text)
      proc.expect("json results", count(text, '"outcome":"ok"'), n, text)
    end
  end,
  curl = function(n)
    return function(text) proc.expect("curl answers", count(text, '"code":64008'), n, text) end
  end,
}

function M.run()
  local S, P, cwd, home = ctx.settings, ctx.parallel, ctx.cwd, ctx.homes.nginx
  local dir = ctx.work .. "/scale"
  proc.mkdir(dir)
  local s = report.section({ title = "Many runs: peak RSS and time" })
  M.section = s
  local t = report.add_table(s, nil, { "runs", "contender", "peak RSS", "RSS ratio", "time", "time ratio",
    "target", "met?" })
  local largest = S.scale_counts[#S.scale_counts]
  local keys = { "text", "jsonl", "json", "curl" }
  local chart = { categories = {}, rss = { {}, {}, {}, {} }, time = { {}, {}, {}, {} } }
  for _, n in ipairs(S.scale_counts) do
    proc.say("%d pauses from stdin: text, jsonl, json vs curl --parallel (%d rounds)", n, S.reps_scale)
    local ids = {}
    for i = 1, n do ids[i] = "bench-" .. i end
    local idfile = requests.ids_file(ids, string.format("%s/ids-%d.txt", dir, n))
    local cfg = requests.curl_config(requests.dry_run(requests.CHECKOUT, home, cwd, ids, { stdin = true }),
      string.format("%s/curl-%d.cfg", dir, n))
    local list = {}
    for _, mode in ipairs({ "text", "jsonl", "json" }) do
      local argv = { requests.CHECKOUT, "pr", "pause", "-" }
      if mode ~= "text" then argv[#argv + 1] = "-o"; argv[#argv + 1] = mode end
      list[#list + 1] = { key = mode, label = mode, argv = argv, stdin = idfile, env = proc.env_for(home), cwd = cwd,
        check = CHECKS[mode](n) }
    end
    local curl = { key = "curl", label = "curl --parallel", env = proc.env_for(home), cwd = cwd, check = CHECKS.curl(n),
      argv = { "curl", "-q", "-sS", "--parallel", "--parallel-max", tostring(P), "-K", cfg } }
    list[#list + 1] = curl
    for _, c in ipairs(list) do proc.with_peak_rss(c, dir) end
    proc.measure(list, S.reps_scale, { warmup = false })
    local base_rss, base_ms = proc.median_of(curl, "rss_kb", 1 / 1024), proc.wall_ms(curl)
    chart.categories[#chart.categories + 1] = report.count(n) .. " runs"
    for _, c in ipairs(list) do
      local rss, ms = proc.median_of(c, "rss_kb", 1 / 1024), proc.wall_ms(c)
      for i, k in ipairs(keys) do
        if k == c.key then
          chart.rss[i][#chart.categories] = rss
          chart.time[i][#chart.categories] = ms / 1000
        end
      end
      local target, met = "", ""
      if c ~= curl and n == largest and c.key ~= "json" then
        target, met = string.format("≤ %d MiB", RSS_TARGET), report.met(rss <= RSS_TARGET)
      end
      local label = c == curl and string.format("`curl --parallel --parallel-max %d -K cfg`", P)
        or string.format("`./bin/clarifai pr pause -%s` < ids", c.key == "text" and "" or (" -o " .. c.key))
      t.rows[#t.rows + 1] = { tostring(n), label, report.mib(rss), c == curl and "1 (baseline)" or
        report.ratio(rss / base_rss), report.ms(ms), c == curl and "1 (baseline)" or report.ratio(ms / base_ms),
        target, met }
    end
  end
  report.chart(s, "scale-rss", {
    title = "Peak RSS against runs, beside curl",
    subtitle = string.format("pause of N runs read from stdin, text / jsonl / json output, against curl --parallel "
      .. "--parallel-max %d -K cfg; medians", P),
    series = { "clarifai (text)", "clarifai (-o jsonl)", "clarifai (-o json)", "curl" },
    panels = {
      { title = "peak RSS", ylabel = "peak RSS (MiB)", categories = chart.categories, values = chart.rss,
        fmt = function(v) return string.format("%.1f", v) end,
        ref = { value = RSS_TARGET, label = string.format("target at %s runs: ≤ %d MiB (text, jsonl)",
          report.count(largest), RSS_TARGET) } },
      { title = "time", ylabel = "time (s)", categories = chart.categories, values = chart.time,
        fmt = function(v) return string.format("%.2f", v) end },
    },
  })
  s.method = {
    string.format("Against the static responder (plain HTTP/1.1 on 127.0.0.1), %d distinct run ids (`bench-1` …) "
      .. "read from a file on stdin (`-`), default parallelism (%d), output to a file; curl runs `-K cfg` with one "
      .. "entry per request (the same requests, from the command's `--dry-run`) at `--parallel-max %d`. Each run "
      .. "is started under `/usr/bin/time -f %%M`, which gives the peak RSS; time is spawn to reap of that wrapper "
      .. "(about 1 ms more than the command alone, the same for every contender); both from the same runs, "
      .. "medians of %d interleaved rounds with no warm-up run (every run's output "
      .. "is checked instead: one line, JSON object or result per run; curl: one answer per request). The "
      .. "target applies to text and jsonl output at %d runs; `-o json` holds every result until the end by design.",
      largest, P, P, S.reps_scale, largest),
  }
end

return M
