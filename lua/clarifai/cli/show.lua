-- `clarifai pr status|list|history|transitions`: reading runs.

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local usage, run_ids, one_id, ref_from, make_client = common.usage, common.run_ids, common.one_id,
  common.ref_from, common.make_client
local print_json, print_table, str, state_label = common.print_json, common.print_table, common.str,
  common.state_label
local batch_exit, RUN_ID_REQUIRED, error_view = common.batch_exit, common.RUN_ID_REQUIRED, errors.view

local function status(args)
  local ids = run_ids(args)
  if #ids == 0 then return usage(RUN_ID_REQUIRED) end
  local full, err = require("clarifai.ids").resolve(ref_from(args))
  if not full then return nil, err end
  local c, cerr = make_client(args)
  if not c then return nil, cerr end
  local report, rerr = require("clarifai.runs").status(full, ids, { client = c })
  if not report then return nil, rerr end
  if args.output == "json" then
    print_json({ runs = report.runs })
  else
    local rows = {}
    for _, r in ipairs(report.results) do
      if r.run then
        rows[#rows + 1] = { r.run_id, state_label(r.run), str(r.run.created_at), str(r.run.started_at),
          str(r.run.ended_at), str(r.run.total_run_duration) }
      end
    end
    if #rows > 0 then
      print_table({ "ID", "STATE", "CREATED_AT", "STARTED_AT", "ENDED_AT", "DURATION" }, rows)
    end
  end
  for _, r in ipairs(report.results) do
    if r.error then
      if args.output == "json" and #ids == 1 then
        output.err(json.encode({ error = error_view(r.error) }))
      else
        output.err("Error: " .. (#ids > 1 and (r.run_id .. ": ") or "") .. r.error.message)
      end
    end
  end
  return batch_exit(report.results)
end

local function split_csv(s)
  local out = {}
  for part in (s or ""):gmatch("[^,%s]+") do out[#out + 1] = part end
  return out
end

local function list(args)
  local full, err = require("clarifai.ids").resolve(ref_from(args))
  if not full then return nil, err end
  local runs = require "clarifai.runs"
  local codes, serr = runs.status_codes(split_csv(args.status))
  if not codes then return nil, serr end
  local c, cerr = make_client(args)
  if not c then return nil, cerr end
  local res, lerr = runs.list(full, { status = codes, page = args.page, per_page = args.per_page, all = args.all },
    { client = c })
  if not res then return nil, lerr end
  if args.output == "json" then
    print_json(res)
  elseif args.output == "ids" then
    for _, r in ipairs(res.runs) do
      if type(r.id) == "string" then output.out(text.sanitize(r.id)) end
    end
  else
    local rows = {}
    for _, r in ipairs(res.runs) do
      local pv = type(r.pipeline_version) == "table" and r.pipeline_version or {}
      rows[#rows + 1] = { str(r.id), str(r.user_id), str(r.app_id), str(pv.id), state_label(r), str(r.created_at) }
    end
    if #rows == 0 then
      output.err("No pipeline version runs found.")
    else
      print_table({ "ID", "USER_ID", "APP_ID", "PIPELINE_VERSION_ID", "STATUS", "CREATED_AT" }, rows)
    end
  end
  return 0
end

local function history(args)
  local id = one_id(args)
  if not id then return usage(RUN_ID_REQUIRED) end
  local full, err = require("clarifai.ids").resolve(ref_from(args))
  if not full then return nil, err end
  local c, cerr = make_client(args)
  if not c then return nil, cerr end
  local res, herr = require("clarifai.runs").history(full, id, { client = c })
  if not res then return nil, herr end
  if args.output == "json" then
    print_json(res)
  else
    local rows = {}
    for _, l in ipairs(res.status_logs) do
      local st = type(l.status) == "table" and l.status or {}
      local code = states.code_of(st.code)
      rows[#rows + 1] = { str(l.created_at), code and (states.name(code):gsub("^JOB_", "")) or "-",
        str(l.message), str(l.triggered_by_user_id) }
    end
    if #rows == 0 then
      output.err("No status changes recorded for " .. text.sanitize(id) .. ".")
    else
      print_table({ "TIME", "STATE", "MESSAGE", "BY" }, rows)
    end
  end
  return 0
end

local function transitions(args)
  if args.output == "json" then
    print_json(states.view())
  else
    output.out(states.table_text())
  end
  return 0
end

M.status, M.list, M.history, M.transitions = status, list, history, transitions

return M
