-- Waiting for transitions and watching runs. Both poll GetPipelineVersionRun
-- and sleep between polls (nanosleep: no CPU while idle); both know the state
-- machine, so they stop on every terminal state instead of polling on.

local api = require "clarifai.api"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local runs = require "clarifai.runs"
local states = require "clarifai.states"

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

--[[
wait(action, ref, run_ids, opts) -> report
Polls until each run has completed `action`: pause waits for Paused, cancel
for Cancelled, resume for the run to leave Paused. A pause or cancel that
finds the run in another terminal state stops at once (kind "state", exit 1).
opts: timeout (300 s), interval (2 s), on_poll(run_id, code, elapsed), client.
report = { results = { {run_id, outcome = "reached"|"failed"|"timeout", state,
  state_code, error} }, elapsed }
]]
function M.wait(action, ref, run_ids, opts)
  opts = opts or {}
  if not states.actions[action] then error("unknown action '" .. tostring(action) .. "'", 2) end
  local c, cerr = runs.get_client(opts)
  if not c then return nil, cerr end
  local now, sleep = opts.clock or runs.clock, opts.sleep or runs.sleep
  local timeout, interval = opts.timeout or 300, opts.interval or 2
  local start = now()
  local deadline = start + timeout
  local results, pending = json.array(), {}
  for i, id in ipairs(run_ids) do
    results[i] = { run_id = id }
    pending[#pending + 1] = i
  end

  local sub = { client = c, parallel = opts.parallel, lockfile = opts.lockfile, dir = opts.dir }
  while #pending > 0 do
    local ids = {}
    for k, i in ipairs(pending) do ids[k] = run_ids[i] end
    local report, err = runs.status(ref, ids, sub)
    if not report then return nil, err end
    local still = {}
    for k, i in ipairs(pending) do
      local r, res = report.results[k], results[i]
      if r.run then
        local code = api.run_state(r.run)
        res.state_code, res.state = code, code and states.name(code) or nil
        if opts.on_poll then opts.on_poll(res.run_id, code, now() - start) end
        local ok, why = M.reached(action, code)
        if ok then
          res.outcome = "reached"
        elseif why then
          res.outcome = "failed"
          res.error = errors.new("state", string.format("%s: cannot be %s: the %s",
            res.run_id, states.actions[action].past, why), { state_code = code, state = res.state })
        else
          still[#still + 1] = i
        end
      elseif r.error.kind == "transient" or r.error.kind == "unknown" or r.error.kind == "transport" then
        still[#still + 1] = i -- a passing failure: poll again
        res.last_error = r.error
      else
        res.outcome, res.error = "failed", r.error
      end
    end
    pending = still
    if #pending == 0 then break end
    local left = deadline - now()
    if left <= 0 then break end
    if not sleep(math.min(interval, left)) then
      return nil, errors.new("interrupted", "interrupted while waiting")
    end
  end
  for _, i in ipairs(pending) do
    local res = results[i]
    res.outcome = "timeout"
    res.error = errors.new("timeout", string.format("%s: still %s after %gs", res.run_id,
      res.state_code and states.label(res.state_code) or "unknown", timeout),
      { state_code = res.state_code, state = res.state })
  end
  return { results = results, elapsed = now() - start }
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
M.entry_lines = entry_lines

-- A log reader that remembers what it has shown: entries are keyed by url
-- (or by page position and text when there is none), pages advance when full.
local function log_reader(c, full, run_id)
  local page, per_page, seen = 1, 50, {}
  local path = api.run_path(full, run_id) .. "/pipeline.version.run/logs"
  return function(emit)
    for _ = 1, 100 do -- bounded: at most 100 full pages per poll
      local resp = c:request("GET", path .. "?page=" .. page .. "&per_page=" .. per_page)
      local doc, err = api.decode(resp, { what = "list log entries", secrets = c:secrets(), base = c.api_base })
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

-- How monitor ends for each terminal state.
local OUTCOMES = {
  JOB_COMPLETED = { status = "success", exit_code = 0 },
  JOB_FAILED = { status = "failed", exit_code = 1 },
  JOB_UNEXPECTED_ERROR = { status = "failed", exit_code = 1 },
  JOB_CANCELLED = { status = "cancelled", exit_code = 1 },
}

--[[
monitor(ref, run_id, opts) -> result | nil, err
Watches one run until it ends: on_state{state, state_code, elapsed} on every
change (Paused is reported and watching goes on), on_log{message} for each new
log line, on_error(err) for a failed poll that will be retried.
opts: timeout (3600 s), interval (10 s), logs (default true).
result = { status = "success"|"failed"|"cancelled"|"timeout", exit_code,
  state, state_code, elapsed, run }
]]
function M.monitor(ref, run_id, opts)
  opts = opts or {}
  local full, ferr = require("clarifai.ids").resolve(ref, opts)
  if not full then return nil, ferr end
  local c, cerr = runs.get_client(opts)
  if not c then return nil, cerr end
  local now, sleep = opts.clock or runs.clock, opts.sleep or runs.sleep
  local timeout, interval = opts.timeout or 3600, opts.interval or 10
  local start = now()
  local deadline = start + timeout
  local read_logs = opts.logs ~= false and log_reader(c, full, run_id) or nil
  local emit = function(line)
    if opts.on_log then opts.on_log({ event = "log", run_id = run_id, message = line }) end
  end
  local function tenth(x) return math.floor(x * 10 + 0.5) / 10 end
  local last
  while true do
    local run, err = runs.get_run(c, full, run_id)
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
        return { event = "result", run_id = run_id, status = outcome.status, exit_code = outcome.exit_code,
                 state = states.name(code), state_code = code, elapsed = tenth(elapsed), run = run }
      end
    elseif err.kind == "transient" or err.kind == "unknown" or err.kind == "transport" then
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
    if not sleep(math.min(interval, left)) then
      return nil, errors.new("interrupted", "interrupted while monitoring")
    end
  end
end

return M
