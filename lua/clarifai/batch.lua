-- A batch of state changes, as data and small steps. Runs of one pipeline
-- version go in groups of up to opts.group_size per PATCH (1: one PATCH per
-- run, whose success path sends exactly one request per run). Each run has
-- a record while it is in flight (its attempts, its deadline, why it is
-- being read); each request is an exchange: a PATCH of a group, or a read
-- of runs (GET of one run, or a page of the version's list).
--
-- The steps, module-level so a spec can drive them one at a time:
--   send       an exchange's request
--   reply      decode it and ask clarifai.retry what it means:
--              ok         the runs the reply lists in the target state are done;
--                         the others are read back
--              not sent, rejected before processing
--                         the same group again after Retry-After or backoff
--              ambiguous  (5xx, timeout, closed, a group's oversized reply)
--                         read the runs back; what still needs it goes again
--                         in halved groups (singly from then on when the
--                         answer had applied part of the group)
--              refused    read the runs back: already there is done; if every
--                         run of a group is still allowed the service is taken
--                         not to accept groups (grouping is off from then on);
--                         otherwise what still needs it goes again as one
--                         smaller group, and singly after a second refusal
--   decide     a read-back's outcome for each run, and what goes again
--   finish     the run's outcome: ok, noop, failed, unknown (sent, and the
--              answer was lost or ambiguous even after reading it back) or
--              not_sent (the batch stopped before its request started)
--   stop       what a stop leaves: in flight -> unknown, never sent -> not_sent
-- No run is sent more than retry.MAX_ATTEMPTS times; everything for a run
-- happens within its deadline, counted from its first request.

local api = require "clarifai.api"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local pager = require "clarifai.pager"
local reads = require "clarifai.reads"
local retry = require "clarifai.retry"
local states = require "clarifai.states"
local transport = require "clarifai.transport"

local M = {}

M.OUTCOMES = { "ok", "noop", "failed", "unknown", "not_sent" }

local function str(v) return type(v) == "string" and v or nil end

--[[
new(action, source, client, opts) -> batch
source: { ids = {unique checked run ids}, scope = a complete ref } or
{ refs = {complete refs with run_id} } (any versions: the results then
name each run's scope). opts: as run().
]]
function M.new(action, source, c, opts)
  local spec = states.actions[action]
  -- a selection's runs go in groups unless told otherwise; ids one by one
  local size = opts.group_size or (source.refs and defaults.group_size or 1)
  local b = {
    action = action, spec = spec, target = spec.target, c = c, opts = opts,
    ids = source.ids, scope = source.scope, refs = source.refs,
    n = source.ids and #source.ids or #source.refs,
    group_size = size, grouping_off = size <= 1,
    ctx_patch = c:decode_context("patch pipeline version run"),
    ctx_get = c:decode_context("get pipeline version run"),
    ctx_list = c:decode_context("list pipeline version runs"),
    budget = opts.deadline or c.deadline or defaults.deadline,
    results = opts.collect ~= false and json.array() or nil,
    summary = { ok = 0, noop = 0, failed = 0, unknown = 0, not_sent = 0 },
    finished = 0, next = 1, counts = {},
    halted = false,    -- the batch is stopping: outcomes from here on are the stop's
  }
  -- what a read-back lists: where a run still needing it, or done, would be
  b.read_codes = reads.live_states(action)
  if b.refs then
    -- runs of one version together (versions in the order they first
    -- appear), so that they can share a PATCH; and how many each version
    -- has. A ref whose ids the API cannot take is never sent (run() reports it).
    b.invalid = source.invalid or {}
    local list, at = {}, {}
    for i, r in ipairs(b.refs) do
      if not b.invalid[i] then list[#list + 1], at[#list + 1] = r, i end
    end
    b.order = {}
    for _, g in ipairs(api.by_version(list)) do
      b.counts[api.version_key(list[g[1]])] = #g
      for _, j in ipairs(g) do b.order[#b.order + 1] = at[j] end
    end
  end
  b.sendable = b.order and #b.order or b.n
  return b
end

-- record(b, i) -> the record of the i-th run, made when it is first sent.
function M.record(b, i)
  if b.refs then
    local r = b.refs[i]
    return { i = i, id = r.run_id, scope = r, key = api.version_key(r), attempts = 0, reads = 0 }
  end
  return { i = i, id = b.ids[i], scope = b.scope, key = "", attempts = 0, reads = 0 }
end

-- fresh(b) -> the next group of runs not sent yet (one version, in input
-- order), as a PATCH exchange; nil when every run has been started.
function M.fresh(b)
  if b.next > b.sendable then return nil end
  local size = b.grouping_off and 1 or b.group_size
  local recs = {}
  while #recs < size and b.next <= b.sendable do
    local rec = M.record(b, b.order and b.order[b.next] or b.next)
    if recs[1] and rec.key ~= recs[1].key then break end
    recs[#recs + 1] = rec
    b.next = b.next + 1
  end
  return { kind = "patch", recs = recs, scope = recs[1].scope, refused = 0 }
end

-- finish: the run's outcome; nothing more is sent for it.
function M.finish(b, rec, r)
  if rec.done then return nil end
  if b.halted and (r.outcome == "unknown" or r.outcome == "not_sent") then r.stopped = true end
  if b.refs then
    local s = rec.scope
    r.user_id, r.app_id, r.pipeline_id, r.pipeline_version_id = s.user_id, s.app_id, s.pipeline_id,
      s.pipeline_version_id
  end
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
    .. "its request was sent", { exit_code = errors.signal_exit(sig) }), "not_sent")
end

local function each(recs, fn)
  for _, rec in ipairs(recs) do fn(rec) end
  return nil
end

-- What a retry note names: the run, or the group.
local function label_of(recs)
  if #recs == 1 then return "run " .. recs[1].id, recs[1].id end
  local s = recs[1].scope
  return string.format("%d runs of %s/%s", #recs, s.pipeline_id, s.pipeline_version_id), nil
end

local function note_retry(b, recs, attempt, delay, resp, err, reason, label)
  if not b.opts.on_retry then return end
  local what, id = label_of(recs)
  local n = retry.notice(label or what, attempt, delay, resp or {}, err, id)
  if reason then n.reason = reason end
  b.opts.on_retry(n)
end

-- send: an exchange's request. A run's budget starts when it is first sent.
function M.send(b, ex)
  local now = transport.now()
  local req
  local left = math.huge
  if ex.kind == "patch" then
    local ids = {}
    for k, rec in ipairs(ex.recs) do
      rec.deadline = rec.deadline or (now + b.budget)
      rec.attempts = rec.attempts + 1
      ids[k] = rec.id
      left = math.min(left, rec.deadline - now)
    end
    req = b.c:build("PATCH", api.runs_path(ex.scope), api.patch_body(ids, b.target))
  elseif ex.kind == "get" then
    ex.rec.reads = ex.rec.reads + 1
    left = ex.rec.deadline - now
    req = b.c:build("GET", api.run_path(ex.rec.scope, ex.rec.id))
  else
    ex.reads = ex.reads + 1
    for _, rec in pairs(ex.wanted) do left = math.min(left, rec.deadline - now) end
    req = b.c:build("GET", ex.path)
  end
  req.timeout = math.max(0.1, math.min(req.timeout, left))
  return req
end

-- retry: a group that was not sent or was rejected before processing goes
-- again after a delay, or every run fails.
function M.retry(b, ex, resp, err)
  local attempts, left = 0, math.huge
  for _, rec in ipairs(ex.recs) do
    attempts = math.max(attempts, rec.attempts)
    left = math.min(left, rec.deadline - transport.now())
  end
  local delay, final = retry.again(resp, err, { attempts = attempts, left = left, op = "write" })
  if not delay then return each(ex.recs, function(rec) failure(b, rec, final or err) end) end
  note_retry(b, ex.recs, attempts + 1, delay, resp, err)
  return delay
end

-- A GET of each run (in input order).
local function gets(recs)
  local out = {}
  for k, rec in ipairs(recs) do out[k] = { kind = "get", rec = rec } end
  table.sort(out, function(x, y) return x.rec.i < y.rec.i end)
  return out
end

-- read_back: the exchanges that read `recs` back (after `why`: "refused",
-- "ambiguous", "mixed", "unlisted"), as follow-ups: the version's list
-- (its live runs, through one paging cursor, at most as many pages as runs,
-- within the runs' deadline) when clarifai.reads' policy says it is fewer
-- requests, else a GET of each.
function M.read_back(b, recs, why, refused)
  local rb = { why = why, recs = recs, size = #recs, left = #recs, refused = refused or 0 }
  local deadline = math.huge
  for _, rec in ipairs(recs) do
    rec.rb, rec.code, rec.read_err, rec.reads, rec.listed = rb, nil, nil, 0, nil
    deadline = math.min(deadline, rec.deadline)
  end
  local known = b.counts[recs[1].key] or (b.refs and #recs or b.n)
  if reads.by_list(math.ceil(known / defaults.api_per_page), #recs) then
    local cur = pager.forward({ path = api.runs_path(recs[1].scope), field = "pipeline_version_runs",
      codes = b.read_codes, max_pages = #recs, deadline = deadline })
    local path = cur:next_path()
    if path then
      local wanted = {}
      for _, rec in ipairs(recs) do wanted[rec.id] = rec end
      return { { kind = "list", rb = rb, scope = recs[1].scope, cursor = cur, path = path, reads = 0,
        wanted = wanted } }
    end
  end
  return gets(recs)
end

-- A mixed answer's runs in another state than the target: the reply is
-- their read-back (decided like one: ended, or sent again).
local function told(b, ex, recs, stopping)
  if #recs == 0 then return nil end
  local rb = { why = "mixed", recs = recs, size = #recs, left = 0, refused = ex.refused }
  for _, rec in ipairs(recs) do rec.rb, rec.reads, rec.listed = rb, 0, true end
  return M.decide(b, rb, stopping)
end

-- A reply that says what it did. A success (why "unlisted"): every run it
-- lists is done, in the state it gives (a change may take effect a moment
-- later); a mixed answer: each run it lists is in the state it gives. The
-- rest are read back.
local function accepted(b, ex, runs_list, req_id, stopping, why)
  local listed = {}
  for _, r in ipairs(type(runs_list) == "table" and runs_list or {}) do
    if type(r) == "table" and type(r.id) == "string" then listed[r.id] = api.run_state(r) or b.target end
  end
  if #ex.recs == 1 and why == "unlisted" then
    -- one run and a success: it is done, in the state the reply gives
    local code = listed[ex.recs[1].id] or api.run_state(type(runs_list) == "table" and runs_list[1] or nil)
    return success(b, ex.recs[1], "ok", code or b.target, req_id)
  end
  local unread, others = {}, {}
  for _, rec in ipairs(ex.recs) do
    local code = listed[rec.id]
    if code and (why == "unlisted" or code == b.target) then
      success(b, rec, "ok", code, req_id)
    elseif code and why == "mixed" then
      rec.code, others[#others + 1] = code, rec
    else
      unread[#unread + 1] = rec
    end
  end
  local again = told(b, ex, others, stopping)
  if #unread == 0 then return again end
  if stopping then
    return each(unread, function(rec) unknown(b, rec, "the change to run " .. rec.id .. " may or may not have "
      .. "been applied (the reply did not say); the batch was stopping, so the run was not read") end)
  end
  local follow = M.read_back(b, unread, why, ex.refused)
  for _, x in ipairs(again or {}) do follow[#follow + 1] = x end
  return follow
end

-- The reply to a PATCH.
local function on_patch(b, ex, resp, stopping)
  local doc, err = api.decode(resp, b.ctx_patch)
  local many = #ex.recs > 1
  if not err then return accepted(b, ex, doc.pipeline_version_runs, doc.status.req_id, stopping, "unlisted") end
  if err.api_code == api.MIXED_STATUS and err.reply_runs then
    return accepted(b, ex, err.reply_runs, err.req_id, stopping, "mixed")
  end
  local phase = retry.classify(resp, err, many and "group" or nil)
  if phase == "not_sent" or phase == "rejected" then
    if not stopping then return M.retry(b, ex, resp, err) end
    return each(ex.recs, function(rec) not_sent(b, rec) end)
  elseif phase == "ambiguous" then
    local reason = retry.reason(resp, err)
    if stopping then
      return each(ex.recs, function(rec) unknown(b, rec, "the change to run " .. rec.id .. " may or may not have "
        .. "been applied (" .. reason .. "); the batch was stopping, so the run was not read",
        { http_status = err.http_status }) end)
    end
    for _, rec in ipairs(ex.recs) do rec.ambiguous, rec.first = reason, err end
    return M.read_back(b, ex.recs, "ambiguous", ex.refused)
  elseif not stopping and (many and err.kind == "api" or retry.read_after_refusal(err)) then
    for _, rec in ipairs(ex.recs) do rec.refusal = err end
    return M.read_back(b, ex.recs, "refused", ex.refused)
  end
  return each(ex.recs, function(rec) failure(b, rec, err) end)
end

-- A run read back in another state than the target and not allowed: failed.
local function ended_elsewhere(b, rec, code)
  local fields = { state_code = code, state = states.name(code) }
  if rec.refusal and not rec.ambiguous then return failure(b, rec, errors.derive(rec.refusal, fields)) end
  local why = rec.ambiguous and ("after an ambiguous response (" .. rec.ambiguous .. ")")
    or (rec.listed and "in the reply" or "when it was read back")
  fields.http_status = rec.first and rec.first.http_status
  return failure(b, rec, errors.new("state", string.format("run %s is %s (%s) %s; it was not %s", rec.id,
    states.label(code), states.name(code), why, b.spec.past), fields))
end

-- A run whose read-back failed too (or was in flight at a stop).
local function unread(b, rec)
  if rec.refusal and not rec.ambiguous then return failure(b, rec, rec.refusal) end
  if rec.stopped_read then
    return unknown(b, rec, "the change to run " .. rec.id .. " may or may not have been applied: it was being "
      .. "read back when the batch stopped")
  end
  local why = rec.read_err and rec.read_err.message or "no state in the reply"
  local first = rec.ambiguous or "the reply did not say"
  return unknown(b, rec, string.format("outcome unknown for run %s: %s, and reading the run failed too (%s)",
    rec.id, first, why), { http_status = rec.first and rec.first.http_status })
end

-- A run that still needs the change but may not be sent again.
local function give_up(b, rec, code)
  if rec.refusal and not rec.ambiguous then
    return failure(b, rec, errors.derive(rec.refusal, { state_code = code, state = states.name(code) }))
  end
  return unknown(b, rec, string.format("outcome unknown for run %s: %s and the run is still %s after %d attempts",
    rec.id, rec.ambiguous or "the reply did not say", states.label(code), rec.attempts),
    { http_status = rec.first and rec.first.http_status, state_code = code, state = states.name(code) })
end

-- The groups the runs that still need the change go in next. After a group
-- was refused: see the top. After an ambiguous answer: halves; but when it
-- applied some of the group and not the rest, the service is taken to apply
-- only part of a group, and grouping is off from then on.
local function regroup(b, rb, keep, applied)
  local size, refused = #keep, 0
  if rb.why == "refused" then
    if #keep == rb.size and rb.size > 1 and not b.grouping_off then
      b.grouping_off = true -- every run still allowed: the service does not take groups
    elseif rb.refused >= 1 then
      size = 1
    else
      refused = rb.refused + 1
    end
  elseif rb.why == "ambiguous" then
    if applied > 0 and rb.size > 1 then b.grouping_off = true end
    size = math.max(1, math.floor(rb.size / 2))
  end
  if b.grouping_off then size = 1 end
  local out = {}
  for k = 1, #keep, size do
    local recs = {}
    for j = k, math.min(#keep, k + size - 1) do recs[#recs + 1] = keep[j] end
    out[#out + 1] = { kind = "patch", recs = recs, scope = recs[1].scope, refused = refused }
  end
  return out
end

-- decide: every run of a read-back has its state (or its read failed):
-- done, failed, or sent again. Returns the follow-up PATCHes.
function M.decide(b, rb, stopping)
  rb.decided = true
  local keep, applied = {}, 0
  for _, rec in ipairs(rb.recs) do
    local code = rec.code
    if rec.done then -- luacheck: ignore 542 (stopped meanwhile)
    elseif code == b.target then
      applied = applied + 1
      if rec.ambiguous then
        success(b, rec, "ok", code, rec.req_id, "confirmed after an ambiguous response (" .. rec.ambiguous .. ")")
      else
        success(b, rec, rec.refusal and "noop" or "ok", code, rec.refusal and rec.refusal.req_id or rec.req_id)
      end
    elseif code and states.can(b.action, code) then
      if stopping or (rb.why == "refused" and rb.size == 1) or rec.attempts >= retry.MAX_ATTEMPTS
        or transport.now() >= rec.deadline then
        give_up(b, rec, code)
      else
        keep[#keep + 1] = rec
      end
    elseif code then
      ended_elsewhere(b, rec, code)
    else
      unread(b, rec)
    end
  end
  if #keep == 0 then return nil end
  local why = rb.why == "ambiguous" and (keep[1].ambiguous .. ", the run is still " .. states.label(keep[1].code))
    or ("the run is still " .. states.label(keep[1].code))
  for _, rec in ipairs(keep) do rec.refusal, rec.ambiguous, rec.first, rec.listed = nil, nil, nil, nil end
  local out = regroup(b, rb, keep, applied)
  for _, ex in ipairs(out) do note_retry(b, ex.recs, ex.recs[1].attempts + 1, 0, nil, nil, why) end
  return out
end

-- A run of a read-back has its state: the decision once all have.
local function read_one(b, rec, code, err, stopping)
  rec.code, rec.read_err = code, err
  local rb = rec.rb
  rb.left = rb.left - 1
  if rb.left > 0 or rb.decided then return nil end
  return M.decide(b, rb, stopping)
end

-- The reply to a GET of one run.
local function on_get(b, ex, resp, stopping)
  local rec = ex.rec
  local doc, err = api.decode(resp, b.ctx_get)
  local run
  if doc then run, err = api.run_of(doc) end
  if not run and not stopping then
    local delay = retry.again(resp, err, { attempts = rec.reads, left = rec.deadline - transport.now(), op = "read" })
    if delay then
      note_retry(b, { rec }, rec.reads + 1, delay, resp, err, nil, "read of run " .. rec.id)
      return delay
    end
  end
  if run then rec.req_id = doc.status.req_id end
  return read_one(b, rec, run and api.run_state(run) or nil, err, stopping)
end

-- The reply to a page of the version's list: the runs it shows have their
-- state; the cursor's next page follows, or, once it has stopped (the list
-- ended, the server ignored paging, the pages or the deadline ran out), a
-- GET of each run it never showed.
local function on_list(b, ex, resp, stopping)
  local doc, err = api.decode(resp, b.ctx_list)
  local items
  if doc then items, err = ex.cursor:feed(doc) end
  if not items then
    local left = math.huge
    for _, rec in pairs(ex.wanted) do left = math.min(left, rec.deadline - transport.now()) end
    local delay = not stopping and err and retry.again(resp, err, { attempts = ex.reads, left = left, op = "read" })
    if delay then return delay end
    ex.cursor:stop("error") -- the list cannot be read: each run is read on its own
    items = {}
  end
  local out
  for _, r in ipairs(items) do
    local rec = type(r) == "table" and ex.wanted[r.id] or nil
    if rec then
      ex.wanted[r.id] = nil
      out = read_one(b, rec, api.run_state(r), nil, stopping) or out
    end
  end
  if next(ex.wanted) == nil then return out end
  local path = not stopping and ex.cursor:next_path()
  if path then
    return { { kind = "list", rb = ex.rb, scope = ex.scope, cursor = ex.cursor, path = path, reads = 0,
      wanted = ex.wanted } }
  end
  local left = {}
  for _, rec in pairs(ex.wanted) do left[#left + 1] = rec end
  return gets(left)
end

--[[
reply(b, ex, resp, stopping) -> nil when the exchange is done with; a delay
before it goes again; or a list of follow-up exchanges.
]]
function M.reply(b, ex, resp, stopping)
  b.halted = b.halted or stopping
  if ex.kind == "patch" then return on_patch(b, ex, resp, stopping) end
  if ex.kind == "get" then return on_get(b, ex, resp, stopping) end
  return on_list(b, ex, resp, stopping)
end

-- stop: the batch stopped before the exchange was done; resp is its aborted
-- transfer's result when it was in flight. A read-back it belonged to is
-- decided now with what was read (the rest were in flight).
function M.stop(b, ex, resp)
  b.halted = true
  if ex.kind ~= "patch" then
    local rb = ex.rb or ex.rec.rb
    if rb.decided then return nil end
    for _, rec in ipairs(rb.recs) do
      if rec.code == nil and not rec.read_err then rec.stopped_read = true end
    end
    rb.left = 0
    return M.decide(b, rb, true)
  end
  for _, rec in ipairs(ex.recs) do
    if rec.done then -- luacheck: ignore 542
    elseif rec.ambiguous or (resp and resp.sent) then
      unknown(b, rec, "the change to run " .. rec.id .. " may or may not have been applied: its request "
        .. "was in flight when the batch stopped")
    else
      -- never sent, or sent before and read back unchanged: not changed
      not_sent(b, rec)
    end
  end
end

--[[
run(action, source, client, opts) -> report
source: see new(). opts: parallel, deadline, group_size (runs per PATCH,
1 by default), collect (false: keep no result tables),
on_result(result, index) as each run ends, on_retry(info), should_stop(),
on_progress(done, inflight). A result the stop decided (unknown, not_sent)
has stopped = true.
report = { action, results? (input order), summary = {ok, noop, failed,
  unknown, not_sent}, stopped?, signal? }
]]
-- The refs the API cannot take fail on their own, before anything is sent.
local function refuse_invalid(b)
  for i = 1, b.n do
    local err = b.invalid and b.invalid[i]
    if err then
      local r = b.refs[i]
      M.finish(b, { i = i, id = r.run_id, scope = r }, { run_id = r.run_id, action = b.action, outcome = "failed",
        error = err })
    end
  end
end

--[[
plan(action, source, client, opts) -> { action, requests, failed, runs }
The requests the batch sends first, without sending anything (what
--dry-run prints): the very groups fresh() makes, each request as send()
builds it, its token redacted. failed: the results of the runs the API
cannot take.
]]
function M.plan(action, source, c, opts)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.collect, o.on_result = true, nil
  local b = M.new(action, source, c, o)
  refuse_invalid(b)
  local requests, runs = json.array(), 0
  while true do
    local ex = M.fresh(b)
    if not ex then break end
    local req, ids = M.send(b, ex), json.array()
    for k, rec in ipairs(ex.recs) do ids[k] = rec.id end
    -- the headers as --verbose shows them (client.describe: the token redacted)
    local headers, shown = json.array(), require("clarifai.client").describe(req)
    for k = 2, #shown do headers[k - 1] = shown[k]:sub(3) end
    local s = ex.scope
    requests[#requests + 1] = { method = req.method, url = req.url, headers = headers, body = req.body,
      run_ids = ids, user_id = s.user_id, app_id = s.app_id, pipeline_id = s.pipeline_id,
      pipeline_version_id = s.pipeline_version_id }
    runs = runs + #ids
  end
  local failed = json.array()
  for i = 1, b.n do
    if b.results[i] then failed[#failed + 1] = b.results[i] end
  end
  return { action = action, requests = requests, failed = failed, runs = runs }
end

function M.run(action, source, c, opts)
  local b = M.new(action, source, c, opts)
  refuse_invalid(b)
  local step = {
    fresh = function() return M.fresh(b) end,
    start = function(ex) return M.send(b, ex) end,
    finish = function(ex, resp, stopping) return M.reply(b, ex, resp, stopping) end,
    stop = function(ex, resp) return M.stop(b, ex, resp) end,
  }
  local on_progress = opts.on_progress and function(_, inflight) opts.on_progress(b.finished, inflight) end
  local res = transport.drive(c, step, { parallel = opts.parallel, should_stop = opts.should_stop,
    on_progress = on_progress })
  return { action = action, results = b.results, summary = b.summary, stopped = res.stopped or nil,
           signal = res.signal }
end

return M
