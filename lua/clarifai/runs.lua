-- Pipeline version runs: pause, cancel and resume (one run or many).
-- Returns results and error tables; never prints, never exits.

local api = require "clarifai.api"
local client_mod = require "clarifai.client"
local errors = require "clarifai.errors"
local ids = require "clarifai.ids"
local json = require "clarifai.json"
local states = require "clarifai.states"

local M = {}

-- The client from opts.client, or one resolved as the CLI resolves it.
local CONFIG_KEYS = { "config_path", "context", "getenv", "pat", "api_base" }

local function get_client(opts)
  if opts.client then return opts.client end
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

-- The run object from a GET, or nil, err.
local function get_run(c, ref, run_id)
  local resp = c:request("GET", api.run_path(ref, run_id))
  local doc, err = api.decode(resp, ctx_for(c, "get pipeline version run"))
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

--[[
apply(action, ref, run_ids, opts) -> report
One PATCH per run, sent concurrently (opts.parallel, default 8) over reused
connections. When the API refuses a run, it is read once: a run already in
the target state counts as a success ("noop").
report = { action, results = { {run_id, outcome = "ok"|"noop"|"failed"|"unknown",
  state, state_code, req_id, error} ... }, summary = {ok, noop, failed, unknown} }
]]
function M.apply(action, ref, run_ids, opts)
  opts = opts or {}
  local spec = states.actions[action]
  if not spec then error("unknown action '" .. tostring(action) .. "'", 2) end
  local full, err = complete(ref, opts)
  if not full then return nil, err end
  local c, cerr = get_client(opts)
  if not c then return nil, cerr end

  local reqs = {}
  for i, id in ipairs(run_ids) do
    reqs[i] = c:build("PATCH", api.runs_path(full), api.patch_body({ id }, spec.target))
  end
  local results = c:perform(reqs, opts.parallel or 8)
  local ctx = ctx_for(c, "patch pipeline version run")

  local report = { action = action, results = json.array(), summary = { ok = 0, noop = 0, failed = 0, unknown = 0 } }
  for i, id in ipairs(run_ids) do
    local doc, derr = api.decode(results[i], ctx)
    local r
    if doc then
      local runs = doc.pipeline_version_runs
      local code = type(runs) == "table" and api.run_state(runs[1]) or nil
      r = result_ok(action, id, code or spec.target, doc.status.req_id, "ok")
    elseif derr.kind == "api" then
      -- Refused: already there is success; otherwise report the refusal.
      local run = get_run(c, full, id)
      local code = run and api.run_state(run)
      if code == spec.target then
        r = result_ok(action, id, code, derr.req_id, "noop")
      else
        derr.state_code = code
        derr.state = code and states.name(code) or nil
        r = { run_id = id, action = action, outcome = "failed", error = derr,
              state_code = code, state = derr.state }
      end
    else
      r = { run_id = id, action = action, error = derr,
            outcome = derr.kind == "unknown" and "unknown" or "failed" }
    end
    report.results[i] = r
    report.summary[r.outcome] = report.summary[r.outcome] + 1
  end
  return report
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
  local reqs = {}
  for i, id in ipairs(run_ids) do reqs[i] = c:build("GET", api.run_path(full, id)) end
  local results = c:perform(reqs, opts.parallel or 8)
  local ctx = ctx_for(c, "get pipeline version run")
  local report = { runs = json.array(), results = json.array() }
  for i, id in ipairs(run_ids) do
    local doc, derr = api.decode(results[i], ctx)
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
  local resp = c:request("GET", path .. (query ~= "" and ("?" .. query) or ""))
  local doc, err = api.decode(resp, ctx_for(c, what))
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
