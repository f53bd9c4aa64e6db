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
local function get_client(opts)
  if opts.client then return opts.client end
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

M.pause = single("pause")
M.cancel = single("cancel")
M.resume = single("resume")

return M
