-- `clarifai pr status|list|history|transitions`: reading runs.

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local str, state_label, table_time = common.str, common.state_label, common.table_time


-- status's table: ID, STATE, the times (to the second), DURATION; -o wide
-- adds each run's four ids after ID (USER_ID, APP_ID, PIPELINE_ID,
-- PIPELINE_VERSION_ID, whole).
local function status_table(report, full, wide)
  local rows = {}
  for _, r in ipairs(report.results) do
    local run = r.run
    if run then
      local row = { r.run_id, state_label(run), table_time(run.created_at), table_time(run.started_at),
        table_time(run.ended_at), str(run.total_run_duration) }
      if wide then
        local pv = type(run.pipeline_version) == "table" and run.pipeline_version or {}
        for k, v in ipairs({ run.user_id or full.user_id, run.app_id or full.app_id,
          pv.pipeline_id or full.pipeline_id, pv.id or full.pipeline_version_id }) do
          table.insert(row, 1 + k, str(v))
        end
      end
      rows[#rows + 1] = row
    end
  end
  if #rows == 0 then return end
  local header = { "ID", "STATE", "CREATED_AT", "STARTED_AT", "ENDED_AT", "DURATION" }
  if wide then
    for k, h in ipairs({ "USER_ID", "APP_ID", "PIPELINE_ID", "PIPELINE_VERSION_ID" }) do table.insert(header, 1 + k, h) end
  end
  common.print_table(header, rows)
end

local function status(args)
  local ids, ierr = common.checked_ids(args)
  if ids == false then return 0 end
  if not ids then return nil, ierr end
  local full, err = common.resolve(args)
  if not full then return nil, err end
  local c, cerr = common.make_client(args)
  if not c then return nil, cerr end
  local runs = require "clarifai.runs"
  local report, _, rerr = runs.status(full, ids, { client = c, parallel = args.parallel,
    on_retry = common.retry_note })
  if not report then return nil, rerr end
  local many = #ids > 1
  if #report.runs == 0 and not report.signal then
    -- nothing to show: the usual error, and the first failure's exit code
    local first = report.errors[1].error
    if not many then return nil, first end
    if args.output == "json" then
      local view = errors.view(first)
      view.message = report.errors[1].run_id .. ": " .. common.describe(first)
      output.err(json.encode({ error = view }))
    else
      for _, e in ipairs(report.errors) do output.err("Error: " .. e.run_id .. ": " .. common.describe(e.error)) end
    end
    return first.exit_code
  end
  if args.output == "json" then
    common.print_json(runs.status_view(report))
  else
    status_table(report, full, args.output == "wide")
    for _, e in ipairs(report.errors) do
      if e.error.kind == "not_sent" then
        output.err("not read: " .. e.run_id)
      else
        output.err("Error: " .. (many and (e.run_id .. ": ") or "") .. common.describe(e.error))
      end
    end
  end
  local stop = common.stop_code(report.signal)
  if stop then return common.stopped_reading(report.signal) end
  if #report.errors > 0 then return errors.exit_codes.partial end
  return 0
end

-- The runs list prints: one version's page(s), or a wider scope's every run
-- (its versions listed concurrently). -> res, info, versions | nil, err
local function gather(args, codes, c)
  local runs = require "clarifai.runs"
  if not (args.all_versions or args.all_pipelines or args.nodepool_id or args.compute_cluster_id) then
    local full, err = common.resolve(args)
    if not full then return nil, err end
    local res, info, lerr = runs.list(full, { status = codes, page = args.page, per_page = args.per_page,
      all = args.all }, { client = c, on_retry = common.retry_note,
      on_progress = args.all and common.listing_progress(args) or nil })
    if not res then return nil, lerr end
    return res, info, 1
  end
  if args.page or args.per_page then
    return common.usage("--page and --per_page list one version; a wider scope lists every page")
  end
  local scope, serr = require("clarifai.cli.selection").scope(args)
  if not scope then return nil, serr end
  local refs, info, rerr = runs.select(scope, { states = codes }, { client = c, parallel = args.parallel,
    on_retry = common.retry_note, keep_runs = true, on_progress = common.listing_progress(args) })
  if not refs then return nil, rerr end
  local res = { runs = json.array() }
  for k, r in ipairs(refs) do res.runs[k] = r.run end
  return res, { warnings = {}, more = false }, math.max(info.versions, #info.counts)
end

-- list -o ids: only ids that `pause -` reads back as the same id, never a
-- rewritten one; the rest are named on stderr. -> how many were left out.
local function print_ids(list)
  local ids, left_out = require "clarifai.ids", 0
  for _, r in ipairs(list) do
    if ids.check(r.id, "pipeline_version_run_id") then
      output.out(r.id)
    else
      left_out = left_out + 1
      output.err("warning: left out run id " .. (type(r.id) == "string" and ("'" .. text.cell(r.id) .. "'")
        or tostring(r.id)) .. ": it cannot be read back as the same id")
    end
  end
  return left_out
end

-- Does every run have the same value in this column (a user's, an app's)?
local function uniform(list, field)
  for k = 2, #list do
    if list[k][field] ~= list[1][field] then return false end
  end
  return true
end

--[[
The runs as a table: ID, USER_ID, APP_ID, PIPELINE_ID (over several
versions), PIPELINE_VERSION_ID, STATE, CREATED_AT (to the second), AGE (by
created_at, against this machine's clock). The default table leaves out
USER_ID and APP_ID when every run has the same one and shows the version's
first 8 characters; -o wide shows every column, PIPELINE_ID too, and the
whole version id.
]]
local function print_table(res, versions, wide)
  local list = res.runs
  if #list == 0 then return output.err("No pipeline version runs found.") end
  local cols = {
    { "ID", function(r) return str(r.id) end },
    { "USER_ID", function(r) return str(r.user_id) end, shown = wide or not uniform(list, "user_id") },
    { "APP_ID", function(r) return str(r.app_id) end, shown = wide or not uniform(list, "app_id") },
    { "PIPELINE_ID", function(_, pv) return str(pv.pipeline_id) end, shown = wide or versions > 1 },
    { "PIPELINE_VERSION_ID", function(_, pv) return wide and str(pv.id) or common.short_id(pv.id) end },
    { "STATE", function(r) return state_label(r) end },
    { "CREATED_AT", function(r) return table_time(r.created_at) end },
    { "AGE", function(r, _, now) return common.age(r.created_at, now) end },
  }
  local header, shown = {}, {}
  for _, col in ipairs(cols) do
    if col.shown ~= false then
      header[#header + 1] = col[1]
      shown[#shown + 1] = col[2]
    end
  end
  local rows, now = {}, os.time()
  for k, r in ipairs(list) do
    local pv = type(r.pipeline_version) == "table" and r.pipeline_version or {}
    local row = {}
    for i, cell in ipairs(shown) do row[i] = cell(r, pv, now) end
    rows[k] = row
  end
  common.print_table(header, rows)
end

local function list(args)
  if args.all and args.page then return common.usage("--page and --all cannot be used together: --all reads every page") end
  local runs = require "clarifai.runs"
  local codes, _, serr = runs.status_codes(common.split_list(args.status))
  if not codes then return nil, serr end
  local c, cerr = common.make_client(args)
  if not c then return nil, cerr end
  local res, info, versions = gather(args, codes, c)
  output.end_progress()
  if not res then
    if info.kind == "interrupted" then return common.stopped_reading(info.signal, "listing") end
    return nil, info
  end
  for _, w in ipairs(info.warnings) do output.err("warning: " .. w) end
  local left_out = 0
  if args.output == "ids" and versions > 1 then
    return common.usage("the runs span " .. versions .. " versions: -o ids would lose which; use -o jsonl")
  elseif args.output == "json" then
    common.print_json(res)
  elseif args.output == "jsonl" then
    for _, r in ipairs(res.runs) do common.print_json(r) end
  elseif args.output == "ids" then
    left_out = print_ids(res.runs)
  else
    print_table(res, versions, args.output == "wide")
    output.flush_out()
    if info.more and not args.all and not output.gone then
      output.err(string.format("(a full page of %d: there may be more; see --page %d, or --all)", res.per_page,
        res.page + 1))
    end
  end
  return (left_out > 0 and errors.exit_codes.partial) or 0
end

local function history(args)
  local id, full, c = common.one_run(args)
  if not id then return nil, full end
  local res, _, herr = require("clarifai.runs").history(full, id, { client = c, on_retry = common.retry_note })
  if not res then
    if herr.kind == "interrupted" then return common.stopped_reading(herr.signal, "reading the history") end
    return nil, herr
  end
  if args.output == "json" then
    common.print_json(res)
  else
    local rows = {}
    for _, l in ipairs(res.status_logs) do
      local st = type(l.status) == "table" and l.status or {}
      local code = states.code_of(st.code)
      rows[#rows + 1] = { table_time(l.created_at), code and states.short(code) or "-",
        str(l.message), str(l.triggered_by_user_id) }
    end
    if #rows == 0 then
      output.err("No status changes recorded for " .. text.sanitize(id) .. ".")
    else
      common.print_table({ "TIME", "STATE", "MESSAGE", "BY" }, rows)
    end
  end
  return 0
end

local function transitions(args)
  if args.output == "json" then
    common.print_json(states.view())
  else
    output.out(require("clarifai.cli.help").transitions_text())
  end
  return 0
end

M.status, M.list, M.history, M.transitions = status, list, history, transitions

return M
