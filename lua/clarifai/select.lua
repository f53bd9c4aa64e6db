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
local pager = require "clarifai.pager"
local timefmt = require "clarifai.timefmt"
local transport = require "clarifai.transport"

local M = {}

-- The error of a listing that could not be complete: nothing is selected
-- from part of a list.
local function incomplete_error(cur, what)
  return errors.new("protocol", string.format("%s could not be listed in full: %s; nothing was selected "
    .. "(a selection is never made from part of a list)", what, cur:why()), { paging = cur.reason })
end

--[[
walk_all(c, cursors, what, opts, info) -> { items of cursor 1, ... } | nil, err
Every page of each cursor (pager.walk: all at once, round by round); each
cursor then says whether its list was complete. opts.cap: more items than
that in all is a usage error (a selection is refused, never cut);
opts.runs: the items are runs (counted in info.listed);
opts.on_progress(runs, requests) after each page (runs listed so far:
pipelines and versions are not runs). info.requests counts the GETs.
]]
local function walk_all(c, cursors, what, opts, info)
  local out, total = {}, 0
  for k in ipairs(cursors) do out[k] = json.array() end
  local ok, err = pager.walk(c, cursors, { what = "list " .. what, parallel = opts.parallel,
    on_retry = opts.on_retry, should_stop = opts.should_stop,
    on_items = function(k, items)
      info.requests = info.requests + 1
      local list = out[k]
      for _, item in ipairs(items) do list[#list + 1] = item end
      total = total + #items
      if opts.cap and total > opts.cap then
        return errors.new("usage", string.format("the selection has more than %d runs: narrow it (states, "
          .. "age, a smaller scope)", opts.cap), { too_many = true })
      end
      if opts.on_progress then opts.on_progress(info.listed + (opts.runs and total or 0), info.requests) end
    end })
  if not ok then return nil, err end
  if opts.runs then info.listed = info.listed + total end
  return out
end

-- walk_all, every list complete (the pipelines and versions of a scope).
local function list_all(c, cursors, what, opts, info)
  local out, err = walk_all(c, cursors, what, opts, info)
  if not out then return nil, err end
  for _, cur in ipairs(cursors) do
    if not cur:complete() then return nil, incomplete_error(cur, what) end
  end
  return out
end

-- The pipeline versions of a scope: refs of four ids.
local function versions(c, scope, opts, info)
  if not (scope.all_versions or scope.all_pipelines) then
    return { { user_id = scope.user_id, app_id = scope.app_id, pipeline_id = scope.pipeline_id,
      pipeline_version_id = scope.pipeline_version_id } }
  end
  local pipelines = { scope.pipeline_id }
  if scope.all_pipelines then
    local got, err = list_all(c, { pager.forward({ path = api.pipelines_path(scope), field = "pipelines" }) },
      "the app's pipelines", opts, info)
    if not got then return nil, err end
    pipelines = {}
    for _, p in ipairs(got[1]) do pipelines[#pipelines + 1] = p.id end
  end
  local cursors = {}
  for k, p in ipairs(pipelines) do
    cursors[k] = pager.forward({ path = api.versions_path({ user_id = scope.user_id, app_id = scope.app_id,
      pipeline_id = p }), field = "pipeline_versions" })
  end
  local got, err = list_all(c, cursors, "the pipelines' versions", opts, info)
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
function M.ref_of(run, version, keep)
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

local function run_opts(opts)
  return { parallel = opts.parallel, on_retry = opts.on_retry, should_stop = opts.should_stop,
    cap = defaults.selection_max, runs = true, on_progress = opts.on_progress }
end

-- Does the scope keep this ref (a nodepool's runs narrowed by the scope's
-- app, pipeline and version)?
local function in_scope(scope, r)
  return (not scope.app_id or r.app_id == scope.app_id) and (not scope.pipeline_id or r.pipeline_id == scope.pipeline_id)
    and (not scope.pipeline_version_id or r.pipeline_version_id == scope.pipeline_version_id)
end

-- Is this failure the nodepool route refusing the request itself (as a
-- server may that wants all four ids: clarifai-python's `pr ls` sends them
-- "to match the backend's ListPipelineVersionRunsRequest validator")?
local function route_refused(err)
  local st = err.http_status
  -- CONN_INVALID_REQUEST (11102), taken for an auth failure elsewhere, is a
  -- validator's refusal here when the status is not 401 or 403
  return (err.kind == "api" or err.kind == "auth") and (st == 400 or st == 404 or st == 405 or st == 501)
end

--[[
A listing of a scope's runs, as often as asked (a selection lists once; a
watch every poll). What it lists is found once: one version, the versions
of a pipeline or an app, or a nodepool's runs; when the server refuses the
nodepool route and the app is known, the app's (or the scope's pipeline's)
versions with the version route's compute_cluster_id and nodepool_id
filters instead (the client's trace says so); without an app, the error
names what is needed.
  listing:list(info) -> refs (every run listed), incomplete | nil, err
incomplete: version key (or "nodepool") -> the cursor of a list that could
not be complete.
]]
local Listing = {}
Listing.__index = Listing

function M.listing(c, sc, codes, opts)
  return setmetatable({ c = c, sc = sc, codes = codes, opts = opts, nodepool = M.is_nodepool(sc) }, Listing)
end

-- The nodepool route: refs | nil, err | false (refused: list versions instead).
function Listing:nodepool_runs(info)
  local sc, opts = self.sc, self.opts
  local cur = pager.forward({ path = api.nodepool_runs_path(sc), field = "pipeline_version_runs",
    codes = self.codes, max_items = defaults.selection_max })
  local got, err = walk_all(self.c, { cur }, "the nodepool's runs", run_opts(opts), info)
  if got then
    local refs = {}
    for _, run in ipairs(got[1]) do
      local r = M.ref_of(run, nil, opts.keep_runs)
      if in_scope(sc, r) then refs[#refs + 1] = r end
    end
    return refs, cur:complete() and {} or { nodepool = cur }
  end
  if not route_refused(err) then return nil, err end
  if not sc.app_id then
    return nil, errors.derive(err, { kind = "usage", message = "the server refused to list the nodepool's runs ("
      .. err.message .. "); name the app (app_id): its versions are then listed with the nodepool filter",
      names = { "app_id" } })
  end
  self.c:note(string.format("the nodepool route was refused (HTTP %s): listing the runs of app %s's versions with "
    .. "the compute_cluster_id and nodepool_id filters instead", tostring(err.http_status), sc.app_id))
  self.nodepool, self.query = false, "compute_cluster_id=" .. api.query_value(sc.compute_cluster_id)
    .. "&nodepool_id=" .. api.query_value(sc.nodepool_id)
  self.vscope = { user_id = sc.user_id, app_id = sc.app_id, pipeline_id = sc.pipeline_id,
    pipeline_version_id = sc.pipeline_version_id, all_pipelines = sc.pipeline_id == nil,
    all_versions = sc.pipeline_version_id == nil }
  return false
end

function Listing:list(info)
  if self.nodepool then
    local refs, incomplete = self:nodepool_runs(info)
    if refs ~= false then return refs, incomplete end
  end
  local opts = self.opts
  if not self.versions then
    local list, err = versions(self.c, self.vscope or self.sc, opts, info)
    if not list then return nil, err end
    self.versions = list
  end
  info.versions = #self.versions
  local cursors = {}
  for k, v in ipairs(self.versions) do
    cursors[k] = pager.forward({ path = api.runs_path(v), field = "pipeline_version_runs", codes = self.codes,
      query = self.query, max_items = defaults.selection_max })
  end
  local got, err = walk_all(self.c, cursors, "the versions' runs", run_opts(opts), info)
  if not got then return nil, err end
  local refs, incomplete = {}, {}
  for k, v in ipairs(self.versions) do
    for _, run in ipairs(got[k]) do refs[#refs + 1] = M.ref_of(run, v, opts.keep_runs) end
    if not cursors[k]:complete() then incomplete[api.version_key(v)] = cursors[k] end
  end
  return refs, incomplete
end

-- The selection's order and cut: older than, the N oldest, then version by
-- version (as first listed), oldest first.
function M.shape(all, filter, now)
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

-- The one home of the nodepool rule: a nodepool is named by both its id and
-- its compute cluster's, and the cluster belongs to compute_cluster_user_id:
-- the one named, else the scope's user, else the token's own ("me").
M.DEFAULT_OWNER = "me"
function M.is_nodepool(scope) return scope.nodepool_id ~= nil or scope.compute_cluster_id ~= nil end

local SCOPE_FIELDS = { "user_id", "app_id", "pipeline_id", "pipeline_version_id", "compute_cluster_id", "nodepool_id",
  "compute_cluster_user_id" }

--[[
checked_scope(fn, scope) -> a copy with every default applied | nil, err.
Types raise (a programmer error); a missing or bad id returns the usage
error. One version needs the four ids; all_versions the user, app and
pipeline; all_pipelines the user and app; a nodepool both its ids (the
app, pipeline and version narrow it).
]]
function M.checked_scope(fn, scope)
  args.of(fn, "argument #1 (scope)", "table", scope)
  for _, f in ipairs(SCOPE_FIELDS) do args.of(fn, "scope." .. f, "string", scope[f], true) end
  for _, f in ipairs({ "all_versions", "all_pipelines" }) do args.of(fn, "scope." .. f, "boolean", scope[f], true) end
  local out = {}
  for _, f in ipairs(SCOPE_FIELDS) do out[f] = scope[f] end
  out.all_versions, out.all_pipelines = scope.all_versions, scope.all_pipelines
  local need
  if M.is_nodepool(scope) then
    if not (scope.nodepool_id and scope.compute_cluster_id) then
      return nil, errors.new("usage", "nodepool_id and compute_cluster_id go together: a nodepool is named by both",
        { names = { "nodepool_id", "compute_cluster_id" } })
    end
    if out.all_versions or out.all_pipelines then
      return nil, errors.new("usage", "a nodepool scope already spans versions and pipelines: drop all_versions "
        .. "and all_pipelines", { names = { "all_versions", "all_pipelines" } })
    end
    out.compute_cluster_user_id = out.compute_cluster_user_id or out.user_id or M.DEFAULT_OWNER
    out.user_id = out.user_id or M.DEFAULT_OWNER -- the app's owner, should the app's versions be listed
    need = { "compute_cluster_id", "nodepool_id" }
  else
    need = { "user_id", "app_id" }
    if not out.all_pipelines then need[#need + 1] = "pipeline_id" end
    if not (out.all_pipelines or out.all_versions) then need[#need + 1] = "pipeline_version_id" end
  end
  for _, f in ipairs(need) do
    if out[f] == nil then return nil, errors.new("usage", "the scope has no " .. f, { names = { f } }) end
  end
  for _, f in ipairs(SCOPE_FIELDS) do
    if out[f] ~= nil and out[f] ~= M.DEFAULT_OWNER then
      local ok, err = ids_mod.check(out[f], f)
      if not ok then return nil, err end
    end
  end
  return out
end

M.FILTER = { states = "list", older_than = "older_than", limit = "selection_limit" }
local OPTS = args.spec(args.CALL, { parallel = "parallel", on_progress = "function", now = "number",
  keep_runs = "boolean" })

--[[
select(scope, filter, opts) -> refs, info | nil, err
scope = { user_id, app_id, pipeline_id?, pipeline_version_id?, all_versions?,
  all_pipelines?, compute_cluster_id?, nodepool_id?, compute_cluster_user_id? }:
  one version (the default), every version of a pipeline (all_versions),
  every version of every pipeline of the app (all_pipelines), or every run on
  a nodepool (both ids; see checked_scope), narrowed by the app, pipeline
  and version ids it also gives.
filter = { states (names or codes: the server filters), older_than (seconds,
  by created_at against opts.now or the local clock), limit (the N oldest) }.
opts: client (or config_path/context/pat/api_base), parallel, on_retry,
  should_stop, on_progress(runs, requests) as pages arrive, now, keep_runs
  (each ref keeps the API's run object as run).
refs: complete refs with run_id, state_code and created_at, version by
  version, oldest first; at most clarifai.limits' selection_max (a larger
  selection is an error, never cut); a listing that could not be complete
  (a server that ignores paging) is an error, never a part taken for the
  whole. info = { counts (see counts()), requests = listing GETs sent,
  versions = versions listed }.
]]
function M.select(scope, filter, opts)
  local fn = "clarifai.runs.select"
  local sc, serr = M.checked_scope(fn, scope)
  filter = args.opts(fn, filter, M.FILTER, "filter")
  opts = args.opts(fn, opts, OPTS)
  if not sc then return nil, serr end
  local codes, _, cerr = require("clarifai.runs").status_codes(filter.states)
  if not codes then return nil, cerr end
  local c, clerr = transport.client(opts)
  if not c then return nil, clerr end
  local info = { requests = 0, versions = 0, listed = 0 }
  local all, incomplete = M.listing(c, sc, codes, opts):list(info)
  if not all then return nil, incomplete end
  local _, cur = next(incomplete)
  if cur then return nil, incomplete_error(cur, "the selection's runs") end
  local refs = M.shape(all, filter, opts.now or os.time())
  info.counts = M.counts(refs)
  info.listed = nil
  return refs, info
end

return M
