-- `--dry-run`: the plan of pause/cancel/resume (runs.plan: the very requests
-- the real run sends first, token redacted), in the output format asked
-- for; nothing is sent. A run whose id the API cannot take is in the plan's
-- failed list, as the real run reports it.

local common = require "clarifai.cli.common"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"

local M = {}

-- view(request) -> {method, url, headers, body}: a planned request as -o json
-- shows it (the plan's headers are redacted already).
function M.view(r)
  local headers = {}
  for _, h in ipairs(r.headers) do
    local k, v = h:match("^([^:]+):%s*(.*)$")
    headers[k] = v
  end
  return { method = r.method, url = r.url, headers = headers, body = json.decode(r.body) }
end

-- The plan's failures, as the real run words them (stderr).
function M.failures(plan)
  for _, r in ipairs(plan.failed) do
    output.err("would fail: " .. r.run_id .. ": " .. common.describe(r.error))
  end
end

-- The requests of a plan: text (each request as --verbose shows it, then
-- its body), json (one document) or jsonl (a line per request).
function M.print(plan, mode)
  local list = json.array()
  for i, r in ipairs(plan.requests) do
    if mode == "text" then
      if i > 1 then output.out("") end
      output.out(r.method .. " " .. r.url)
      for _, h in ipairs(r.headers) do output.out(h) end
      output.out("")
      output.out(r.body)
    else
      list[i] = M.view(r)
      if mode == "jsonl" then common.print_json(list[i]) end
    end
  end
  M.failures(plan)
  return list
end

-- --dry-run of runs named by id.
function M.run(action, full, ids, args)
  local c, err = common.make_client(args, false)
  if not c then return nil, err end
  local plan, _, perr = require("clarifai.runs").plan(action, full, ids, { client = c, group_size = args.group_size })
  if not plan then return nil, perr end
  local list = M.print(plan, args.output)
  if args.output == "json" then
    local failed = json.array()
    for i, r in ipairs(plan.failed) do failed[i] = require("clarifai.runs").result_view(r) end
    common.print_json({ dry_run = true, requests = list, failed = failed })
  end
  return 0
end

return M
