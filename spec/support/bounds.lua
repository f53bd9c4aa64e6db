-- Every wall-clock bound of the suite, in one place, under one rule:
--
--   * A promise (a figure the documentation gives: a stopped command exits within
--     1.5 s of the signal, --wait notices a change within about an
--     interval, ...) is checked at its documented value in the unit stage
--     (CLARIFAI_BOUNDS=promise, also the default when busted is run by hand).
--   * Every other stage (ASan, valgrind, the other Luas) checks the same
--     behaviour with a generous watchdog instead (CLARIFAI_BOUNDS=watchdog:
--     each bound times WATCHDOG_FACTOR), so a slow build or a busy machine
--     cannot fail it.
--   * Nothing else is timed. Where a spec needs "X happens before Y" it says
--     so with the emulator's clock (emu:advance) or with request counts, and
--     waits for a point with await(), which only a hang can fail.
--
-- CLARIFAI_TIME_SCALE (default 1) multiplies every bound, for a machine far
-- slower than the ones the suite is run on.
--
--   bounds.check("signal_exit", took)     -- fails naming the bound
--   bounds.limit("signal_exit")           -- the value in force
--   bounds.await("the PATCH", function() return emu:count("PATCH") > 0 end)

local M = {}

M.SCALE = tonumber(os.getenv("CLARIFAI_TIME_SCALE") or "") or 1
M.MODE = os.getenv("CLARIFAI_BOUNDS") == "watchdog" and "watchdog" or "promise"
M.WATCHDOG_FACTOR = 5
local FACTOR = (M.MODE == "watchdog" and M.WATCHDOG_FACTOR or 1) * M.SCALE

local BOUNDS = {
  signal_exit = { 1.5, "a stopped command exits within 1.5 s of the signal (doc/topics/batches.md: Signals)" },
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
  poll_gap = { 1.5, "a slow hook never delays watch's polls: they keep their interval while 2 s hooks run" },
  hook_stop = { 1.3, "a stop ends its hooks within 1.3 s of the signal, whatever they do (1 s grace, then TERM, KILL)" },
  fd_ready = { 0.5, "an event loop watching a session's fd wakes when an answer arrives, not at the timeout" },
  close_now = { 1, "closing a session with a transfer in flight returns at once" },
  progress = { 0.5, "on a terminal, a listing's progress line is drawn within 0.5 s of its first page" },
  -- not a promise: how long await() gives a point the spec waits for
  watchdog = { 60, "a point a spec waits for is reached (a hang, not slowness, fails this)" },
}
M.BOUNDS = BOUNDS

function M.limit(name)
  local b = assert(BOUNDS[name], "no such bound: " .. tostring(name))
  if name == "watchdog" then return b[1] * M.SCALE end
  return b[1] * FACTOR
end

-- check(name, seconds [, what]): seconds must not exceed the bound.
function M.check(name, seconds, what)
  local limit = M.limit(name)
  if seconds > limit then
    error(string.format("%s took %.2f s, over the bound '%s' of %.2f s (%s; %s mode)", what or name, seconds, name,
      limit, BOUNDS[name][2], M.MODE), 2)
  end
end

local function now()
  local ok, socket = pcall(require, "socket")
  if ok then return socket.gettime() end
  return os.time()
end

local function nap()
  local ok, socket = pcall(require, "socket")
  if ok then socket.sleep(0.02) else os.execute("sleep 0.02") end
end

-- await(what, pred [, bound]): calls pred() until it returns a true value,
-- which it returns; fails naming `what` once the bound (default the
-- watchdog) has passed.
function M.await(what, pred, bound)
  local deadline = now() + M.limit(bound or "watchdog")
  while true do
    local v = pred()
    if v then return v end
    if now() > deadline then
      error(string.format("never reached: %s (waited %.0f s)", what, M.limit(bound or "watchdog")), 2)
    end
    nap()
  end
end

return M
