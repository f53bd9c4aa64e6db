-- The emulated world: users, apps, pipelines, versions and their runs, and
-- the clock that moves runs along. Which user-requested transitions are
-- allowed comes only from clarifai.states, so the emulator and the client
-- agree by construction.
--
-- Time is evaluated lazily: every read calls advance(now) first, which
-- replays the automatic moves, scripted moves and delayed user requests
-- that fell due since the last look, each at its own timestamp.
--
-- The world's time is the wall clock plus an offset, or, frozen, a time that
-- moves only when told (move_clock): tests then say "the run completes now"
-- instead of racing a delay against the command's start-up.

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
  local s = string.format("%.3f", math.max(0, secs)):gsub("%.?0+$", "")
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

-- A stable position in [0, 1) for a string: a polynomial hash of its bytes
-- spread by Fibonacci hashing (the high bits of h * 2654435769 mod 2^32).
-- Plain arithmetic, exact in doubles too, so every Lua gives the same value.
function M.unit_hash(s)
  local h = 0
  for i = 1, #s do h = (h * 31 + s:byte(i)) % 4294967296 end
  -- 2654435769 = 40503 * 65536 + 31161: two exact partial products.
  h = (h * 31161 + ((h * 40503) % 65536) * 65536) % 4294967296
  return h / 4294967296
end

M.PATCH_MODES = { atomic = true, mixed = true, single = true, partial = true }

-- Index keys: the parts joined by NUL, which no id in practice contains.
local function key_of(...)
  return table.concat({ ... }, "\0")
end

-- World ------------------------------------------------------------------------

local World = {}
World.__index = World

-- opts: tokens (list), owner, tick, reject_code, reject_http,
-- transition_delay, run_size (bytes of a run's wire form: see big_parts),
-- seed (bool), clock (function returning wall seconds), frozen (bool: time
-- moves only through move_clock).
function M.new(opts)
  opts = opts or {}
  local w = setmetatable({
    wall = opts.clock or socket.gettime,
    frozen = opts.frozen and true or false,
    seed = opts.seed ~= false,
    startup = {
      tick = opts.tick or 2,
      reject_code = opts.reject_code or 26302,
      reject_http = opts.reject_http or 400,
      transition_delay = opts.transition_delay or 0,
      patch_mode = opts.patch_mode or "atomic",
      nodepool_route = "serve",
      run_size = opts.run_size or 0,
    },
    tokens = {},
    log_serial = 0,
  }, World)
  for _, tok in ipairs(opts.tokens or { M.DEMO.token }) do
    w.tokens[tok] = opts.owner or M.DEMO.user
  end
  -- a plain function (callers write w.clock()), reading the current mode
  w.clock = function() return w.frozen_at or (w.wall() + w.offset) end
  w:reset()
  return w
end

-- The clock back at the wall's time, frozen there when the world starts frozen.
function World:reset_clock()
  self.offset = 0
  self.frozen_at = self.frozen and self.wall() or nil
end

-- Freezes time where it is (true) or lets it run again from there (false).
function World:freeze(on)
  local now = self.clock()
  if on then
    self.frozen_at = now
  elseif self.frozen_at then
    self.offset, self.frozen_at = now - self.wall(), nil
  end
end

-- Moves time forward by `seconds` (frozen or not) and plays whatever fell
-- due on the way, each at its own time.
function World:move_clock(seconds)
  if self.frozen_at then
    self.frozen_at = self.frozen_at + seconds
  else
    self.offset = self.offset + seconds
  end
  return self:advance()
end

function World:owner_of(token)
  return self.tokens[token]
end

function World:reset(seed)
  if seed == nil then seed = self.seed end
  self:reset_clock()
  self.config = copy(self.startup)
  self.users, self.apps, self.pipelines, self.versions = {}, {}, {}, {}
  self.app_pipelines, self.pipeline_versions = {}, {} -- app key -> {id -> pipeline}, ...
  self.runs, self.order = {}, 0
  self.by_version = {} -- version key -> {runs = {id -> run}, sorted = list | nil}
  self.patch_named = {} -- run ids some PATCH has named
  self.live = {} -- runs that may change by themselves (timers, scripts, delayed requests)
  self:ensure_version(M.DEMO.user, M.DEMO.app, M.DEMO.pipeline, M.DEMO.version)
  if seed then self:seed_demo(self.clock()) end
end

-- Makes the user, app, pipeline and version exist; `created` (default now)
-- dates whichever of the pipeline and version is new, or an older run
-- makes them older.
function World:ensure_version(u, a, p, v, created)
  created = created or self.clock()
  self.users[u] = true
  self.apps[u .. "/" .. a] = true
  local pk, vk = u .. "/" .. a .. "/" .. p, u .. "/" .. a .. "/" .. p .. "/" .. v
  local pipe = self.pipelines[pk]
  if not pipe then
    pipe = { id = p, user_id = u, app_id = a, created_at = created }
    self.pipelines[pk] = pipe
    local ak = key_of(u, a)
    self.app_pipelines[ak] = self.app_pipelines[ak] or {}
    self.app_pipelines[ak][p] = pipe
  end
  local ver = self.versions[vk]
  if not ver then
    ver = { id = v, pipeline_id = p, user_id = u, app_id = a, created_at = created }
    self.versions[vk] = ver
    local kp = key_of(u, a, p)
    self.pipeline_versions[kp] = self.pipeline_versions[kp] or {}
    self.pipeline_versions[kp][v] = ver
  end
  pipe.created_at = math.min(pipe.created_at, created)
  ver.created_at = math.min(ver.created_at, created)
end

local function by_id(map)
  local out = {}
  for _, rec in pairs(map or {}) do out[#out + 1] = rec end
  table.sort(out, function(x, y) return x.id < y.id end)
  return out
end

-- The pipelines of an app, and the versions of a pipeline, sorted by id.
function World:pipelines_of(u, a)
  return by_id(self.app_pipelines[key_of(u, a)])
end

function World:versions_of(u, a, p)
  return by_id(self.pipeline_versions[key_of(u, a, p)])
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
  for _, k in ipairs({ "tick", "reject_code", "reject_http", "transition_delay", "ignore_paging", "nodepool_route",
    "patch_mode", "run_size" }) do
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

-- Files a run under its version (replacing the run of that id, if any).
function World:index_run(run)
  local old = self.runs[run.id]
  if old then
    local ob = self.by_version[old.vkey]
    ob.runs[old.id], ob.sorted = nil, nil
    self.live[old] = nil
  end
  local b = self.by_version[run.vkey]
  if not b then
    b = { runs = {}, sorted = {} }
    self.by_version[run.vkey] = b
  end
  b.runs[run.id] = run
  -- The usual new run is the newest: it goes on the end of the order kept.
  local sorted = b.sorted
  if sorted and (#sorted == 0 or run.created_at >= sorted[#sorted].created_at) then
    sorted[#sorted + 1] = run
  else
    b.sorted = nil
  end
  self.runs[run.id] = run
end

-- spec also: nodepool_id, compute_cluster_id, compute_cluster_user_id
-- (default the run's user) place the run on a nodepool; no_advance: the
-- caller has brought the world up to `now` already.
function World:put_run(spec, now)
  now = now or self.clock()
  if not spec.no_advance then self:advance(now) end
  local u, a = spec.user_id or M.DEMO.user, spec.app_id or M.DEMO.app
  local p, v = spec.pipeline_id or M.DEMO.pipeline, spec.version_id or M.DEMO.version
  local code = spec.code or QUEUED
  self.order = self.order + 1
  local created = spec.created_at or now
  self:ensure_version(u, a, p, v, math.min(created, now))
  local run = {
    id = spec.id, user_id = u, app_id = a, pipeline_id = p, version_id = v, vkey = key_of(u, a, p, v),
    nodepool_id = spec.nodepool_id, compute_cluster_id = spec.compute_cluster_id,
    compute_cluster_user_id = spec.nodepool_id and (spec.compute_cluster_user_id or u) or nil,
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
  self:index_run(run)
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

-- Oldest first; the earlier put first among runs created at the same time.
-- Lists of runs are kept in this order and read from the end: newest first.
local function oldest_first(x, y)
  if x.created_at ~= y.created_at then return x.created_at < y.created_at end
  return x.order < y.order
end

-- A version's runs, oldest first (read it backwards), from the index. The
-- list is shared: callers must not change it. A run put out of order makes
-- the next read sort the version's runs again.
function World:runs_of(u, a, p, v)
  local b = self.by_version[key_of(u, a, p, v)]
  if not b then return {} end
  if not b.sorted then
    local out = {}
    for _, run in pairs(b.runs) do out[#out + 1] = run end
    table.sort(out, oldest_first)
    b.sorted = out
  end
  return b.sorted
end

-- Every run on this nodepool of this compute cluster (of user ccu),
-- whatever its user, app, pipeline and version, oldest first (a scan);
-- filter (a set of status codes), when given, leaves out the others.
function World:runs_on(ccu, cc, np, filter)
  local out = {}
  for _, run in pairs(self.runs) do
    if run.nodepool_id == np and run.compute_cluster_id == cc and run.compute_cluster_user_id == ccu
      and (not filter or filter[run.code]) then
      out[#out + 1] = run
    end
  end
  table.sort(out, oldest_first)
  return out
end

-- The run with this pipeline/version/id under any user and app (run ids are
-- unique across the world, so the short GET form needs no user or app).
function World:find_run(p, v, id)
  local run = self.runs[id]
  if run and run.pipeline_id == p and run.version_id == v then return run end
  return nil
end

-- The run of this id in this version, if any.
function World:run_in(u, a, p, v, id)
  local run = self.runs[id]
  if run and run.vkey == key_of(u, a, p, v) then return run end
  return nil
end

-- Judges each item ({id, code}, already decoded) of a PATCH in order, as if
-- the allowed ones before it had been applied. One verdict per item:
-- {id, code, run (nil: unknown), ok, action} or, when refused,
-- {..., kind = "not_found" | "reject", details}.
function World:judge_patch(u, a, p, v, items)
  local tentative, out = {}, {}
  for i, item in ipairs(items) do
    local run = self:run_in(u, a, p, v, item.id)
    local vd = { id = item.id, code = item.code, run = run }
    if not run then
      vd.kind, vd.details = "not_found", "pipeline version run " .. item.id .. " not found"
    else
      local current = tentative[run.id] or run.code
      local action = action_for(item.code)
      if action and states.can(action, current) then
        vd.ok, vd.action = true, action
        tentative[run.id] = item.code
      else
        local what = action or ("apply status " .. states.name(item.code) .. " to")
        vd.kind, vd.details = "reject", string.format("cannot %s pipeline version run %s in state %s",
          what, run.id, states.name(current))
      end
    end
    out[i] = vd
  end
  return out
end

-- All or nothing: the runs to change, or nil, kind, details of the first refusal.
function World:check_patch(u, a, p, v, items)
  local verdicts = self:judge_patch(u, a, p, v, items)
  for _, vd in ipairs(verdicts) do
    if not vd.ok then return nil, vd.kind, vd.details end
  end
  return verdicts
end

-- Before a PATCH is processed: each run of this version it names that no
-- earlier PATCH named is, when its id hashes below `fraction`, completed
-- by the server (a run that ended just before the request arrived).
function World:first_patch(u, a, p, v, ids, fraction)
  local now
  for _, id in ipairs(ids) do
    if not self.patch_named[id] then
      self.patch_named[id] = true
      local run = fraction and fraction > 0 and self:run_in(u, a, p, v, id)
      if run and not states.is_terminal(run.code) and M.unit_hash(id) < fraction then
        now = now or self:advance()
        self:transition(run, COMPLETED, now, "")
      end
    end
  end
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

-- Wire form of a run (snake_case, integer codes, RFC 3339 times); with a
-- run_size, the Argo spec and status and whole nodepools too (big_parts).
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
  local big = (self.config.run_size or 0) > 0 and M.big_parts(self.config.run_size) or nil
  if big then
    o.orchestration_spec = big.spec_table
    o.pipeline_version.orchestration_spec = big.spec_table
    o.orchestration_status.argo_status = { status = big.status_json }
  end
  if run.started_at then
    o.started_at = M.timestamp(run.started_at)
    local secs = run.run_secs
    if run.code == RUNNING then secs = secs + (now - run.since) end
    o.total_run_duration = M.duration(secs)
  end
  if run.ended_at then o.ended_at = M.timestamp(run.ended_at) end
  if run.nodepool_id then
    o.nodepools = { { id = run.nodepool_id,
      compute_cluster = { id = run.compute_cluster_id, user_id = run.compute_cluster_user_id } } }
    if big then
      local np, cc = o.nodepools[1], o.nodepools[1].compute_cluster
      for k, v in pairs(M.NODEPOOL) do np[k] = v end
      for k, v in pairs(M.COMPUTE_CLUSTER) do cc[k] = v end
    end
  end
  return o
end

-- Big runs ---------------------------------------------------------------------
-- A real run carries its pipeline version's Argo workflow (spec_json, JSON
-- text), the merged spec snapshot (the same shape), Argo's WorkflowStatus
-- as JSON text (hundreds of KB for a big workflow) and whole nodepools.
-- With config.run_size > 0 every run's wire form carries them, sized so
-- that a run is about run_size bytes: the two spec copies a quarter each,
-- the status the rest. The texts are built once per size and shared by
-- every run (a 10,000-run world holds them once).

local jstr = json.encode_string

-- The API's key order (the emulator's replies): these first, the rest by name.
M.FIRST = { status = 1, id = 2, code = 3, description = 4, details = 5 }

M.NODEPOOL = {
  description = "GPU nodepool for pipeline steps",
  instance_types = { { id = "g5.xlarge", description = "1x NVIDIA A10G, 4 vCPU, 16 GiB",
    compute_info = { accelerator_type = { "NVIDIA-A10G" }, cpu_limit = "4", cpu_memory = "16Gi",
      num_accelerators = 1 } } },
  min_instances = 0, max_instances = 4,
  node_capacity_type = { capacity_types = { 1 } },
}
M.COMPUTE_CLUSTER = { cloud_provider = { id = "aws", name = "AWS" }, region = "us-east-1" }

-- One template of the workflow spec, and one node of its status (JSON text).
local function spec_template(n)
  return string.format('{"name":"step-%d","container":{"image":"python:3.11-slim","command":["python","-c"],'
    .. '"args":["import train; train.step(%d, batch=64, lr=0.001)"],"env":[{"name":"STEP","value":"%d"}],'
    .. '"resources":{"limits":{"cpu":"4","memory":"16Gi","nvidia.com/gpu":"1"}}},'
    .. '"retryStrategy":{"limit":"2","retryPolicy":"OnFailure"}}', n, n, n)
end

local function status_node(n)
  return string.format('"pipeline-7f3a-%d":{"id":"pipeline-7f3a-%d","name":"pipeline-7f3a[%d].step-%d",'
    .. '"displayName":"step-%d","type":"Pod","templateName":"step-%d","phase":"Succeeded",'
    .. '"startedAt":"2025-01-01T00:%02d:00Z","finishedAt":"2025-01-01T00:%02d:30Z","progress":"1/1",'
    .. '"resourcesDuration":{"cpu":%d,"memory":%d,"nvidia.com/gpu":%d},"outputs":{"exitCode":"0"},'
    .. '"hostNodeName":"ip-10-0-%d-%d.ec2.internal"}', n, n, n, n, n, n, n % 60, n % 60, 30 + n % 7, 120 + n % 13,
    30 + n % 7, n % 250, n % 200)
end

-- Items (from make(1), make(2), ...) joined by commas inside open..close,
-- as a JSON string (quotes included) of at least `bytes` bytes.
local function grown(open, make, close, bytes)
  local items, len = {}, 0
  repeat
    local item = make(#items + 1)
    items[#items + 1] = item
    len = len + #jstr(item) - 1
  until len >= bytes
  return jstr(open .. table.concat(items, ",") .. close)
end

M.MAX_RUN_SIZE = 16 * 1024 * 1024

local big_cache = {}

-- The big parts of a run's wire form for this run_size (built once per size).
function M.big_parts(size)
  local b = big_cache[size]
  if b then return b end
  local texts = math.max(0, size - 1200) -- the run less what its other fields take, about
  local spec = grown('{"apiVersion":"argoproj.io/v1alpha1","kind":"Workflow","metadata":{"generateName":'
    .. '"pipeline-"},"spec":{"entrypoint":"main","templates":[', spec_template, "]}}", math.floor(texts / 4))
  local status = grown('{"phase":"Running","startedAt":"2025-01-01T00:00:00Z","nodes":{', status_node, "}}",
    math.floor(texts / 2))
  local spec_obj = '{"argo_orchestration_spec":{"api_version":' .. jstr("argoproj.io/v1alpha1") .. ',"spec_json":'
    .. spec .. "}}"
  local rest = {} -- the nodepool's fields after id, description and compute_cluster
  for k, v in pairs(M.NODEPOOL) do rest[k] = k ~= "description" and v or nil end
  b = {
    spec = ',"orchestration_spec":' .. spec_obj,
    argo = ',"argo_status":{"status":' .. status .. "}",
    np_description = ',"description":' .. jstr(M.NODEPOOL.description),
    nodepool = "," .. json.encode(rest, M.FIRST):sub(2, -2),
    cluster = "," .. json.encode(M.COMPUTE_CLUSTER, M.FIRST):sub(2, -2),
    spec_table = json.decode(spec_obj),
    status_json = json.decode(status),
  }
  big_cache = { [size] = b } -- one size at a time
  return b
end

-- Run text ---------------------------------------------------------------------
-- The big lists render runs straight to JSON text, byte for byte what
-- json.encode(run_json(run), FIRST) gives with the API's key order (id
-- first, then the rest by name; status, code, description inside), at a
-- fraction of the cost: the parts that never change are kept on the run
-- and timestamps are remembered.

local ts_memo, ts_count = {}, 0

local function ts_text(t)
  local s = ts_memo[t]
  if not s then
    if ts_count >= 100000 then ts_memo, ts_count = {}, 0 end
    s = jstr(M.timestamp(t))
    ts_memo[t], ts_count = s, ts_count + 1
  end
  return s
end

-- The parts of a run's text that never change.
local function fixed_text(run)
  local np, np_id, np_cc, np_user = "", "", "", ""
  if run.nodepool_id then
    np_id = ',"nodepools":[{"id":' .. jstr(run.nodepool_id)
    np_cc = ',"compute_cluster":{"id":' .. jstr(run.compute_cluster_id)
    np_user = ',"user_id":' .. jstr(run.compute_cluster_user_id) .. "}"
    np = np_id .. np_cc .. np_user .. "}]"
  end
  return {
    head = '{"id":' .. jstr(run.id) .. ',"app_id":' .. jstr(run.app_id) .. ',"created_at":' .. ts_text(run.created_at),
    nodepools = np, np_id = np_id, np_cc = np_cc, np_user = np_user,
    version_id = ',"pipeline_version":{"id":' .. jstr(run.version_id),
    version_rest = ',"pipeline_id":' .. jstr(run.pipeline_id) .. "}",
    tail = ',"user_id":' .. jstr(run.user_id) .. "}",
  }
end

local status_heads = {}

-- ',"orchestration_status":{"status":{...}' (without its closing brace)
local function status_head(code)
  local s = status_heads[code]
  if not s then
    s = ',"orchestration_status":{"status":{"code":' .. json.number(code) .. ',"description":'
      .. jstr(states.label(code)) .. "}"
    status_heads[code] = s
  end
  return s
end

-- The pieces of a run's text as of its last change, the big parts (b) in
-- their places; a running run's duration, which grows, is left out at
-- index c.dur.
local function text_pieces(run, b)
  local f = run.fixed_text
  if not f then
    f = fixed_text(run)
    run.fixed_text = f
  end
  local t = { f.head }
  if run.ended_at then t[#t + 1] = ',"ended_at":' .. ts_text(run.ended_at) end
  t[#t + 1] = ',"modified_at":' .. ts_text(run.modified_at)
  if b and f.np_id ~= "" then
    -- a whole nodepool, in the API's key order: id, description, compute_cluster (id, then cloud_provider
    -- and region before user_id), then the rest by name
    t[#t + 1] = f.np_id .. b.np_description .. f.np_cc .. b.cluster .. f.np_user .. b.nodepool .. "}]"
  else
    t[#t + 1] = f.nodepools
  end
  if b then t[#t + 1] = b.spec end
  t[#t + 1] = status_head(run.code)
  if b then t[#t + 1] = b.argo end
  t[#t + 1] = "}" .. f.version_id
  if b then t[#t + 1] = b.spec end
  t[#t + 1] = f.version_rest
  local dur
  if run.started_at then
    -- a duration is digits and "s": nothing to escape
    t[#t + 1] = ',"started_at":' .. ts_text(run.started_at) .. ',"total_run_duration":"'
    if run.code == RUNNING then
      t[#t + 1] = ""
      dur = #t
    else
      t[#t + 1] = M.duration(run.run_secs)
    end
    t[#t + 1] = '"'
  end
  t[#t + 1] = f.tail
  return t, dur
end

-- A run's text as of its last change: the whole text, or (a running run,
-- whose duration grows) the text before and after the duration; a big run
-- keeps its pieces instead (the big parts are shared, never copied per run).
local function text_parts(run, size)
  local t, dur = text_pieces(run, size > 0 and M.big_parts(size) or nil)
  local c = { modified_at = run.modified_at, code = run.code, size = size }
  if size > 0 then
    c.pieces, c.dur = t, dur
  elseif dur then
    c.pre, c.post = table.concat(t, "", 1, dur - 1), table.concat(t, "", dur + 1)
  else
    c.whole = table.concat(t)
  end
  return c
end

-- Wire form of a run as JSON text (run_json, encoded). Every change of a
-- run's state moves its modified_at, so the parts kept stay right until then.
function World:run_text(run, now)
  local size = self.config.run_size or 0
  local c = run.text_cache
  if not c or c.modified_at ~= run.modified_at or c.code ~= run.code or c.size ~= size then
    c = text_parts(run, size)
    run.text_cache = c
  end
  if c.whole then return c.whole end
  local d = (c.dur or c.pre) and M.duration(run.run_secs + ((now or self.clock()) - run.since))
  if c.pieces then
    if d then c.pieces[c.dur] = d end
    return table.concat(c.pieces)
  end
  return c.pre .. d .. c.post
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
