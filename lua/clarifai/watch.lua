-- Waiting for transitions and watching runs. Both poll the API and sleep
-- between polls through clarifai.transport (no CPU while idle; under an
-- event loop they yield); both know the state machine, so they stop on
-- every terminal state instead of polling on.

local api = require "clarifai.api"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local ids_mod = require "clarifai.ids"
local json = require "clarifai.json"
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

-- Failures a later poll may not meet again.
local PASSING = { transient = true, unknown = true, transport = true }

--[[
wait(action, ref, run_ids, opts) -> report | nil, err
Polls until each run has completed `action`: pause waits for Paused, cancel
for Cancelled, resume for the run to leave Paused. A pause or cancel that
finds the run in another terminal state stops at once (kind "state", exit 1).
opts: timeout (300 s), interval (2 s), parallel, client, on_poll(run_id, code,
elapsed), on_reached(result) as each run ends its wait, on_retry,
should_stop.
report = { results = { {run_id, outcome = "reached"|"failed"|"timeout"|
  "stopped", state, state_code, error} }, elapsed, signal? }
A stop (signal or should_stop) ends the wait at once: the runs still
waited for are "stopped".
]]
function M.wait(action, ref, run_ids, opts)
  opts = opts or {}
  if not states.actions[action] then error("unknown action '" .. tostring(action) .. "'", 2) end
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
  local deadline = start + timeout
  local results, pending = json.array(), {}
  for i, id in ipairs(list) do
    results[i] = { run_id = id }
    pending[#pending + 1] = i
  end
  local function settle(res, outcome, err)
    res.outcome, res.error = outcome, err
    if opts.on_reached then opts.on_reached(res) end
  end

  local signal
  while #pending > 0 do
    local paths, labels = {}, {}
    for k, i in ipairs(pending) do
      paths[k] = api.run_path(full, list[i])
      labels[k] = "read of run " .. list[i]
    end
    local got, res = transport.fetch(c, paths, { what = "get pipeline version run", labels = labels,
      parallel = opts.parallel, on_retry = opts.on_retry, should_stop = opts.should_stop })
    if res.stopped then signal = res.signal break end
    local still = {}
    for k, i in ipairs(pending) do
      local doc, err = got[k][1], got[k][2]
      local r = results[i]
      local run = doc and doc.pipeline_version_run
      if doc and type(run) ~= "table" then
        doc, err = nil, errors.new("protocol", "the API sent a malformed response: no pipeline_version_run")
      end
      if doc then
        local code = api.run_state(run)
        r.state_code, r.state = code, code and states.name(code) or nil
        if opts.on_poll then opts.on_poll(r.run_id, code, now() - start) end
        local ok, why = M.reached(action, code)
        if ok then
          settle(r, "reached")
        elseif why then
          settle(r, "failed", errors.new("state", string.format("%s: cannot be %s: the %s", r.run_id,
            states.actions[action].past, why), { state_code = code, state = r.state }))
        else
          still[#still + 1] = i
        end
      elseif PASSING[err.kind] then
        still[#still + 1] = i -- poll again
      else
        settle(r, "failed", err)
      end
    end
    pending = still
    if #pending == 0 then break end
    local left = deadline - now()
    if left <= 0 then break end
    if not sleep(math.min(interval, left)) or (opts.should_stop and opts.should_stop()) then
      signal = transport.signal()
      break
    end
  end
  for _, i in ipairs(pending) do
    local r = results[i]
    local label = r.state_code and states.label(r.state_code) or "unknown"
    if signal or (opts.should_stop and opts.should_stop()) then
      settle(r, "stopped", errors.new("interrupted", string.format("%s: still %s when the wait was stopped",
        r.run_id, label), { state_code = r.state_code, state = r.state,
        exit_code = signal and (128 + signal) or nil }))
    else
      settle(r, "timeout", errors.new("timeout", string.format("%s: still %s after %gs", r.run_id, label, timeout),
        { state_code = r.state_code, state = r.state }))
    end
  end
  return { results = results, elapsed = now() - start, signal = signal }
end

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
    for _ = 1, 100 do -- bounded: at most 100 full pages per poll
      local doc, err = transport.get(c, path .. "?page=" .. page .. "&per_page=" .. per_page, "list log entries",
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
  local doc = transport.get(c, api.run_path(full, run_id) .. "/status_logs?page=1&per_page=100",
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

--[[
monitor(ref, run_id, opts) -> result | nil, err
Watches one run until it ends: on_state{state, state_code, elapsed} on every
change (Paused is reported and watching goes on), on_log{message} for each new
log line, on_error(err) for a failed poll that will be retried.
opts: timeout (3600 s), interval (10 s), logs (default true).
result = { status = "success"|"failed"|"cancelled"|"timeout", exit_code,
  state, state_code, elapsed, run, reason? } (reason: why a run that failed
  ended, from its status log)
]]
function M.monitor(ref, run_id, opts)
  opts = opts or {}
  local full, ferr = ids_mod.resolve(ref, opts)
  if not full then return nil, ferr end
  local ok, ierr = ids_mod.check(run_id, "pipeline_version_run_id")
  if not ok then return nil, ierr end
  local c, cerr = transport.client(opts)
  if not c then return nil, cerr end
  local now, sleep = opts.clock or transport.now, opts.sleep or transport.sleep
  local timeout = opts.timeout or defaults.monitor_timeout
  local interval = opts.interval or defaults.monitor_interval
  local start = now()
  local deadline = start + timeout
  local read_logs = opts.logs ~= false and log_reader(c, full, run_id, opts) or nil
  local emit = function(line)
    if opts.on_log then opts.on_log({ event = "log", run_id = run_id, message = line }) end
  end
  local function stopped()
    local sig = transport.signal()
    return nil, errors.new("interrupted", "interrupted while monitoring", { signal = sig,
      exit_code = sig and (128 + sig) or nil })
  end
  local last
  while true do
    local run, err = transport.get_run(c, full, run_id, { on_retry = opts.on_retry, label = "read of run " .. run_id })
    if transport.signal() then return stopped() end
    if read_logs then
      local lerr = read_logs(emit)
      if lerr and opts.on_error then opts.on_error(lerr) end
    end
    if run then
      local code = api.run_state(run)
      local elapsed = now() - start
      if code ~= last then
        last = code
        if opts.on_state then
          opts.on_state({ event = "state", run_id = run_id, state = states.name(code), state_code = code,
                          elapsed = tenth(elapsed) })
        end
      end
      local outcome = OUTCOMES[states.name(code)]
      if outcome then
        local result = { event = "result", run_id = run_id, status = outcome.status, exit_code = outcome.exit_code,
          state = states.name(code), state_code = code, elapsed = tenth(elapsed), run = run }
        if outcome.status == "failed" then result.reason = end_reason(c, full, run_id, code) end
        return result
      end
    elseif PASSING[err.kind] then
      if opts.on_error then opts.on_error(err) end
    else
      return nil, err
    end
    local left = deadline - now()
    if left <= 0 then
      return { event = "result", run_id = run_id, status = "timeout", exit_code = errors.exit_codes.timeout,
               state = last and states.name(last) or json.null, state_code = last or json.null,
               elapsed = tenth(now() - start) }
    end
    if not sleep(math.min(interval, left)) then return stopped() end
  end
end

return M
