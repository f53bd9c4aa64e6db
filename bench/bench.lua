-- The benchmark driver: measures the clarifai command side by side with curl
-- (and the YAML loader side by side with libyaml and PyYAML), prints the
-- tables and writes them as Markdown. Started by bench/run.sh, which builds
-- everything first:
--
--   lua5.4 bench/bench.lua --root DIR --mode full|smoke --work TMPDIR
--                          --data DIR --md FILE --pids FILE [--charts DIR]
--                          [--only LIST]
--
-- --only figures.scale,figures.network runs just those figure modules (while
-- working on them; the Markdown then holds only their rows). --charts: where
-- the SVG charts go (bench/lib/chart.lua), linked from the Markdown. With
-- BENCH_COMPARE=DIR in the environment, DIR/bin/clarifai (another checkout,
-- built) runs beside the others wherever the launchers are compared.
--
-- bench/lib/   proc (spawn, time, reap, measure), servers (nginx, emulator),
--              requests (what the contenders send), report (tables,
--              Markdown), lab (TLS + HTTP/2 nginx behind a delay proxy)
-- bench/figures/   one module per figure: run() adds rows, method() says how
--
-- Every timed command is started directly (posix_spawn, no shell) by the
-- benchcore module and timed from spawn to reap. Contenders of a figure run
-- interleaved (A B C, B C A, ...); the figures are medians. Exits non-zero when
-- a comparison cannot be run.

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

local ROOT = opts.root
package.path = ROOT .. "/bench/?.lua;" .. ROOT .. "/spec/?.lua;" .. package.path
package.cpath = ROOT .. "/build/bench/?.so;" .. package.cpath

local ctx = require "lib.ctx"
ctx.root, ctx.work, ctx.data, ctx.pids = ROOT, opts.work, opts.data, opts.pids
ctx.smoke = opts.mode == "smoke"
ctx.settings = ctx.smoke and {
  reps_fast = 3, reps_batch = 2, reps_rss = 2, reps_yaml = 2,
  batch = 30, idle = 2, yaml_bytes = 500000, lock_bytes = 80000,
  scale_counts = { 200, 500 }, reps_scale = 1,
  lab = { rtts = { 50 }, one_reps = 2, batch_reps = 1, batches = { { 20, 8 }, { 20, 64 } }, probe = { 130, 128 },
          wait_runs = 10, wait_delay = 1, wait_interval = 1, wait_reps = 1,
          overhead_reps = 3, overhead_batch = 50, overhead_batch_reps = 1, rtt_probes = 5 },
  bulk = { pipelines = 2, versions = 2, per_version = 30, reps = 1, rtt = 50, lab_reps = 1, lab_reps_slow = 1,
           fraction = 0.05 },
  large = { runs = 20, size = 32 * 1024, reps = 1 },
} or {
  reps_fast = 100, reps_batch = 9, reps_rss = 5, reps_yaml = 5,
  batch = 1000, idle = 30, yaml_bytes = 10000000, lock_bytes = 80000,
  scale_counts = { 1000, 10000, 50000 }, reps_scale = 3,
  lab = { rtts = { 50, 150 }, one_reps = 10, batch_reps = 3,
          batches = { { 200, 8 }, { 200, 64 }, { 1000, 8 }, { 1000, 64 } }, probe = { 200, 128 },
          wait_runs = 200, wait_delay = 3, wait_interval = 1, wait_reps = 3,
          overhead_reps = 20, overhead_batch = 1000, overhead_batch_reps = 5, rtt_probes = 20 },
  bulk = { pipelines = 5, versions = 10, per_version = 200, reps = 3, rtt = 50, lab_reps = 3, lab_reps_slow = 1,
           fraction = 0.05 },
  large = { runs = 300, size = 256 * 1024, reps = 3 },
}

local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"
local servers = require "lib.servers"
requests.init()

-- Figures of the main table, then the sections with their own tables.
local MAIN = { "figures.startup", "figures.pause", "figures.rss", "figures.yaml", "figures.idle" }
local SECTIONS = { "figures.scale", "figures.large", "figures.network", "figures.bulk" }

-- The Method bullets common to the main table's figures.
local function general_method()
  local s, info = ctx.settings, ctx.info
  local out = {
    "- Every timed command is started directly with `posix_spawn` (no shell in between) by a small C helper "
      .. "(`bench/benchcore.c`) and timed with `CLOCK_MONOTONIC` from spawn to reap; stdout goes to `/dev/null`, "
      .. "stderr to a file. A non-zero exit status fails the run.",
    "- The contenders of a figure run interleaved, each round starting one contender later "
      .. "(A B C, B C A, C A B …), after one untimed warm-up run of each, "
      .. "whose output is checked (e.g. one `has been paused.` line per run id). Figures are medians: "
      .. string.format("%d runs each for startup and one pause, %d for the %d-pause batches, %d for peak RSS, "
        .. "%d for YAML loading.", s.reps_fast, s.reps_batch, s.batch, s.reps_rss, s.reps_yaml),
    "- Contenders for the command: `./bin/clarifai` from the checkout and `clarifai` installed by "
      .. "`luarocks --lua-version=5.4 make --deps-mode=none --tree build/bench-tree rockspec/clarifai-scm-1.rockspec`.",
    "- Every command runs with only `PATH`, `LANG=C.UTF-8` and `HOME` set. `HOME` holds "
      .. "`.config/clarifai/config` (mode 600) whose current context carries the token and the API base of the "
      .. "server in use; the working directory holds a `config-lock.yaml` of "
      .. string.format("%d bytes", info.lock_size or 0)
      .. " (an Argo Workflow spec as a `|` block scalar under "
      .. "`pipeline.orchestration_spec.argo_orchestration_spec`). The command gets no id flags and no "
      .. "`CLARIFAI_PAT`: ids come from the lockfile, credentials from the config file.",
    "- curl sends the identical request: method, URL, headers and body are taken from the command's own "
      .. "`--dry-run` output, and before timing a one-shot listener captures one request from each and compares "
      .. "request line, header set and body. The request:",
    "",
    "  ```",
  }
  for line in (info.request or ""):gmatch("[^\n]*") do out[#out + 1] = "  " .. line end
  out[#out + 1] = "  ```"
  out[#out + 1] = ""
  return out
end

local function main()
  local t_start = proc.now()
  local info = ctx.info
  info.load_before = proc.loadavg()
  local q = proc.sh_quote
  local rev = proc.command_output("git -C " .. q(ROOT) .. " rev-parse --short HEAD 2>/dev/null")
  if rev:match("^%x+$") then
    -- the report it is about to rewrite does not count as a change
    local dirty = proc.command_output("git -C " .. q(ROOT)
      .. " status --porcelain --untracked-files=no -- . ':!BENCHMARKS.md' 2>/dev/null")
    info.commit = "commit " .. rev .. (dirty ~= "" and " with uncommitted changes" or "")
  end
  proc.mkdir(ctx.work)
  proc.mkdir(ctx.data)
  ctx.cwd = ctx.work .. "/pipeline"
  proc.mkdir(ctx.cwd)
  local lock_bytes = ctx.settings.lock_bytes
  local lock, lock_size = require("figures.yaml").generate("lock", lock_bytes, "config-lock-" .. lock_bytes .. ".yaml")
  proc.write_file(ctx.cwd .. "/config-lock.yaml", proc.read_file(lock))
  info.lock_size = lock_size

  proc.say("starting nginx and the emulator")
  servers.start_static()
  servers.start_emulator()
  ctx.homes = {
    nginx = requests.make_home("home-nginx", ctx.servers.nginx.base),
    emulator = requests.make_home("home-emulator", ctx.servers.emulator.base),
  }

  proc.say("checking that curl sends the same request")
  requests.check_same_request(ctx.cwd)

  local only
  if opts.only then
    only = {}
    for name in opts.only:gmatch("[^,]+") do only[name] = true end
  end
  local method = general_method()
  for _, name in ipairs(MAIN) do
    if not only or only[name] then
      local fig = require(name)
      fig.run()
      for _, l in ipairs(fig.method()) do method[#method + 1] = l end
    end
  end
  method[#method + 1] = servers.method()
  for _, name in ipairs(SECTIONS) do
    if not only or only[name] then require(name).run() end
  end

  info.load_after = proc.loadavg()
  proc.stop_all()
  if opts.charts then
    -- the Markdown links them relative to its own directory
    local md_dir = opts.md:match("^(.*)/[^/]*$") or "."
    local link = opts.charts:sub(1, #md_dir + 1) == md_dir .. "/" and opts.charts:sub(#md_dir + 2) or opts.charts
    report.write_charts(opts.charts, link)
    proc.say("wrote %d charts in %s", #report.charts, opts.charts)
  end
  print(report.text())
  proc.write_file(opts.md, report.markdown({ elapsed = proc.now() - t_start, method = method }))
  proc.say("wrote %s", opts.md)
end

local ok, err = xpcall(main, function(e)
  if type(e) == "string" and e:find("interrupted!", 1, true) then return e end
  return debug.traceback(tostring(e), 2)
end)
proc.stop_all()
if not ok then
  proc.say("bench: %s", tostring(err))
  os.exit(1)
end
