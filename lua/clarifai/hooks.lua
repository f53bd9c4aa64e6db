--- Running a user's command for each event (internal: the process part of
-- `clarifai pr watch --exec`).
-- The command is split into words as a shell splits them, quotes honoured,
-- with no expansion at all, and never run through a shell (`sh -c '...'` is
-- the user's choice). A runner starts it once per event, at most `parallel`
-- at a time, events waiting in order; each hook gets the event in its
-- environment and as text on its stdin, starts with default signal
-- dispositions in a process group of its own, and is collected by `step()`,
-- which never waits. A stop ends them: SIGTERM to each group after a grace,
-- SIGKILL shortly after. Every wait goes through `clarifai.transport` (its
-- clock and sleep), so a runner behaves inside event loops and under a fake
-- clock. The mechanics are `clarifai.sys.core`'s spawn, reap and kill.
-- @module clarifai.hooks
-- @usage
-- local hooks = require "clarifai.hooks"
-- local argv = assert(hooks.split(exec))
-- local r = hooks.runner{ argv = argv, strip_env = { "CLARIFAI_PAT" },
--   on_exit = function(info) if not info.ok then io.stderr:write(info.message, "\n") end end }
-- r:submit({ CLARIFAI_EVENT = "changed", CLARIFAI_RUN_ID = id }, line .. "\n")
-- r:step()   -- in the loop, between polls and while it sleeps

local args = require "clarifai.args"
local limits = require "clarifai.limits"
local sys = require "clarifai.sys.core"
local transport = require "clarifai.transport"

local M = {}

--- How long a stop waits after SIGTERM before SIGKILL (seconds; `kill_after`).
M.KILL_AFTER = 0.1
--- How long a stop waits after SIGKILL for the hooks to be collected (seconds).
M.KILL_WAIT = 0.05
--- The slice of a stop's waits (how often it looks for ended hooks).
M.STOP_SLICE = 0.01
--- The slice of a drain's waits.
M.DRAIN_SLICE = 0.05

local BLANK = { [" "] = true, ["\t"] = true, ["\n"] = true }
-- Inside double quotes a backslash escapes only these (POSIX); elsewhere it
-- stays.
local DQ_ESCAPES = { ["$"] = true, ["`"] = true, ['"'] = true, ["\\"] = true }

-- A single-quoted part starting after the quote at i-1: its text and the
-- index after the closing quote, or nil when it never closes.
local function single_quoted(s, i)
  local close = s:find("'", i, true)
  if not close then return nil end
  return s:sub(i, close - 1), close + 1
end

-- A double-quoted part starting after the quote at i-1: its text (with
-- POSIX's backslash rules) and the index after the closing quote, or nil.
local function double_quoted(s, i)
  local out = {}
  while i <= #s do
    local c = s:sub(i, i)
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" and i < #s then
      local n = s:sub(i + 1, i + 1)
      if DQ_ESCAPES[n] then
        out[#out + 1] = n
      elseif n ~= "\n" then -- backslash-newline is a line continuation
        out[#out + 1] = c .. n
      end
      i = i + 2
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return nil
end

--- Splits a command line into words as a POSIX shell does, without expanding
-- anything.
-- Blanks (space, tab, newline) separate words; single quotes keep everything
-- up to the next single quote; inside double quotes a backslash escapes `"`,
-- `\`, `$` and backquote (and joins lines), and stays before anything else;
-- outside quotes a backslash makes the next character literal (a trailing
-- one stays). `$VAR`, `~`, globs, command substitution and operators such as
-- `;` `|` `>` are left as they are: the words are given to the command, not
-- to a shell.
-- @string command the text of `--exec`
-- @treturn ?{string,...} the words (the first is the command)
-- @treturn ?string when nil: why (an unterminated quote, an empty command)
-- @raise when command is not a string
-- @usage
-- hooks.split([[notify --to "ops team" '$HOME' *]])  -- {"notify", "--to", "ops team", "$HOME", "*"}
function M.split(command)
  if type(command) ~= "string" then error("hooks.split: the command must be a string", 2) end
  local words, cur, i, n = {}, nil, 1, #command
  while i <= n do
    local c = command:sub(i, i)
    if BLANK[c] then
      if cur then words[#words + 1], cur = table.concat(cur), nil end
      i = i + 1
    elseif c == "'" or c == '"' then
      local part, after = (c == "'" and single_quoted or double_quoted)(command, i + 1)
      if not part then
        return nil, string.format("unterminated %s quote (at character %d)", c == "'" and "single" or "double", i)
      end
      cur = cur or {}
      cur[#cur + 1], i = part, after
    elseif c == "\\" and i < n then
      local nxt = command:sub(i + 1, i + 1)
      if nxt ~= "\n" then -- backslash-newline is a line continuation
        cur = cur or {}
        cur[#cur + 1] = nxt
      end
      i = i + 2
    else
      cur = cur or {}
      cur[#cur + 1], i = c, i + 1
    end
  end
  if cur then words[#words + 1] = table.concat(cur) end
  if #words == 0 then return nil, "empty command" end
  if words[1] == "" then return nil, "the command's name is empty" end
  return words
end

-- ---- the runner --------------------------------------------------------------

local Runner = {}
Runner.__index = Runner

local SIGNAL_NAMES = {}
for name, num in pairs(sys.signals) do SIGNAL_NAMES[num] = name end

-- The options runner takes (clarifai.args' rules; parallel has --exec-parallel's range).
local OPTS = { argv = "list", parallel = "exec_parallel", grace = "number", kill_after = "number",
  max_queued = "number", strip_env = "list", on_exit = "function", on_start = "function", stdout = "string",
  stderr = "string" }

local function check_words(argv)
  if type(argv) ~= "table" or #argv == 0 then error("hooks.runner: argv must be a non-empty list of words", 3) end
  local copy = {}
  for i, w in ipairs(argv) do
    if type(w) ~= "string" or w:find("\0", 1, true) then error("hooks.runner: argv entries must be strings", 3) end
    copy[i] = w
  end
  return copy
end

local function name_set(list, what)
  local set = {}
  for _, name in ipairs(list or {}) do
    if type(name) ~= "string" then error("hooks.runner: " .. what .. " entries must be strings", 3) end
    set[name] = true
  end
  return set
end

--- A runner of one command.
-- @tparam table opts
-- @tparam {string,...} opts.argv the command and its arguments (`split`'s words)
-- @int[opt=4] opts.parallel at most this many hooks run at once (1..256)
-- @number[opt=1] opts.grace on a stop, how long running hooks may go on before
-- SIGTERM (seconds)
-- @number[opt=0.1] opts.kill_after on a stop, how long after SIGTERM before SIGKILL
-- @tparam[opt] {string,...} opts.strip_env names of this process's environment
-- a hook must not get (`CLARIFAI_PAT`, ...)
-- @tparam[opt] function opts.on_exit called with an info table when a hook has
-- ended or could not start (see `Runner:step`)
-- @tparam[opt] function opts.on_start called with { seq, pid, env } when a hook starts
-- @string[opt="inherit"] opts.stdout "inherit" (this process's) or "null"
-- @string[opt="inherit"] opts.stderr "inherit" or "null"
-- @int[opt] opts.max_queued events waiting beyond this many are dropped (default: no limit)
-- @treturn Runner
-- @raise on a missing or malformed option
-- @usage
-- local r = hooks.runner{ argv = { "notify.sh" }, parallel = 2, strip_env = { "CLARIFAI_PAT" } }
function M.runner(opts)
  opts = args.opts("hooks.runner", opts, OPTS)
  local argv = check_words(opts.argv)
  for _, k in ipairs({ "grace", "kill_after", "max_queued" }) do
    local v = opts[k]
    if v and (v ~= v or v < 0) then error("hooks.runner: opts." .. k .. " must be a number >= 0", 2) end
  end
  for _, k in ipairs({ "stdout", "stderr" }) do
    if opts[k] and opts[k] ~= "inherit" and opts[k] ~= "null" then
      error("hooks.runner: opts." .. k .. ' must be "inherit" or "null"', 2)
    end
  end
  return setmetatable({
    argv = argv, parallel = opts.parallel or limits.defaults.exec_parallel, grace = opts.grace or 1,
    kill_after = opts.kill_after or M.KILL_AFTER,
    max_queued = opts.max_queued or math.huge, strip = name_set(opts.strip_env, "strip_env"),
    on_exit = opts.on_exit, on_start = opts.on_start, stdout = opts.stdout, stderr = opts.stderr,
    queue = {}, head = 1, tail = 0, running = {}, nrunning = 0, seq = 0, stopping = false,
    n = { started = 0, ok = 0, failed = 0, dropped = 0 },
  }, Runner)
end

local function check_env(env)
  if type(env) ~= "table" then error("runner:submit: env must be a table of NAME = value", 3) end
  local copy = {}
  for k, v in pairs(env) do
    if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
      error("runner:submit: bad variable name " .. tostring(k), 3)
    end
    if type(v) == "number" then v = tostring(v) end
    if type(v) ~= "string" or v:find("\0", 1, true) then
      error("runner:submit: the value of " .. k .. " must be a string without NUL", 3)
    end
    copy[k] = v
  end
  return copy
end

--- Queues an event's hook; never waits and never starts anything (`step` does).
-- @tparam table env variables (NAME = value) the hook gets on top of this
-- process's environment (less `strip_env`)
-- @tparam[opt] string stdin the text the hook reads on its stdin (then EOF);
-- nil: /dev/null
-- @treturn boolean false when the event was dropped (the runner is stopping,
-- or `max_queued` events already wait)
-- @raise on a bad name or value
-- @usage
-- r:submit({ CLARIFAI_EVENT = "new", CLARIFAI_RUN_ID = "run-1" }, '{"event":"new"}\n')
function Runner:submit(env, stdin)
  env = check_env(env)
  if stdin ~= nil and type(stdin) ~= "string" then error("runner:submit: stdin must be a string", 2) end
  if self.stopping or self.tail - self.head + 1 >= self.max_queued then
    self.n.dropped = self.n.dropped + 1
    return false
  end
  self.seq = self.seq + 1
  self.tail = self.tail + 1
  self.queue[self.tail] = { seq = self.seq, env = env, stdin = stdin }
  return true
end

-- The hook's whole environment: this process's, less the stripped names and
-- those the event sets, then the event's (sorted: the same event, the same
-- environment).
function Runner:environment(vars)
  local out = {}
  for _, kv in ipairs(sys.environ()) do
    local name = kv:match("^([^=]*)=")
    if name and not self.strip[name] and vars[name] == nil then out[#out + 1] = kv end
  end
  local names = {}
  for k in pairs(vars) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do out[#out + 1] = k .. "=" .. vars[k] end
  return out
end

-- Starts one queued hook: true, or false and its info when it could not start.
function Runner:start(ev)
  local pid, msg, code = sys.spawn({ argv = self.argv, env = self:environment(ev.env), stdin = ev.stdin,
    new_pgroup = true, stdout = self.stdout, stderr = self.stderr })
  if not pid then
    self.n.failed = self.n.failed + 1
    return false, { seq = ev.seq, env = ev.env, how = "spawn", ok = false, error_code = code,
      message = "could not start the hook: " .. tostring(msg) }
  end
  self.n.started = self.n.started + 1
  self.running[pid] = { pid = pid, seq = ev.seq, env = ev.env }
  self.nrunning = self.nrunning + 1
  return true, { seq = ev.seq, pid = pid, env = ev.env }
end

-- What an ended hook's status means: the info table on_exit gets.
local function ended(h, how, code)
  local info = { seq = h.seq, pid = h.pid, env = h.env, how = how, code = code, signalled = h.signalled }
  if how == "exit" then
    info.ok = code == 0
    if code ~= 0 then info.message = "the hook exited with status " .. code end
  elseif how == "signal" then
    info.ok, info.signal = false, SIGNAL_NAMES[code] or tostring(code)
    info.message = "the hook was killed by signal " .. info.signal
  else
    info.ok, info.message = false, "the hook's status was lost (" .. tostring(code) .. ")"
  end
  return info
end

-- Collects every hook that has ended: their infos, in start order (the
-- bookkeeping is done; the callbacks are the caller's).
function Runner:collect()
  local done = {}
  for pid, h in pairs(self.running) do
    local p, how, code = sys.reap(pid)
    if p or code == "ECHILD" then
      -- ECHILD: someone else collected it (SIGCHLD ignored, a reap of any child)
      done[#done + 1] = p and ended(h, how, code) or ended(h, "lost", how)
    end
  end
  table.sort(done, function(a, b) return a.seq < b.seq end)
  for _, info in ipairs(done) do
    self.running[info.pid] = nil
    self.nrunning = self.nrunning - 1
    if info.ok then self.n.ok = self.n.ok + 1 else self.n.failed = self.n.failed + 1 end
  end
  return done
end

local function report(fn, infos)
  if fn then
    for _, info in ipairs(infos) do fn(info) end
  end
end

--- Collects the hooks that have ended and starts queued ones while slots are
-- free (none once stopping). Never waits: call it from the loop, between
-- polls and while sleeping. `on_exit` gets, for each hook that ended or could
-- not start, { seq, pid, env, ok, how = "exit"|"signal"|"spawn"|"lost", code
-- (exit status or signal number), signal (its name), message (when not ok),
-- signalled (the stop's signal, when it sent one) }. An error raised by a
-- callback propagates (the bookkeeping is done first).
-- @treturn boolean whether hooks are still queued or running (`busy`)
-- @usage
-- while r:step() do transport.sleep(0.1) end
function Runner:step()
  local infos = self:collect()
  local started = {}
  while not self.stopping and self.nrunning < self.parallel and self.head <= self.tail do
    local ev = self.queue[self.head]
    self.queue[self.head], self.head = nil, self.head + 1
    local ok, info = self:start(ev)
    if ok then started[#started + 1] = info else infos[#infos + 1] = info end
  end
  report(self.on_start, started)
  report(self.on_exit, infos)
  return self:busy()
end

--- Whether hooks are queued or running.
-- @treturn boolean
function Runner:busy()
  return self.nrunning > 0 or self.head <= self.tail
end

--- The runner's counts.
-- @treturn table { started, ok, failed (ended badly or could not start),
-- dropped (events never run), queued, running }
function Runner:counts()
  return { started = self.n.started, ok = self.n.ok, failed = self.n.failed, dropped = self.n.dropped,
    queued = self.tail - self.head + 1, running = self.nrunning }
end

-- A wait of a stop: transport.sleep, unless a trapped signal cuts it short
-- (a plain sleep does not sleep at all once one was caught), then the rest
-- as a nap that ignores the stop flag.
local function pause(seconds)
  if seconds <= 0 then return end
  local t = transport.now()
  if not transport.sleep(seconds) then
    local left = seconds - (transport.now() - t)
    if left > 0 then sys.nap(left) end
  end
end

-- Collects (reporting) until `done()` or the clock reaches `deadline`.
function Runner:wait_until(deadline, done)
  while true do
    report(self.on_exit, self:collect())
    local now = transport.now()
    if done() or now >= deadline then return end
    pause(math.min(M.STOP_SLICE, deadline - now))
  end
end

-- Signals each running hook's group (the hook itself if it left the group):
-- the groups signalled.
function Runner:signal_all(sig)
  local groups = {}
  for pid, h in pairs(self.running) do
    h.signalled = sig
    if sys.kill(-pid, sig) then groups[#groups + 1] = pid else sys.kill(pid, sig) end
  end
  return groups
end

local function groups_gone(groups)
  for _, g in ipairs(groups) do
    if sys.kill(-g, 0) then return false end
  end
  return true
end

--- Stops: no hook starts any more (queued events are dropped), running hooks
-- get until the grace is over to end, then SIGTERM to their process groups,
-- then SIGKILL to the groups still there `kill_after` later. Returns once
-- every hook is collected, and at the latest `KILL_WAIT` after the SIGKILL:
-- by t0 + grace + kill_after + KILL_WAIT (1.15 s with the defaults), t0
-- being `since`, else the time of the signal the transport reports, else
-- the call. A hook still uncollected then (a kernel slow to end it) is
-- collected by a later `step`. Waits through the transport (its clock and
-- sleep), in slices of `STOP_SLICE`.
-- @number[opt] since when the stop began (`transport.now()`'s clock)
-- @treturn boolean true when no hook is left running
-- @usage
-- if transport.signal() then r:stop() end
function Runner:stop(since)
  self.stopping = true
  self.n.dropped = self.n.dropped + (self.tail - self.head + 1)
  self.queue, self.head, self.tail = {}, 1, 0
  if since == nil then
    local sig, at = transport.signal()
    since = transport.now()
    if sig and at < since then since = at end
  end
  local function none() return self.nrunning == 0 end
  self:wait_until(since + self.grace, none)
  if none() then return true end
  local groups = self:signal_all("TERM")
  self:wait_until(transport.now() + self.kill_after, function() return none() and groups_gone(groups) end)
  for _, g in ipairs(groups) do sys.kill(-g, "KILL") end
  self:signal_all("KILL")
  self:wait_until(transport.now() + M.KILL_WAIT, none)
  return none()
end

--- Waits for the queued and running hooks to end (a normal end of a watch).
-- @number[opt] timeout at most this many seconds (default: no limit)
-- @treturn boolean true when none is left
-- @treturn ?string when false: "timeout", or "signal" when a stop signal
-- arrived (call `stop` then)
-- @usage
-- local done, why = r:drain(30)
-- if not done then r:stop() end
function Runner:drain(timeout)
  local deadline = timeout and transport.now() + timeout or math.huge
  local sig = transport.signal()
  while true do
    if not self:step() then return true end
    local now = transport.now()
    if transport.signal() ~= sig then return false, "signal" end
    if now >= deadline then return false, "timeout" end
    if not transport.sleep(math.min(M.DRAIN_SLICE, deadline - now)) then return false, "signal" end
  end
end

M.Runner = Runner

return M
