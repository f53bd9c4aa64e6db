-- Pipeline version runs: pause, cancel and resume (one run or many).
-- Returns results and error tables; never prints, never exits.

local api = require "clarifai.api"
local client_mod = require "clarifai.client"
local errors = require "clarifai.errors"
local ids = require "clarifai.ids"
local json = require "clarifai.json"
local retry = require "clarifai.retry"
local states = require "clarifai.states"

local M = {}

-- The client from opts.client, or one resolved as the CLI resolves it.
local CONFIG_KEYS = { "config_path", "context", "getenv", "pat", "api_base" }

local function get_client(opts)
  if opts.client then return opts.client end
  if opts.pat then return client_mod.new(opts) end -- an explicit token: no config lookup
  local custom = false
  for _, k in ipairs(CONFIG_KEYS) do
    if opts[k] ~= nil then custom = true end
  end
  if not custom then return client_mod.default() end
  local c, err = client_mod.from_config(opts)
  if not c then return nil, err end
  return c
end
M.get_client = get_client

local function complete(ref, opts)
  if type(ref) ~= "table" then error("run reference must be a table", 3) end
  return ids.resolve(ref, opts)
end

local function ctx_for(c, what)
  return { what = what, secrets = c:secrets(), base = c.api_base, max_size = c.max_size }
end

-- Clock and interruptible sleep (the C modules load only when needed).
local function clock() return require("clarifai.sys.core").monotime() end
local function sleep(s) return require("clarifai.http.core").sleep(s) end
M.clock, M.sleep = clock, sleep -- shared with clarifai.watch
local function interrupted()
  local core = package.loaded["clarifai.http.core"]
  return core ~= nil and core.interrupted()
end

local function interrupted_error(what)
  return errors.new("interrupted", "interrupted" .. (what and (": " .. what) or ""))
end

--[[
fetch(c, paths, what [, parallel]) -> { {doc | nil, err} ... }
GETs are safe to repeat: each failure that is not definite is retried (at
most retry.MAX_ATTEMPTS attempts, full-jitter backoff, within the client's
deadline).
]]
local function fetch(c, paths, what, parallel)
  local ctx = ctx_for(c, what)
  local out, pending = {}, {}
  for i = 1, #paths do pending[#pending + 1] = i end
  local deadline = clock() + (c.deadline or 60)
  for attempt = 1, retry.MAX_ATTEMPTS do
    local reqs = {}
    local left = deadline - clock()
    for k, i in ipairs(pending) do
      reqs[k] = c:build("GET", paths[i])
      reqs[k].timeout = math.max(0.1, math.min(reqs[k].timeout, left))
    end
    local results = c:perform(reqs, parallel or 8)
    local again, wait = {}, 0
    for k, i in ipairs(pending) do
      local doc, err = api.decode(results[k], ctx)
      out[i] = { doc, err }
      local phase = retry.classify(results[k], err)
      if phase == "not_sent" or phase == "rejected" or phase == "ambiguous" then
        again[#again + 1] = i
        wait = math.max(wait, results[k].retry_after or retry.backoff(attempt))
      end
    end
    pending = again
    if #pending == 0 or attempt == retry.MAX_ATTEMPTS or interrupted() then break end
    if clock() + wait >= deadline then break end
    if not sleep(wait) then break end
  end
  return out
end
M.fetch = fetch

-- The run object from a GET, or nil, err.
local function get_run(c, ref, run_id)
  local res = fetch(c, { api.run_path(ref, run_id) }, "get pipeline version run")[1]
  local doc, err = res[1], res[2]
  if not doc then return nil, err end
  if type(doc.pipeline_version_run) ~= "table" then
    return nil, errors.new("protocol", "the API sent a malformed response: no pipeline_version_run")
  end
  return doc.pipeline_version_run, doc.status.req_id
end
M.get_run = get_run

local function result_ok(action, run_id, code, req_id, outcome)
  return {
    run_id = run_id, action = action, outcome = outcome,
    state_code = code, state = states.name(code),
    req_id = type(req_id) == "string" and req_id or nil,
  }
end

local function failed(action, id, err, outcome)
  return { run_id = id, action = action, outcome = outcome or "failed", error = err,
           state_code = err.state_code, state = err.state }
end

local function check_hint(id)
  return "check with `clarifai pr status " .. id .. "`"
end

--[[
apply(action, ref, run_ids, opts) -> report
One PATCH per run, sent concurrently (opts.parallel, default 8) over reused
connections; the success path sends exactly one request per run.
- The API refuses: the run is read once; already in the target state counts
  as success ("noop"), otherwise the refusal is reported with the run's state.
- Not sent or rejected before processing (connection refused, 429, 503,
  throttling): retried, at most 3 attempts, full-jitter backoff, Retry-After
  honoured; a wait beyond the deadline stops at once.
- Ambiguous (timeout or close after sending, 500/502/504, a malformed 2xx):
  the run is read; in the target state it is a success (note "confirmed after
  an ambiguous response"), still in a source state the PATCH is sent again,
  in any other state it fails naming that state; if the read fails too, the
  outcome is unknown.
Everything for one run happens within opts.deadline or the client's (60 s).
opts.on_retry{run_id, attempt, max, delay, reason} is told of each retry.
report = { action, results = { {run_id, outcome = "ok"|"noop"|"failed"|"unknown",
  state, state_code, req_id, note?, error} ... }, summary = {ok, noop, failed, unknown} }
]]
function M.apply(action, ref, run_ids, opts)
  opts = opts or {}
  local spec = states.actions[action]
  if not spec then error("unknown action '" .. tostring(action) .. "'", 2) end
  local full, err = complete(ref, opts)
  if not full then return nil, err end
  local c, cerr = get_client(opts)
  if not c then return nil, cerr end

  local ctx = ctx_for(c, "patch pipeline version run")
  local budget = opts.deadline or c.deadline or 60
  local start = clock()
  local runs = {}
  for i, id in ipairs(run_ids) do
    runs[i] = { id = id, attempts = 0, ready = start, deadline = start + budget }
  end
  local results = json.array()

  local function finish(i, r) results[i] = r; runs[i].done = true end

  local function schedule_retry(i, resp, derr, phase)
    local s = runs[i]
    local now = clock()
    local left = s.deadline - now
    local delay = resp.retry_after or retry.backoff(s.attempts)
    local kind = phase == "not_sent" and "transport" or "transient"
    if resp.retry_after and resp.retry_after > left then
      derr = errors.new("transient", string.format("%s; the API asked to retry after %ds, beyond the "
        .. "deadline (%.0fs left)", derr.message, resp.retry_after, math.max(0, left)), derr)
      return finish(i, failed(action, s.id, derr))
    end
    if s.attempts >= retry.MAX_ATTEMPTS or delay >= left then
      derr.kind, derr.exit_code = kind, errors.exit_codes[kind]
      derr.message = derr.message .. string.format(" (after %d attempt%s)", s.attempts, s.attempts == 1 and "" or "s")
      return finish(i, failed(action, s.id, derr))
    end
    s.ready = now + delay
    if opts.on_retry then
      opts.on_retry({ run_id = s.id, attempt = s.attempts + 1, max = retry.MAX_ATTEMPTS, delay = delay,
                      reason = retry.reason(resp, derr) })
    end
  end

  while true do
    if interrupted() then break end
    local now = clock()
    local batch = {}
    for i, s in ipairs(runs) do
      if not s.done and s.ready <= now then batch[#batch + 1] = i end
    end
    if #batch > 0 then
      local reqs = {}
      for k, i in ipairs(batch) do
        local req = c:build("PATCH", api.runs_path(full), api.patch_body({ runs[i].id }, spec.target))
        req.timeout = math.max(0.1, math.min(req.timeout, runs[i].deadline - now))
        reqs[k] = req
        runs[i].attempts = runs[i].attempts + 1
      end
      local resps = c:perform(reqs, opts.parallel or 8)
      local look, reconcile = {}, {}
      for k, i in ipairs(batch) do
        local resp = resps[k]
        local doc, derr = api.decode(resp, ctx)
        local phase = retry.classify(resp, derr)
        if phase == "ok" then
          local list = doc.pipeline_version_runs
          local code = type(list) == "table" and api.run_state(list[1]) or nil
          finish(i, result_ok(action, runs[i].id, code or spec.target, doc.status.req_id, "ok"))
        elseif phase == "interrupted" then
          runs[i].sent = resp.sent -- left unfinished: reported below
        elseif phase == "not_sent" or phase == "rejected" then
          schedule_retry(i, resp, derr, phase)
        elseif phase == "ambiguous" then
          reconcile[#reconcile + 1] = { i = i, err = derr, reason = retry.reason(resp, derr) }
        elseif derr.kind == "api" then
          look[#look + 1] = { i = i, err = derr }
        else
          finish(i, failed(action, runs[i].id, derr))
        end
      end

      -- One GET per refused or ambiguous run, all at once.
      local paths = {}
      for _, l in ipairs(look) do paths[#paths + 1] = api.run_path(full, runs[l.i].id) end
      for _, r in ipairs(reconcile) do paths[#paths + 1] = api.run_path(full, runs[r.i].id) end
      local got = #paths > 0 and not interrupted() and fetch(c, paths, "get pipeline version run", opts.parallel) or {}
      local function run_code(k)
        local doc = got[k] and got[k][1]
        return doc and api.run_state(doc.pipeline_version_run), doc, got[k] and got[k][2]
      end
      for k, l in ipairs(look) do
        local code = run_code(k)
        local id = runs[l.i].id
        if code == spec.target then
          finish(l.i, result_ok(action, id, code, l.err.req_id, "noop"))
        else
          l.err.state_code, l.err.state = code, code and states.name(code) or nil
          finish(l.i, failed(action, id, l.err))
        end
      end
      for k, r in ipairs(reconcile) do
        local code, doc, gerr = run_code(#look + k)
        local s = runs[r.i]
        if code == spec.target then
          local res = result_ok(action, s.id, code, doc.status.req_id, "ok")
          res.note = "confirmed after an ambiguous response (" .. r.reason .. ")"
          finish(r.i, res)
        elseif code and states.can(action, code) then
          if s.attempts < retry.MAX_ATTEMPTS and clock() < s.deadline then
            s.ready = clock()
            if opts.on_retry then
              opts.on_retry({ run_id = s.id, attempt = s.attempts + 1, max = retry.MAX_ATTEMPTS, delay = 0,
                              reason = r.reason .. ", the run is still " .. states.label(code) })
            end
          else
            finish(r.i, failed(action, s.id, errors.new("unknown", string.format(
              "outcome unknown for run %s: %s and the run is still %s after %d attempts; %s",
              s.id, r.reason, states.label(code), s.attempts, check_hint(s.id)),
              { http_status = r.err.http_status, state_code = code, state = states.name(code) }), "unknown"))
          end
        elseif code then
          finish(r.i, failed(action, s.id, errors.new("state", string.format(
            "run %s is %s (%s) after an ambiguous response (%s); it was not %s",
            s.id, states.label(code), states.name(code), r.reason, spec.past),
            { state_code = code, state = states.name(code), http_status = r.err.http_status })))
        else
          local why = gerr and gerr.message or "interrupted"
          finish(r.i, failed(action, s.id, errors.new("unknown", string.format(
            "outcome unknown for run %s: %s, and reading the run failed too (%s); %s",
            s.id, r.reason, why, check_hint(s.id)), { http_status = r.err.http_status }), "unknown"))
        end
      end
    end

    if interrupted() then break end
    local next_at
    for _, s in ipairs(runs) do
      if not s.done and (not next_at or s.ready < next_at) then next_at = s.ready end
    end
    if not next_at then break end
    local wait = next_at - clock()
    if wait > 0 and not sleep(wait) then break end
  end

  -- Interrupted: whatever is not finished may or may not have changed.
  for i, s in ipairs(runs) do
    if not s.done then
      local msg = s.attempts == 0 and ("run " .. s.id .. ": nothing was sent")
        or ("the change to run " .. s.id .. " may or may not have been applied; " .. check_hint(s.id))
      finish(i, failed(action, s.id, interrupted_error(msg), s.attempts == 0 and "failed" or "unknown"))
    end
  end

  local report = { action = action, results = results, summary = { ok = 0, noop = 0, failed = 0, unknown = 0 } }
  for _, r in ipairs(results) do report.summary[r.outcome] = report.summary[r.outcome] + 1 end
  return report
end

--[[
view(report) -> the -o json document of apply() (and wait): every result has
run_id, outcome, state, state_code, req_id and error (the flat error object),
absent values null; to_json(report) encodes it.
]]
function M.view(report)
  local results = json.array()
  for i, r in ipairs(report.results) do
    results[i] = { run_id = r.run_id, outcome = r.outcome, state = r.state or json.null,
      state_code = r.state_code or json.null, req_id = r.req_id or json.null, error = errors.view(r.error) }
    if r.note then results[i].note = r.note end
  end
  return { action = report.action, results = results, summary = report.summary }
end

function M.to_json(report)
  return json.encode(M.view(report))
end

-- One run: result | nil, err (err carries the CLI exit code).
local function single(action)
  return function(ref, opts)
    if type(ref) ~= "table" then error("run reference must be a table", 2) end
    if type(ref.run_id) ~= "string" or ref.run_id == "" then
      return nil, errors.new("usage", "pipeline_version_run_id is required. Provide it as a positional "
        .. "argument or use --pipeline_version_run_id flag.")
    end
    local report, err = M.apply(action, ref, { ref.run_id }, opts)
    if not report then return nil, err end
    local r = report.results[1]
    if r.error then return nil, r.error end
    return r
  end
end

-- Reads ------------------------------------------------------------------

--[[
status(ref, run_ids, opts) -> report
report = { runs = { <the API's run objects, in input order> },
  results = { {run_id, run?, error?} ... } }
]]
function M.status(ref, run_ids, opts)
  opts = opts or {}
  local full, err = complete(ref, opts)
  if not full then return nil, err end
  local c, cerr = get_client(opts)
  if not c then return nil, cerr end
  local paths = {}
  for i, id in ipairs(run_ids) do paths[i] = api.run_path(full, id) end
  local got = fetch(c, paths, "get pipeline version run", opts.parallel)
  local report = { runs = json.array(), results = json.array() }
  for i, id in ipairs(run_ids) do
    local doc, derr = got[i][1], got[i][2]
    if doc and type(doc.pipeline_version_run) ~= "table" then
      doc, derr = nil, errors.new("protocol", "the API sent a malformed response: no pipeline_version_run")
    end
    if doc then
      report.runs[#report.runs + 1] = doc.pipeline_version_run
      report.results[i] = { run_id = id, run = doc.pipeline_version_run }
    else
      report.results[i] = { run_id = id, error = derr }
    end
  end
  return report
end

-- A GET of a paged list; returns the list field's items and the doc.
local function get_page(c, path, query, field, what)
  local res = fetch(c, { path .. (query ~= "" and ("?" .. query) or "") }, what)[1]
  local doc, err = res[1], res[2]
  if not doc then return nil, err end
  local items = doc[field]
  if items == nil then items = {} end
  if type(items) ~= "table" then
    return nil, errors.new("protocol", "the API sent a malformed response: '" .. field .. "' is not a list")
  end
  return items, doc
end

-- Status names or codes ("running", "JOB_PAUSED", 64001) to codes.
function M.status_codes(list)
  local codes = {}
  for _, v in ipairs(list or {}) do
    local code = states.code_of(v) or states.code_of("JOB_" .. tostring(v):upper())
    if not code then return nil, errors.new("usage", "unknown status '" .. tostring(v) .. "'") end
    codes[#codes + 1] = code
  end
  return codes
end

--[[
list(ref, { status = {names or codes}, page = 1, per_page = 16, all = false }, opts)
-> { runs = {...}, page, per_page }
With all, pages are followed until a short page.
]]
function M.list(ref, query, opts)
  opts, query = opts or {}, query or {}
  local full, err = complete(ref, opts)
  if not full then return nil, err end
  local codes, serr = M.status_codes(query.status)
  if not codes then return nil, serr end
  local c, cerr = get_client(opts)
  if not c then return nil, cerr end
  local page, per_page = query.page or 1, query.per_page or 16
  local out = { runs = json.array(), page = page, per_page = per_page }
  while true do
    local q = { "page=" .. page, "per_page=" .. per_page }
    for _, code in ipairs(codes) do q[#q + 1] = "status_codes=" .. code end
    local items, doc = get_page(c, api.runs_path(full), table.concat(q, "&"), "pipeline_version_runs",
      "list pipeline version runs")
    if not items then return nil, doc end
    for _, r in ipairs(items) do out.runs[#out.runs + 1] = r end
    if not query.all or #items < per_page then break end
    page = page + 1
  end
  return out
end

--[[
history(ref, run_id, opts) -> { status_logs = {...} }  (every page)
]]
function M.history(ref, run_id, opts)
  opts = opts or {}
  local full, err = complete(ref, opts)
  if not full then return nil, err end
  local c, cerr = get_client(opts)
  if not c then return nil, cerr end
  local out = { status_logs = json.array() }
  local page, per_page = 1, 100
  while true do
    local items, doc = get_page(c, api.run_path(full, run_id) .. "/status_logs",
      "page=" .. page .. "&per_page=" .. per_page, "pipeline_version_run_status_logs",
      "list pipeline version run status logs")
    if not items then return nil, doc end
    for _, r in ipairs(items) do out.status_logs[#out.status_logs + 1] = r end
    if #items < per_page or page >= 1000 then break end
    page = page + 1
  end
  return out
end

-- Waiting and watching live in clarifai.watch; offered here too.
function M.wait(...) return require("clarifai.watch").wait(...) end
function M.monitor(...) return require("clarifai.watch").monitor(...) end

M.pause = single("pause")
M.cancel = single("cancel")
M.resume = single("resume")

return M
