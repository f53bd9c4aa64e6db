-- The emulated world: users, apps, pipelines, versions and their runs, and
-- the clock that moves runs along. Which user-requested transitions are
-- allowed comes only from clarifai.states, so the emulator and the client
-- agree by construction.
--
-- Time is evaluated lazily: every read calls advance(now) first, which
-- replays the automatic moves, scripted moves and delayed user requests
-- that fell due since the last look, each at its own timestamp.

local socket = require "socket"
local states = require "clarifai.states"
local json = require "clarifai.json"
local timefmt = require "clarifai.timefmt"

local M = {}

M.DEMO = {
  token = "demo-pat-7c0ffee",
  user = "demo-user",
  app = "demo-app",
  pipeline = "hello-world-pipeline",
  version = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19",
}

local QUEUED = states.by_name.JOB_QUEUED.code
local RUNNING = states.by_name.JOB_RUNNING.code
local COMPLETED = states.by_name.JOB_COMPLETED.code
local FAILED = states.by_name.JOB_FAILED.code
local PAUSED = states.by_name.JOB_PAUSED.code
local CANCELLED = states.by_name.JOB_CANCELLED.code

-- Time formats -----------------------------------------------------------------

M.timestamp = timefmt.format  -- RFC 3339, UTC, microseconds
M.parse_time = timefmt.parse  -- any offset; numbers pass through

-- google.protobuf.Duration text, trimmed: "12.5s", "600s".
function M.duration(secs)
  local s = string.format("%.3f", math.max(0, secs)):gsub("0+$", ""):gsub("%.$", "")
  return s .. "s"
end

function M.hex_id()
  local t = {}
  for i = 1, 4 do t[i] = string.format("%08x", math.random(0, 0xffffffff)) end
  return table.concat(t)
end

-- Log lines a running run prints, one per tick: JSON objects with a `msg`
-- field, plain text and multi-line text, as real step containers do.
local function generated_line(n)
  local step = "step-" .. math.floor((n - 1) / 4)
  local kind = n % 4
  if kind == 1 then
    return json.encode({ level = "info", msg = string.format("%s: processed %d items", step, 40 * n) })
  elseif kind == 2 then
    return string.format("%s: heartbeat %d, all workers healthy", step, n)
  elseif kind == 3 then
    return string.format("%s: batch %d summary\n  items: %d\n  errors: 0", step, n, 40 * n)
  end
  return json.encode({ level = "debug", msg = string.format("%s: checkpoint %d saved", step, n) })
end

local SERVER_MESSAGES = {
  [QUEUED] = "Pipeline version run queued",
  [RUNNING] = "Pipeline version run started",
  [COMPLETED] = "Pipeline version run completed",
  [FAILED] = "Pipeline version run failed: step exited with code 1",
  [CANCELLED] = "Pipeline version run cancelled",
  [PAUSED] = "Paused due to resource limit",
}

local USER_MESSAGES = {
  pause = "Paused by user request",
  cancel = "Cancelled by user request",
  resume = "Resumed by user request",
}

-- The action whose target is `code`, if any.
local function action_for(code)
  for _, name in ipairs(states.action_order) do
    if states.actions[name].target == code then return name end
  end
  return nil
end
M.action_for = action_for

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- World ------------------------------------------------------------------------

local World = {}
World.__index = World

-- opts: tokens (list), owner, tick, reject_code, reject_http,
-- transition_delay, seed (bool), clock (function returning seconds).
function M.new(opts)
  opts = opts or {}
  local w = setmetatable({
    clock = opts.clock or socket.gettime,
    seed = opts.seed ~= false,
    startup = {
      tick = opts.tick or 2,
      reject_code = opts.reject_code or 26302,
      reject_http = opts.reject_http or 400,
      transition_delay = opts.transition_delay or 0,
    },
    tokens = {},
    log_serial = 0,
  }, World)
  for _, tok in ipairs(opts.tokens or { M.DEMO.token }) do
    w.tokens[tok] = opts.owner or M.DEMO.user
  end
  w:reset()
  return w
end

function World:owner_of(token)
  return self.tokens[token]
end

function World:reset(seed)
  if seed == nil then seed = self.seed end
  self.config = copy(self.startup)
  self.users, self.apps, self.pipelines, self.versions = {}, {}, {}, {}
  self.runs, self.order = {}, 0
  self.live = {} -- runs that may change by themselves (timers, scripts, delayed requests)
  self:ensure_version(M.DEMO.user, M.DEMO.app, M.DEMO.pipeline, M.DEMO.version)
  if seed then self:seed_demo(self.clock()) end
end

function World:ensure_version(u, a, p, v)
  self.users[u] = true
  self.apps[u .. "/" .. a] = true
  self.pipelines[u .. "/" .. a .. "/" .. p] = true
  self.versions[u .. "/" .. a .. "/" .. p .. "/" .. v] = true
end

-- Which part of a user/app/pipeline/version path is missing, if any.
function World:missing(u, a, p, v)
  if not self.users[u] then return "user " .. u end
  if a and not self.apps[u .. "/" .. a] then return "app " .. u .. "/" .. a end
  if p and not self.pipelines[u .. "/" .. a .. "/" .. p] then return "pipeline " .. p end
  if v and not self.versions[u .. "/" .. a .. "/" .. p .. "/" .. v] then
    return "pipeline version " .. p .. "/" .. v
  end
  return nil
end

function World:set_config(t)
  local now = self.clock()
  self:advance(now)
  for _, k in ipairs({ "tick", "reject_code", "reject_http", "transition_delay", "ignore_paging" }) do
    if t[k] ~= nil then self.config[k] = t[k] end
  end
  if t.tick ~= nil then
    -- Time spent under the old tick does not count toward the new one.
    for _, run in pairs(self.runs) do
      self.live[run] = true
      if run.code == RUNNING then
        run.run_secs = run.run_secs + (now - run.since)
      end
      run.since = now
      run.next_log_at = (run.code == RUNNING and self.config.tick > 0) and now + self.config.tick or nil
    end
  end
  return self.config
end

local function add_status_log(run, code, t, by, message)
  run.status_logs[#run.status_logs + 1] = {
    id = M.hex_id(), code = code, at = t, by = by or "", message = message or "",
  }
end

function World:add_log(run, message)
  self.log_serial = self.log_serial + 1
  run.logs[#run.logs + 1] = {
    message = message,
    url = string.format("https://logs.emulator.invalid/pipeline_version_runs/%s/entries/%d",
      run.id, self.log_serial),
  }
end

-- Creates or replaces a run. spec: id, user_id, app_id, pipeline_id,
-- version_id, code, created_at, started_at, ended_at, run_secs, script,
-- history ({code, at, by, message}...), lines (log messages), by.
-- started_at/ended_at/run_secs of a run created in state `code`.
function World:initial_times(run, spec, now)
  local code = run.code
  if code == RUNNING then
    run.started_at = run.started_at or now
    if self.config.tick > 0 then run.next_log_at = now + self.config.tick end
  elseif code == COMPLETED and not run.started_at then
    run.started_at = run.created_at
  end
  if states.is_terminal(code) then
    run.ended_at = run.ended_at or now
    if run.started_at and not spec.run_secs then run.run_secs = run.ended_at - run.started_at end
  end
end

function World:put_run(spec, now)
  now = now or self.clock()
  self:advance(now)
  local u, a = spec.user_id or M.DEMO.user, spec.app_id or M.DEMO.app
  local p, v = spec.pipeline_id or M.DEMO.pipeline, spec.version_id or M.DEMO.version
  self:ensure_version(u, a, p, v)
  local code = spec.code or QUEUED
  self.order = self.order + 1
  local created = spec.created_at or now
  local run = {
    id = spec.id, user_id = u, app_id = a, pipeline_id = p, version_id = v,
    code = code, since = now, created_at = created, modified_at = math.max(created, now),
    started_at = spec.started_at, ended_at = spec.ended_at,
    run_secs = spec.run_secs or 0, progress = 0, order = self.order,
    logs = {}, status_logs = {}, script = {}, pending = {}, log_n = 0,
  }
  self:initial_times(run, spec, now)
  if spec.history then
    for _, h in ipairs(spec.history) do add_status_log(run, h.code, h.at, h.by, h.message) end
    run.modified_at = run.status_logs[#run.status_logs].at
  else
    add_status_log(run, code, now, spec.by or "", SERVER_MESSAGES[code])
  end
  for _, line in ipairs(spec.lines or {}) do self:add_log(run, line) end
  for _, step in ipairs(spec.script or {}) do
    run.script[#run.script + 1] = { at = now + (step.after or 0), code = step.code, message = step.message }
  end
  table.sort(run.script, function(x, y) return x.at < y.at end)
  self.runs[run.id] = run
  self.live[run] = true
  return run
end

function World:get_run(id)
  return self.runs[id]
end

-- Moves a run to `code` at time t (user `by`, or "" for the server).
function World:transition(run, code, t, by, message)
  self.live[run] = true
  if run.code == RUNNING then
    local d = t - run.since
    run.run_secs = run.run_secs + d
    run.progress = run.progress + d
  end
  run.code, run.since, run.modified_at = code, t, t
  run.next_log_at = nil
  if code == RUNNING then
    run.started_at = run.started_at or t
    if self.config.tick > 0 then run.next_log_at = t + self.config.tick end
  end
  run.ended_at = states.is_terminal(code) and t or nil
  add_status_log(run, code, t, by, message or SERVER_MESSAGES[code] or states.label(code))
end

-- When the clock alone moves this run next (nil: never).
function World:auto_at(run)
  local tick = self.config.tick
  if not tick or tick <= 0 then return nil end
  if run.code == QUEUED then return run.since + tick end
  if run.code == RUNNING then return run.since + math.max(0, 5 * tick - run.progress) end
  return nil
end

local MAX_LINES_PER_STEP = 10000

function World:emit_logs(run, upto)
  local tick = self.config.tick
  if run.code ~= RUNNING or not run.next_log_at or tick <= 0 then return end
  local n = 0
  while run.next_log_at <= upto and n < MAX_LINES_PER_STEP do
    run.log_n = run.log_n + 1
    self:add_log(run, generated_line(run.log_n))
    run.next_log_at = run.next_log_at + tick
    n = n + 1
  end
  if run.next_log_at <= upto then run.next_log_at = upto + tick end
end

function World:advance_run(run, now)
  while true do
    local t, kind
    local auto = self:auto_at(run)
    if auto and auto <= now then t, kind = auto, "auto" end
    local s, p = run.script[1], run.pending[1]
    if s and s.at <= now and (not t or s.at <= t) then t, kind = s.at, "script" end
    if p and p.at <= now and (not t or p.at <= t) then t, kind = p.at, "pending" end
    self:emit_logs(run, t or now)
    if not t then return end
    if kind == "auto" then
      self:transition(run, run.code == QUEUED and RUNNING or COMPLETED, t, "")
    elseif kind == "script" then
      table.remove(run.script, 1)
      self:transition(run, s.code, t, "", s.message)
    else
      table.remove(run.pending, 1)
      -- A delayed request the run has meanwhile outgrown is dropped.
      if states.can(p.action, run.code) then
        self:transition(run, p.code, t, p.by, p.message)
      end
    end
  end
end

-- Whether a run has anything that could move it without a request.
function World:is_live(run)
  return self:auto_at(run) ~= nil or run.script[1] ~= nil or run.pending[1] ~= nil
    or (run.next_log_at ~= nil and run.code == RUNNING and self.config.tick > 0)
end

-- Brings every run that can move by itself up to `now` (only those: a
-- world of 50 000 idle runs costs nothing per request).
function World:advance(now)
  now = now or self.clock()
  for run in pairs(self.live) do
    self:advance_run(run, now)
    if not self:is_live(run) then self.live[run] = nil end
  end
  return now
end

-- Server-driven change requested through the control API.
function World:force_state(run, code, message)
  local now = self:advance()
  self:transition(run, code, now, "", message)
  return run
end

function World:runs_of(u, a, p, v)
  local out = {}
  for _, run in pairs(self.runs) do
    if run.user_id == u and run.app_id == a and run.pipeline_id == p and run.version_id == v then
      out[#out + 1] = run
    end
  end
  table.sort(out, function(x, y)
    if x.created_at ~= y.created_at then return x.created_at > y.created_at end
    return x.order > y.order
  end)
  return out
end

-- The run with this pipeline/version/id under any user and app (run ids are
-- unique across the world, so the short GET form needs no user or app).
function World:find_run(p, v, id)
  local run = self.runs[id]
  if run and run.pipeline_id == p and run.version_id == v then return run end
  return nil
end

-- Checks a PATCH: items are {id, code} already decoded; all or nothing.
-- Returns the runs to change, or nil, kind ("not_found" | "reject"), details.
function World:check_patch(u, a, p, v, items)
  local tentative, out = {}, {}
  for i, item in ipairs(items) do
    local run = self.runs[item.id]
    if not run or run.user_id ~= u or run.app_id ~= a or run.pipeline_id ~= p or run.version_id ~= v then
      return nil, "not_found", "pipeline version run " .. item.id .. " not found"
    end
    local current = tentative[run.id] or run.code
    local action = action_for(item.code)
    if not action or not states.can(action, current) then
      local what = action or ("apply status " .. states.name(item.code) .. " to")
      return nil, "reject", string.format("cannot %s pipeline version run %s in state %s",
        what, run.id, states.name(current))
    end
    tentative[run.id] = item.code
    out[i] = { run = run, code = item.code, action = action }
  end
  return out
end

-- Applies checked changes now, or after the configured delay.
function World:apply_patch(changes, by)
  local now = self.clock()
  local delay = self.config.transition_delay or 0
  for _, ch in ipairs(changes) do
    local message = USER_MESSAGES[ch.action]
    if delay > 0 then
      local pending = ch.run.pending
      pending[#pending + 1] = {
        at = now + delay, code = ch.code, action = ch.action, by = by, message = message,
      }
      self.live[ch.run] = true
      table.sort(pending, function(x, y) return x.at < y.at end)
    else
      self:transition(ch.run, ch.code, now, by, message)
    end
  end
end

-- Wire form of a run (snake_case, integer codes, RFC 3339 times).
function World:run_json(run, now)
  now = now or self.clock()
  local o = {
    id = run.id,
    user_id = run.user_id,
    app_id = run.app_id,
    pipeline_version = { id = run.version_id, pipeline_id = run.pipeline_id },
    orchestration_status = { status = { code = run.code, description = states.label(run.code) } },
    created_at = M.timestamp(run.created_at),
    modified_at = M.timestamp(run.modified_at),
  }
  if run.started_at then
    o.started_at = M.timestamp(run.started_at)
    local secs = run.run_secs
    if run.code == RUNNING then secs = secs + (now - run.since) end
    o.total_run_duration = M.duration(secs)
  end
  if run.ended_at then o.ended_at = M.timestamp(run.ended_at) end
  return o
end

function M.status_log_json(run, rec)
  return {
    id = rec.id,
    pipeline_version_run_id = run.id,
    status = { code = rec.code },
    message = rec.message,
    triggered_by_user_id = rec.by,
    created_at = M.timestamp(rec.at),
  }
end

-- Demo world -------------------------------------------------------------------

local function seed_spec(boot, id, code, created, started, ended, run_secs, history, lines)
  local h = {}
  for i, e in ipairs(history) do
    h[i] = { code = e[1], at = boot - e[2], by = e[3] and M.DEMO.user or "",
      message = e[3] and USER_MESSAGES[action_for(e[1])] or SERVER_MESSAGES[e[1]] }
  end
  return {
    id = id, code = code, created_at = boot - created,
    started_at = started and boot - started, ended_at = ended and boot - ended,
    run_secs = run_secs, history = h, lines = lines,
  }
end

function World:seed_demo(boot)
  local specs = {
    seed_spec(boot, "run-train-01", RUNNING, 420, 400, nil, 400,
      { { QUEUED, 420 }, { RUNNING, 400 } },
      { '{"level":"info","msg":"step-0: loading dataset (12000 rows)"}',
        '{"level":"info","msg":"step-0: epoch 1/5 loss=0.812"}' }),
    seed_spec(boot, "run-train-02", RUNNING, 180, 170, nil, 140,
      { { QUEUED, 180 }, { RUNNING, 170 }, { PAUSED, 120, true }, { RUNNING, 90, true } },
      { "step-0: starting trainer on 1 GPU", '{"level":"info","msg":"step-0: resumed from checkpoint 2"}' }),
    seed_spec(boot, "run-eval-03", QUEUED, 60, nil, nil, 0,
      { { QUEUED, 60 } },
      { "waiting for nodepool capacity" }),
    seed_spec(boot, "run-etl-04", PAUSED, 1800, 1790, nil, 590,
      { { QUEUED, 1800 }, { RUNNING, 1790 }, { PAUSED, 1200, true } },
      { '{"level":"info","msg":"step-0: extracted 5000 records"}', "step-1: transform paused" }),
    seed_spec(boot, "run-etl-05", COMPLETED, 7200, 7190, 6500, 690,
      { { QUEUED, 7200 }, { RUNNING, 7190 }, { COMPLETED, 6500 } },
      { '{"level":"info","msg":"step-0: extracted 8000 records"}',
        "step-1: load finished\n  rows: 8000\n  rejected: 0" }),
    seed_spec(boot, "run-etl-06", FAILED, 5400, 5390, 5300, 90,
      { { QUEUED, 5400 }, { RUNNING, 5390 }, { FAILED, 5300 } },
      { "step-0: connecting to warehouse",
        '{"level":"error","msg":"step-0: connection refused (warehouse:5432)"}' }),
    seed_spec(boot, "run-old-07", CANCELLED, 259200, 259190, 258600, 590,
      { { QUEUED, 259200 }, { RUNNING, 259190 }, { CANCELLED, 258600, true } },
      { "step-0: started", "step-0: received cancellation, cleaning up" }),
  }
  for _, spec in ipairs(specs) do
    local run = self:put_run(spec, boot)
    run.since = boot
  end
end

return M
