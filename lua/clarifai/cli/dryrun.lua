-- `--dry-run`: the exact requests pause/cancel/resume would send (token
-- redacted), in the output format asked for; nothing is sent.

local common = require "clarifai.cli.common"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"

local M = {}

-- view(request) -> {method, url, headers, body}: a request as -o json shows it.
function M.view(r)
  local headers = {}
  for _, h in ipairs(r.headers) do
    local k, v = h:match("^([^:]+):%s*(.*)$")
    if k:lower() == "authorization" then v = "Key ********" end
    headers[k] = v
  end
  return { method = r.method, url = r.url, headers = headers, body = json.decode(r.body) }
end

function M.run(action, full, ids, args)
  local c, err = common.make_client(args, false)
  if not c then return nil, err end
  local api = require "clarifai.api"
  local client_mod = require "clarifai.client"
  local target = states.actions[action].target
  local list = json.array()
  for i, id in ipairs(ids) do
    local r = c:build("PATCH", api.runs_path(full), api.patch_body({ id }, target))
    if args.output == "text" then
      if i > 1 then output.out("") end
      for _, line in ipairs(client_mod.describe(r, false)) do output.out(line:sub(3)) end
      output.out("")
      output.out(r.body)
    else
      list[i] = M.view(r)
      if args.output == "jsonl" then common.print_json(list[i]) end
    end
  end
  if args.output == "json" then common.print_json({ dry_run = true, requests = list }) end
  return 0
end

return M
