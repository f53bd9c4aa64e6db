-- Selecting runs for a bulk change: the runs of a scope (a pipeline
-- version, every version of a pipeline, every pipeline of an app, or a
-- nodepool) in some states, older than some age, the oldest N. Listing uses
-- the API's server-side status filter and pages of the API's own size;
-- versions are listed concurrently.

local api = require "clarifai.api"
local args = require "clarifai.args"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local ids_mod = require "clarifai.ids"
local json = require "clarifai.json"
local reads = require "clarifai.reads"
local timefmt = require "clarifai.timefmt"
local transport = require "clarifai.transport"

local M = {}

--[[
pages(c, targets, field, opts) -> { items of target 1, ... } | nil, err
Every page of each target ({path, query}: a list endpoint and its filter),
read concurrently, round by round: a target ends on a short page or on a
page that brings nothing new (a server that ignores paging). opts: what,
cap (stop with an error past this many items), parallel, on_retry,
should_stop; info.requests counts the GETs. More than cap items in all:
a usage error (a selection is refused, never cut).
]]
local function pages(c, targets, field, opts, info)
  local out, seen, open, page, total = {}, {}, {}, 1, 0
  for k in ipairs(targets) do out[k], seen[k], open[#open + 1] = json.array(), {}, k end
  while #open > 0 do
    local paths = {}
    for n, k in ipairs(open) do
      paths[n] = targets[k].path .. "?" .. api.list_query(page, defaults.api_per_page, targets[k].codes)
    end
    local got, res = reads.fetch(c, paths, { what = opts.what, parallel = opts.parallel, on_retry = opts.on_retry,
      should_stop = opts.should_stop })
    info.requests = info.requests + #paths
    if res.stopped then return nil, errors.new("interrupted", "interrupted while listing", { signal = res.signal }) end
    local still = {}
    for n, k in ipairs(open) do
      local doc, err = got[n][1], got[n][2]
      if not doc then return nil, err end
      local items = doc[field]
      if items ~= nil and type(items) ~= "table" then
        return nil, errors.new("protocol", "the API sent a malformed response: '" .. field .. "' is not a list")
      end
      local fresh = 0
      for _, item in ipairs(items or {}) do
        local id = type(item) == "table" and item.id or nil
        if type(id) == "string" and not seen[k][id] then
          seen[k][id], fresh = true, fresh + 1
          out[k][#out[k] + 1] = item
        end
      end
      total = total + fresh
      if opts.cap and total > opts.cap then
        return nil, errors.new("usage", string.format("the selection has more than %d runs: narrow it (states, "
          .. "age, a smaller scope)", opts.cap), { too_many = true })
      end
      if #(items or {}) >= defaults.api_per_page and fresh > 0 then still[#still + 1] = k end
    end
    open, page = still, page + 1
  end
  return out
end

-- The pipeline versions of a scope (not a nodepool's): refs of four ids.
local function versions(c, scope, opts, info)
  if not (scope.all_versions or scope.all_pipelines) then
    return { { user_id = scope.user_id, app_id = scope.app_id, pipeline_id = scope.pipeline_id,
      pipeline_version_id = scope.pipeline_version_id } }
  end
  local pipelines = { scope.pipeline_id }
  if scope.all_pipelines then
    local got, err = pages(c, { { path = api.pipelines_path(scope) } }, "pipelines",
      { what = "list pipelines", parallel = opts.parallel, on_retry = opts.on_retry, should_stop = opts.should_stop },
      info)
    if not got then return nil, err end
    pipelines = {}
    for _, p in ipairs(got[1]) do pipelines[#pipelines + 1] = p.id end
  end
  local targets = {}
  for k, p in ipairs(pipelines) do
    targets[k] = { path = api.versions_path({ user_id = scope.user_id, app_id = scope.app_id, pipeline_id = p }) }
  end
  local got, err = pages(c, targets, "pipeline_versions", { what = "list pipeline versions",
    parallel = opts.parallel, on_retry = opts.on_retry, should_stop = opts.should_stop }, info)
  if not got then return nil, err end
  local out = {}
  for k, p in ipairs(pipelines) do
    for _, v in ipairs(got[k]) do
      out[#out + 1] = { user_id = scope.user_id, app_id = scope.app_id, pipeline_id = p, pipeline_version_id = v.id }
    end
  end
  return out
end

-- A listed run as a ref (its scope from the version listed, or from the run
-- itself on a nodepool).
local function ref_of(run, version, keep)
  local pv = type(run.pipeline_version) == "table" and run.pipeline_version or {}
  return {
    run = keep and run or nil,
    user_id = version and version.user_id or run.user_id,
    app_id = version and version.app_id or run.app_id,
    pipeline_id = version and version.pipeline_id or pv.pipeline_id,
    pipeline_version_id = version and version.pipeline_version_id or pv.id,
    run_id = run.id, state_code = api.run_state(run), created_at = run.created_at,
  }
end

-- A nodepool's runs, narrowed by the scope's app, pipeline and version.
local function nodepool_runs(c, scope, codes, opts, info)
  local got, err = pages(c, { { path = api.nodepool_runs_path(scope), codes = codes } }, "pipeline_version_runs",
    { what = "list nodepool pipeline version runs", cap = defaults.selection_max, parallel = opts.parallel,
      on_retry = opts.on_retry, should_stop = opts.should_stop }, info)
  if not got then return nil, err end
  local out = {}
  for _, run in ipairs(got[1]) do
    local r = ref_of(run, nil, opts.keep_runs)
    if (not scope.app_id or r.app_id == scope.app_id) and (not scope.pipeline_id or r.pipeline_id == scope.pipeline_id)
      and (not scope.pipeline_version_id or r.pipeline_version_id == scope.pipeline_version_id) then
      out[#out + 1] = r
    end
  end
  return out
end

-- Every run in the versions of a scope, in `codes`.
local function version_runs(c, list, codes, opts, info)
  local targets = {}
  for k, v in ipairs(list) do targets[k] = { path = api.runs_path(v), codes = codes } end
  local got, err = pages(c, targets, "pipeline_version_runs", { what = "list pipeline version runs",
    cap = defaults.selection_max, parallel = opts.parallel, on_retry = opts.on_retry,
    should_stop = opts.should_stop }, info)
  if not got then return nil, err end
  local out = {}
  for k, v in ipairs(list) do
    for _, run in ipairs(got[k]) do out[#out + 1] = ref_of(run, v, opts.keep_runs) end
  end
  return out
end

-- The selection's order and cut: older than, the N oldest, then version by
-- version (as first listed), oldest first.
local function shape(all, filter, now)
  local out = {}
  for _, r in ipairs(all) do
    local t = timefmt.parse(r.created_at)
    r.created = t
    if not filter.older_than or (t and t <= now - filter.older_than) then out[#out + 1] = r end
  end
  local function age(x, y)
    local tx, ty = x.created or math.huge, y.created or math.huge
    if tx ~= ty then return tx < ty end
    return x.run_id < y.run_id
  end
  if filter.limit and #out > filter.limit then
    table.sort(out, age)
    for k = #out, filter.limit + 1, -1 do out[k] = nil end
  end
  -- version by version in the order first seen; each version's runs are
  -- sorted only when the listing did not give them oldest first already
  local refs = json.array()
  for _, g in ipairs(api.by_version(out)) do
    local b = {}
    for k, i in ipairs(g) do b[k] = out[i] end
    for k = 2, #b do
      if age(b[k], b[k - 1]) then table.sort(b, age) break end
    end
    for _, r in ipairs(b) do
      r.created = nil
      refs[#refs + 1] = r
    end
  end
  return refs
end

-- Runs per version of a selection, in its order: { {user_id, app_id,
-- pipeline_id, pipeline_version_id, n}, ... }.
function M.counts(refs)
  local out, at = json.array(), {}
  for _, r in ipairs(refs) do
    local key = api.version_key(r)
    if not at[key] then
      out[#out + 1] = { user_id = r.user_id, app_id = r.app_id, pipeline_id = r.pipeline_id,
        pipeline_version_id = r.pipeline_version_id, n = 0 }
      at[key] = out[#out]
    end
    at[key].n = at[key].n + 1
  end
  return out
end

local function check_scope(fn, scope)
  local nodepool = scope.nodepool_id ~= nil or scope.compute_cluster_id ~= nil
  if nodepool and not (scope.nodepool_id and scope.compute_cluster_id) then
    return nil, errors.new("usage", "a nodepool scope needs both nodepool_id and compute_cluster_id")
  end
  local fields = nodepool and { "nodepool_id", "compute_cluster_id", "compute_cluster_user_id" }
    or { "user_id", "app_id" }
  if not nodepool then
    if not scope.all_pipelines then fields[#fields + 1] = "pipeline_id" end
    if not (scope.all_pipelines or scope.all_versions) then fields[#fields + 1] = "pipeline_version_id" end
  end
  for _, f in ipairs(fields) do
    args.of(fn, "scope." .. f, "string", scope[f], f == "compute_cluster_user_id")
    if scope[f] ~= nil then
      local ok, err = ids_mod.check(scope[f], f)
      if not ok then return nil, err end
    elseif f ~= "compute_cluster_user_id" then
      return nil, errors.new("usage", "the scope has no " .. f, { missing = { f } })
    end
  end
  return nodepool
end

--[[
select(scope, filter, opts) -> refs, info | nil, err
scope = { user_id, app_id, pipeline_id?, pipeline_version_id?, all_versions?,
  all_pipelines?, compute_cluster_id?, nodepool_id?, compute_cluster_user_id? }:
  one version (the default), every version of a pipeline (all_versions),
  every version of every pipeline of the app (all_pipelines), or every run on
  a nodepool (both ids; compute_cluster_user_id, "me" by default, owns the
  cluster), narrowed by the app, pipeline and version ids it also gives.
filter = { states (names or codes: the server filters), older_than (seconds,
  by created_at against opts.now or the local clock), limit (the N oldest) }.
opts: client (or config_path/context/pat/api_base), parallel, on_retry,
  should_stop, now, keep_runs (each ref keeps the API's run object as run).
refs: complete refs with run_id, state_code and created_at, version by
  version, oldest first; at most clarifai.limits' selection_max (a larger
  selection is an error, never cut). info = { counts (see counts()),
  requests = listing GETs sent, versions = versions listed }.
]]
function M.select(scope, filter, opts)
  local fn = "clarifai.runs.select"
  args.of(fn, "argument #1 (scope)", "table", scope)
  filter = args.opts(fn, filter, { limit = "selection_limit", older_than = "older_than" })
  opts = args.opts(fn, opts, { parallel = "parallel" })
  local nodepool, serr = check_scope(fn, scope)
  if nodepool == nil then return nil, serr end
  local codes, _, cerr = require("clarifai.runs").status_codes(filter.states)
  if not codes then return nil, cerr end
  local c, clerr = transport.client(opts)
  if not c then return nil, clerr end
  local info = { requests = 0, versions = 0 }
  local all, err
  if nodepool then
    local s = setmetatable({ compute_cluster_user_id = scope.compute_cluster_user_id or "me" }, { __index = scope })
    all, err = nodepool_runs(c, s, codes, opts, info)
  else
    local list
    list, err = versions(c, scope, opts, info)
    if list then
      info.versions = #list
      all, err = version_runs(c, list, codes, opts, info)
    end
  end
  if not all then return nil, err end
  local refs = shape(all, filter, opts.now or os.time())
  info.counts = M.counts(refs)
  return refs, info
end

return M
