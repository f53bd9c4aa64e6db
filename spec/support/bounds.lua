-- Every wall-clock upper bound of the suite, in one place. Everything else
-- is timed on a fake clock (support.fake_clock) or only bounded from below.
-- Each bound is multiplied by CLARIFAI_TIME_SCALE (default 1: the unscaled
-- run proves the README's timing promises; a loaded machine, or two test
-- runs side by side, set 3) and doubled under the sanitizer build.
--
--   bounds.check("signal_exit", took)     -- fails naming the bound
--   bounds.limit("signal_exit")           -- the scaled value

local M = {}

M.SCALE = tonumber(os.getenv("CLARIFAI_TIME_SCALE") or "") or 1
local SLOW = os.getenv("CLARIFAI_SANITIZE") and 2 or 1

local BOUNDS = {
  signal_exit = { 1.5, "a stopped command exits within 1.5 s of the signal (README: Signals)" },
  signal_now = { 1.0, "a signal during a sleep or backoff ends it at once" },
  signal_wake = { 1.6, "a wait for the network ends when a signal arrives" },
  request_timeout = { 3, "a request the server never answers ends at its timeout" },
  deadline = { 10, "a run's change ends within --deadline (8 s in the fault cases)" },
  connect_timeout = { 5, "a server that never accepts: given up after --connect-timeout and the deadline" },
  wait_timeout = { 4, "--wait gives up within --timeout plus one interval" },
  wait_notice = { 1.9, "--wait notices a change within about one interval" },
  monitor_end = { 2.3, "monitor ends within an interval of the run's end" },
  overlap = { 3.5, "two workflows that each wait 2 s overlap (the loop is not blocked)" },
  cancel = { 2, "a cancelled workflow lets its loop end at once" },
  nested = { 5, "a library call nested in another's callback returns promptly" },
  yaml_reject = { 0.1, "hostile YAML (huge, deep, billion laughs) is rejected in CPU milliseconds" },
  emulator_reply = { 1, "the emulator answers a control request at once" },
}
M.BOUNDS = BOUNDS

function M.limit(name)
  local b = assert(BOUNDS[name], "no such bound: " .. tostring(name))
  return b[1] * M.SCALE * SLOW
end

-- check(name, seconds [, what]): seconds must not exceed the bound.
function M.check(name, seconds, what)
  local limit = M.limit(name)
  if seconds > limit then
    error(string.format("%s took %.2f s, over the bound '%s' of %.2f s (%s)", what or name, seconds, name, limit,
      BOUNDS[name][2]), 2)
  end
end

return M
