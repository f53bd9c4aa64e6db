-- The transport seam: the only place the library waits. It owns the clock,
-- sleeping, the stop signal, client lookup, and the pump that keeps a
-- bounded number of requests in flight on a client's HTTP session. It knows
-- no API path (clarifai.reads builds the retried reads on top of it).
--
-- Every wait goes through wait_io() or sleep(). Called plainly they block
-- (the session's own poller, nanosleep); inside a workflow started by a
-- clarifai.async scheduler they yield to its event loop instead; inside a
-- coroutine made by clarifai.async.coroutine they are handed up, with a
-- private yield, to whoever resumes it. Either way the code above them is
-- the same.
--
-- Calls nest: a library call made from a callback of another (on_result,
-- on_retry, monitor's on_state, ...) gets a pump of its own on the same or
-- another session. A pump only ever sees, waits for and aborts the transfers
-- it started; what a session delivers for another pump is kept for it (the
-- session's mailbox), so neither call loses or steals a result.

local defaults = require "clarifai.defaults"
local sys = require "clarifai.sys.core"

local M = {}

-- The clock every wait and deadline reads. Specs swap in a fake one
-- (set_clock{now, sleep [, signal]}) to drive retries, backoff, deadlines
-- and the grace after a signal in milliseconds; nil restores the real one.
local clock = nil
function M.now() return clock and clock.now() or sys.monotime() end
function M.set_clock(c) clock = c end

-- coroutine -> scheduler, filled by clarifai.async for the workflows it runs.
M.schedulers = setmetatable({}, { __mode = "k" })
-- coroutine -> true for coroutines made by clarifai.async.coroutine: their
-- waits are handed up to whoever resumes them.
M.handed_up = setmetatable({}, { __mode = "k" })
-- The private yield's marker (clarifai.async.coroutine passes it on).
M.PRIVATE = setmetatable({}, { __tostring = function() return "clarifai: private yield" end })

M.FOREIGN_COROUTINE = "clarifai: called from a coroutine the scheduler does not run; "
  .. "use clarifai.async.coroutine.wrap"

-- Waits in a coroutine made by clarifai.async.coroutine: a private yield
-- that its resume() performs in its own context (see M.perform).
local handed_up = {
  wait_io = function(_, mux, timeout) return coroutine.yield(M.PRIVATE, "wait_io", mux, timeout) end,
  sleep = function(_, seconds) return coroutine.yield(M.PRIVATE, "sleep", seconds) end,
  client = function() return coroutine.yield(M.PRIVATE, "client") end,
  adopt = function(_, pump) return coroutine.yield(M.PRIVATE, "adopt", pump) end,
}

-- The way the running code waits: a workflow's scheduler, the hand-up of a
-- clarifai.async coroutine, or nil (block). A coroutine nobody registered,
-- running inside a workflow, would block the host's loop: that raises.
local function context()
  local co = coroutine.running()
  if not co then return nil end
  local sch = M.schedulers[co]
  if sch then return sch end
  if M.handed_up[co] then return handed_up end
  for wco in pairs(M.schedulers) do
    if wco ~= co and coroutine.status(wco) == "normal" then error(M.FOREIGN_COROUTINE, 0) end
  end
  return nil
end

-- A session's mailbox: results it delivered that belong to a pump which is
-- not the one polling (calls nest on one session).
local function mux_of(c)
  local s = c:session()
  local m = c._mux
  if not m or m.s ~= s then
    m = { s = s, stash = {}, pumps = {} }
    c._mux = m
  end
  return m
end

-- Polls the session (at most timeout seconds); every result goes to the mailbox.
local function poll_into(m, timeout)
  local stash = m.stash
  for _, r in ipairs(m.s:poll(timeout)) do stash[r.key] = r end
end

-- Waits at most timeout seconds for the session to have news, the way the
-- running code waits (see context).
local function wait_io(m, timeout)
  local sch = context()
  if not sch then return poll_into(m, timeout) end
  if sch == handed_up then return sch:wait_io(m, timeout) end
  local t = m.s:timeout()
  if t == nil or t > timeout then t = timeout end
  sch:wait_fd(m.s:fd(), t, m.s)
  return poll_into(m, 0)
end

-- sleep(seconds) -> true, or false when a signal stopped it.
function M.sleep(seconds)
  if clock then return clock.sleep(seconds) end
  local sch = context()
  if not sch then return sys.sleep(seconds) end
  if seconds > 0 then sch:sleep(seconds) end
  return true
end

--[[
perform(op, ...): a wait handed up from a clarifai.async coroutine, done in
the context of the code that resumed it (which may hand it up again).
]]
function M.perform(op, ...)
  if op == "wait_io" then
    return wait_io(...)
  elseif op == "sleep" then
    return M.sleep(...)
  elseif op == "client" then
    return M.client({})
  elseif op == "adopt" then
    local sch = context()
    if sch and sch.adopt then return sch:adopt(...) end
    return nil
  end
  error("clarifai: unknown private operation " .. tostring(op), 2)
end

-- The signal that asked us to stop (SIGINT, SIGTERM, SIGHUP) and when it
-- came (M.now's clock), or nil. Only set when the host asked for signals to
-- be trapped (the CLI does).
function M.signal()
  if clock and clock.signal then return clock.signal() end
  return sys.signal()
end

-- The client from opts.client, else one resolved as the CLI resolves it:
-- client | nil, err (the client module's public nil, message, err, made
-- internal again).
local CONFIG_KEYS = { "config_path", "context", "getenv", "pat", "api_base" }

local function internal(c, _, err)
  if c then return c end
  return nil, err
end

-- The client's own options of a call's opts (the rest are the call's).
local function client_opts(spec, opts)
  local out = {}
  for k, v in pairs(opts) do
    if spec[k] then out[k] = v end
  end
  return out
end

function M.client(opts)
  local client_mod = require "clarifai.client"
  if opts.client then return opts.client end
  if opts.pat then return internal(client_mod.new(client_opts(client_mod.NEW_OPTIONS, opts))) end -- no config lookup
  for _, k in ipairs(CONFIG_KEYS) do
    if opts[k] ~= nil then return internal(client_mod.from_config(client_opts(client_mod.CONFIG_OPTIONS, opts))) end
  end
  local sch = context()
  if sch then return sch:client() end -- each workflow has its own session
  return internal(client_mod.default())
end

--[[
pump(client, parallel) -> pump
Keeps at most `parallel` requests in flight on the client's session.
  pump:free()                 slots left
  pump:send(request, tag)     start a request (when a slot is free)
  pump:wait(seconds)          -> { {tag, resp}, ... } as this pump's transfers
                                 finish (early on a signal)
  pump:abort_all()            -> the same, for every transfer of this pump
                                 still in flight
  pump:close()                aborts what is left; the pump is done
The client's trace function sees each request (token redacted) and status.
]]
local Pump = {}
Pump.__index = Pump

-- The session's limits follow the widest pump alive on it: as many cached
-- connections (HTTP/1.1: one per transfer) and HTTP/2 streams as it may
-- have transfers in flight, and never fewer than libcurl's usual.
local function set_limit(m)
  local widest = 1
  for p in pairs(m.pumps) do
    if p.parallel > widest then widest = p.parallel end
  end
  if widest ~= m.limit then
    m.s:limit(math.max(widest, defaults.connection_cache), math.max(widest, defaults.first_streams))
    m.limit = widest
  end
end

function M.pump(c, parallel)
  local m = mux_of(c)
  -- Until a first exchange has finished, libcurl does not know how many
  -- streams an HTTP/2 server allows and assumes its own default: transfers
  -- beyond that would each open (and handshake) a connection of their own.
  -- So at most first_streams go first; the rest join once the server's
  -- limit is known.
  local first = defaults.first_streams
  local p = setmetatable({ c = c, m = m, s = m.s, parallel = parallel, cap = math.min(parallel, first),
    tags = {}, n = 0, failed = {} }, Pump)
  m.pumps[p] = true
  set_limit(m)
  local sch = context()
  if sch and sch.adopt then sch:adopt(p) end -- a cancelled workflow aborts its pumps
  return p
end

function Pump:free() return self.cap - self.n end
function Pump:inflight() return self.n end

function Pump:send(req, tag)
  local c = self.c
  if c.trace then c:trace_request(req) end
  local key, msg, code = self.s:submit(req)
  if not key then
    -- no transfer was started (out of memory): reported as not sent
    self.failed[#self.failed + 1] = { tag = tag, req = req,
      resp = { error_code = code, error = msg, sent = false, responded = false, time = 0 } }
  else
    self.tags[key] = { tag = tag, req = req }
  end
  self.n = self.n + 1
end

-- This pump's results from the mailbox (and its failed submits).
function Pump:take()
  local out, stash, tags = self.failed, self.m.stash, self.tags
  self.failed = {}
  for key, r in pairs(stash) do
    local entry = tags[key]
    if entry then
      stash[key], tags[key] = nil, nil
      entry.resp = r
      out[#out + 1] = entry
    end
  end
  return out
end

function Pump:deliver(out)
  self.n = self.n - #out
  if #out > 0 then self.cap = self.parallel end
  if self.c.trace then
    for _, e in ipairs(out) do self.c:trace_response(e.req, e.resp) end
  end
  return out
end

-- Nothing of ours arrived and the session has nothing left at all: our
-- transfers were taken by someone else. Waiting on would spin.
function Pump:check_alive()
  local active, done = self.s:active()
  if active == 0 and done == 0 and next(self.m.stash) == nil then
    error(string.format("clarifai: %d transfer(s) of this call are no longer on the HTTP session "
      .. "(aborted by another caller?)", self.n), 0)
  end
end

function Pump:wait(timeout)
  local out = self:take()
  if #out > 0 then return self:deliver(out) end
  if self.n == 0 then
    if timeout > 0 then M.sleep(timeout) end
    return out
  end
  local deadline, sig = M.now() + timeout, M.signal()
  while true do
    wait_io(self.m, math.max(0, deadline - M.now()))
    out = self:take()
    if #out > 0 or M.now() >= deadline or M.signal() ~= sig then break end
    self:check_alive()
  end
  return self:deliver(out)
end

function Pump:abort_all()
  local s, stash = self.s, self.m.stash
  for key in pairs(self.tags) do
    local r = s:abort(key)
    if r then stash[key] = r end
  end
  return self:deliver(self:take())
end

function Pump:close()
  if self.closed then return end
  self.closed = true
  -- a session closed meanwhile (its client closed) has nothing left to abort
  if next(self.tags) then pcall(self.abort_all, self) end
  self.m.pumps[self] = nil
  set_limit(self.m)
end

-- The exchanges a drive() has to start: ready ones (to go at once) first,
-- then delayed ones when their time comes, then fresh ones from the step,
-- asked for one at a time (a batch of 50,000 runs is never all in memory).
local function new_queue(step)
  return { fresh = step.fresh, exhausted = false, ready = {}, head = 1, tail = 0, delayed = {} }
end

local function push(q, ex, delay, now)
  if delay <= 0 then
    q.tail = q.tail + 1
    q.ready[q.tail] = ex
  else
    q.delayed[#q.delayed + 1] = { ex = ex, at = now + delay }
  end
end

local function next_ready(q, now)
  if q.head <= q.tail then
    local ex = q.ready[q.head]
    q.ready[q.head], q.head = nil, q.head + 1
    return ex
  end
  for k = 1, #q.delayed do
    if q.delayed[k].at <= now then return table.remove(q.delayed, k).ex end
  end
  if not q.exhausted then
    local ex = q.fresh()
    if ex ~= nil then return ex end
    q.exhausted = true
  end
  return nil
end

-- Nothing ready, delayed or fresh is left (the step may still have
-- exchanges in flight).
local function drained(q)
  return q.exhausted and q.head > q.tail and #q.delayed == 0
end

-- Seconds until the next delayed exchange is due (at most `limit`).
local function next_due(q, now, limit)
  local wait = limit
  for _, d in ipairs(q.delayed) do
    if d.at - now < wait then wait = d.at - now end
  end
  return wait < 0 and 0 or wait
end

-- Every exchange a stop leaves unfinished.
local function unfinished(q, pump, stop)
  for _, entry in ipairs(pump:abort_all()) do stop(entry.tag, entry.resp) end
  for k = q.head, q.tail do stop(q.ready[k], nil) end
  for _, d in ipairs(q.delayed) do stop(d.ex, nil) end
  if not q.exhausted then
    for ex in q.fresh do stop(ex, nil) end
  end
end

-- When the drive stops: nil, or the time in-flight requests must be done by.
local function stop_time(opts, now, grace)
  local sig, at = M.signal()
  -- the grace counts from the signal itself (it may have come while output
  -- was blocked), or from now for should_stop
  if sig then return math.min(at, now) + grace, sig end
  if opts.should_stop and opts.should_stop() then return now + grace end
  return nil
end

-- What finish() said about an exchange: done (nil), again after a delay
-- (a number), or follow-up exchanges (a list) after a delay. A stopping
-- drive starts nothing more: they are stopped at once.
local function follow(q, ex, more, delay, stopping, stop, now)
  if more == nil then return end
  if type(more) == "number" then more, delay = { ex }, more end
  for _, x in ipairs(more) do
    if stopping then stop(x, nil) else push(q, x, delay or 0, now) end
  end
end

--[[
drive(client, step, opts) -> { stopped = bool, signal = number? }
Runs exchanges (whatever tables the step makes), each one HTTP request,
with at most opts.parallel requests in flight; a freed slot is refilled
before the next wait.
  step.fresh() -> the next new exchange, or nil when there are no more
  step.start(ex) -> request
  step.finish(ex, resp, stopping) -> nil when ex is done; a delay in seconds
      before ex goes again; or a list of follow-up exchanges (and a delay)
  step.stop(ex, resp)   the drive stopped before ex was done; resp is the
                        aborted transfer's result when it was in flight
opts.on_progress(finished, inflight) is told after each wait.
A stop comes from a trapped signal or opts.should_stop(): nothing new is
sent, requests in flight get opts.grace seconds to finish (their finish()
sees stopping = true), then the rest are aborted. An error (from a step or
a callback) aborts this drive's transfers and is raised again.
]]
local function run(pump, q, step, opts)
  local grace = opts.grace or defaults.grace
  local stop_at, sig
  local finished = 0
  while true do
    local now = M.now()
    if not stop_at then stop_at, sig = stop_time(opts, now, grace) end
    if stop_at then
      if pump:inflight() == 0 or now >= stop_at then break end
    else
      while pump:free() > 0 do
        local ex = next_ready(q, now)
        if ex == nil then break end
        pump:send(step.start(ex), ex)
      end
      if pump:inflight() == 0 and drained(q) then break end
    end
    for _, entry in ipairs(pump:wait(next_due(q, now, stop_at and (stop_at - now) or 3600))) do
      local more, delay = step.finish(entry.tag, entry.resp, stop_at ~= nil)
      follow(q, entry.tag, more, delay, stop_at ~= nil, step.stop, M.now())
      finished = finished + 1
    end
    if opts.on_progress then opts.on_progress(finished, pump:inflight()) end
  end
  if stop_at then unfinished(q, pump, step.stop) end
  return { stopped = stop_at ~= nil, signal = sig }
end

function M.drive(c, step, opts)
  local pump = M.pump(c, opts.parallel or defaults.parallel)
  local ok, res = pcall(run, pump, new_queue(step), step, opts)
  pump:close()
  if not ok then error(res, 0) end
  return res
end

-- items(n) -> a fresh() over the numbers 1..n (one exchange per item).
function M.items(n)
  local i = 0
  return function()
    if i >= n then return nil end
    i = i + 1
    return i
  end
end

return M
