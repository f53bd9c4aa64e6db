-- The transport seam: the only place the library waits. It owns the clock,
-- sleeping, the stop signal, client lookup, and the loop that keeps a
-- bounded number of requests in flight on a client's HTTP session.
--
-- Every wait goes through wait_io() or sleep(). Called plainly they block
-- (the session's own poller, nanosleep); inside a workflow started by a
-- clarifai.async scheduler they yield to its event loop instead. Either
-- way the code above them is the same.

local errors = require "clarifai.errors"
local defaults = require "clarifai.defaults"
local retry = require "clarifai.retry"
local sys = require "clarifai.sys.core"

local M = {}

function M.now() return sys.monotime() end

-- coroutine -> scheduler, filled by clarifai.async for the workflows it runs.
M.schedulers = setmetatable({}, { __mode = "k" })

local function scheduler()
  local co = coroutine.running()
  return co and M.schedulers[co] or nil
end
M.scheduler = scheduler

-- sleep(seconds) -> true, or false when a signal stopped it.
function M.sleep(seconds)
  local sch = scheduler()
  if sch then
    if seconds > 0 then sch:sleep(seconds) end
    return true
  end
  return sys.sleep(seconds)
end

-- The signal that asked us to stop (SIGINT, SIGTERM, SIGHUP), or nil. Only
-- set when the host asked for signals to be trapped (the CLI does).
function M.signal()
  return sys.signal()
end

-- The client from opts.client, else one resolved as the CLI resolves it.
local CONFIG_KEYS = { "config_path", "context", "getenv", "pat", "api_base" }

function M.client(opts)
  local client_mod = require "clarifai.client"
  if opts.client then return opts.client end
  if opts.pat then return client_mod.new(opts) end -- an explicit token: no config lookup
  for _, k in ipairs(CONFIG_KEYS) do
    if opts[k] ~= nil then return client_mod.from_config(opts) end
  end
  local sch = scheduler()
  if sch then return sch:client() end -- each workflow has its own session
  return client_mod.default()
end

-- Waits for the session: its finished transfers, within timeout seconds.
local function wait_io(session, timeout)
  local sch = scheduler()
  if not sch then return session:poll(timeout) end
  local results = session:poll(0)
  if #results > 0 or timeout <= 0 then return results end
  local t = session:timeout()
  if t == nil or t > timeout then t = timeout end
  sch:wait_fd(session:fd(), t, session)
  return session:poll(0)
end

--[[
pump(client, parallel) -> pump
Keeps at most `parallel` requests in flight on the client's session.
  pump:free()                 slots left
  pump:send(request, tag)     start a request (when a slot is free)
  pump:wait(seconds)          -> { {tag, resp}, ... } as transfers finish
  pump:abort_all()            -> the same, for every transfer still in flight
The client's trace function sees each request (token redacted) and status.
]]
local Pump = {}
Pump.__index = Pump

function M.pump(c, parallel)
  local session = c:session()
  -- a batch that ended by an error (out of memory, a raising callback)
  -- may have left transfers behind: they are not ours
  session:abort_all()
  session:limit(parallel)
  -- Until a first exchange has finished, libcurl does not know how many
  -- streams an HTTP/2 server allows and assumes 100: transfers beyond that
  -- would each open (and handshake) a connection of their own. So at most
  -- 100 go first; the rest join once the server's limit is known.
  local cap = parallel > 100 and 100 or parallel
  return setmetatable({ c = c, s = session, parallel = parallel, cap = cap, tags = {}, n = 0, failed = {} }, Pump)
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

function Pump:deliver(results)
  local out = {}
  for _, f in ipairs(self.failed) do out[#out + 1] = f end
  self.failed = {}
  for _, r in ipairs(results) do
    local entry = self.tags[r.key]
    if entry then
      self.tags[r.key] = nil
      entry.resp = r
      out[#out + 1] = entry
    end
  end
  self.n = self.n - #out
  if #out > 0 then self.cap = self.parallel end
  if self.c.trace then
    for _, e in ipairs(out) do self.c:trace_response(e.req, e.resp) end
  end
  return out
end

function Pump:wait(timeout)
  if #self.failed > 0 then return self:deliver({}) end
  if self.n == 0 then
    if timeout > 0 then M.sleep(timeout) end
    return {}
  end
  return self:deliver(wait_io(self.s, timeout))
end

function Pump:abort_all()
  return self:deliver(self.s:abort_all())
end

--[[
drive(client, n, step, opts) -> { stopped = bool, signal = number? }
Runs n items, each a small state machine over HTTP exchanges, with at most
opts.parallel (default 8) requests in flight; items start in index order and
a freed slot is refilled before the next wait.
  step.start(i) -> request       the next exchange of item i
  step.finish(i, resp, stopping) -> nil when item i is finished, or a delay
                                 in seconds before its next exchange
  step.stop(i, resp)             the batch stopped before item i finished;
                                 resp is the aborted transfer's result when
                                 it was in flight, else nil
opts.on_progress(done, inflight) is told after each wait.
A stop comes from a trapped signal or opts.should_stop(): nothing new is
sent, requests in flight get opts.grace seconds (default 1) to finish (their
finish() sees stopping = true), then the rest are aborted.
]]
function M.drive(c, n, step, opts)
  local parallel = opts.parallel or defaults.parallel
  local grace = opts.grace or defaults.grace
  local should_stop = opts.should_stop
  local pump = M.pump(c, parallel)
  local next_i = 1          -- items not started yet: next_i..n, in order
  local queue, qhead, qtail = {}, 1, 0 -- items ready to go again (FIFO)
  local delayed = {}        -- { i, at } waiting for their time
  local stop_at, stopped, sig
  local done = 0

  local function check_stop()
    if stop_at then return end
    sig = M.signal()
    if sig or (should_stop and should_stop()) then
      stopped = true
      stop_at = M.now() + grace
    end
  end

  local function next_ready(now)
    if qhead <= qtail then
      local i = queue[qhead]
      queue[qhead] = nil
      qhead = qhead + 1
      return i
    end
    for k = 1, #delayed do
      if delayed[k].at <= now then return table.remove(delayed, k).i end
    end
    if next_i <= n then
      next_i = next_i + 1
      return next_i - 1
    end
    return nil
  end

  local function handle(entry)
    local i = entry.tag
    local delay = step.finish(i, entry.resp, stop_at ~= nil)
    if delay == nil then
      done = done + 1
    elseif stop_at then
      step.stop(i, nil)
      done = done + 1
    elseif delay <= 0 then
      qtail = qtail + 1
      queue[qtail] = i
    else
      delayed[#delayed + 1] = { i = i, at = M.now() + delay }
    end
  end

  while done < n do
    check_stop()
    local now = M.now()
    if stop_at then
      if pump:inflight() == 0 or now >= stop_at then break end
    else
      while pump:free() > 0 do
        local i = next_ready(now)
        if not i then break end
        pump:send(step.start(i), i)
      end
    end
    -- wait for the network, or until the next delayed item is due
    local wait = stop_at and (stop_at - now) or 3600
    for _, d in ipairs(delayed) do
      if d.at - now < wait then wait = d.at - now end
    end
    if wait < 0 then wait = 0 end
    local finished = pump:wait(wait)
    for _, entry in ipairs(finished) do handle(entry) end
    if opts.on_progress then opts.on_progress(done, pump:inflight()) end
  end

  if stop_at then
    for _, entry in ipairs(pump:abort_all()) do
      step.stop(entry.tag, entry.resp)
    end
    for k = qhead, qtail do step.stop(queue[k], nil) end
    for _, d in ipairs(delayed) do step.stop(d.i, nil) end
    for i = next_i, n do step.stop(i, nil) end
  end
  return { stopped = stopped, signal = sig }
end

--[[
fetch(client, paths, opts) -> { {doc | nil, err}, ... }, stop
GETs, safe to repeat: a failure that is not definite is retried (at most
retry.MAX_ATTEMPTS attempts, full-jitter backoff, Retry-After, within
opts.deadline or the client's). opts: what (for messages), labels (per path,
for on_retry), on_retry{label, attempt, max, delay, reason}, parallel,
should_stop. Items a stop leaves unread get a "not_sent" error.
]]
function M.fetch(c, paths, opts)
  opts = opts or {}
  local api = require "clarifai.api"
  local ctx = c:decode_context(opts.what or "call the API")
  local budget = opts.deadline or c.deadline or defaults.deadline
  local out, attempts, deadline = {}, {}, {}
  local step = {}
  function step.start(i)
    attempts[i] = (attempts[i] or 0) + 1
    local now = M.now()
    deadline[i] = deadline[i] or (now + budget)
    local req = c:build("GET", paths[i])
    req.timeout = math.max(0.1, math.min(req.timeout, deadline[i] - now))
    return req
  end
  function step.finish(i, resp, stopping)
    local doc, err = api.decode(resp, ctx)
    out[i] = { doc, err }
    if doc then return nil end
    local phase = retry.classify(resp, err)
    if phase ~= "not_sent" and phase ~= "rejected" and phase ~= "ambiguous" then return nil end
    local delay = resp.retry_after or retry.backoff(attempts[i])
    local n = attempts[i]
    if stopping or n >= retry.MAX_ATTEMPTS or M.now() + delay >= deadline[i] then
      if n > 1 then
        out[i][2] = errors.derive(err, { message = string.format("%s (after %d attempts)", err.message, n) })
      end
      return nil
    end
    if opts.on_retry then
      opts.on_retry({ label = opts.labels and opts.labels[i] or paths[i], attempt = n + 1,
        max = retry.MAX_ATTEMPTS, delay = delay, reason = retry.reason(resp, err) })
    end
    return delay
  end
  function step.stop(i, resp)
    if out[i] and out[i][1] then return end
    local why = resp and "the request was in flight" or "it was not sent"
    out[i] = { nil, errors.new("not_sent", "not read: the command was stopped and " .. why) }
  end
  local res = M.drive(c, #paths, step, { parallel = opts.parallel, should_stop = opts.should_stop })
  return out, res
end

-- get(client, path, what, opts) -> doc | nil, err (one retrying GET; opts.label
-- names it in retry notes)
function M.get(c, path, what, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.what, o.labels = what, { o.label or what }
  local out, res = M.fetch(c, { path }, o)
  local doc, err = out[1][1], out[1][2]
  if res.signal and not doc then
    err = errors.new("interrupted", "interrupted", { signal = res.signal })
  end
  return doc, err
end

-- get_run(client, ref, run_id, opts) -> run object, req_id | nil, err
function M.get_run(c, ref, run_id, opts)
  local api = require "clarifai.api"
  local doc, err = M.get(c, api.run_path(ref, run_id), "get pipeline version run", opts)
  if not doc then return nil, err end
  local run, rerr = api.run_of(doc)
  if not run then return nil, rerr end
  return run, doc.status.req_id
end

return M
