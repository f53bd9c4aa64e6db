-- Watching one run until it ends: its state changes and its log lines, as
-- the Python CLI's `monitor` shows them, but ending on every terminal state.
-- Polls and sleeps through clarifai.transport (under an event loop it
-- yields).

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

-- A log reader that remembers what it has shown: entries are keyed by url
-- (or by page position and text when there is none), pages advance when full.
local function log_reader(c, full, run_id, opts)
  local page, per_page, seen = 1, defaults.log_per_page, {}
  local path = api.run_path(full, run_id) .. "/pipeline.version.run/logs"
  return function(emit)
    for _ = 1, defaults.log_pages do -- bounded: full pages read per poll
      local doc, err = reads.get(c, path .. "?page=" .. page .. "&per_page=" .. per_page, "list log entries",
        { label = "logs of run " .. run_id, on_retry = opts.on_retry })
      if not doc then return err end
      local entries = doc.log_entries
      if type(entries) ~= "table" then entries = {} end
      for idx, e in ipairs(entries) do
        if type(e) == "table" and type(e.message) == "string" then
          local key = (type(e.url) == "string" and e.url ~= "") and e.url
            or (page .. ":" .. idx .. ":" .. e.message)
          if not seen[key] then
            seen[key] = true
            for _, line in ipairs(entry_lines(e.message)) do emit(line) end
          end
        end
      end
      if #entries < per_page then return nil end
      page = page + 1
    end
  end
end

-- The reason a run ended, from the newest status log record for its state.
local function end_reason(c, full, run_id, code)
  local doc = reads.get(c, api.run_path(full, run_id) .. "/status_logs?page=1&per_page=" .. defaults.history_per_page,
    "list pipeline version run status logs", {})
  local logs = doc and doc.pipeline_version_run_status_logs
  if type(logs) ~= "table" then return nil end
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
    exit_code = sig and (128 + sig) or nil, state = w.last and states.name(w.last) or nil, state_code = w.last,
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

--[[
monitor(ref, run_id, opts) -> result | nil, err
Watches one run until it ends: on_state{state, state_code, elapsed} on every
change (Paused is reported and watching goes on), on_log{message} for each new
log line, on_error(err) for a failed poll that will be retried.
opts: timeout, interval (clarifai.limits), logs (default true), should_stop()
(a stop ends it with an "interrupted" error that names the run's last
state, state_code and the elapsed time).
result = { status = "success"|"failed"|"cancelled"|"timeout", exit_code,
  state, state_code, elapsed, run, reason? } (reason: why a run that failed
  ended, from its status log)
]]
function M.monitor(ref, run_id, opts)
  local fn = "clarifai.monitor.monitor"
  args.of(fn, "argument #1 (ref)", "table", ref)
  args.of(fn, "argument #2 (run_id)", "string", run_id)
  opts = args.opts(fn, opts, { timeout = "monitor_timeout", interval = "monitor_interval" })
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
