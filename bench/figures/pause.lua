-- One pause against one `curl -X PATCH`, and a batch of pauses against
-- `curl --parallel` and against a shell loop of curl calls; each against the
-- static responder and the emulator.

local ctx = require "lib.ctx"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"
local servers = require "lib.servers"

local M = {}

local TARGET = 1.25 -- one pause, against one curl PATCH

local function one_pause()
  local S = ctx.settings
  proc.say("one pause vs one curl PATCH (%d rounds per server)", S.reps_fast)
  local res = {}
  for _, key in ipairs({ "nginx", "emulator" }) do
    local srv, home = ctx.servers[key], ctx.homes[key]
    local before = nil
    if key == "emulator" then before = function() servers.put_running(srv, "bench-one") end end
    local list = requests.pause_contenders({ home = home, cwd = ctx.cwd, ids = { "bench-one" }, before = before })
    local reqs = requests.dry_run(requests.CHECKOUT, home, ctx.cwd, { "bench-one" })
    local curl = { key = "curl", label = "curl -X PATCH", argv = requests.curl_argv(reqs[1]), env = proc.env_for(home),
      cwd = ctx.cwd, before = before }
    list[#list + 1] = curl
    proc.measure(list, S.reps_fast)
    res[key] = {}
    for _, c in ipairs(list) do res[key][c.key] = proc.wall_ms(c) end
  end
  local fig = "one pause (lockfile + config file)"
  for _, l in ipairs(requests.LAUNCHERS) do
    local n, e = res.nginx[l.key], res.emulator[l.key]
    report.row({ fig = fig, contender = "`" .. l.label .. " pr pause RUN`", unit = "ms",
      nginx = n, emulator = e, ratio_n = n / res.nginx.curl, ratio_e = e / res.emulator.curl,
      target = "≤ " .. TARGET .. "×", met = n / res.nginx.curl <= TARGET })
  end
  ctx.info.glance_pause = { ms = res.nginx.checkout, curl = res.nginx.curl }
  report.row({ fig = fig, contender = "`curl -X PATCH` (same request)", unit = "ms",
    nginx = res.nginx.curl, emulator = res.emulator.curl, ratio_n = 1, ratio_e = 1, baseline = true })
end

local function batch()
  local S, P = ctx.settings, ctx.parallel
  local n = S.batch
  proc.say("%d pauses vs curl --parallel vs a curl loop (%d rounds per server)", n, S.reps_batch)
  local ids = requests.batch_ids(n)
  local res = {}
  for _, key in ipairs({ "nginx", "emulator" }) do
    local srv, home = ctx.servers[key], ctx.homes[key]
    local before = nil
    if key == "emulator" then before = function() servers.recreate(srv, ids) end end
    local list = requests.pause_contenders({ home = home, cwd = ctx.cwd, ids = ids, parallel = P, before = before })
    local reqs = requests.dry_run(requests.CHECKOUT, home, ctx.cwd, ids)
    local dir = ctx.work .. "/batch-" .. key
    proc.mkdir(dir)
    local cfg = requests.curl_config(reqs, dir .. "/curl.cfg")
    list[#list + 1] = { key = "parallel", label = "curl --parallel", before = before, env = proc.env_for(home),
      cwd = ctx.cwd, argv = { "curl", "-q", "-sS", "--parallel", "--parallel-max", tostring(P), "-K", cfg } }
    list[#list + 1] = { key = "loop", label = "curl loop", before = before, env = proc.env_for(home), cwd = ctx.cwd,
      argv = { "sh", requests.curl_loop(reqs, dir) } }
    proc.measure(list, S.reps_batch)
    res[key] = {}
    for _, c in ipairs(list) do res[key][c.key] = proc.wall_ms(c) end
  end
  local fig = string.format("%d pauses, parallelism %d", n, P)
  for _, l in ipairs(requests.LAUNCHERS) do
    local v, e = res.nginx[l.key], res.emulator[l.key]
    report.row({ fig = fig, contender = string.format("`%s pr pause ID×%d --parallel %d`", l.label, n, P),
      unit = "ms", nginx = v, emulator = e, ratio_n = v / res.nginx.parallel, ratio_e = e / res.emulator.parallel,
      target = "≤ 1.2×", met = v / res.nginx.parallel <= 1.2 })
  end
  report.row({ fig = fig, contender = string.format("`curl --parallel --parallel-max %d -K cfg` (%d entries)", P, n),
    unit = "ms", nginx = res.nginx.parallel, emulator = res.emulator.parallel, ratio_n = 1, ratio_e = 1,
    baseline = true })
  local fig2 = string.format("%d pauses vs a shell loop", n)
  for _, l in ipairs(requests.LAUNCHERS) do
    local v, e = res.nginx[l.key], res.emulator[l.key]
    report.row({ fig = fig2, contender = string.format("`%s pr pause ID×%d --parallel %d`", l.label, n, P),
      unit = "ms", nginx = v, emulator = e, ratio_n = res.nginx.loop / v, ratio_e = res.emulator.loop / e,
      faster = true, target = "≥ 20× faster", met = res.nginx.loop / v >= 20 })
  end
  report.row({ fig = fig2, contender = string.format("shell loop of %d `curl -X PATCH`", n), unit = "ms",
    nginx = res.nginx.loop, emulator = res.emulator.loop, ratio_n = 1, ratio_e = 1, baseline = true })
end

function M.run()
  one_pause()
  batch()
end

function M.method()
  local n, P = ctx.settings.batch, ctx.parallel
  return {
    "- **one pause**: `clarifai pr pause bench-one` against `curl -q -sS -f -X PATCH -H … --data-raw BODY URL`.",
    string.format("- **%d pauses**: `clarifai pr pause bench-0001 … --parallel %d` (%d distinct run ids) against "
      .. "`curl -q -sS --parallel --parallel-max %d -K cfg`, where cfg has one entry per request (url, request, "
      .. "header lines, data-raw, fail) separated by `next`, and against a `sh` loop running one "
      .. "`curl -q -sS -f -X PATCH` per run.", n, P, n, P),
  }
end

return M
