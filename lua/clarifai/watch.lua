--- Waiting for transitions and watching runs.
-- Both poll the API and sleep between polls through the library's transport
-- (no CPU while idle; inside a workflow of `clarifai.async` they yield to the
-- event loop); both know the state machine (`clarifai.states`), so they stop
-- on every terminal state instead of polling on.
-- @module clarifai.watch
-- @usage
-- local watch = require "clarifai.watch"
-- assert(require("clarifai.runs").apply("pause", ref, ids))
-- local waited = assert(watch.wait("pause", ref, ids, { timeout = 120, interval = 2 }))
-- for _, r in ipairs(waited.results) do print(r.run_id, r.outcome, r.state) end

local api = require "clarifai.api"
local args = require "clarifai.args"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local ids_mod = require "clarifai.ids"
local json = require "clarifai.json"
local pager = require "clarifai.pager"
local reads = require "clarifai.reads"
local retry = require "clarifai.retry"
local states = require "clarifai.states"
local transport = require "clarifai.transport"

local M = {}

-- wait()'s options (unknown keys raise: see clarifai.args); clock and sleep
-- are the specs' fake clock.
local WAIT_OPTS = args.spec(args.CALL, args.POLL, { timeout = "wait_timeout", interval = "wait_interval",
  parallel = "parallel", on_poll = "function", on_reached = "function" })

local PAUSED = states.by_name.JOB_PAUSED.code

--- Has a run in state `code` completed `action`?
-- Pause has completed in Paused, cancel in Cancelled; resume once the run has
-- left Paused (a state of nil proves nothing).
-- @string action "pause", "cancel" or "resume"
-- @tparam ?int code the run's state code (nil: unknown)
-- @treturn boolean true when the action is complete
-- @treturn ?string when false: why the run can no longer get there (it is in
-- another terminal state), or nil when it still may
-- @raise when action is not "pause", "cancel" or "resume" (an index error)
-- @usage
-- print(watch.reached("pause", 64008))  -- true
-- print(watch.reached("pause", 64002))  -- false   run is Completed (JOB_COMPLETED)
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

-- The runs still waited for, by version: { {full, key, ids = {run ids}} }.
local function by_version(results, pending)
  local list = {}
  for k, i in ipairs(pending) do list[k] = results[i].scope end
  local groups = {}
  for n, g in ipairs(api.by_version(list)) do
    local first = results[pending[g[1]]]
    groups[n] = { full = first.scope, key = first.key, ids = {} }
    for k, j in ipairs(g) do groups[n].ids[k] = results[pending[j]].run_id end
  end
  return groups
end

-- Reads through the list endpoint (one paging cursor per version, all at
-- once, round by round; the read-back policy of clarifai.reads decides which
-- versions): the waited-for runs they show go into got[key][id]. A cursor
-- stops once it has shown every run wanted, or after as many pages as runs
-- (what it did not show is read with a GET). state.pages remembers how many
-- pages each version took. True on a stop.
local function list_poll(c, groups, action, opts, state, got)
  local cursors, of = {}, {}
  for _, g in ipairs(groups) do
    g.wanted, g.left = {}, #g.ids
    for _, id in ipairs(g.ids) do g.wanted[id] = true end
    if reads.by_list(state.pages[g.key] or math.ceil(#g.ids / defaults.api_per_page), #g.ids) then
      cursors[#cursors + 1] = pager.forward({ path = api.runs_path(g.full), field = "pipeline_version_runs",
        codes = reads.live_states(action), max_pages = #g.ids })
      of[#cursors] = g
    end
  end
  if #cursors == 0 then return false end
  local ok, err = pager.walk(c, cursors, { what = "list pipeline version runs", parallel = opts.parallel,
    on_retry = opts.on_retry, should_stop = opts.should_stop, on_items = function(k, items, cur)
      local g = of[k]
      for _, r in ipairs(items) do
        if type(r) == "table" and g.wanted[r.id] then
          got[g.key][r.id], g.wanted[r.id], g.left = { run = r }, nil, g.left - 1
        end
      end
      if g.left == 0 then cur:stop("found") end
    end })
  for k, cur in ipairs(cursors) do state.pages[of[k].key] = cur.pages end
  -- a list that failed: its runs are read one by one
  return not ok and err.kind == "interrupted"
end

-- Reads each run no list showed with a GET (all at once), into got. True on a stop.
local function get_poll(c, groups, opts, got)
  local paths, labels, index = {}, {}, {}
  for _, g in ipairs(groups) do
    for _, id in ipairs(g.ids) do
      if not got[g.key][id] then
        paths[#paths + 1] = api.run_path(g.full, id)
        labels[#paths], index[#paths] = "read of run " .. id, { g.key, id }
      end
    end
  end
  if #paths == 0 then return false end
  local res, stop = reads.fetch(c, paths, { what = "get pipeline version run", labels = labels,
    parallel = opts.parallel, on_retry = opts.on_retry, should_stop = opts.should_stop })
  for k, at in ipairs(index) do
    local doc, err = res[k][1], res[k][2]
    local run
    if doc then run, err = api.run_of(doc) end
    got[at[1]][at[2]] = run and { run = run } or { error = err }
  end
  return stop.stopped
end

--[[
A poll of the runs still waited for: got[key][id] = { run = object } |
{ error = err }, and true on a stop. Through each version's list endpoint
(status_codes filter, pages of the API's own size) when that is fewer
requests than one GET per run; a run the list does not show (it left those
states) is read with a GET.
]]
local function poll(c, groups, action, opts, state)
  local got = {}
  for _, g in ipairs(groups) do got[g.key] = {} end
  if list_poll(c, groups, action, opts, state, got) then return got, true end
  return got, get_poll(c, groups, opts, got)
end

-- Applies one poll to the results; returns the runs still waited for and
-- whether any changed.
local function settle_poll(action, results, pending, got, on, elapsed)
  local still, changed = {}, false
  for _, i in ipairs(pending) do
    local r = results[i]
    local g = got[r.key][r.run_id]
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
      r.run_id, label), { state_code = r.state_code, state = r.state, exit_code = errors.signal_exit(signal) }))
  else
    on.settle(r, "timeout", errors.new("timeout", string.format("%s: still %s after %gs", r.run_id, label,
      timeout), { state_code = r.state_code, state = r.state }))
  end
end

-- The runs to wait for, as results in input order: from one version's ids
-- (ref, run_ids) or from refs of any versions (apply's second form).
local function waited(fn, ref, run_ids, opts)
  local results = json.array()
  if #ref > 0 or json.is_array(ref) then
    local checked = ids_mod.is_checked(ref) -- refs a call before this one checked
    for k, r in ipairs(ref) do
      args.of(fn, "refs[" .. k .. "]", "table", r)
      local full, err = r, nil
      if not checked then full, err = ids_mod.resolve(r, { lockfile = false }) end
      if not full then return nil, err end
      results[k] = { run_id = r.run_id, scope = full, key = api.version_key(full), user_id = full.user_id,
        app_id = full.app_id, pipeline_id = full.pipeline_id, pipeline_version_id = full.pipeline_version_id }
    end
    return results
  end
  args.list(fn, "argument #3 (run_ids)", run_ids)
  local full, ferr = ids_mod.resolve(ref, opts)
  if not full then return nil, ferr end
  local list, lerr = ids_mod.unique(run_ids, "pipeline_version_run_id")
  if not list then return nil, lerr end
  local key = api.version_key(full)
  for i, id in ipairs(list) do results[i] = { run_id = id, scope = full, key = key } end
  return results
end

-- The polls until every run has ended its wait, the timeout or a stop:
-- the indices still waited for, and whether a stop ended it.
local function poll_until(c, action, results, opts, on)
  local now, sleep = opts.clock or transport.now, opts.sleep or transport.sleep
  local timeout = opts.timeout or defaults.wait_timeout
  local interval = opts.interval or defaults.wait_interval
  local start = now()
  local pending = {}
  for i in ipairs(results) do pending[i] = i end
  local state, pause = { pages = {} }, interval
  while #pending > 0 do
    local got, stop = poll(c, by_version(results, pending), action, opts, state)
    if stop then return pending, true, start end
    local changed
    pending, changed = settle_poll(action, results, pending, got, on, now() - start)
    local left = start + timeout - now()
    if #pending == 0 or left <= 0 then break end
    pause = changed and interval or math.min(pause * 1.5, 2 * interval)
    if not sleep(math.min(pause, left)) or (opts.should_stop and opts.should_stop()) then
      return pending, true, start
    end
  end
  return pending, false, start
end

--- Polls until each run has completed `action`.
-- Pause waits for Paused, cancel for Cancelled, resume for the run to leave
-- Paused. A pause or cancel that finds the run in another terminal state
-- stops at once (its result "failed", kind "state", exit 1). Two forms, as
-- `clarifai.runs.apply`: `wait(action, ref, run_ids [, opts])` waits on runs
-- of one version, `wait(action, refs [, opts])` on refs of any versions (such
-- as `clarifai.runs.select` returns). Each version is polled through its list
-- endpoint when that takes fewer requests than one GET per run, all versions
-- at once. While nothing changes the interval grows, to at most twice
-- opts.interval. A stop (a trapped signal or should_stop) ends the wait at
-- once: the runs still waited for are "stopped". A run that fails its wait
-- does not fail the call: its result says so.
-- @string action "pause", "cancel" or "resume"
-- @tparam table ref the pipeline version's ids (missing ones from
-- config-lock.yaml); in the second form, refs: a list of complete refs
-- @tparam {string,...} run_ids the run ids (first form); in the second form
-- this argument is opts
-- @tparam[opt] table opts options:
-- @tparam[opt=300] number opts.timeout seconds before giving up, 0..604800
-- @tparam[opt=2] number opts.interval seconds between polls, more than 0 and
-- at most 3600
-- @tparam[opt=8] int opts.parallel requests in flight at once, 1..1024
-- @tparam[opt] Client opts.client the client (or pat, api_base, config_path,
-- context, as `clarifai.runs`)
-- @tparam[opt] function opts.on_poll on_poll(run_id, code, elapsed) for each
-- run read
-- @tparam[opt] function opts.on_reached on_reached(result) as each run ends
-- its wait
-- @tparam[opt] function opts.on_retry on_retry(info) before each retry
-- @tparam[opt] function opts.should_stop should_stop() returning true ends
-- the wait
-- @treturn table report { results = { {run_id, outcome =
-- "reached"|"failed"|"timeout"|"stopped", state, state_code, error, and for
-- refs user_id, app_id, pipeline_id, pipeline_version_id}, ... } (in input
-- order), elapsed (seconds), signal? }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`): a bad or missing id,
-- no client
-- @raise when action is not "pause", "cancel" or "resume", ref is not a
-- table, run_ids is not a list, a ref of refs is not a table, or an option
-- is out of range (and, by the rule of every public function: an option key
-- it does not take or a callback that is not callable; a bad value returns
-- nil, message, err instead)
-- @usage
-- local waited = assert(watch.wait("pause", ref, { "run-1", "run-2" }, { timeout = 120, interval = 2 }))
-- for _, r in ipairs(waited.results) do print(r.run_id, r.outcome, r.state) end
-- -- a selection's refs, any versions
-- local refs = assert(runs.select(scope, { states = { "running" } }))
-- assert(runs.apply("cancel", refs))
-- assert(watch.wait("cancel", refs, { on_reached = function(r) print(r.run_id, r.outcome) end }))
function M.wait(action, ref, run_ids, opts)
  local fn = "clarifai.watch.wait"
  if not states.actions[action] then args.raise(fn, "argument #1 (action)", "pause, cancel or resume", action) end
  args.of(fn, "argument #2 (ref or refs)", "table", ref)
  if #ref > 0 or json.is_array(ref) then opts, run_ids = run_ids, nil end
  opts = args.opts(fn, opts, WAIT_OPTS)
  local results, rerr = waited(fn, ref, run_ids, opts)
  if not results then return nil, rerr end
  local c, cerr = transport.client(opts)
  if not c then return nil, cerr end
  local on = { poll = opts.on_poll, settle = function(r, outcome, err)
    r.outcome, r.error = outcome, err
    if opts.on_reached then opts.on_reached(r) end
  end }
  local pending, stopped, start = poll_until(c, action, results, opts, on)
  local signal = transport.signal()
  local timeout = opts.timeout or defaults.wait_timeout
  for _, i in ipairs(pending) do give_up(results[i], on, stopped, signal, timeout) end
  for _, r in ipairs(results) do r.scope, r.key = nil, nil end
  return { results = results, elapsed = (opts.clock or transport.now)() - start,
    signal = stopped and signal or nil }
end

--- Follows a selection of runs over time: an iterator of the events of their state changes.
-- `for ev in watch.events(scope, filter, opts) do ... end`. Each poll (every
-- opts.interval seconds) lists the selection, every version once, through
-- the paging cursor, with the server's status filter when filter.states is
-- given; a run seen for the first time is a "new" event (on the first poll
-- every run, unless opts.quiet_start), a run seen in another state a
-- "change" (from -> to), and a run no longer listed is read once with a GET,
-- reported "left" with its new state, and no longer followed. Polls see
-- states, not transitions: a run that passes through a state between two
-- polls is reported from the state seen before to the state seen now. An
-- event is { time, event = "new"|"change"|"left", run_id, user_id, app_id,
-- pipeline_id, pipeline_version_id, from, to } (short state names, from
-- null for a new run, to null for a run gone altogether): a ref that
-- `clarifai.runs.apply` takes. Under the async adapters the iterator yields
-- to the loop while it waits; a loop body may call the library (calls nest).
-- The loop ends when opts["until"] holds (every followed run is in one of
-- those states or a terminal one), when opts.timeout has passed, on a stop
-- (a signal, should_stop) or when listing fails for good; then the object
-- says how: ended ("until", "timeout", "stopped", "error"), exit_code (until:
-- 0, or 1 when a run ended in another terminal state; timeout 124; a signal
-- 128 + it), error, counts {new, change, left}, polls.
-- @tparam table scope as `clarifai.runs.select` takes it
-- @tparam[opt] table filter as `clarifai.runs.select` takes it (states,
-- older_than, limit), and run_ids: only these runs
-- @tparam[opt] table opts interval (default 2), timeout (seconds; 0 or nil:
-- none), until (state names or codes), quiet_start, parallel, on_error(err)
-- for a poll that failed and will be tried again, on_retry, should_stop,
-- and the client options (client, pat, api_base, config_path, context)
-- @treturn table the events: call it (or use it in a generic for) for the
-- next event; nil once the watch has ended
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`): a scope without its
-- ids, an unknown state name
-- @raise when scope is not a table, one of its ids is not a string, or a
-- filter or opts field has the wrong type or is out of range (and, by the
-- rule of every public function: an option key it does not take or a
-- callback that is not callable; a bad value returns nil, message, err
-- instead)
-- @usage
-- local events = assert(watch.events({ user_id = "u", app_id = "a", all_pipelines = true },
--   { states = { "running", "paused" } }, { interval = 5, ["until"] = { "completed" } }))
-- for ev in events do print(ev.time, ev.event, ev.run_id, ev.from, ev.to) end
-- print(events.ended, events.exit_code)
function M.events(scope, filter, opts) return require("clarifai.events").events(scope, filter, opts) end

--- Watches one run until it ends: `clarifai.monitor.monitor` (loaded when used).
-- @tparam table ref the pipeline version's ids (missing ones from
-- config-lock.yaml)
-- @string run_id the run
-- @tparam[opt] table opts as `clarifai.monitor.monitor`'s
-- @treturn table result as `clarifai.monitor.monitor`'s
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`)
-- @raise as `clarifai.monitor.monitor`
-- @usage
-- local result = assert(watch.monitor(ref, "run-train-01", {
--   on_state = function(e) print(e.state, e.elapsed) end }))
function M.monitor(ref, run_id, opts) return require("clarifai.monitor").monitor(ref, run_id, opts) end

errors.export(M, { "wait", "events" })

return M
