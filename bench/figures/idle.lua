-- CPU used while `pr pause --wait` and `pr monitor` wait (default poll
-- intervals): user + system time from /proc/PID/stat after a while.

local ctx = require "lib.ctx"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"
local servers = require "lib.servers"

local M = {}

function M.run()
  local secs = ctx.settings.idle
  proc.say("idle CPU over %d s of `pr pause --wait` and `pr monitor`", secs)
  local emu = ctx.servers.emulator
  servers.control(emu, "POST", "/reset", '{"seed":false}')
  servers.control(emu, "POST", "/config", '{"transition_delay": 3600}')
  local procs = {}
  for _, key in ipairs({ "nginx", "emulator" }) do
    for _, l in ipairs(requests.LAUNCHERS) do
      for _, cmd in ipairs({ "wait", "monitor" }) do
        local id = "idle-" .. cmd .. "-" .. l.key
        if key == "emulator" then servers.put_running(emu, id) end
        local argv = cmd == "wait" and { l.path, "pr", "pause", id, "--wait" } or { l.path, "pr", "monitor", id }
        procs[#procs + 1] = { key = key, launcher = l, cmd = cmd, argv = argv, home = ctx.homes[key] }
      end
    end
  end
  for i, p in ipairs(procs) do
    p.err = ctx.work .. "/idle-" .. i .. ".err"
    p.t0 = proc.now()
    p.pid = proc.start({ argv = p.argv, env = proc.env_for(p.home), cwd = ctx.cwd,
      stdout = ctx.work .. "/idle-" .. i .. ".out", stderr = p.err })
  end
  local deadline = procs[#procs].t0 + secs
  while proc.now() < deadline do proc.sleep(math.min(0.5, deadline - proc.now())) end
  local tck = proc.clk_tck()
  local failed
  for _, p in ipairs(procs) do
    local ticks = proc.cpu_ticks(p.pid)
    local t = proc.now()
    if not ticks then
      failed = failed or string.format("`%s` ended before %d s: %s", table.concat(p.argv, " ", 2), secs,
        proc.tail(proc.read_file(p.err)))
    else
      p.pct = ticks / tck / (t - p.t0) * 100
    end
  end
  for _, p in ipairs(procs) do proc.stop(p.pid) end
  servers.control(emu, "POST", "/reset", '{"seed":false}')
  servers.control(emu, "POST", "/config", '{"transition_delay": 0}')
  if failed then error(failed, 0) end
  for _, l in ipairs(requests.LAUNCHERS) do
    for _, cmd in ipairs({ "wait", "monitor" }) do
      local v = {}
      for _, p in ipairs(procs) do
        if p.launcher == l and p.cmd == cmd then v[p.key] = p.pct end
      end
      local what = cmd == "wait" and "pr pause RUN --wait" or "pr monitor RUN"
      report.row({ fig = string.format("CPU while idle, %d s", secs), contender = "`" .. l.label .. " " .. what .. "`",
        unit = "%", nginx = v.nginx, emulator = v.emulator, target = "< 1 %", met = v.nginx < 1 })
    end
  end
end

function M.method()
  return { string.format("- **CPU while idle**: `clarifai pr pause RUN --wait` (the API accepts the pause but the "
    .. "run never gets there) and `clarifai pr monitor RUN` (a run that stays Running), default poll intervals; "
    .. "user + system time from `/proc/PID/stat` read after %d s while the process is still running, as a "
    .. "percentage of its wall time (start-up included).", ctx.settings.idle) }
end

return M
