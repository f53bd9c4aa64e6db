-- The HTTP face of the emulator: the Clarifai /v2 routes for pipeline
-- version runs, the request log, the fault queue, and the /_emulator
-- control routes tests use to arrange a scenario.

local compat = require "clarifai.compat"
local states = require "clarifai.states"
local json = require "clarifai.json"
local world_mod = require "clarifai.emulator.world"

local M = {}

local DESCRIPTIONS = {
  [10000] = "Ok", [10010] = "Mixed Success", [10020] = "Failure", [10050] = "Resource moved",
  [11009] = "API key not found", [11100] = "Bad request format",
  [11101] = "Resource does not exist", [11102] = "Invalid request",
  [11103] = "Method not allowed", [26300] = "Pipeline does not exist",
  [26301] = "Invalid pipeline argument", [26302] = "Invalid pipeline request",
  [64007] = "Job conflict", [98004] = "Internal server issue", [99009] = "Internal server error",
}

-- Keys that read best first in replies, as the API writes them (the
-- world's order, which its run texts use too).
local FIRST = world_mod.FIRST

local MALFORMED_AUTH = "Empty or malformed authorization header. Please provide an API key or session token."

local FAULT_KINDS = {
  http = true, apply_then_http = true, close = true, apply_then_close = true, hang = true,
  drip = true, truncate = true, chunk_cut = true, redirect = true, endless = true, delay = true,
  terminal_on_patch = true,
}

-- Faults that shape the world rather than answer one request: listed and
-- cleared like the others, never taken by a request.
local PERSISTENT = { terminal_on_patch = true }

-- The longest a `delay` fault on the clock holds a request (about, in real
-- seconds):
-- a spec that never moves the clock is not left with a coroutine for ever.
local HOLD_MAX = 300

local function req_id()
  local t = {}
  for i = 1, 4 do t[i] = string.format("%08x", math.random(0, 0xffffffff)) end
  return table.concat(t)
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- name -> list of values, in order; `+` is a space in query strings.
local function parse_query(q)
  local out = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k, v = unescape(k:gsub("%+", " ")), unescape(v:gsub("%+", " "))
    out[k] = out[k] or {}
    table.insert(out[k], v)
  end
  return out
end

local function split_path(path)
  local segs = {}
  for s in path:gmatch("[^/]+") do segs[#segs + 1] = unescape(s) end
  return segs
end

local function status_body(code, description, details, extra)
  local body = extra or {}
  body.status = {
    code = code,
    description = description or DESCRIPTIONS[code] or "Failure",
    details = details,
    req_id = req_id(),
  }
  return body
end

local function reply(http, code, description, details, extra)
  local body = status_body(code, description, details, extra)
  return {
    status = http,
    headers = { ["X-Clarifai-Request-ID"] = body.status.req_id },
    body = json.encode(body, FIRST),
  }
end

local function ok(extra)
  return reply(200, 10000, "Ok", nil, extra)
end

-- An error on a route whose response has a list field: the field is
-- still present, as `[]`.
local function fail(params, http, code, details)
  local extra = params.list and { [params.list] = json.array() } or nil
  return reply(http, code, nil, details, extra)
end

-- Body as a JSON object ("" counts as {}); nil, message when it is not one.
local function decode_object(text)
  if text == nil or text:match("^%s*$") then return {} end
  local v, err = json.decode(text)
  if type(v) ~= "table" or (#v > 0) then return nil, err or "request body must be a JSON object" end
  return v
end

-- Accepts a positive integer query value; nil when absent, false when bad.
local function positive(values, default)
  local v = values and values[#values]
  if v == nil or v == "" then return default end
  if not v:match("^%d+$") then return false end
  local n = compat.tointeger(tonumber(v))
  if n == 0 then return default end
  return n
end

-- status_codes filter as a set; false when a value is not a status.
local function code_filter(values)
  if not values then return nil end
  local set, any = {}, false
  for _, raw in ipairs(values) do
    for v in raw:gmatch("[^,]+") do
      local code = states.code_of(v)
      if not code then return false end
      set[code], any = true, true
    end
  end
  return any and set or nil
end

local function page_of(list, page, per_page)
  local out = json.array()
  for i = (page - 1) * per_page + 1, math.min(#list, page * per_page) do out[#out + 1] = list[i] end
  return out
end

-- Routes -------------------------------------------------------------------------

local VERSION = { "v2", "users", ":u", "apps", ":a", "pipelines", ":p", "versions", ":v", "runs" }

local function extend(base, more)
  local t = {}
  for _, s in ipairs(base) do t[#t + 1] = s end
  for _, s in ipairs(more) do t[#t + 1] = s end
  return t
end

local ROUTES = {
  { name = "pipelines", pattern = { "v2", "users", ":u", "apps", ":a", "pipelines" }, list = "pipelines",
    methods = { GET = "list_pipelines" } },
  { name = "versions", pattern = { "v2", "users", ":u", "apps", ":a", "pipelines", ":p", "versions" },
    list = "pipeline_versions", methods = { GET = "list_versions" } },
  { name = "nodepool_runs", pattern = { "v2", "users", ":u", "compute_clusters", ":cc", "nodepools", ":np",
    "pipeline_version_runs" }, list = "pipeline_version_runs", methods = { GET = "nodepool_runs" } },
  { name = "runs", pattern = VERSION, list = "pipeline_version_runs",
    methods = { GET = "list_runs", POST = "post_runs", PATCH = "patch_runs" } },
  { name = "run", pattern = extend(VERSION, { ":r" }), methods = { GET = "get_run" } },
  { name = "run_short", pattern = { "v2", "pipelines", ":p", "versions", ":v", "runs", ":r" },
    methods = { GET = "get_run" } },
  { name = "status_logs", pattern = extend(VERSION, { ":r", "status_logs" }),
    list = "pipeline_version_run_status_logs", methods = { GET = "status_logs" } },
  { name = "logs", pattern = extend(VERSION, { ":r", ":log_type", "logs" }),
    list = "log_entries", methods = { GET = "log_entries" } },
  { name = "user", pattern = { "v2", "users", ":u" }, methods = { GET = "get_user" } },
}

local function match_route(segs)
  for _, route in ipairs(ROUTES) do
    local pat = route.pattern
    if #pat == #segs then
      local params, hit = {}, true
      for i, p in ipairs(pat) do
        if p:sub(1, 1) == ":" then
          params[p:sub(2)] = segs[i]
        elseif p ~= segs[i] then
          hit = false
          break
        end
      end
      if hit then return route, params end
    end
  end
  return nil
end

local Api = {}
Api.__index = Api

-- opts: world, log(message), on_shutdown().
function M.new(opts)
  return setmetatable({
    world = opts.world,
    log = opts.log or function() end,
    on_shutdown = opts.on_shutdown or function() end,
    requests = {},
    seq = 0,
    faults = {},
  }, Api)
end

-- Resolves the path's user (`me` is the token owner) and checks the ids exist.
function Api:scope(params, owner)
  local u = params.u == "me" and owner or params.u
  local missing = self.world:missing(u, params.a, params.p, params.v)
  if missing then return nil, fail(params, 404, 11101, missing .. " not found") end
  return u
end

-- A reply's body with field `field` holding a JSON text already rendered:
-- the body json.encode would give, without decoding and encoding it again.
local function with_text(res, field, text)
  res.body = res.body:sub(1, -2) .. ',"' .. field .. '":' .. text .. "}"
  return res
end

function Api:get_user(_, params, owner)
  local u = params.u == "me" and owner or params.u
  if not self.world.users[u] then return reply(404, 11101, nil, "user " .. u .. " not found") end
  return ok({ user = { id = u } })
end

function Api:get_run(_, params, owner)
  local w = self.world
  local run
  if params.u then
    local u, err = self:scope(params, owner)
    if not u then return err end
    run = w:get_run(params.r)
    if run and (run.user_id ~= u or run.app_id ~= params.a or run.pipeline_id ~= params.p
      or run.version_id ~= params.v) then run = nil end
  else
    run = w:find_run(params.p, params.v, params.r)
  end
  if not run then
    return reply(404, 11101, nil, "pipeline version run " .. params.r .. " not found")
  end
  -- the run's text as the lists render it (a big run's Argo texts are not encoded again)
  return with_text(ok({}), "pipeline_version_run", w:run_text(run))
end

-- page, per_page (default 1, 128) and the status_codes filter of a list
-- request; nil when any of them is malformed.
local function list_query(req)
  local q = parse_query(req.query)
  local page, per_page = positive(q.page, 1), positive(q.per_page, 128)
  local filter = code_filter(q.status_codes)
  if not page or not per_page or filter == false then return nil end
  return page, per_page, filter
end

-- 200 / Ok with the list field `field` holding these runs' JSON texts:
-- the body json.encode would give for {status, [field] = runs}, built
-- without decoding and encoding every run again.
local function with_runs(res, field, texts)
  return with_text(res, field, "[" .. table.concat(texts, ",") .. "]")
end

local function ok_runs(field, texts)
  return with_runs(ok({}), field, texts)
end

-- One page of `runs` (oldest first: read from the end) that pass the
-- filter, answered; only the page's runs are rendered.
function Api:run_page(runs, page, per_page, filter)
  local w = self.world
  if w.config.ignore_paging then page = 1 end -- a server that ignores `page`
  local out, n, first, last = {}, 0, (page - 1) * per_page + 1, page * per_page
  local now = w.clock()
  for i = #runs, 1, -1 do
    local run = runs[i]
    if not filter or filter[run.code] then
      n = n + 1
      if n > last then break end
      if n >= first then out[#out + 1] = w:run_text(run, now) end
    end
  end
  return ok_runs("pipeline_version_runs", out)
end

-- ListPipelineVersionRunsRequest's compute_cluster_id and nodepool_id filter
-- the version route too: the runs of the version on that nodepool.
local function on_nodepool(runs, cc, np)
  if not cc and not np then return runs end
  local out = {}
  for _, run in ipairs(runs) do
    if (not cc or run.compute_cluster_id == cc) and (not np or run.nodepool_id == np) then out[#out + 1] = run end
  end
  return out
end

function Api:list_runs(req, params, owner)
  local u, err = self:scope(params, owner)
  if not u then return err end
  local page, per_page, filter = list_query(req)
  if not page then return fail(params, 400, 11100, "invalid page, per_page or status_codes") end
  local q = parse_query(req.query)
  local cc, np = q.compute_cluster_id and q.compute_cluster_id[1], q.nodepool_id and q.nodepool_id[1]
  return self:run_page(on_nodepool(self.world:runs_of(u, params.a, params.p, params.v), cc, np), page, per_page,
    filter)
end

-- Runs on a nodepool, whatever their app, pipeline and version; the path's
-- user owns the compute cluster. An unknown nodepool has no runs.
function Api:nodepool_runs(req, params, owner)
  if self.world.config.nodepool_route == "refuse" then
    -- a validator that wants the four ids (clarifai-python's `pr ls` sends
    -- them "to match the backend's ListPipelineVersionRunsRequest validator")
    return fail(params, 400, 11102, "ListPipelineVersionRunsRequest needs user_id, app_id, pipeline_id and "
      .. "pipeline_version_id")
  end
  local ccu = params.u == "me" and owner or params.u
  local page, per_page, filter = list_query(req)
  if not page then return fail(params, 400, 11100, "invalid page, per_page or status_codes") end
  return self:run_page(self.world:runs_on(ccu, params.cc, params.np, filter), page, per_page, nil)
end

-- Pipelines of an app (no params.p) or versions of a pipeline, by id, paged.
function Api:list_records(req, params, owner)
  local u, err = self:scope(params, owner)
  if not u then return err end
  local q = parse_query(req.query)
  local page, per_page = positive(q.page, 1), positive(q.per_page, 128)
  if not page or not per_page then return fail(params, 400, 11100, "invalid page or per_page") end
  if self.world.config.ignore_paging then page = 1 end
  local w = self.world
  local recs = params.p and w:versions_of(u, params.a, params.p) or w:pipelines_of(u, params.a)
  local out = page_of(recs, page, per_page)
  for i, rec in ipairs(out) do
    out[i] = { id = rec.id, pipeline_id = params.p and rec.pipeline_id or nil, user_id = rec.user_id,
      app_id = rec.app_id, created_at = world_mod.timestamp(rec.created_at) }
  end
  return ok({ [params.list] = out })
end

function Api:list_pipelines(req, params, owner) return self:list_records(req, params, owner) end
function Api:list_versions(req, params, owner) return self:list_records(req, params, owner) end

-- runner_selector {nodepool {id, compute_cluster {id, user_id}}} of a
-- POST: the new run's nodepool (ignored unless both ids are given).
local function place_on_nodepool(spec, selector)
  local np = type(selector) == "table" and selector.nodepool
  local cc = type(np) == "table" and np.compute_cluster
  if type(cc) ~= "table" or type(np.id) ~= "string" or type(cc.id) ~= "string" then return end
  spec.nodepool_id, spec.compute_cluster_id = np.id, cc.id
  spec.compute_cluster_user_id = type(cc.user_id) == "string" and cc.user_id ~= "" and cc.user_id or nil
end

function Api:post_runs(req, params, owner)
  local body = decode_object(req.body)
  if not body then return fail(params, 400, 11100, "request body is not valid JSON") end
  local u, err = self:scope(params, owner)
  if not u then return err end
  local items = body.pipeline_version_runs
  if type(items) ~= "table" or #items == 0 then items = { {} } end
  local w, specs = self.world, {}
  for i, item in ipairs(items) do
    local id = type(item) == "table" and item.id or nil
    if id ~= nil and (type(id) ~= "string" or id == "") then
      return fail(params, 400, 26301, "pipeline_version_runs[" .. (i - 1) .. "].id must be a string")
    end
    if id and w:get_run(id) then
      return fail(params, 400, 26301, "pipeline version run " .. id .. " already exists")
    end
    specs[i] = { id = id or world_mod.hex_id(), user_id = u, app_id = params.a, pipeline_id = params.p,
      version_id = params.v, code = states.by_name.JOB_QUEUED.code, by = owner }
    place_on_nodepool(specs[i], body.runner_selector)
  end
  local out = json.array()
  for _, spec in ipairs(specs) do out[#out + 1] = w:run_json(w:put_run(spec)) end
  return ok({ pipeline_version_runs = out })
end

-- The {id, code} items of a PATCH body, or nil and the error reply.
local function patch_items(params, body)
  if body.action ~= "overwrite" then
    return nil, fail(params, 400, 26301, string.format("unsupported action %q; only \"overwrite\" is supported",
      tostring(body.action == json.null and "" or body.action or "")))
  end
  local list = body.pipeline_version_runs
  if type(list) ~= "table" or #list == 0 then
    return nil, fail(params, 400, 26301, "pipeline_version_runs must not be empty")
  end
  local items = {}
  for i, item in ipairs(list) do
    local where = "pipeline_version_runs[" .. (i - 1) .. "]"
    if type(item) ~= "table" or type(item.id) ~= "string" or item.id == "" then
      return nil, fail(params, 400, 26301, where .. ".id is required")
    end
    local os_ = item.orchestration_status
    local st = type(os_) == "table" and os_.status
    local raw = type(st) == "table" and st.code or nil
    if raw == nil or raw == json.null then
      return nil, fail(params, 400, 26301, where .. ".orchestration_status.status.code is required")
    end
    local code = states.code_of(raw)
    if not code then
      return nil, fail(params, 400, 11100, "invalid value for enum StatusCode: " .. tostring(raw))
    end
    items[i] = { id = item.id, code = code }
  end
  return items
end

-- How a PATCH whose runs were judged is answered, by the `patch_mode` config.
local PATCH_MODES = {}

-- Applies the allowed verdicts and answers 200 with those runs.
function Api:applied(verdicts, owner)
  local w = self.world
  w:apply_patch(verdicts, owner)
  local out, now = {}, w.clock()
  for _, vd in ipairs(verdicts) do out[#out + 1] = w:run_text(vd.run, now) end
  return ok_runs("pipeline_version_runs", out)
end

-- The refusal of a whole request for this verdict.
function Api:refusal(params, vd)
  if vd.kind == "not_found" then return fail(params, 404, 11101, vd.details) end
  local c = self.world.config
  return fail(params, c.reject_http or 400, c.reject_code, vd.details)
end

-- One disallowed or unknown run refuses the whole request.
function PATCH_MODES.atomic(self, params, verdicts, owner)
  for _, vd in ipairs(verdicts) do
    if not vd.ok then return self:refusal(params, vd) end
  end
  return self:applied(verdicts, owner)
end

-- More than one run is refused outright; one is handled as atomic.
function PATCH_MODES.single(self, params, verdicts, owner)
  if #verdicts > 1 then return fail(params, 400, 26302, "only one run per request") end
  return PATCH_MODES.atomic(self, params, verdicts, owner)
end

-- The allowed runs change; when some could not, 200 / 10010 lists every
-- known run of the request in its state after it (unknown ones left out).
function PATCH_MODES.mixed(self, _, verdicts, owner)
  local w, allowed, refused = self.world, {}, nil
  for _, vd in ipairs(verdicts) do
    if vd.ok then allowed[#allowed + 1] = vd else refused = refused or vd end
  end
  if not refused then return self:applied(verdicts, owner) end
  w:apply_patch(allowed, owner)
  local out, now = {}, w.clock()
  for _, vd in ipairs(verdicts) do
    if vd.run then out[#out + 1] = w:run_text(vd.run, now) end
  end
  return with_runs(reply(200, 10010, nil, string.format("%d of %d runs changed; %s", #allowed, #verdicts,
    refused.details)), "pipeline_version_runs", out)
end

-- A server that applied part and failed: the first allowed run changes,
-- nothing else, and the answer is 500 / 98004 all the same.
function PATCH_MODES.partial(self, params, verdicts, owner)
  for _, vd in ipairs(verdicts) do
    if vd.ok then
      self.world:apply_patch({ vd }, owner)
      break
    end
  end
  return fail(params, 500, 98004, "the request failed part way")
end

-- The fraction of the terminal_on_patch faults (the largest), or nil.
function Api:terminal_fraction()
  local fraction
  for _, f in ipairs(self.faults) do
    if f.kind == "terminal_on_patch" then fraction = math.max(fraction or 0, f.fraction) end
  end
  return fraction
end

function Api:patch_runs(req, params, owner)
  local body = decode_object(req.body)
  if not body then return fail(params, 400, 11100, "request body is not valid JSON") end
  local items, bad = patch_items(params, body)
  if not items then return bad end
  local u, err = self:scope(params, owner)
  if not u then return err end
  local w, ids = self.world, {}
  for i, item in ipairs(items) do ids[i] = item.id end
  w:first_patch(u, params.a, params.p, params.v, ids, self:terminal_fraction())
  local verdicts = w:judge_patch(u, params.a, params.p, params.v, items)
  local mode = PATCH_MODES[w.config.patch_mode] or PATCH_MODES.atomic
  return mode(self, params, verdicts, owner)
end

function Api:run_in_scope(params, owner)
  local u, err = self:scope(params, owner)
  if not u then return nil, err end
  local run = self.world:get_run(params.r)
  if not run or run.user_id ~= u or run.app_id ~= params.a or run.pipeline_id ~= params.p
    or run.version_id ~= params.v then
    return nil, fail(params, 404, 11101, "pipeline version run " .. params.r .. " not found")
  end
  return run
end

function Api:status_logs(req, params, owner)
  local run, err = self:run_in_scope(params, owner)
  if not run then return err end
  local page, per_page, filter = list_query(req)
  if not page then return fail(params, 400, 11100, "invalid page, per_page or status_codes") end
  local all = {}
  for _, rec in ipairs(run.status_logs) do
    if not filter or filter[rec.code] then all[#all + 1] = world_mod.status_log_json(run, rec) end
  end
  return ok({ pipeline_version_run_status_logs = page_of(all, page, per_page) })
end

-- ListLogEntries pages as service.proto says: `page` "defaults to last
-- page", and the reply's page is "set to the last page" when the request's
-- page was omitted or greater than the total pages; per_page defaults to 32.
function Api:log_entries(req, params, owner)
  local run, err = self:run_in_scope(params, owner)
  if not run then return err end
  local q = parse_query(req.query)
  local page, per_page = positive(q.page, nil), positive(q.per_page, 32)
  if page == false or not per_page then
    return fail(params, 400, 11100, "invalid page or per_page")
  end
  local all = {}
  -- Only this log type exists for runs; the others are empty, not errors.
  if params.log_type == "pipeline.version.run" then
    for i, e in ipairs(run.logs) do
      all[i] = { message = e.message, log_type = "pipeline.version.run", url = e.url }
    end
  end
  local last = math.max(1, math.ceil(#all / per_page))
  if not page or page > last then page = last end
  return ok({ log_entries = page_of(all, page, per_page), page = page, per_page = per_page })
end

-- /v2 dispatch: route, auth, method, then the route's handler.
function Api:v2(req)
  if req.path ~= "/v2" and req.path:sub(1, 4) ~= "/v2/" then return reply(404, 11101) end
  local route, params = match_route(split_path(req.path))
  local list_extra
  if route and route.list then list_extra = { [route.list] = json.array() } end
  local auth = req.headers.authorization
  local token = auth and auth:match("^Key +([^%s]+)$")
  if not token then return reply(401, 11102, nil, MALFORMED_AUTH, list_extra) end
  local owner = self.world:owner_of(token)
  if not owner then return reply(401, 11009, nil, "invalid key", list_extra) end
  if not route then return reply(404, 11101) end
  local method = route.methods[req.method]
  if not method then return reply(400, 11103) end
  self.world:advance()
  params.list = route.list
  return self[method](self, req, params, owner)
end

-- Request log and faults ------------------------------------------------------------

-- Logs a request as it arrives; `handled` turns true once the emulator has
-- dealt with it (applied or refused it, or let a fault take it), so a test
-- can wait for requests still held by a delay to land.
function Api:record(req)
  self.seq = self.seq + 1
  local headers = {}
  for k, v in pairs(req.headers) do headers[k] = v end
  local entry = {
    seq = self.seq, time = req.time, method = req.method, path = req.path,
    query = req.query, headers = headers, body = req.body, conn = req.conn, handled = false,
  }
  self.requests[#self.requests + 1] = entry
  return entry
end

function Api:take_fault(req)
  for i, f in ipairs(self.faults) do
    if not PERSISTENT[f.kind] and (not f.method or f.method:upper() == req.method)
      and (not f.path or req.path:find(f.path, 1, true))
      and (not f.contains or (req.body or ""):find(f.contains, 1, true)) then
      f.remaining = f.remaining - 1
      if f.remaining == 0 then table.remove(self.faults, i) end
      return f
    end
  end
  return nil
end

-- The response a fault gives, or the real one when it wants that.
local function given(f)
  if f.body == nil and f.status == nil then return nil end
  local body = f.body
  if type(body) == "table" then body = json.encode(body) end
  body = body or ""
  -- pad: grow the body to this many bytes server-side (oversized replies
  -- without sending them through the control API)
  local pad = tonumber(f.pad)
  if pad and pad > #body then body = body .. string.rep(" ", math.floor(pad) - #body) end
  return { status = f.status or 200, headers = f.headers, body = body }
end

-- A delay fault's wait: `seconds` (default 1) of real time, or with `clock`
-- until the world's clock (frozen in tests) has moved that far past the
-- request's arrival (a spec releases it with POST /_emulator/clock).
function Api:hold(f, ctx)
  if not f.clock then return ctx.sleep(f.seconds or 1) end
  local due = self.world.clock() + (f.seconds or 1)
  for _ = 1, HOLD_MAX * 100 do
    if self.world.clock() >= due then return end
    ctx.sleep(0.01)
  end
end

function Api:fault_response(f, req, ctx)
  local kind = f.kind
  -- seconds: any fault answers after this long (the delay fault: the real answer)
  if f.seconds and kind ~= "delay" then ctx.sleep(f.seconds) end
  if kind == "http" then
    local res = given(f) or { status = 500, body = "" }
    res.raw = true
    return res
  elseif kind == "apply_then_http" then
    self:v2(req)
    local res = given(f) or { status = 500, body = "" }
    res.raw = true
    return res
  elseif kind == "close" or kind == "apply_then_close" then
    if kind == "apply_then_close" then self:v2(req) end
    return { mode = "close" }
  elseif kind == "hang" then
    if f.apply then self:v2(req) end
    return { mode = "hang" }
  elseif kind == "redirect" then
    local res = reply(f.status or 307, 10050, nil, "moved to " .. (f.location or req.target))
    res.headers.Location = f.location or req.target
    return res
  elseif kind == "endless" then
    return { status = f.status or 200, mode = "endless", interval = f.interval, chunk = f.chunk,
      body = '{"status":{"code":10000,"description":"Ok"},"pipeline_version_runs":[' }
  elseif kind == "delay" then
    self:hold(f, ctx)
    return self:v2(req)
  end
  -- drip, truncate, chunk_cut: a given response, else the real one.
  local res = given(f)
  if not res or f.apply then
    local real = self:v2(req)
    res = res or real
  end
  res.mode, res.interval, res.bytes = kind, f.interval, f.bytes
  return res
end

-- Control API ---------------------------------------------------------------------

local function control_reply(status, t)
  return { status = status, body = json.encode(t) }
end

local function control_error(status, message)
  return control_reply(status, { error = message })
end

local function code_arg(v)
  local code = states.code_of(v)
  if not code then return nil, "unknown state " .. tostring(v) end
  return code
end

local function str(v)
  return type(v) == "string" and v ~= "" and v or nil
end

local SCOPE_FIELDS = { "user_id", "app_id", "pipeline_id", "pipeline_version_id",
  "nodepool_id", "compute_cluster_id", "compute_cluster_user_id" }

-- Where a control body puts its runs (user, app, pipeline, version,
-- nodepool, created_at) as a put_run spec; nil, message when a field is bad.
local function scope_spec(body)
  for _, k in ipairs(SCOPE_FIELDS) do
    if body[k] ~= nil and not str(body[k]) then return nil, k .. " must be a string" end
  end
  if (body.nodepool_id == nil) ~= (body.compute_cluster_id == nil)
    or (body.compute_cluster_user_id ~= nil and body.nodepool_id == nil) then
    return nil, "nodepool_id and compute_cluster_id go together (compute_cluster_user_id needs both)"
  end
  local spec = {
    user_id = body.user_id, app_id = body.app_id, pipeline_id = body.pipeline_id,
    version_id = body.pipeline_version_id, nodepool_id = body.nodepool_id,
    compute_cluster_id = body.compute_cluster_id, compute_cluster_user_id = body.compute_cluster_user_id,
  }
  if body.created_at ~= nil then
    spec.created_at = world_mod.parse_time(body.created_at)
    if not spec.created_at then return nil, "created_at must be RFC 3339 or epoch seconds" end
  end
  return spec
end

function Api:control_put_run(body)
  if not str(body.id) then return control_error(400, "id is required") end
  local spec, serr = scope_spec(body)
  if not spec then return control_error(400, serr) end
  local code, err = code_arg(body.state or "JOB_QUEUED")
  if not code then return control_error(400, err) end
  local script = {}
  for i, step in ipairs(type(body.script) == "table" and body.script or {}) do
    if type(step) ~= "table" then return control_error(400, "script[" .. i .. "] must be an object") end
    local c, cerr = code_arg(step.state)
    if not c then return control_error(400, "script[" .. i .. "]: " .. cerr) end
    script[i] = { after = tonumber(step.after) or 0, code = c, message = str(step.message) }
  end
  spec.id, spec.code, spec.script = body.id, code, script
  spec.lines = type(body.lines) == "table" and body.lines or nil
  local run = self.world:put_run(spec)
  return control_reply(200, { run = self.world:run_json(run) })
end

-- Control routes: what after /_emulator/, and the method -> handler(self, body, req, segs).
local CONTROL = {}

-- ?since=N: only the requests after the N-th (a long log stays cheap to follow)
CONTROL.requests = { GET = function(self, _, req)
  local since = tonumber(parse_query(req.query).since and parse_query(req.query).since[1]) or 0
  local list = json.array()
  for i = math.max(1, math.floor(since) + 1), #self.requests do list[#list + 1] = self.requests[i] end
  return control_reply(200, { requests = list, total = #self.requests })
end }

CONTROL.reset = { POST = function(self, body)
  self.world:reset(body.seed)
  self.requests, self.faults, self.seq = {}, {}, 0
  return control_reply(200, { ok = true })
end }

-- many runs at once: ids PREFIX1..PREFIXn, all in one state and one place
-- (the scope fields of a single run, created_at included)
function Api:control_put_runs(body)
  local n = compat.tointeger(body.count)
  if not n or n < 1 or n > 1000000 then return control_error(400, "count must be 1..1000000") end
  local code, err = code_arg(body.state or "JOB_RUNNING")
  if not code then return control_error(400, err) end
  local spec, serr = scope_spec(body)
  if not spec then return control_error(400, serr) end
  local prefix = str(body.prefix) or "bulk-"
  local w = self.world
  local now = w:advance()
  spec.code, spec.no_advance = code, true
  for i = 1, n do
    spec.id = prefix .. i
    w:put_run(spec, now)
  end
  return control_reply(200, { count = n })
end

CONTROL.runs = { POST = function(self, body)
  if body.count ~= nil then return self:control_put_runs(body) end
  return self:control_put_run(body)
end }

-- /_emulator/runs/ID[/state|/logs]
function Api:control_run(req, segs, body)
  local w, m = self.world, req.method
  local run = w:get_run(segs[3])
  if not run then return control_error(404, "no run " .. segs[3]) end
  if #segs == 3 and m == "GET" then
    w:advance()
    return control_reply(200, { run = w:run_json(run) })
  elseif #segs == 4 and segs[4] == "state" and m == "POST" then
    local code, err = code_arg(body.state)
    if not code then return control_error(400, err) end
    w:force_state(run, code, str(body.message))
    return control_reply(200, { run = w:run_json(run) })
  elseif #segs == 4 and segs[4] == "logs" and m == "POST" then
    if type(body.lines) ~= "table" then return control_error(400, "lines must be a list") end
    w:advance()
    for _, line in ipairs(body.lines) do w:add_log(run, tostring(line)) end
    return control_reply(200, { count = #run.logs })
  end
  return nil
end

local function set_config(self, body)
  for _, k in ipairs({ "tick", "reject_code", "reject_http", "transition_delay" }) do
    if body[k] ~= nil and (type(body[k]) ~= "number" or body[k] < 0) then
      return control_error(400, k .. " must be a number >= 0")
    end
  end
  for _, k in ipairs({ "reject_code", "reject_http" }) do
    if body[k] then body[k] = compat.tointeger(body[k]) or body[k] end
  end
  if body.ignore_paging ~= nil and type(body.ignore_paging) ~= "boolean" then
    return control_error(400, "ignore_paging must be true or false")
  end
  if body.patch_mode ~= nil and not world_mod.PATCH_MODES[body.patch_mode] then
    return control_error(400, "patch_mode must be atomic, mixed, single or partial")
  end
  if body.nodepool_route ~= nil and body.nodepool_route ~= "serve" and body.nodepool_route ~= "refuse" then
    return control_error(400, "nodepool_route must be serve or refuse")
  end
  if body.run_size ~= nil then
    local n = compat.tointeger(body.run_size)
    if not n or n < 0 or n > world_mod.MAX_RUN_SIZE then
      return control_error(400, "run_size must be a whole number of bytes 0.." .. world_mod.MAX_RUN_SIZE)
    end
    body.run_size = n
  end
  self.world:set_config(body)
  return control_reply(200, { config = self.world.config })
end

-- The world's clock: GET shows it; POST {frozen = bool, advance = seconds}
-- freezes or releases it, then moves it forward, playing what fell due.
local function clock_reply(w)
  local now = w.clock()
  return control_reply(200, { now = now, time = world_mod.timestamp(now), frozen = w.frozen_at ~= nil })
end

CONTROL.clock = {
  GET = function(self) return clock_reply(self.world) end,
  POST = function(self, body)
    local adv = body.advance
    if adv ~= nil and (type(adv) ~= "number" or adv < 0 or adv ~= adv or adv == math.huge) then
      return control_error(400, "advance must be a finite number of seconds >= 0")
    end
    if body.frozen ~= nil and type(body.frozen) ~= "boolean" then
      return control_error(400, "frozen must be true or false")
    end
    local w = self.world
    w:advance()
    if body.frozen ~= nil then w:freeze(body.frozen) end
    if adv then w:move_clock(adv) end
    return clock_reply(w)
  end,
}

CONTROL.config = {
  GET = function(self) return control_reply(200, { config = self.world.config }) end,
  POST = set_config,
}

local function fault_list(self)
  local list = json.array()
  for i, f in ipairs(self.faults) do list[i] = f end
  return control_reply(200, { faults = list })
end

CONTROL.faults = {
  GET = fault_list,
  DELETE = function(self)
    self.faults = {}
    return fault_list(self)
  end,
  POST = function(self, body)
    local list = body.faults or { body }
    for _, f in ipairs(list) do
      if type(f) ~= "table" or not FAULT_KINDS[f.kind] then
        return control_error(400, "unknown fault kind " .. tostring(type(f) == "table" and f.kind or f))
      end
      -- terminal_on_patch: fraction 0..1 (default 1) of the runs a first PATCH names
      if f.kind == "terminal_on_patch" then
        if f.fraction == nil then f.fraction = 1 end
        if type(f.fraction) ~= "number" or f.fraction < 0 or f.fraction > 1 then
          return control_error(400, "fraction must be a number from 0 to 1")
        end
      end
    end
    for _, f in ipairs(list) do
      if not PERSISTENT[f.kind] then f.remaining = compat.tointeger(tonumber(f.times or 1)) or 1 end
      self.faults[#self.faults + 1] = f
    end
    return fault_list(self)
  end,
}

CONTROL.shutdown = { POST = function(self)
  local res = control_reply(200, { ok = true })
  res.close, res.after = true, self.on_shutdown
  return res
end }

function Api:control(req)
  local segs = split_path(req.path)
  local body, berr = decode_object(req.body)
  if not body then return control_error(400, "invalid JSON: " .. tostring(berr)) end
  local what = segs[2]
  local res
  if what == "runs" and #segs >= 3 then
    res = self:control_run(req, segs, body)
  elseif #segs == 2 and CONTROL[what] then
    local handler = CONTROL[what][req.method]
    if not handler then
      if what == "faults" then return control_error(405, "method not allowed") end
    else
      res = handler(self, body, req, segs)
    end
  end
  return res or control_error(404, "no such control route: " .. req.method .. " " .. req.path)
end

-- Entry point for the server -------------------------------------------------------

function Api:handle(req, ctx)
  if req.path == "/_emulator" or req.path:sub(1, 11) == "/_emulator/" then
    return self:control(req)
  end
  local entry = self:record(req)
  local f = self:take_fault(req)
  local res
  if f then
    res = self:fault_response(f, req, ctx)
    self.log(string.format("%s %s -> fault %s", req.method, req.target, f.kind))
  else
    res = self:v2(req)
    self.log(string.format("%s %s -> %d", req.method, req.target, res.status))
  end
  entry.handled = true
  return res
end

return M
