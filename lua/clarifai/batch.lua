-- A batch of state changes: one PATCH per run, each run a small state
-- machine over HTTP exchanges driven by clarifai.transport. The success path
-- sends exactly one request per run.
--
-- A batch is data: one record per run in flight (its attempts, its
-- deadline, what comes next), and module-level steps a spec can drive one
-- at a time:
--   send       the run's next request: the PATCH, or a GET of the run when a
--              read is due (rec.reading: "refused" — the API said no, is it
--              already there?; "reconcile" — it may or may not have applied)
--   reply      decode the reply and ask clarifai.retry what it means
--   retry      not sent or rejected: again after the API's Retry-After or a
--              full-jitter backoff, within the attempts and the deadline
--   reconcile  ambiguous: read the run; in the target state it is done, still
--              in a state the action is allowed from it is sent again
--   finish     the run's outcome: ok, noop, failed, unknown (sent, and the
--              answer was lost or ambiguous even after reconciling) or
--              not_sent (the batch stopped before its request started)
-- A finished run keeps nothing but its outcome in the summary (and its
-- result when the caller collects them).

local api = require "clarifai.api"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local retry = require "clarifai.retry"
local states = require "clarifai.states"
local transport = require "clarifai.transport"

local M = {}

M.OUTCOMES = { "ok", "noop", "failed", "unknown", "not_sent" }

local function str(v) return type(v) == "string" and v or nil end

--[[
new(action, ref, ids, client, opts) -> batch
ref: complete (all four ids); ids: unique, checked run ids. opts: as run().
]]
function M.new(action, full, ids, c, opts)
  local spec = states.actions[action]
  return {
    action = action, spec = spec, target = spec.target, full = full, ids = ids, c = c, opts = opts,
    patch_path = api.runs_path(full),
    ctx_patch = c:decode_context("patch pipeline version run"),
    ctx_get = c:decode_context("get pipeline version run"),
    budget = opts.deadline or c.deadline or defaults.deadline,
    results = opts.collect ~= false and json.array() or nil,
    summary = { ok = 0, noop = 0, failed = 0, unknown = 0, not_sent = 0 },
    finished = 0,
    halted = false,    -- the batch is stopping: outcomes from here on are the stop's
  }
end

-- record(b, i) -> the record of the i-th run, made when it is first sent.
function M.record(b, i)
  return { i = i, id = b.ids[i], attempts = 0, reads = 0 }
end

-- finish: the run's outcome; nothing more is sent for it.
function M.finish(b, rec, r)
  if b.halted and (r.outcome == "unknown" or r.outcome == "not_sent") then r.stopped = true end
  rec.done = true
  b.finished = b.finished + 1
  b.summary[r.outcome] = b.summary[r.outcome] + 1
  if b.results then b.results[rec.i] = r end
  if b.opts.on_result then b.opts.on_result(r, rec.i) end
  return nil
end

local function success(b, rec, outcome, code, req_id, note)
  return M.finish(b, rec, { run_id = rec.id, action = b.action, outcome = outcome, state_code = code,
    state = code and states.name(code) or nil, req_id = str(req_id), note = note })
end

local function failure(b, rec, err, outcome)
  return M.finish(b, rec, { run_id = rec.id, action = b.action, outcome = outcome or "failed", error = err,
    state_code = err.state_code, state = err.state })
end

local function unknown(b, rec, message, fields)
  return failure(b, rec, errors.new("unknown", message, fields), "unknown")
end

local function not_sent(b, rec)
  local sig = transport.signal()
  return failure(b, rec, errors.new("not_sent", "run " .. rec.id .. " was not changed: the batch stopped before "
    .. "its request was sent", { exit_code = sig and (128 + sig) or nil }), "not_sent")
end

local function note_retry(b, rec, label, attempt, delay, resp, err, reason)
  if not b.opts.on_retry then return end
  local n = retry.notice(label, attempt, delay, resp, err, rec.id)
  if reason then n.reason = reason end
  b.opts.on_retry(n)
end

-- send: the run's next request. Its budget starts when it is first sent.
function M.send(b, rec)
  local now = transport.now()
  rec.deadline = rec.deadline or (now + b.budget)
  local req
  if rec.reading then
    rec.reads = rec.reads + 1
    req = b.c:build("GET", api.run_path(b.full, rec.id))
  else
    rec.attempts = rec.attempts + 1
    req = b.c:build("PATCH", b.patch_path, api.patch_body({ rec.id }, b.target))
  end
  req.timeout = math.max(0.1, math.min(req.timeout, rec.deadline - now))
  return req
end

-- retry: a PATCH that was not sent or was rejected before processing.
function M.retry(b, rec, resp, err)
  local delay, final = retry.again(resp, err, rec.attempts, rec.deadline - transport.now(), "write")
  if not delay then return failure(b, rec, final or err) end
  note_retry(b, rec, "run " .. rec.id, rec.attempts + 1, delay, resp, err)
  return delay
end

-- The reply to a PATCH: done, again (a delay), or a read of the run next.
local function on_patch(b, rec, resp, stopping)
  local doc, err = api.decode(resp, b.ctx_patch)
  local phase = retry.classify(resp, err)
  if phase == "ok" then
    local list = doc.pipeline_version_runs
    local code = type(list) == "table" and api.run_state(list[1]) or nil
    return success(b, rec, "ok", code or b.target, doc.status.req_id)
  elseif phase == "not_sent" or phase == "rejected" then
    if not stopping then return M.retry(b, rec, resp, err) end
    if rec.ambiguous then
      return unknown(b, rec, "the change to run " .. rec.id .. " may or may not have been applied ("
        .. rec.ambiguous .. ")")
    end
    return not_sent(b, rec)
  elseif phase == "ambiguous" then
    local reason = retry.reason(resp, err)
    if stopping then
      return unknown(b, rec, "the change to run " .. rec.id .. " may or may not have been applied (" .. reason
        .. "); the batch was stopping, so the run was not read", { http_status = err.http_status })
    end
    rec.ambiguous, rec.refusal, rec.reading, rec.reads = reason, err, "reconcile", 0
    return 0
  elseif retry.read_after_refusal(err) and not stopping then
    rec.refusal, rec.reading, rec.reads = err, "refused", 0
    return 0
  end
  return failure(b, rec, err)
end

-- reconcile: an ambiguous PATCH, and the run's state `code` (nil when the
-- read failed with err).
function M.reconcile(b, rec, code, doc, err, stopping)
  local reason, first = rec.ambiguous, rec.refusal
  local fields = { http_status = first.http_status, state_code = code, state = code and states.name(code) or nil }
  if code == b.target then
    return success(b, rec, "ok", code, doc.status.req_id, "confirmed after an ambiguous response (" .. reason .. ")")
  elseif code and states.can(b.action, code) then
    if not stopping and rec.attempts < retry.MAX_ATTEMPTS and transport.now() < rec.deadline then
      -- not applied: send it again
      rec.reading, rec.refusal, rec.ambiguous = nil, nil, nil
      note_retry(b, rec, "run " .. rec.id, rec.attempts + 1, 0, {}, nil, reason .. ", the run is still "
        .. states.label(code))
      return 0
    end
    return unknown(b, rec, string.format("outcome unknown for run %s: %s and the run is still %s after %d "
      .. "attempts", rec.id, reason, states.label(code), rec.attempts), fields)
  elseif code then
    return failure(b, rec, errors.new("state", string.format("run %s is %s (%s) after an ambiguous response (%s); "
      .. "it was not %s", rec.id, states.label(code), states.name(code), reason, b.spec.past), fields))
  end
  local why = err and err.message or "no state in the reply"
  return unknown(b, rec, string.format("outcome unknown for run %s: %s, and reading the run failed too (%s)",
    rec.id, reason, why), { http_status = first.http_status })
end

-- The reply to a read of the run (after a refusal or an ambiguous PATCH).
local function on_read(b, rec, resp, stopping)
  local doc, err = api.decode(resp, b.ctx_get)
  local run
  if doc then run, err = api.run_of(doc) end
  if not run and not stopping then
    local delay = retry.again(resp, err, rec.reads, rec.deadline - transport.now(), "read")
    if delay then
      note_retry(b, rec, "read of run " .. rec.id, rec.reads + 1, delay, resp, err)
      return delay
    end
  end
  local code = run and api.run_state(run) or nil
  if rec.reading == "refused" then
    -- already there counts as done; anything else is the API's refusal
    local first = rec.refusal
    if code == b.target then return success(b, rec, "noop", code, first.req_id) end
    return failure(b, rec, errors.derive(first, { state_code = code, state = code and states.name(code) or nil }))
  end
  return M.reconcile(b, rec, code, doc, err, stopping)
end

--[[
reply(b, rec, resp, stopping) -> nil when the run is finished, or the delay
before its next request (send() says which).
]]
function M.reply(b, rec, resp, stopping)
  b.halted = b.halted or stopping
  if rec.reading then return on_read(b, rec, resp, stopping) end
  return on_patch(b, rec, resp, stopping)
end

-- stop: the batch stopped before the run finished; resp is its aborted
-- transfer's result when it was in flight.
function M.stop(b, rec, resp)
  b.halted = true
  if rec.done then return end
  if rec.reading == "refused" then return failure(b, rec, rec.refusal) end
  if rec.ambiguous or (resp and resp.sent) then
    return unknown(b, rec, "the change to run " .. rec.id .. " may or may not have been applied: its request "
      .. "was in flight when the batch stopped")
  end
  return not_sent(b, rec)
end

--[[
run(action, ref, ids, client, opts) -> report
ref: complete (all four ids); ids: unique, checked run ids.
opts: parallel, deadline, collect (false: keep no result tables),
  on_result(result, index) as each run ends, on_retry(info), should_stop(),
  on_progress(done, inflight). A result the stop decided (unknown, not_sent)
  has stopped = true.
report = { action, results? (input order), summary = {ok, noop, failed,
  unknown, not_sent}, stopped?, signal? }
]]
function M.run(action, full, ids, c, opts)
  local b = M.new(action, full, ids, c, opts)
  local next_i = 0
  local step = {
    fresh = function()
      if next_i >= #ids then return nil end
      next_i = next_i + 1
      return M.record(b, next_i)
    end,
    start = function(rec) return M.send(b, rec) end,
    finish = function(rec, resp, stopping) return M.reply(b, rec, resp, stopping) end,
    stop = function(rec, resp) return M.stop(b, rec, resp) end,
  }
  local on_progress = opts.on_progress and function(_, inflight) opts.on_progress(b.finished, inflight) end
  local res = transport.drive(c, step, { parallel = opts.parallel, should_stop = opts.should_stop,
    on_progress = on_progress })
  return { action = action, results = b.results, summary = b.summary, stopped = res.stopped or nil,
           signal = res.signal }
end

return M
