-- Waiting for transitions and watching runs. Both poll the API and sleep
-- between polls through clarifai.transport (no CPU while idle; under an
-- event loop they yield); both know the state machine, so they stop on
-- every terminal state instead of polling on.

local api = require "clarifai.api"
local args = require "clarifai.args"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local ids_mod = require "clarifai.ids"
local json = require "clarifai.json"
local reads = require "clarifai.reads"
local retry = require "clarifai.retry"
local states = require "clarifai.states"
local transport = require "clarifai.transport"

local M = {}

local PAUSED = states.by_name.JOB_PAUSED.code

-- Has `code` completed `action`? Returns true, or false plus an error when
-- the run can no longer get there.
function M.reached(action, code)
  if action == "resume" then
    -- it ran once it has left Paused (a reply without a state proves nothing)
    return code ~= nil and code ~= PAUSED
  end
  local target = states.actions[action].target
  if code == target then return true end
  if states.is_terminal(code) then
    return false, "run is " .. states.label(code) .. " (" .. states.name(code) .. ")"
  end
  return false
end

-- The states a run waiting on `action` may be in and still get there: the
-- action's sources, plus its target when that is not terminal (a list of
-- runs in these states stays as small as the version's live runs).
local function live_states(action)
  local a = states.actions[action]
  local codes = {}
  for _, c in ipairs(a.from) do codes[#codes + 1] = c end
  if not states.is_terminal(a.target) then codes[#codes + 1] = a.target end
  if action == "resume" then codes[#codes + 1] = states.by_name.JOB_QUEUED.code end
  return codes
end

-- Reads through the list endpoint: the waited-for runs it shows, into got.
-- Returns the pages read, and true on a stop.
local function list_poll(c, full, ids, action, opts, got)
  local per_page = defaults.api_per_page
  local q = {}
  for _, code in ipairs(live_states(action)) do q[#q + 1] = "status_codes=" .. code end
  local wanted = {}
  for _, id in ipairs(ids) do wanted[id] = true end
  local pages = 0
  for page = 1, #ids do -- more pages than runs: GETs are cheaper
    local doc = reads.get(c, api.runs_path(full) .. "?page=" .. page .. "&per_page=" .. per_page .. "&"
      .. table.concat(q, "&"), "list pipeline version runs", { on_retry = opts.on_retry, label = "list page " .. page })
    if transport.signal() or (opts.should_stop and opts.should_stop()) then return pages, true end
    local items = doc and doc.pipeline_version_runs
    if type(items) ~= "table" then break end -- a failed list: the runs are read one by one
    pages = page
    for _, r in ipairs(items) do
      if type(r) == "table" and wanted[r.id] then got[r.id], wanted[r.id] = { run = r }, nil end
    end
    if #items < per_page or next(wanted) == nil then break end
  end
  return pages, false
end

-- Reads each run the list did not show with a GET, into got. True on a stop.
local function get_poll(c, full, ids, opts, got)
  local rest, labels, index = {}, {}, {}
  for _, id in ipairs(ids) do
    if not got[id] then
      rest[#rest + 1] = api.run_path(full, id)
      labels[#rest], index[#rest] = "read of run " .. id, id
    end
  end
  if #rest == 0 then return false end
  local res, stop = reads.fetch(c, rest, { what = "get pipeline version run", labels = labels,
    parallel = opts.parallel, on_retry = opts.on_retry, should_stop = opts.should_stop })
  for k, id in ipairs(index) do
    local doc, err = res[k][1], res[k][2]
    local run
    if doc then run, err = api.run_of(doc) end
    got[id] = run and { run = run } or { error = err }
  end
  return stop.stopped
end

--[[
A poll of the runs still waited for: id -> { run = object } | { error = err },
and true on a stop. Through the list endpoint (status_codes filter,
defaults.api_per_page a page) when that is fewer requests than one GET per
run; a run the list does not show (it left those states) is read with a GET.
]]
local function poll(c, full, ids, action, opts, state)
  local got = {}
  if #ids > 2 and state.list_pages < #ids then
    local pages, stop = list_poll(c, full, ids, action, opts, got)
    if stop then return got, true end
    state.list_pages = pages
  end
  return got, get_poll(c, full, ids, opts, got)
end

-- Applies one poll to the results; returns the runs still waited for and
-- whether any changed.
local function settle_poll(action, results, pending, got, on, elapsed)
  local still, changed = {}, false
  for _, i in ipairs(pending) do
    local r = results[i]
    local g = got[r.run_id]
    if g.run then
      local code = api.run_state(g.run)
      if code ~= r.state_code then changed = true end
      r.state_code, r.state = code, code and states.name(code) or nil
      if on.poll then on.poll(r.run_id, code, elapsed) end
      local ok, why = M.reached(action, code)
      if ok then
        on.settle(r, "reached")
      elseif why then
        on.settle(r, "failed", errors.new("state", string.format("%s: cannot be %s: the %s", r.run_id,
          states.actions[action].past, why), { state_code = code, state = r.state }))
      else
        still[#still + 1] = i
      end
    elseif retry.passing(g.error) then
      still[#still + 1] = i -- poll again
    else
      on.settle(r, "failed", g.error)
    end
  end
  return still, changed
end

-- A run still waited for when the wait ends: stopped, or timed out.
local function give_up(r, on, stopped, signal, timeout)
  local label = r.state_code and states.label(r.state_code) or "unknown"
  if stopped then
    on.settle(r, "stopped", errors.new("interrupted", string.format("%s: still %s when the wait was stopped",
      r.run_id, label), { state_code = r.state_code, state = r.state, exit_code = signal and (128 + signal) or nil }))
  else
    on.settle(r, "timeout", errors.new("timeout", string.format("%s: still %s after %gs", r.run_id, label,
      timeout), { state_code = r.state_code, state = r.state }))
  end
end

--[[
wait(action, ref, run_ids, opts) -> report | nil, err
Polls until each run has completed `action`: pause waits for Paused, cancel
for Cancelled, resume for the run to leave Paused. A pause or cancel that
finds the run in another terminal state stops at once (kind "state", exit 1).
Many runs are polled through the list endpoint (see poll above). While
nothing changes the interval grows, to at most twice opts.interval.
opts: timeout, interval, parallel (clarifai.limits), client, on_poll(run_id, code,
elapsed), on_reached(result) as each run ends its wait, on_retry,
should_stop.
report = { results = { {run_id, outcome = "reached"|"failed"|"timeout"|
  "stopped", state, state_code, error} }, elapsed, signal? }
A stop (signal or should_stop) ends the wait at once: the runs still
waited for are "stopped".
]]
function M.wait(action, ref, run_ids, opts)
  local fn = "clarifai.watch.wait"
  if not states.actions[action] then args.raise(fn, "argument #1 (action)", "pause, cancel or resume", action) end
  args.of(fn, "argument #2 (ref)", "table", ref)
  args.list(fn, "argument #3 (run_ids)", run_ids)
  opts = args.opts(fn, opts, { timeout = "wait_timeout", interval = "wait_interval", parallel = "parallel" })
  local full, ferr = ids_mod.resolve(ref, opts)
  if not full then return nil, ferr end
  local list, lerr = ids_mod.unique(run_ids, "pipeline_version_run_id")
  if not list then return nil, lerr end
  local c, cerr = transport.client(opts)
  if not c then return nil, cerr end
  local now, sleep = opts.clock or transport.now, opts.sleep or transport.sleep
  local timeout = opts.timeout or defaults.wait_timeout
  local interval = opts.interval or defaults.wait_interval
  local start = now()
  local results, pending = json.array(), {}
  for i, id in ipairs(list) do
    results[i] = { run_id = id }
    pending[i] = i
  end
  local on = { poll = opts.on_poll, settle = function(r, outcome, err)
    r.outcome, r.error = outcome, err
    if opts.on_reached then opts.on_reached(r) end
  end }
  local state, pause, stopped = { list_pages = 0 }, interval, false
  while #pending > 0 do
    local ids = {}
    for k, i in ipairs(pending) do ids[k] = list[i] end
    local got, stop = poll(c, full, ids, action, opts, state)
    if stop then stopped = true break end
    local changed
    pending, changed = settle_poll(action, results, pending, got, on, now() - start)
    local left = start + timeout - now()
    if #pending == 0 or left <= 0 then break end
    pause = changed and interval or math.min(pause * 1.5, 2 * interval)
    if not sleep(math.min(pause, left)) or (opts.should_stop and opts.should_stop()) then
      stopped = true
      break
    end
  end
  local signal = transport.signal()
  for _, i in ipairs(pending) do give_up(results[i], on, stopped, signal, timeout) end
  return { results = results, elapsed = now() - start, signal = stopped and signal or nil }
end

-- monitor(ref, run_id, opts): see clarifai.monitor (loaded when used).
function M.monitor(...) return require("clarifai.monitor").monitor(...) end

return M
