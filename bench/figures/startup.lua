-- Start and exit: `clarifai pr pause --help` against `curl --version`.

local ctx = require "lib.ctx"
local proc = require "lib.proc"
local report = require "lib.report"
local requests = require "lib.requests"

local M = {}

function M.run()
  local S, home, cwd = ctx.settings, ctx.homes.nginx, ctx.cwd
  proc.say("startup: --help vs curl --version (%d rounds)", S.reps_fast)
  local list = {}
  for _, l in ipairs(requests.LAUNCHERS) do
    list[#list + 1] = { label = l.label, argv = { l.path, "pr", "pause", "--help" }, env = proc.env_for(home),
      cwd = cwd, check = function(text)
        if not text:find("Usage: clarifai", 1, true) then error("--help printed no usage:\n" .. proc.tail(text), 0) end
      end }
  end
  local curl = { label = "curl --version", argv = { "curl", "--version" }, env = proc.env_for(home), cwd = cwd }
  list[#list + 1] = curl
  proc.measure(list, S.reps_fast)
  local base = proc.wall_ms(curl)
  for i, l in ipairs(requests.LAUNCHERS) do
    local v = proc.wall_ms(list[i])
    report.row({ fig = "start and exit", contender = "`" .. l.label .. " pr pause --help`", unit = "ms",
      nginx = v, ratio_n = v / base, target = "≤ 0.5×", met = v / base <= 0.5, single = true })
  end
  report.row({ fig = "start and exit", contender = "`curl --version`", unit = "ms", nginx = base, ratio_n = 1,
    baseline = true, single = true })
end

function M.method()
  return { "- **start and exit**: `clarifai pr pause --help` against `curl --version`." }
end

return M
