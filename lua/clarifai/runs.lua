-- Pipeline version runs: pause, cancel and resume (one run or many), and the
-- reads: status, list, history. Returns results, or nil, message, err (see
-- clarifai.errors); never prints, never exits.

local api = require "clarifai.api"
local args = require "clarifai.args"
local batch = require "clarifai.batch"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local ids_mod = require "clarifai.ids"
local json = require "clarifai.json"
local reads = require "clarifai.reads"
local states = require "clarifai.states"
local transport = require "clarifai.transport"

local M = {}
local raw = {} -- the functions before export (failing with nil, err): for calls from here

local function complete(ref, opts)
  return ids_mod.resolve(ref, opts)
end

-- Options every call that sends takes, with their limits.
local SEND_OPTS = { parallel = "parallel", deadline = "deadline", group_size = "group_size" }

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

-- The refs of apply(action, refs, opts): complete, checked, without
-- repeats (the same run of the same version). An id is checked once
-- however many refs share it (a selection names each version 100s of times).
local REF_FIELDS = { "user_id", "app_id", "pipeline_id", "pipeline_version_id", "run_id" }
local function checked_refs(refs)
  local out, seen, good = json.array(), {}, {}
  for k, r in ipairs(refs) do
    if type(r) ~= "table" then args.of("clarifai.runs.apply", "refs[" .. k .. "]", "table", r) end
    for _, f in ipairs(REF_FIELDS) do
      local v = r[f]
      if not good[v] then
        local ok, err = ids_mod.check(v, f == "run_id" and "pipeline_version_run_id" or f, "refs[" .. k .. "]")
        if not ok then return nil, err end
        good[v] = true
      end
    end
    local key = api.version_key(r) .. "/" .. r.run_id
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = r
    end
  end
  return out
end

--[[
apply(action, ref, run_ids, opts) -> report | nil, err
apply(action, refs, opts) -> report | nil, err
Changes runs concurrently (opts.parallel) over reused connections. The first
form changes run_ids of one pipeline version (ref: its four ids), one PATCH
per run unless opts.group_size says more; the second a list of complete refs
(each with run_id; any versions, e.g. from select()), runs of one version
sent together, opts.group_size per PATCH (clarifai.limits). Duplicates are
sent once. What happens on refusals, retries and ambiguous or partial
replies: clarifai.batch. Everything for one run happens within opts.deadline
or the client's, counted from its first request (defaults and ranges:
clarifai.limits).
opts: client (or config_path/context/pat/api_base), parallel, deadline,
  group_size, collect = false (keep no per-run results: for streaming with
  on_result), on_result(result, index) as each run ends, on_retry{run_id?,
  label, attempt, max, delay, reason}, should_stop() (stop sending; see
  clarifai.transport), counts (version key -> runs selected there: read
  back through the list when that is fewer requests).
report = { action, results = { {run_id, action, outcome = "ok"|"noop"|"failed"|
  "unknown"|"not_sent", state, state_code, req_id, note?, error?, and for
  refs user_id, app_id, pipeline_id, pipeline_version_id} ... },
  summary = {ok, noop, failed, unknown, not_sent}, stopped?, signal? }
]]
function M.apply(action, ref, run_ids, opts)
  local fn = "clarifai.runs.apply"
  if not states.actions[action] then args.raise(fn, "argument #1 (action)", "pause, cancel or resume", action) end
  args.of(fn, "argument #2 (ref or refs)", "table", ref)
  if #ref > 0 or json.is_array(ref) then
    opts = args.opts(fn, run_ids, SEND_OPTS)
    local refs, err = checked_refs(ref)
    if not refs then return nil, err end
    local c, cerr = transport.client(opts)
    if not c then return nil, cerr end
    return batch.run(action, { refs = refs }, c, opts)
  end
  args.list(fn, "argument #3 (run_ids)", run_ids)
  opts = args.opts(fn, opts, SEND_OPTS)
  local full, c, list = prepare(ref, run_ids, opts)
  if not full then return nil, c end
  return batch.run(action, { ids = list, scope = full }, c, opts)
end

--[[
view(report) -> the -o json document of apply() (and wait): every result has
run_id, outcome, state, state_code, req_id and error (the flat error object),
absent values null; a result whose wait ended also has wait = {outcome =
"reached"|"failed"|"timeout"|"stopped", state, state_code, error};
to_json(report) encodes it.
]]
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

function M.view(report)
  args.of("clarifai.runs.view", "argument #1 (report)", "table", report)
  local results = json.array()
  for i, r in ipairs(report.results or {}) do results[i] = M.result_view(r) end
  return { action = report.action, results = results, summary = report.summary }
end

function M.to_json(report)
  args.of("clarifai.runs.to_json", "argument #1 (report)", "table", report)
  return json.encode(M.view(report))
end

--[[
encoder(action) -> { add(result, index), write(summary, write) }
Builds to_json()'s document one result at a time, keeping each result only
as its encoded text (a 50 000-run batch in a few MiB): what apply's
on_result with collect = false needs for -o json. write(summary, fn) hands
the document to fn piece by piece (never as one large string).
]]
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

-- select(scope, filter, opts) -> refs, info | nil, err: see clarifai.select.
function M.select(...) return require("clarifai.select").select(...) end

M.pause = single("pause")
M.cancel = single("cancel")
M.resume = single("resume")

-- Reads ------------------------------------------------------------------

--[[
status(ref, run_ids, opts) -> report | nil, err
report = { runs = { <the API's run objects, in input order> },
  errors = { {run_id, error} ... }, results = { {run_id, run?, error?} ... },
  signal? }
opts: client, parallel, on_retry, should_stop.
]]
function M.status(ref, run_ids, opts)
  local fn = "clarifai.runs.status"
  args.of(fn, "argument #1 (ref)", "table", ref)
  args.list(fn, "argument #2 (run_ids)", run_ids)
  opts = args.opts(fn, opts, SEND_OPTS)
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

-- status_view(report) -> the -o json document of status().
function M.status_view(report)
  local errs = json.array()
  for i, e in ipairs(report.errors) do errs[i] = { run_id = e.run_id, error = errors.view(e.error) } end
  return { runs = report.runs, errors = errs }
end

-- A GET of one page of a list; returns the list field's items and the doc.
local function get_page(c, path, query, field, what, opts)
  local doc, err = reads.get(c, path .. (query ~= "" and ("?" .. query) or ""), what, opts)
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
    if not code then
      return nil, errors.new("usage", "unknown status '" .. tostring(v) .. "'", { valid = states.names() })
    end
    codes[#codes + 1] = code
  end
  return codes
end

--[[
list(ref, { status = {names or codes}, page, per_page, all = false, max },
     opts) -> { runs, page, per_page }, info | nil, err
Defaults and ranges: clarifai.limits (page, per_page; with all, pages of
the API's own size, api_per_page; max, list_max).
With all, pages are followed until a short page; a page that brings no run
not seen before (a server that ignores `page`) ends the walk, and so does
reaching `max` runs; info.warnings says so. info.more: the last page read
was full (another may follow).
]]
function M.list(ref, query, opts)
  local fn = "clarifai.runs.list"
  args.of(fn, "argument #1 (ref)", "table", ref)
  query = args.opts(fn, query, { page = "page", per_page = "per_page", max = "list_max" })
  opts = args.opts(fn, opts, SEND_OPTS)
  local full, err = complete(ref, opts)
  if not full then return nil, err end
  local codes, serr = raw.status_codes(query.status)
  if not codes then return nil, serr end
  local c, cerr = transport.client(opts)
  if not c then return nil, cerr end
  local page = query.page or defaults.page
  local per_page = query.per_page or (query.all and defaults.api_per_page or defaults.per_page)
  local max = query.max or defaults.list_max
  local out = { runs = json.array(), page = page, per_page = per_page }
  local info = { warnings = {}, more = false }
  local seen = {}
  while true do
    local q = { "page=" .. page, "per_page=" .. per_page }
    for _, code in ipairs(codes) do q[#q + 1] = "status_codes=" .. code end
    local items, doc = get_page(c, api.runs_path(full), table.concat(q, "&"), "pipeline_version_runs",
      "list pipeline version runs", opts)
    if not items then return nil, doc end
    local fresh = 0
    for _, r in ipairs(items) do
      local id = type(r) == "table" and r.id or nil
      if id == nil or not seen[id] then
        if id ~= nil then seen[id] = true end
        fresh = fresh + 1
        if #out.runs < max then out.runs[#out.runs + 1] = r end
      end
    end
    info.more = #items >= per_page
    if not query.all or #items < per_page then break end
    if fresh == 0 then
      info.warnings[#info.warnings + 1] = string.format("page %d repeated runs already listed: the server "
        .. "seems to ignore paging, so the listing stops here (%d runs)", page, #out.runs)
      break
    end
    if #out.runs >= max then
      info.warnings[#info.warnings + 1] = string.format("stopped after %d runs; there may be more", max)
      break
    end
    page = page + 1
  end
  return out, info
end

--[[
history(ref, run_id, opts) -> { status_logs = {...} }  (every page)
]]
function M.history(ref, run_id, opts)
  local fn = "clarifai.runs.history"
  args.of(fn, "argument #1 (ref)", "table", ref)
  args.of(fn, "argument #2 (run_id)", "string", run_id)
  opts = args.opts(fn, opts, SEND_OPTS)
  local full, c, list = prepare(ref, { run_id }, opts)
  if not full then return nil, c end
  local out = { status_logs = json.array() }
  local page, per_page = 1, defaults.history_per_page
  while true do
    local items, doc = get_page(c, api.run_path(full, list[1]) .. "/status_logs",
      "page=" .. page .. "&per_page=" .. per_page, "pipeline_version_run_status_logs",
      "list pipeline version run status logs", opts)
    if not items then return nil, doc end
    for _, r in ipairs(items) do out.status_logs[#out.status_logs + 1] = r end
    if #items < per_page or page >= defaults.history_pages then break end
    page = page + 1
  end
  return out
end

errors.export(M, { "apply", "pause", "cancel", "resume", "select", "status", "status_codes", "list", "history" }, raw)

return M
