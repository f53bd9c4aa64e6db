--- Pipeline version runs: pause, cancel and resume (one run or many), select runs, and the reads.
-- The reads are status, list and history. Every function returns results, or
-- nil, message, err (see `clarifai.errors`); none prints, none exits.
--
-- A ref names a pipeline version by its four ids, { user_id, app_id,
-- pipeline_id, pipeline_version_id }, and one run of it by run_id. Ids a ref
-- lacks are read from config-lock.yaml, as the CLI reads them: in the current
-- directory, or opts.dir; opts.lockfile = false never reads it. Every id is
-- checked before anything is sent (a bad or missing one is a failure of kind
-- "usage").
--
-- Every call that sends takes its client from opts: opts.client (see
-- `clarifai.client`); else opts.pat (with opts.api_base) makes one; else
-- opts.config_path, opts.context or opts.getenv resolve one as the CLI does;
-- else the default client is used (inside a workflow of `clarifai.async`, the
-- workflow's own). The same calls run inside workflows, where every wait
-- yields to the event loop.
-- @module clarifai.runs
-- @usage
-- local runs = require "clarifai.runs"
-- local ref = { user_id = "demo-user", app_id = "demo-app", pipeline_id = "hello-world-pipeline",
--               pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19", run_id = "run-train-01" }
-- local result, message, err = runs.pause(ref)
-- if result then print(result.run_id, result.state) else print(message, err.kind, err.exit_code) end

local api = require "clarifai.api"
local args = require "clarifai.args"
local batch = require "clarifai.batch"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local ids_mod = require "clarifai.ids"
local json = require "clarifai.json"
local pager = require "clarifai.pager"
local reads = require "clarifai.reads"
local states = require "clarifai.states"
local transport = require "clarifai.transport"

local M = {}
local raw = {} -- the functions before export (failing with nil, err): for calls from here

local function complete(ref, opts)
  return ids_mod.resolve(ref, opts)
end

-- The options of each call (unknown keys raise: see clarifai.args): where
-- missing ids come from, the client, and what each call adds.
local BASE = args.spec(args.CALL, { id_sources = "table", parallel = "parallel" })
local SEND_OPTS = args.spec(BASE, { deadline = "deadline", group_size = "group_size", collect = "boolean",
  on_result = "function", on_progress = "function" })
local READ_OPTS = args.spec(BASE, { on_progress = "function" })
local LIST_QUERY = { status = "list", page = "page", per_page = "per_page", all = "boolean", max = "list_max" }

-- The scope, the client and the checked run ids a call needs.
local function prepare(ref, run_ids, opts)
  local full, err = complete(ref, opts)
  if not full then return nil, err end
  local list, lerr = ids_mod.unique(run_ids, "pipeline_version_run_id", opts.id_sources)
  if not list then return nil, lerr end
  local c, cerr = transport.client(opts)
  if not c then return nil, cerr end
  return full, c, list
end

-- The refs of apply(action, refs, opts) and plan(): checked, without
-- repeats (the same run of the same version), and the ones whose ids the
-- API cannot take (a run a server listed with an id no path can carry):
-- refs, invalid (index in refs -> the usage error). Those fail on their own;
-- the others go ahead. An id is checked once however many refs share it (a
-- selection names each version 100s of times); a list this made is taken
-- as it is.
local REF_FIELDS = { "user_id", "app_id", "pipeline_id", "pipeline_version_id", "run_id" }
local invalid_of = setmetatable({}, { __mode = "k" })

local function ref_problem(r, k, good)
  for _, f in ipairs(REF_FIELDS) do
    local v = r[f]
    if not good[v] then
      local ok, err = ids_mod.check(v, f == "run_id" and "pipeline_version_run_id" or f, "refs[" .. k .. "]")
      if not ok then return err end
      good[v] = true
    end
  end
  return nil
end

local function checked_refs(fn, refs)
  if ids_mod.is_checked(refs) then return refs, invalid_of[refs] or {} end
  local out, invalid, seen, good = json.array(), {}, {}, {}
  for k, r in ipairs(refs) do
    if type(r) ~= "table" then args.of(fn, "refs[" .. k .. "]", "table", r) end
    local err = ref_problem(r, k, good)
    local key = not err and (api.version_key(r) .. "/" .. r.run_id)
    if err or not seen[key] then
      if key then seen[key] = true end
      out[#out + 1] = r
      invalid[#out] = err
    end
  end
  invalid_of[out] = invalid
  return ids_mod.mark(out), invalid
end

-- What apply and plan share: the checked source of a batch, its client and
-- the options | nil, err. Raises for arguments of the wrong type.
local function batch_source(fn, action, ref, run_ids, opts)
  if not states.actions[action] then args.raise(fn, "argument #1 (action)", "pause, cancel or resume", action, 3) end
  args.of(fn, "argument #2 (ref or refs)", "table", ref)
  if #ref > 0 or json.is_array(ref) then
    opts = args.opts(fn, run_ids, SEND_OPTS)
    local refs, invalid = checked_refs(fn, ref)
    local c, cerr = transport.client(opts)
    if not c then return nil, cerr end
    return { refs = refs, invalid = invalid }, c, opts
  end
  args.list(fn, "argument #3 (run_ids)", run_ids)
  opts = args.opts(fn, opts, SEND_OPTS)
  local full, c, list = prepare(ref, run_ids, opts)
  if not full then return nil, c end
  return { ids = list, scope = full }, c, opts
end

--- Changes many runs concurrently: pause, cancel or resume them.
-- Two forms. `apply(action, ref, run_ids [, opts])` changes run_ids of one
-- pipeline version (ref: its four ids), one PATCH per run unless
-- opts.group_size says more. `apply(action, refs [, opts])` changes a list of
-- complete refs (each with run_id; any versions, such as `select` returns),
-- the runs of one version sent together, opts.group_size per PATCH (default
-- 100). Duplicates are sent once. Requests go concurrently (opts.parallel)
-- over reused connections.
--
-- What happens on refusals, retries and ambiguous or partial replies is the
-- batch's business (clarifai.batch): a run already in the target state is
-- "noop", a refused one "failed" (with its error), one whose outcome could
-- not be learnt "unknown", one a stop kept from being sent "not_sent".
-- Everything for one run happens within opts.deadline or the client's,
-- counted from its first request (defaults and ranges: `clarifai.limits`).
-- A run that fails does not fail the call: the call fails only when it cannot
-- start (a bad or missing id, no client).
-- @string action "pause", "cancel" or "resume"
-- @tparam table ref the pipeline version's ids (missing ones from
-- config-lock.yaml); in the second form, refs: a list of complete refs
-- (user_id, app_id, pipeline_id, pipeline_version_id, run_id)
-- @tparam {string,...} run_ids the run ids (first form); in the second form
-- this argument is opts
-- @tparam[opt] table opts options:
-- @tparam[opt] Client opts.client the client (or opts.pat, opts.api_base,
-- opts.config_path, opts.context: see the module's description)
-- @tparam[opt=8] int opts.parallel requests in flight at once, 1..1024
-- @tparam[opt] number opts.deadline seconds for one run's change (default the
-- client's, 60)
-- @tparam[opt] int opts.group_size runs of one version per PATCH, 1..1000
-- (default 1 for run_ids, 100 for refs)
-- @tparam[opt=true] boolean opts.collect false keeps no per-run results (for
-- streaming with on_result: a 50,000-run batch stays small)
-- @tparam[opt] function opts.on_result on_result(result, index) as each run
-- ends (index: its place in the input)
-- @tparam[opt] function opts.on_progress on_progress(finished, inflight)
-- after each wait
-- @tparam[opt] function opts.on_retry on_retry{run_id?, label, attempt, max,
-- delay, reason} before each retry
-- @tparam[opt] function opts.should_stop should_stop() returning true stops
-- the batch like a signal: nothing new is sent, requests in flight get a
-- short grace, the runs left are "unknown" or "not_sent"
-- @treturn table report { action, results = { {run_id, action, outcome =
-- "ok"|"noop"|"failed"|"unknown"|"not_sent", state, state_code, req_id,
-- note?, error?, and for refs user_id, app_id, pipeline_id,
-- pipeline_version_id}, ... } (in input order; absent with collect = false),
-- summary = {ok, noop, failed, unknown, not_sent}, stopped?, signal? }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`), kind "usage" for a
-- bad or missing id
-- @raise when action is not "pause", "cancel" or "resume", ref is not a
-- table, run_ids is not a list, a ref of refs is not a table, or an option
-- is out of range (`clarifai.runs.apply: opts.parallel must be a whole
-- number 1..1024, got 0`) (and, by the rule of every public function: an
-- option key it does not take or a callback that is not callable; a bad
-- value returns nil, message, err instead)
-- @usage
-- local report = assert(runs.apply("pause", ref, { "run-1", "run-2" }, { parallel = 16 }))
-- print(report.summary.ok, report.summary.failed)
-- for _, r in ipairs(report.results) do print(r.run_id, r.outcome, r.state) end
-- -- a selection, across versions
-- local refs = assert(runs.select({ user_id = "u", app_id = "a", all_pipelines = true },
--   { states = { "running" } }))
-- assert(runs.apply("cancel", refs, { on_result = function(r) print(r.run_id, r.outcome) end }))
function M.apply(action, ref, run_ids, opts)
  local source, c, o = batch_source("clarifai.runs.apply", action, ref, run_ids, opts)
  if not source then return nil, c end
  return batch.run(action, source, c, o)
end

--- The requests `apply` would send first, without sending anything: its plan.
-- The same arguments as `apply`, both forms; the groups are `apply`'s own
-- (the one planner: `clarifai pr ... --dry-run` prints this). A run whose
-- id the API cannot take (a listed run with an id no path can carry) is in
-- `failed`, as `apply` reports it; the others are planned. Retries,
-- read-backs and splits of refused groups come only from answers, so they
-- are not in a plan.
-- @string action "pause", "cancel" or "resume"
-- @tparam table ref as `apply`'s
-- @tparam {string,...} run_ids as `apply`'s (first form; in the second, opts)
-- @tparam[opt] table opts as `apply`'s (client, group_size, ...): a client
-- with no token plans all the same
-- @treturn table plan { action, requests = { {method, url, headers = {
-- "Name: value", ... } (token redacted), body, run_ids = {...}, user_id,
-- app_id, pipeline_id, pipeline_version_id}, ... }, failed = { results as
-- `apply` gives them }, runs = how many runs the requests carry }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`), kind "usage" for a
-- bad or missing id of the first form
-- @raise as `apply` (and, by the rule of every public function: an option
-- key it does not take or a callback that is not callable; a bad value
-- returns nil, message, err instead)
-- @usage
-- local plan = assert(runs.plan("pause", refs, { group_size = 50 }))
-- for _, r in ipairs(plan.requests) do print(r.method, r.url, #r.run_ids) end
function M.plan(action, ref, run_ids, opts)
  local source, c, o = batch_source("clarifai.runs.plan", action, ref, run_ids, opts)
  if not source then return nil, c end
  return batch.plan(action, source, c, o)
end

--- One result of `apply` as the `-o json` document shows it.
-- The result has run_id, outcome, state, state_code, req_id and error (the
-- flat error object of `clarifai.errors.view`), absent values `clarifai.json`'s
-- null; note when the result has one; user_id, app_id, pipeline_id and
-- pipeline_version_id for a selection's result; and, for a result whose wait
-- ended, wait = {outcome = "reached"|"failed"|"timeout"|"stopped", state,
-- state_code, error}.
-- @tparam table r a result of `apply`'s report (with its wait, when the
-- caller waited)
-- @treturn table the view, ready for `clarifai.json.encode`
-- @usage
-- local report = assert(runs.apply("pause", ref, ids, { collect = false,
--   on_result = function(r) io.write(json.encode(runs.result_view(r)), "\n") end }))
function M.result_view(r)
  local v = { run_id = r.run_id, outcome = r.outcome, state = r.state or json.null,
    state_code = r.state_code or json.null, req_id = r.req_id or json.null, error = errors.view(r.error) }
  if r.note then v.note = r.note end
  if r.pipeline_version_id then -- a selection's result names the run's scope
    v.user_id, v.app_id, v.pipeline_id, v.pipeline_version_id = r.user_id, r.app_id, r.pipeline_id,
      r.pipeline_version_id
  end
  if r.wait then
    local w = r.wait
    v.wait = { outcome = w.outcome, state = w.state or json.null, state_code = w.state_code or json.null,
      error = errors.view(w.error) }
  end
  return v
end

--- The `-o json` document of `apply` (and of a wait): what `to_json` encodes.
-- @tparam table report a report of `apply`
-- @treturn table { action, results = { views of `result_view` }, summary }
-- @raise when report is not a table
-- @usage
-- local doc = runs.view(assert(runs.apply("resume", ref, ids)))
-- print(#doc.results, doc.summary.ok)
function M.view(report)
  args.of("clarifai.runs.view", "argument #1 (report)", "table", report)
  local results = json.array()
  for i, r in ipairs(report.results or {}) do results[i] = M.result_view(r) end
  return { action = report.action, results = results, summary = report.summary }
end

--- The `-o json` text of `apply`'s report: `view(report)`, encoded.
-- @tparam table report a report of `apply`
-- @treturn string the JSON text (keys sorted, empty lists as `[]`)
-- @raise when report is not a table
-- @usage print(runs.to_json(assert(runs.apply("pause", ref, ids))))
function M.to_json(report)
  args.of("clarifai.runs.to_json", "argument #1 (report)", "table", report)
  return json.encode(M.view(report))
end

--- Builds `to_json`'s document one result at a time.
-- Each result is kept only as its encoded text (a 50 000-run batch in a few
-- MiB): what `apply`'s on_result with collect = false needs for `-o json`.
-- write(summary, fn) hands the document to fn piece by piece (never as one
-- large string).
-- @string action the batch's action
-- @treturn table an encoder { add(result, index), write(summary, write) }
-- @usage
-- local enc = runs.encoder("pause")
-- local report = assert(runs.apply("pause", ref, ids, { collect = false, on_result = enc.add }))
-- enc.write(report.summary, function(piece) io.write(piece) end)
function M.encoder(action)
  local parts = {}
  return {
    add = function(r, i) parts[i] = json.encode(M.result_view(r)) end,
    write = function(summary, write)
      write('{"action":' .. json.encode(action) .. ',"results":[')
      for i = 1, #parts do write(i > 1 and ("," .. parts[i]) or parts[i]) end
      write('],"summary":' .. json.encode(summary) .. "}")
    end,
  }
end

-- One run: result | nil, err.
local function single(action)
  local fn = "clarifai.runs." .. action
  return function(ref, opts)
    args.of(fn, "argument #1 (ref)", "table", ref)
    args.of(fn, "ref.run_id", "string", ref.run_id, true)
    opts = args.opts(fn, opts, SEND_OPTS)
    if ref.run_id == nil or ref.run_id == "" then
      return nil, errors.new("usage", "a run id (run_id) is required", { missing = { "pipeline_version_run_id" } })
    end
    local report, err = raw.apply(action, ref, { ref.run_id }, opts)
    if not report then return nil, err end
    local r = report.results[1]
    if r.error then return nil, r.error end
    return r
  end
end

--- Selects runs for a bulk change: the runs of a scope in some states, older than some age, the oldest N.
-- The scope is one pipeline version (the default), every version of a
-- pipeline (all_versions), every version of every pipeline of the app
-- (all_pipelines), or every run on a nodepool (compute_cluster_id and
-- nodepool_id; compute_cluster_user_id, "me" by default, owns the cluster),
-- narrowed by the app, pipeline and version ids it also gives. Listing uses
-- the API's server-side status filter and pages of the API's own size;
-- versions are listed concurrently. The refs it returns are what `apply`'s
-- second form and `clarifai.watch.wait` take. (Loads clarifai.select.)
-- @tparam table scope { user_id, app_id, pipeline_id?, pipeline_version_id?,
-- all_versions?, all_pipelines?, compute_cluster_id?, nodepool_id?,
-- compute_cluster_user_id? }
-- @tparam[opt] table filter { states?, older_than?, limit? }
-- @tparam[opt] {string|int,...} filter.states state names or codes
-- ("running", "JOB_PAUSED", 64001): the server filters
-- @tparam[opt] number filter.older_than seconds: runs created at least this
-- long ago (created_at against opts.now or the local clock)
-- @tparam[opt] int filter.limit the N oldest runs only, 1..100000
-- @tparam[opt] table opts client (or pat, api_base, config_path, context),
-- parallel, on_retry, should_stop, now (a time in seconds since the epoch),
-- keep_runs (each ref keeps the API's run object as run), on_progress
-- (on_progress(runs, requests) after each page read: the runs listed and the
-- listing GETs sent so far, pipelines and versions included)
-- @treturn {table,...} refs: complete refs with run_id, state_code and
-- created_at, version by version (as first listed), oldest first; at most
-- 100,000 (a larger selection is an error, never cut)
-- @treturn table info { counts = { {user_id, app_id, pipeline_id,
-- pipeline_version_id, n}, ... } (runs per version, in the refs' order),
-- requests = the listing GETs sent, versions = the versions listed }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`): kind "usage" for a
-- scope without its ids, an unknown state or a selection too large;
-- "interrupted" when a stop ended the listing
-- @raise when scope is not a table, one of its ids is not a string,
-- filter.states is not a list, or a filter or opts field is out of range
-- (and, by the rule of every public function: an option key it does not take
-- or a callback that is not callable; a bad value returns nil, message, err
-- instead)
-- @usage
-- local refs, info = assert(runs.select({ user_id = "u", app_id = "a", pipeline_id = "p",
--   all_versions = true }, { states = { "running", "queued" }, older_than = 3600 }))
-- for _, c in ipairs(info.counts) do print(c.pipeline_version_id, c.n) end
-- local report = assert(runs.apply("pause", refs))
function M.select(scope, filter, opts) return require("clarifai.select").select(scope, filter, opts) end

--- Pauses one run.
-- @function pause
-- @tparam table ref the run: user_id, app_id, pipeline_id,
-- pipeline_version_id (missing ones from config-lock.yaml) and run_id
-- @tparam[opt] table opts as `apply`'s (client, parallel, deadline, on_retry,
-- should_stop, ...)
-- @treturn table result {run_id, action, outcome = "ok"|"noop", state,
-- state_code, req_id, note?}: "noop" when the run was already paused
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`): kind "api" for a
-- refusal (a transition the run's state does not allow, a run not found),
-- "usage" for a missing run_id or a bad id, "auth", "transport", "unknown", ...
-- @raise when ref is not a table, ref.run_id is neither a string nor nil, or
-- an option is out of range (and, by the rule of every public function: an
-- option key it does not take or a callback that is not callable; a bad
-- value returns nil, message, err instead)
-- @usage
-- local result, message, err = runs.pause(ref)
-- if result then
--   print(result.run_id, result.state, result.state_code, result.req_id) -- run-train-01 JOB_PAUSED 64008 ...
-- else
--   print(message, err.kind, err.http_status, err.api_code, err.exit_code)
-- end
M.pause = single("pause")

--- Cancels one run (a queued, running or paused one).
-- @function cancel
-- @tparam table ref the run: user_id, app_id, pipeline_id,
-- pipeline_version_id (missing ones from config-lock.yaml) and run_id
-- @tparam[opt] table opts as `apply`'s
-- @treturn table result {run_id, action, outcome = "ok"|"noop", state,
-- state_code, req_id, note?}
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`)
-- @raise when ref is not a table, ref.run_id is neither a string nor nil, or
-- an option is out of range (and, by the rule of every public function: an
-- option key it does not take or a callback that is not callable; a bad
-- value returns nil, message, err instead)
-- @usage local result = assert(runs.cancel(ref, { client = my_client }))
M.cancel = single("cancel")

--- Resumes one paused run.
-- @function resume
-- @tparam table ref the run: user_id, app_id, pipeline_id,
-- pipeline_version_id (missing ones from config-lock.yaml) and run_id
-- @tparam[opt] table opts as `apply`'s
-- @treturn table result {run_id, action, outcome = "ok"|"noop", state,
-- state_code, req_id, note?}
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`)
-- @raise when ref is not a table, ref.run_id is neither a string nor nil, or
-- an option is out of range (and, by the rule of every public function: an
-- option key it does not take or a callback that is not callable; a bad
-- value returns nil, message, err instead)
-- @usage
-- local result = assert(runs.resume(ref))
-- assert(require("clarifai.watch").wait("resume", ref, { result.run_id }))
M.resume = single("resume")

-- Reads ------------------------------------------------------------------

--- Reads runs of one pipeline version, concurrently.
-- A run that cannot be read does not fail the call: it is in report.errors.
-- @tparam table ref the pipeline version's ids (missing ones from
-- config-lock.yaml)
-- @tparam {string,...} run_ids the run ids
-- @tparam[opt] table opts client (or pat, api_base, config_path, context),
-- parallel, on_retry, should_stop
-- @treturn table report { runs = { the API's run objects, in input order },
-- errors = { {run_id, error}, ... }, results = { {run_id, run?, error?}, ...
-- } (one per id, in input order), signal? }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`)
-- @raise when ref is not a table, run_ids is not a list, or an option is out
-- of range (and, by the rule of every public function: an option key it does
-- not take or a callback that is not callable; a bad value returns nil,
-- message, err instead)
-- @usage
-- local report = assert(runs.status(ref, { "run-1", "run-2" }))
-- for _, run in ipairs(report.runs) do print(run.id, run.status and run.status.code) end
-- for _, e in ipairs(report.errors) do print(e.run_id, e.error.message) end
function M.status(ref, run_ids, opts)
  local fn = "clarifai.runs.status"
  args.of(fn, "argument #1 (ref)", "table", ref)
  args.list(fn, "argument #2 (run_ids)", run_ids)
  opts = args.opts(fn, opts, READ_OPTS)
  local full, c, list = prepare(ref, run_ids, opts)
  if not full then return nil, c end
  local paths, labels = {}, {}
  for i, id in ipairs(list) do
    paths[i] = api.run_path(full, id)
    labels[i] = "read of run " .. id
  end
  local got, res = reads.fetch(c, paths, { what = "get pipeline version run", labels = labels,
    parallel = opts.parallel, on_retry = opts.on_retry, should_stop = opts.should_stop })
  local report = { runs = json.array(), errors = json.array(), results = json.array(), signal = res.signal }
  for i, id in ipairs(list) do
    local doc, derr = got[i][1], got[i][2]
    local run
    if doc then run, derr = api.run_of(doc) end
    if run then
      report.runs[#report.runs + 1] = run
      report.results[i] = { run_id = id, run = run }
    else
      report.errors[#report.errors + 1] = { run_id = id, error = derr }
      report.results[i] = { run_id = id, error = derr }
    end
  end
  return report
end

--- The `-o json` document of `status`: its runs and its errors.
-- @tparam table report a report of `status`
-- @treturn table { runs, errors = { {run_id, error = the flat error object
-- (`clarifai.errors.view`)}, ... } }
-- @usage print(json.encode(runs.status_view(assert(runs.status(ref, ids)))))
function M.status_view(report)
  local errs = json.array()
  for i, e in ipairs(report.errors) do errs[i] = { run_id = e.run_id, error = errors.view(e.error) } end
  return { runs = report.runs, errors = errs }
end

--- Status names or codes to codes.
-- A name is a state's ("JOB_PAUSED") or its short form ("paused", any case);
-- a code is a number or a numeric string.
-- @tparam[opt] {string|int,...} list names or codes ("running",
-- "JOB_PAUSED", 64001); nil is the empty list
-- @treturn {int,...} the codes, in order
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`): kind "usage", with
-- valid (every state's name)
-- @usage local codes = assert(runs.status_codes({ "running", "JOB_PAUSED" })) -- {64001, 64008}
function M.status_codes(list)
  local codes = {}
  for _, v in ipairs(list or {}) do
    local code = states.parse(v)
    if not code then
      return nil, errors.new("usage", "unknown status '" .. tostring(v) .. "'", { valid = states.names() })
    end
    codes[#codes + 1] = code
  end
  return codes
end

--- Lists the runs of one pipeline version: a page, or every page.
-- Defaults and ranges: `clarifai.limits` (page, per_page; with all, pages of
-- the API's own size, api_per_page; max, list_max). With all, pages are
-- followed until a short page; a page that brings no run not seen before (a
-- server that ignores `page`) ends the walk, and so does reaching `max` runs;
-- info.warnings says so.
-- @tparam table ref the pipeline version's ids (missing ones from
-- config-lock.yaml)
-- @tparam[opt] table query { status?, page?, per_page?, all?, max? }
-- @tparam[opt] {string|int,...} query.status state names or codes (see
-- `status_codes`): the server filters
-- @tparam[opt=1] int query.page the page, 1..1000000
-- @tparam[opt=16] int query.per_page runs per page, 1..128 (128 with all)
-- @tparam[opt=false] boolean query.all follow the pages
-- @tparam[opt=100000] int query.max runs at most, 1..100000
-- @tparam[opt] table opts client (or pat, api_base, config_path, context),
-- on_retry, should_stop, on_progress (on_progress(runs, requests) after each
-- page read: the runs listed and the GETs sent so far)
-- @treturn table { runs = { the API's run objects }, page, per_page }
-- @treturn table info { warnings = { strings }, more = the last page read was
-- full (another may follow) }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`)
-- @raise when ref is not a table, or a query or opts field is out of range
-- (and, by the rule of every public function: an option key it does not take
-- or a callback that is not callable; a bad value returns nil, message, err
-- instead)
-- @usage
-- local running, info = assert(runs.list(ref, { status = { "running" }, all = true }))
-- for _, w in ipairs(info.warnings) do io.stderr:write(w, "\n") end
-- for _, run in ipairs(running.runs) do print(run.id) end
function M.list(ref, query, opts)
  local fn = "clarifai.runs.list"
  args.of(fn, "argument #1 (ref)", "table", ref)
  query = args.opts(fn, query, LIST_QUERY, "query")
  opts = args.opts(fn, opts, READ_OPTS)
  local full, err = complete(ref, opts)
  if not full then return nil, err end
  local codes, serr = raw.status_codes(query.status)
  if not codes then return nil, serr end
  local c, cerr = transport.client(opts)
  if not c then return nil, cerr end
  local per_page = query.per_page or (query.all and defaults.api_per_page or defaults.per_page)
  local max = query.max or defaults.list_max
  local cur = pager.forward({ path = api.runs_path(full), field = "pipeline_version_runs", codes = codes,
    per_page = per_page, page = query.page or defaults.page, max_items = max,
    max_pages = not query.all and 1 or nil })
  local out = { runs = json.array(), page = cur.page, per_page = per_page }
  local ok, werr = pager.walk(c, { cur }, { what = "list pipeline version runs", on_retry = opts.on_retry,
    should_stop = opts.should_stop, on_items = function(_, items)
      for _, r in ipairs(items) do
        if #out.runs < max then out.runs[#out.runs + 1] = r end
      end
      if opts.on_progress then opts.on_progress(#out.runs, cur.pages) end
    end })
  if not ok then return nil, werr end
  local info = { warnings = {}, more = cur.reason ~= "end", complete = cur:complete() }
  if query.all and not info.complete then
    info.warnings[1] = cur.reason == "items" and string.format("stopped after %d runs; there may be more", max)
      or string.format("%s: the listing stops here (%d runs); there may be more", cur:why(), #out.runs)
  end
  return out, info
end

--- The status history of one run: every page of its status logs.
-- At most 1000 pages of 100 records are read.
-- @tparam table ref the pipeline version's ids (missing ones from
-- config-lock.yaml)
-- @string run_id the run
-- @tparam[opt] table opts client (or pat, api_base, config_path, context),
-- on_retry, should_stop
-- @treturn table { status_logs = { the API's status log records, in the
-- API's order } }
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] table err the error (`clarifai.errors`)
-- @raise when ref is not a table, run_id is not a string, or an option is
-- out of range (and, by the rule of every public function: an option key it
-- does not take or a callback that is not callable; a bad value returns nil,
-- message, err instead)
-- @usage
-- local h = assert(runs.history(ref, "run-train-01"))
-- for _, rec in ipairs(h.status_logs) do print(rec.status and rec.status.code, rec.message) end
function M.history(ref, run_id, opts)
  local fn = "clarifai.runs.history"
  args.of(fn, "argument #1 (ref)", "table", ref)
  args.of(fn, "argument #2 (run_id)", "string", run_id)
  opts = args.opts(fn, opts, READ_OPTS)
  local full, c, list = prepare(ref, { run_id }, opts)
  if not full then return nil, c end
  local logs, err = reads.status_logs(c, full, list[1], opts)
  if not logs then return nil, err end
  return { status_logs = logs }
end

errors.export(M, { "apply", "plan", "pause", "cancel", "resume", "select", "status", "status_codes", "list", "history" },
  raw)

return M
