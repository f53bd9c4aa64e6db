-- A batch of state changes: one PATCH per run, each run a small state
-- machine driven by clarifai.transport. The success path sends exactly one
-- request per run.
--
-- Per run, one field says what comes next: nothing (send the PATCH), or a
-- read of the run ("refused": the API said no, is it already there?;
-- "reconcile": the PATCH may or may not have been applied). The steps:
--   send       PATCH, or GET of the run when a read is due
--   classify   ok | not_sent | rejected | ambiguous | definite (clarifai.retry)
--   retry      not_sent and rejected: again after a full-jitter backoff or the
--              API's Retry-After, at most retry.MAX_ATTEMPTS, within the deadline
--   reconcile  ambiguous: read the run; in the target state it is done, still in
--              a state the action is allowed from it is sent again
-- Every run ends in exactly one outcome: ok, noop, failed, unknown (sent, and
-- the answer was lost or ambiguous even after reconciling) or not_sent (the
-- batch stopped before its request started).

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
  local spec = states.actions[action]
  local target = spec.target
  local ctx_patch = c:decode_context("patch pipeline version run")
  local ctx_get = c:decode_context("get pipeline version run")
  local budget = opts.deadline or c.deadline or defaults.deadline
  local patch_path = api.runs_path(full)
  local results = opts.collect ~= false and json.array() or nil
  local summary = { ok = 0, noop = 0, failed = 0, unknown = 0, not_sent = 0 }
  local done = {}                -- i -> true once the run has its outcome
  local attempts, reads, deadline = {}, {}, {}
  local reading = {}             -- i -> "refused" | "reconcile": a read of the run is next
  local refusal = {}             -- i -> the API's refusal, while reading
  local ambiguous = {}           -- i -> why a PATCH of this run may have been applied

  local halted = false           -- the batch is stopping: outcomes from here on are the stop's

  local function finish(i, r)
    if halted and (r.outcome == "unknown" or r.outcome == "not_sent") then r.stopped = true end
    done[i] = true
    reading[i], refusal[i], ambiguous[i] = nil, nil, nil
    summary[r.outcome] = summary[r.outcome] + 1
    if results then results[i] = r end
    if opts.on_result then opts.on_result(r, i) end
    return nil
  end

  local function success(i, outcome, code, req_id, note)
    return finish(i, { run_id = ids[i], action = action, outcome = outcome, state_code = code,
      state = code and states.name(code) or nil, req_id = str(req_id), note = note })
  end

  local function failure(i, err, outcome)
    return finish(i, { run_id = ids[i], action = action, outcome = outcome or "failed", error = err,
      state_code = err.state_code, state = err.state })
  end

  local function unknown(i, message, fields)
    return failure(i, errors.new("unknown", message, fields), "unknown")
  end

  local function not_sent(i)
    local sig = transport.signal()
    return failure(i, errors.new("not_sent", "run " .. ids[i] .. " was not changed: the batch stopped before "
      .. "its request was sent", { exit_code = sig and (128 + sig) or nil }), "not_sent")
  end

  local function note_retry(i, attempt, delay, reason)
    if opts.on_retry then
      opts.on_retry({ run_id = ids[i], label = "run " .. ids[i], attempt = attempt, max = retry.MAX_ATTEMPTS,
        delay = delay, reason = reason })
    end
  end

  -- retry: not sent or rejected before processing.
  local function retry_later(i, resp, err, phase)
    local left = deadline[i] - transport.now()
    local n = attempts[i]
    if resp.retry_after and resp.retry_after > left then
      return failure(i, errors.derive(err, { kind = "transient", message = string.format(
        "%s; the API asked to retry after %ds, beyond the deadline (%.0fs left)", err.message, resp.retry_after,
        math.max(0, left)) }))
    end
    local delay = resp.retry_after or retry.backoff(n)
    if n >= retry.MAX_ATTEMPTS or delay >= left then
      return failure(i, errors.derive(err, { kind = phase == "not_sent" and "transport" or "transient",
        message = string.format("%s (after %d attempt%s)", err.message, n, n == 1 and "" or "s") }))
    end
    note_retry(i, n + 1, delay, retry.reason(resp, err))
    return delay
  end

  -- classify a PATCH's reply and decide what comes next.
  local function on_patch(i, resp, stopping)
    local doc, err = api.decode(resp, ctx_patch)
    local phase = retry.classify(resp, err)
    if phase == "ok" then
      local list = doc.pipeline_version_runs
      local code = type(list) == "table" and api.run_state(list[1]) or nil
      return success(i, "ok", code or target, doc.status.req_id)
    elseif phase == "not_sent" or phase == "rejected" then
      if stopping then
        if ambiguous[i] then return unknown(i, "the change to run " .. ids[i] .. " may or may not have "
          .. "been applied (" .. ambiguous[i] .. ")") end
        return not_sent(i)
      end
      return retry_later(i, resp, err, phase)
    elseif phase == "ambiguous" then
      local reason = retry.reason(resp, err)
      if stopping then
        return unknown(i, "the change to run " .. ids[i] .. " may or may not have been applied (" .. reason
          .. "); the batch was stopping, so the run was not read", { http_status = err.http_status })
      end
      ambiguous[i], refusal[i], reading[i], reads[i] = reason, err, "reconcile", 0
      return 0
    elseif retry.read_after_refusal(err) and not stopping then
      refusal[i], reading[i], reads[i] = err, "refused", 0
      return 0
    end
    return failure(i, err)
  end

  -- A read that failed in a way worth repeating: the delay before the next
  -- one, or nil.
  local function read_again(i, resp, err)
    local phase = retry.classify(resp, err)
    local delay = resp.retry_after or retry.backoff(reads[i])
    if (phase ~= "not_sent" and phase ~= "rejected" and phase ~= "ambiguous") or reads[i] >= retry.MAX_ATTEMPTS
      or transport.now() + delay >= deadline[i] then
      return nil
    end
    if opts.on_retry then
      opts.on_retry({ run_id = ids[i], label = "read of run " .. ids[i], attempt = reads[i] + 1,
        max = retry.MAX_ATTEMPTS, delay = delay, reason = retry.reason(resp, err) })
    end
    return delay
  end

  -- reconcile: an ambiguous PATCH, and the run's state `code` (nil when the
  -- read failed with err).
  local function reconcile(i, code, doc, err, stopping)
    local reason, first = ambiguous[i], refusal[i]
    local fields = { http_status = first.http_status, state_code = code, state = code and states.name(code) or nil }
    if code == target then
      return success(i, "ok", code, doc.status.req_id, "confirmed after an ambiguous response (" .. reason .. ")")
    elseif code and states.can(action, code) then
      if not stopping and attempts[i] < retry.MAX_ATTEMPTS and transport.now() < deadline[i] then
        -- not applied: send it again
        reading[i], refusal[i], ambiguous[i] = nil, nil, nil
        note_retry(i, attempts[i] + 1, 0, reason .. ", the run is still " .. states.label(code))
        return 0
      end
      return unknown(i, string.format("outcome unknown for run %s: %s and the run is still %s after %d attempts",
        ids[i], reason, states.label(code), attempts[i]), fields)
    elseif code then
      return failure(i, errors.new("state", string.format("run %s is %s (%s) after an ambiguous response (%s); "
        .. "it was not %s", ids[i], states.label(code), states.name(code), reason, spec.past), fields))
    end
    local why = err and err.message or "no state in the reply"
    return unknown(i, string.format("outcome unknown for run %s: %s, and reading the run failed too (%s)",
      ids[i], reason, why), { http_status = first.http_status })
  end

  -- A read of the run after a refusal or an ambiguous PATCH.
  local function on_read(i, resp, stopping)
    local doc, err = api.decode(resp, ctx_get)
    local run
    if doc then run, err = api.run_of(doc) end
    if not run and not stopping then
      local delay = read_again(i, resp, err)
      if delay then return delay end
    end
    local code = run and api.run_state(run) or nil
    if reading[i] == "refused" then
      -- already there counts as done; anything else is the API's refusal
      local first = refusal[i]
      if code == target then return success(i, "noop", code, first.req_id) end
      return failure(i, errors.derive(first, { state_code = code, state = code and states.name(code) or nil }))
    end
    return reconcile(i, code, doc, err, stopping)
  end

  local step = {}
  function step.start(i)
    local now = transport.now()
    deadline[i] = deadline[i] or (now + budget) -- the budget starts when the run is first sent
    local req
    if reading[i] then
      reads[i] = reads[i] + 1
      req = c:build("GET", api.run_path(full, ids[i]))
    else
      attempts[i] = (attempts[i] or 0) + 1
      req = c:build("PATCH", patch_path, api.patch_body({ ids[i] }, target))
    end
    req.timeout = math.max(0.1, math.min(req.timeout, deadline[i] - now))
    return req
  end
  function step.finish(i, resp, stopping)
    halted = halted or stopping
    if reading[i] then return on_read(i, resp, stopping) end
    return on_patch(i, resp, stopping)
  end
  function step.stop(i, resp)
    halted = true
    if done[i] then return end
    if reading[i] == "refused" then return failure(i, refusal[i]) end
    if ambiguous[i] or (resp and resp.sent) then
      return unknown(i, "the change to run " .. ids[i] .. " may or may not have been applied: its request "
        .. "was in flight when the batch stopped")
    end
    return not_sent(i)
  end

  local res = transport.drive(c, #ids, step, { parallel = opts.parallel, should_stop = opts.should_stop,
    on_progress = opts.on_progress })
  return { action = action, results = results, summary = summary, stopped = res.stopped or nil,
           signal = res.signal }
end

return M
