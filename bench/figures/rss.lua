-- Peak RSS (/usr/bin/time -f %M) of one pause and of a batch, beside curl.

local ctx = require "lib.ctx"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"
local servers = require "lib.servers"

local M = {}

function M.run()
  local S, P, cwd = ctx.settings, ctx.parallel, ctx.cwd
  local n = S.batch
  proc.say("peak RSS (/usr/bin/time -f %%M, %d runs each per server)", S.reps_rss)
  local ids = requests.batch_ids(n)
  local res = {}
  for _, key in ipairs({ "nginx", "emulator" }) do
    local srv, home = ctx.servers[key], ctx.homes[key]
    local one_before, batch_before
    if key == "emulator" then
      one_before = function() servers.put_running(srv, "bench-one") end
      batch_before = function() servers.recreate(srv, ids) end
    end
    local one = requests.pause_contenders({ home = home, cwd = cwd, ids = { "bench-one" }, before = one_before })
    local reqs_one = requests.dry_run(requests.CHECKOUT, home, cwd, { "bench-one" })
    one[#one + 1] = { key = "curl", label = "curl -X PATCH", argv = requests.curl_argv(reqs_one[1]),
      env = proc.env_for(home), cwd = cwd, before = one_before }
    local many = requests.pause_contenders({ home = home, cwd = cwd, ids = ids, parallel = P, before = batch_before })
    local reqs = requests.dry_run(requests.CHECKOUT, home, cwd, ids)
    proc.mkdir(ctx.work .. "/batch-" .. key)
    local cfg = requests.curl_config(reqs, ctx.work .. "/batch-" .. key .. "/curl.cfg")
    many[#many + 1] = { key = "parallel", label = "curl --parallel", before = batch_before, env = proc.env_for(home),
      cwd = cwd, argv = { "curl", "-q", "-sS", "--parallel", "--parallel-max", tostring(P), "-K", cfg } }
    -- interleaved: one run of each contender per round
    local samples = {}
    for _ = 1, S.reps_rss do
      for _, set in ipairs({ { "one", one }, { "many", many } }) do
        for _, c in ipairs(set[2]) do
          local id = set[1] .. ":" .. c.key
          samples[id] = samples[id] or {}
          table.insert(samples[id], proc.rss_kb(c, 1)[1])
        end
      end
    end
    res[key] = {}
    for id, xs in pairs(samples) do res[key][id] = proc.median(xs) / 1024 end
  end
  for _, l in ipairs(requests.LAUNCHERS) do
    local v, e = res.nginx["one:" .. l.key], res.emulator["one:" .. l.key]
    report.row({ fig = "peak RSS, one pause", contender = "`" .. l.label .. " pr pause RUN`", unit = "MiB",
      nginx = v, emulator = e, ratio_n = v / res.nginx["one:curl"], ratio_e = e / res.emulator["one:curl"],
      target = "≤ 12 MiB", met = v <= 12 })
  end
  ctx.info.glance_rss = { mib = res.nginx["one:checkout"], curl = res.nginx["one:curl"] }
  report.row({ fig = "peak RSS, one pause", contender = "`curl -X PATCH`", unit = "MiB", nginx = res.nginx["one:curl"],
    emulator = res.emulator["one:curl"], ratio_n = 1, ratio_e = 1, baseline = true })
  local fig = string.format("peak RSS, %d pauses", n)
  for _, l in ipairs(requests.LAUNCHERS) do
    local v, e = res.nginx["many:" .. l.key], res.emulator["many:" .. l.key]
    report.row({ fig = fig, contender = string.format("`%s pr pause ID×%d --parallel %d`", l.label, n, P),
      unit = "MiB", nginx = v, emulator = e, ratio_n = v / res.nginx["many:parallel"],
      ratio_e = e / res.emulator["many:parallel"], target = "≤ 20 MiB", met = v <= 20 })
  end
  report.row({ fig = fig, contender = string.format("`curl --parallel --parallel-max %d -K cfg`", P), unit = "MiB",
    nginx = res.nginx["many:parallel"], emulator = res.emulator["many:parallel"], ratio_n = 1, ratio_e = 1,
    baseline = true })
end

function M.method()
  return { "- **peak RSS**: `/usr/bin/time -f %M` around the same commands (maximum resident set size of the process)." }
end

return M
