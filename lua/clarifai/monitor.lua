--- Watching one run until it ends: its state changes and its log lines.
-- As the Python CLI's `monitor` shows them, but ending on every terminal
-- state. Polls and sleeps through the library's transport (inside a workflow
-- of `clarifai.async` it yields to the event loop). `clarifai.watch.monitor`
-- is the same function.
-- @module clarifai.monitor
-- @usage
-- local monitor = require "clarifai.monitor"
-- local result = assert(monitor.monitor(ref, "run-train-01", {
--   on_state = function(e) print(e.state, e.elapsed) end,
--   on_log = function(e) print(e.message) end,
-- }))
-- print(result.status, result.exit_code)

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

-- monitor()'s options (unknown keys raise: see clarifai.args); clock and
-- sleep are the specs' fake clock.
local MONITOR_OPTS = args.spec(args.CALL, args.POLL, { timeout = "monitor_timeout", interval = "monitor_interval",
  logs = "boolean", on_state = "function", on_log = "function", on_error = "function" })

-- Log lines of one entry: split on newlines; a JSON object line shows its msg.
local function entry_lines(message)
  local out = {}
  for line in (message .. "\n"):gmatch("(.-)\r?\n") do
    if line ~= "" then
      local doc = line:sub(1, 1) == "{" and json.decode(line) or nil
      if type(doc) == "table" and type(doc.msg) == "string" then line = doc.msg end
      out[#out + 1] = line
    end
  end
  return out
end

-- A log reader: the paging cursor's tail mode (clarifai.pager), which pages
-- as ListLogEntries does (the last page first, then the pages in between):
-- each entry is shown once, in order, and a poll reads only the pages that
-- changed (plus the probe of the last page).
local function log_reader(c, full, run_id, opts)
  local cur = pager.tail({ path = api.run_path(full, run_id) .. "/pipeline.version.run/logs" })
  return function(emit)
    cur:begin()
    while true do
      local path = cur:next_path()
      if not path then return nil end
      local doc, err = reads.get(c, path, "list log entries", { label = "logs of run " .. run_id,
        on_retry = opts.on_retry })
      if not doc then return err end
      local entries, ferr = cur:feed(doc)
      if not entries then return ferr end
      for _, e in ipairs(entries) do
        if type(e) == "table" and type(e.message) == "string" then
          for _, line in ipairs(entry_lines(e.message)) do emit(line) end
        end
      end
    end
  end
end

-- The reason a run ended, from the newest status log record for its state
-- (every page of the status log, through the paging cursor).
local function end_reason(c, full, run_id, code)
  local logs = reads.status_logs(c, full, run_id, {})
  if not logs then return nil end
  local reason
  for _, l in ipairs(logs) do
    local st = type(l) == "table" and type(l.status) == "table" and l.status or {}
    if states.code_of(st.code) == code and type(l.message) == "string" and l.message ~= "" then
      reason = l.message
    end
  end
  return reason
end

-- How monitor ends for each terminal state.
local OUTCOMES = {
  JOB_COMPLETED = { status = "success", exit_code = 0 },
  JOB_FAILED = { status = "failed", exit_code = 1 },
  JOB_UNEXPECTED_ERROR = { status = "failed", exit_code = 1 },
  JOB_CANCELLED = { status = "cancelled", exit_code = 1 },
}

local function tenth(x) return math.floor(x * 10 + 0.5) / 10 end

-- A stop (a signal, or should_stop): the error says where the run was.
local function stopped_monitor(w)
  local sig = transport.signal()
  return nil, errors.new("interrupted", "interrupted while monitoring", { signal = sig,
    exit_code = errors.signal_exit(sig), state = w.last and states.name(w.last) or nil, state_code = w.last,
    elapsed = tenth(w.now() - w.start) })
end

-- One look at the run: reports a change of state; returns the result when
-- the run has ended, or nil, err when watching cannot go on.
local function look(c, full, run_id, opts, w)
  local run, err = reads.get_run(c, full, run_id, { on_retry = opts.on_retry, label = "read of run " .. run_id })
  if transport.signal() or (opts.should_stop and opts.should_stop()) then return stopped_monitor(w) end
  if w.read_logs then
    local lerr = w.read_logs(function(line)
      if opts.on_log then opts.on_log({ event = "log", run_id = run_id, message = line }) end
    end)
    if lerr and opts.on_error then opts.on_error(lerr) end
  end
  if not run then
    if not retry.passing(err) then return nil, err end
    if opts.on_error then opts.on_error(err) end
    return false
  end
  local code = api.run_state(run)
  local elapsed = tenth(w.now() - w.start)
  if code ~= w.last then
    w.last = code
    if opts.on_state then
      opts.on_state({ event = "state", run_id = run_id, state = states.name(code), state_code = code, elapsed = elapsed })
    end
  end
  local outcome = OUTCOMES[states.name(code)]
  if not outcome then return false end
  local result = { event = "result", run_id = run_id, status = outcome.status, exit_code = outcome.exit_code,
    state = states.name(code), state_code = code, elapsed = elapsed, run = run }
  if outcome.status == "failed" then result.reason = end_reason(c, full, run_id, code) end
  return result
end

--- Watches one run until it ends.
-- on_state is told of every change of state (Paused is reported and
-- watching goes on), on_log of each new log line, on_error of a failed poll
-- that will be retried. The run ends in Completed ("success", exit code 0),
-- Failed or Unexpected error ("failed", 1) or Cancelled ("cancelled", 1); when
-- opts.timeout passes first the result is "timeout" (exit code 124), with the
-- last state seen. Log entries are read in pages, each shown once; an entry
-- that is a JSON object shows its msg.
-- @tparam table ref the pipeline version's ids (missing ones from
-- config-lock.yaml)
-- @string run_id the run
-- @tparam[opt] table opts options:
-- @tparam[opt=3600] number opts.timeout seconds before giving up, 0..604800
-- @tparam[opt=10] number opts.interval seconds between polls, more than 0 and
-- at most 3600
-- @tparam[opt=true] boolean opts.logs false reads no log entries
-- @tparam[opt] function opts.on_state on_state{event = "state", run_id,
-- state, state_code, elapsed} on every change
-- @tparam[opt] function opts.on_log on_log{event = "log", run_id, message}
-- for each new log line
-- @tparam[opt] function opts.on_error on_error(err) for a poll (or a log
-- read) that failed and will be retried
-- @tparam[opt] function opts.on_retry on_retry(info) before each retry of a
-- request
-- @tparam[opt] function opts.should_stop should_stop() returning true ends
-- the watch with an "interrupted" error that names the run's last state,
-- state_code and the elapsed time
-- @tparam[opt] Client opts.client the client (or pat, api_base, config_path,
-- context, as `clarifai.runs`)
-- @treturn table result { event = "result", run_id, status =
-- "success"|"failed"|"cancelled"|"timeout", exit_code, state, state_code,
-- elapsed, run (the API's run object; not on a timeout), reason? (why a run
-- that failed ended, from its status log) }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`): a bad or missing id,
-- a poll that failed for good, kind "interrupted" on a stop
-- @raise when ref is not a table, run_id is not a string, or an option is
-- out of range (and, by the rule of every public function: an option key it
-- does not take or a callback that is not callable; a bad value returns nil,
-- message, err instead)
-- @usage
-- local result, message = monitor.monitor(ref, "run-train-01", { timeout = 600,
--   on_state = function(e) print(e.state, e.elapsed) end,
--   on_log = function(e) print(e.message) end })
-- if not result then print(message) elseif result.status ~= "success" then print(result.reason) end
function M.monitor(ref, run_id, opts)
  local fn = "clarifai.monitor.monitor"
  args.of(fn, "argument #1 (ref)", "table", ref)
  args.of(fn, "argument #2 (run_id)", "string", run_id)
  opts = args.opts(fn, opts, MONITOR_OPTS)
  local full, ferr = ids_mod.resolve(ref, opts)
  if not full then return nil, ferr end
  local ok, ierr = ids_mod.check(run_id, "pipeline_version_run_id")
  if not ok then return nil, ierr end
  local c, cerr = transport.client(opts)
  if not c then return nil, cerr end
  local sleep = opts.sleep or transport.sleep
  local w = { now = opts.clock or transport.now, last = nil,
    read_logs = opts.logs ~= false and log_reader(c, full, run_id, opts) or nil }
  w.start = w.now()
  local deadline = w.start + (opts.timeout or defaults.monitor_timeout)
  local interval = opts.interval or defaults.monitor_interval
  while true do
    local result, err = look(c, full, run_id, opts, w)
    if result then return result end
    if result == nil then return nil, err end
    local left = deadline - w.now()
    if left <= 0 then
      return { event = "result", run_id = run_id, status = "timeout", exit_code = errors.exit_codes.timeout,
               state = w.last and states.name(w.last) or json.null, state_code = w.last or json.null,
               elapsed = tenth(w.now() - w.start) }
    end
    if not sleep(math.min(interval, left)) or (opts.should_stop and opts.should_stop()) then
      return stopped_monitor(w)
    end
  end
end

errors.export(M, { "monitor" })

return M
