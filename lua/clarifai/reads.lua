-- Retried reads of the API on top of the transport: GETs are safe to repeat,
-- so a failure that is not definite is tried again (clarifai.retry decides).

local api = require "clarifai.api"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local retry = require "clarifai.retry"
local transport = require "clarifai.transport"

local M = {}

local states = require "clarifai.states"

--[[
The one home of the read-back policy (a batch reading its runs back, --wait
and watch polling them):
  live_states(action): the states a run may be in while the change is in
  play: the action's sources and its target (and, for resume, Queued, where
  a resumed run may go back to). Listing only these keeps a list as short
  as the version's live runs.
  by_list(pages, runs): read `runs` runs through their version's list when
  that is expected to take fewer requests (`pages` pages) than one GET per
  run; never for one or two runs.
]]
function M.live_states(action)
  local a = states.actions[action]
  local codes = {}
  for _, c in ipairs(a.from) do codes[#codes + 1] = c end
  codes[#codes + 1] = a.target
  if action == "resume" then codes[#codes + 1] = states.by_name.JOB_QUEUED.code end
  return codes
end

function M.by_list(pages, runs)
  return runs > 2 and pages < runs
end

--[[
fetch(client, paths, opts) -> { {doc | nil, err}, ... }, stop
GETs, safe to repeat: a failure that is not definite is retried (at most
retry.MAX_ATTEMPTS attempts, full-jitter backoff, Retry-After, within
opts.deadline or the client's). opts: what (for messages), labels (per path,
for on_retry), on_retry{label, attempt, max, delay, reason}, parallel,
should_stop. Items a stop leaves unread get a "not_sent" error.
]]
function M.fetch(c, paths, opts)
  opts = opts or {}
  local ctx = c:decode_context(opts.what or "call the API")
  local budget = opts.deadline or c.deadline or defaults.deadline
  local out, attempts, deadline = {}, {}, {}
  local step = { fresh = transport.items(#paths) }
  function step.start(i)
    attempts[i] = (attempts[i] or 0) + 1
    local now = transport.now()
    deadline[i] = deadline[i] or (now + budget)
    local req = c:build("GET", paths[i])
    req.timeout = math.max(0.1, math.min(req.timeout, deadline[i] - now))
    return req
  end
  function step.finish(i, resp, stopping)
    local doc, err = api.decode(resp, ctx)
    out[i] = { doc, err }
    if doc then return nil end
    -- a stop: no further attempt (the answer it has is the answer)
    if stopping then return nil end
    local delay, final = retry.again(resp, err, { attempts = attempts[i], left = deadline[i] - transport.now(),
      op = "read" })
    if not delay then
      if final then out[i][2] = final end
      return nil
    end
    if opts.on_retry then
      opts.on_retry(retry.notice(opts.labels and opts.labels[i] or paths[i], attempts[i] + 1, delay, resp, err))
    end
    return delay
  end
  function step.stop(i, resp)
    if out[i] and out[i][1] then return end
    local why = resp and "the request was in flight" or "it was not sent"
    out[i] = { nil, errors.new("not_sent", "not read: the command was stopped and " .. why) }
  end
  local res = transport.drive(c, step, { parallel = opts.parallel, should_stop = opts.should_stop })
  return out, res
end

-- get(client, path, what, opts) -> doc | nil, err (one retrying GET; opts.label
-- names it in retry notes)
function M.get(c, path, what, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.what, o.labels = what, { o.label or what }
  local out, res = M.fetch(c, { path }, o)
  local doc, err = out[1][1], out[1][2]
  if res.signal and not doc then
    err = errors.new("interrupted", "interrupted", { signal = res.signal })
  end
  return doc, err
end

-- status_logs(client, ref, run_id, opts) -> { records, in the API's order }
-- | nil, err: every page of a run's status log, through the paging cursor
-- (at most history_pages pages of history_per_page). opts: on_retry,
-- should_stop.
function M.status_logs(c, ref, run_id, opts)
  local pager = require "clarifai.pager"
  local out = require("clarifai.json").array()
  local cur = pager.forward({ path = api.run_path(ref, run_id) .. "/status_logs",
    field = "pipeline_version_run_status_logs", per_page = defaults.history_per_page,
    max_pages = defaults.history_pages, max_items = defaults.history_per_page * defaults.history_pages })
  local ok, err = pager.walk(c, { cur }, { what = "list pipeline version run status logs", on_retry = opts.on_retry,
    should_stop = opts.should_stop, on_items = function(_, items)
      for _, r in ipairs(items) do out[#out + 1] = r end
    end })
  if not ok then return nil, err end
  return out
end

-- get_run(client, ref, run_id, opts) -> run object, req_id | nil, err
function M.get_run(c, ref, run_id, opts)
  local doc, err = M.get(c, api.run_path(ref, run_id), "get pipeline version run", opts)
  if not doc then return nil, err end
  local run, rerr = api.run_of(doc)
  if not run then return nil, rerr end
  return run, doc.status.req_id
end

return M
