-- `clarifai pipelinerun|pr …`: the run-control commands, a thin layer over
-- clarifai.runs and clarifai.watch that formats results and picks exit codes.

local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local RUN_ID_REQUIRED = "pipeline_version_run_id is required. Provide it as a positional "
  .. "argument or use --pipeline_version_run_id flag."

local function usage(msg) return nil, errors.new("usage", msg) end

-- Run ids from the positional list (which wins) or the flag; "-" reads
-- whitespace-separated ids from stdin.
local function run_ids(args)
  local list = args.ids or {}
  if #list == 0 and args.pipeline_version_run_id then list = { args.pipeline_version_run_id } end
  local out, seen_stdin = {}, false
  for _, id in ipairs(list) do
    if id == "-" then
      if not seen_stdin then
        seen_stdin = true
        for word in io.stdin:read("a"):gmatch("%S+") do out[#out + 1] = word end
      end
    elseif id ~= "" then
      out[#out + 1] = id
    end
  end
  return out
end

local function one_id(args)
  return args.id or args.pipeline_version_run_id
end

local function ref_from(args)
  return {
    user_id = args.user_id, app_id = args.app_id,
    pipeline_id = args.pipeline_id, pipeline_version_id = args.pipeline_version_id,
  }
end

-- A number from a flag, else from the environment, else nil.
local function setting(flag, env_name)
  if flag then return flag end
  local v = tonumber(os.getenv(env_name) or "")
  if v and v >= 0 then return v end
  return nil
end

-- The client for this invocation: --config/--context, the environment,
-- the timeouts; warnings (e.g. config permissions) go to stderr.
local function make_client(args, need_pat)
  local client_mod = require "clarifai.client"
  local c, settings = client_mod.from_config({
    config_path = args.config, context = args.context, need_pat = need_pat,
    trace = args.verbose and output.err or nil,
    connect_timeout = setting(args.connect_timeout, "CLARIFAI_CONNECT_TIMEOUT"),
    request_timeout = setting(args.request_timeout, "CLARIFAI_REQUEST_TIMEOUT"),
    deadline = setting(args.deadline, "CLARIFAI_DEADLINE"),
  })
  if not c then return nil, settings end
  output.add_secret(c.pat)
  c.trap_interrupt = true
  for _, w in ipairs(settings.warnings) do output.err(w) end
  return c
end
M.make_client = make_client

local function print_json(v)
  output.out(json.encode(v))
end

local error_view = errors.view

-- A live status line on stderr, only when stderr is a terminal.
local function live_line()
  local sys = require "clarifai.sys.core"
  if not sys.isatty(2) then return nil end
  local shown = false
  return {
    show = function(s)
      io.stderr:write("\r\27[K", text.sanitize(s))
      io.stderr:flush()
      shown = true
    end,
    clear = function()
      if shown then io.stderr:write("\r\27[K") io.stderr:flush() end
    end,
  }
end

local function confirm_cancel(ids)
  local sys = require "clarifai.sys.core"
  if not (sys.isatty(0) and sys.isatty(2)) then return true end
  local first = {}
  for i = 1, math.min(3, #ids) do first[i] = ids[i] end
  io.stderr:write(string.format("Cancel %d runs (%s%s)? Cancelled runs cannot be resumed. [y/N] ",
    #ids, table.concat(first, ", "), #ids > 3 and ", …" or ""))
  io.stderr:flush()
  local answer = io.stdin:read("l") or ""
  return answer:match("^%s*[yY]") ~= nil
end

-- Exit code of a batch: 0 all good, 7 mixed, else the first failure's code.
local function batch_exit(results)
  local ok, first
  for _, r in ipairs(results) do
    if r.error then first = first or r.error.exit_code
    else ok = true end
  end
  if not first then return 0 end
  if ok then return errors.exit_codes.partial end
  return first
end

local function dry_run(action, full, ids, args)
  local c, err = make_client(args, false)
  if not c then return nil, err end
  local api = require "clarifai.api"
  local client_mod = require "clarifai.client"
  local target = states.actions[action].target
  local reqs = {}
  for i, id in ipairs(ids) do
    local req = c:build("PATCH", api.runs_path(full), api.patch_body({ id }, target))
    reqs[i] = req
  end
  if args.output == "json" then
    local list = json.array()
    for i, r in ipairs(reqs) do
      local headers = {}
      for _, h in ipairs(r.headers) do
        local k, v = h:match("^([^:]+):%s*(.*)$")
        if k:lower() == "authorization" then v = "Key ********" end
        headers[k] = v
      end
      list[i] = { method = r.method, url = r.url, headers = headers, body = json.decode(r.body) }
    end
    print_json({ dry_run = true, requests = list })
    return 0
  end
  for i, r in ipairs(reqs) do
    if i > 1 then output.out("") end
    for _, line in ipairs(client_mod.describe(r, false)) do output.out(line:sub(3)) end
    output.out("")
    output.out(r.body)
  end
  return 0
end

local function change(action, args)
  local ids = run_ids(args)
  if #ids == 0 then return usage(RUN_ID_REQUIRED) end
  local full, err = require("clarifai.ids").resolve(ref_from(args))
  if not full then return nil, err end
  if args.dry_run then return dry_run(action, full, ids, args) end
  if action == "cancel" and #ids > 1 and not args.yes and not confirm_cancel(ids) then
    output.err("Nothing was cancelled.")
    return 1
  end
  local c, cerr = make_client(args)
  if not c then return nil, cerr end
  local runs = require "clarifai.runs"
  local report, rerr = runs.apply(action, full, ids, { client = c, parallel = args.parallel,
    on_retry = function(r)
      output.err(string.format("Retrying run %s in %.1fs: %s (attempt %d of %d)", r.run_id, r.delay,
        text.sanitize(r.reason), r.attempt, r.max))
    end })
  if not report then return nil, rerr end

  if args.wait then
    local waiting, index = {}, {}
    for i, r in ipairs(report.results) do
      if not r.error then waiting[#waiting + 1] = r.run_id; index[#waiting] = i end
    end
    if #waiting > 0 then
      local live = args.output ~= "json" and live_line() or nil
      local watch = require "clarifai.watch"
      local w, werr = watch.wait(action, full, waiting, {
        client = c, timeout = args.timeout, interval = args.interval, parallel = args.parallel,
        on_poll = live and function(id, code, elapsed)
          live.show(string.format("%5.1fs  %s: %s", elapsed, id, code and states.label(code) or "?"))
        end,
      })
      if live then live.clear() end
      if not w then return nil, werr end
      for k, wr in ipairs(w.results) do
        local r = report.results[index[k]]
        r.state_code, r.state = wr.state_code or r.state_code, wr.state or r.state
        r.waited = wr.outcome
        if wr.error then r.error, r.outcome = wr.error, "failed" end
      end
      -- recount: a run that failed its wait is no longer ok or noop
      local s = { ok = 0, noop = 0, failed = 0, unknown = 0 }
      for _, r in ipairs(report.results) do s[r.outcome] = s[r.outcome] + 1 end
      report.summary = s
    end
  end

  local code = batch_exit(report.results)
  local core = package.loaded["clarifai.http.core"]
  if core and core.interrupted() then code = errors.exit_codes.interrupted end
  for _, r in ipairs(report.results) do
    if r.note then output.err("Note: run " .. r.run_id .. ": " .. r.note .. ".") end
  end
  if args.output == "json" then
    output.out(runs.to_json(report))
    if code ~= 0 and #ids == 1 then
      output.err(json.encode({ error = error_view(report.results[1].error) }))
    end
    return code
  end

  local past = states.actions[action].past
  for _, r in ipairs(report.results) do
    if r.outcome == "ok" then
      output.out(string.format("Pipeline version run %s has been %s.", r.run_id, past))
    elseif r.outcome == "noop" then
      output.out(string.format("Pipeline version run %s is already %s.", r.run_id, past))
    else
      local e = r.error
      local msg = e.message
      if e.kind == "api" and e.state_code then
        msg = msg .. " The run is " .. states.label(e.state_code) .. "; "
          .. states.rule_sentence(action):gsub("^%u", string.lower)
      end
      if #ids > 1 or e.kind == "state" or e.kind == "timeout" then
        if e.kind == "state" or e.kind == "timeout" then
          output.err("Error: " .. msg)
        else
          output.err("Error: " .. r.run_id .. ": " .. msg)
        end
      else
        output.err("Error: " .. msg)
      end
    end
  end
  if #ids > 1 then
    local s = report.summary
    local parts = {}
    if s.ok > 0 then parts[#parts + 1] = s.ok .. " " .. past end
    if s.noop > 0 then parts[#parts + 1] = s.noop .. " already " .. past end
    if s.failed > 0 then parts[#parts + 1] = s.failed .. " failed" end
    if s.unknown > 0 then parts[#parts + 1] = s.unknown .. " unknown" end
    output.err(table.concat(parts, ", "))
  end
  return code
end

-- Table output: columns sized to their widest cell.
local function print_table(header, rows)
  local widths = {}
  for i, h in ipairs(header) do widths[i] = #h end
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      row[i] = text.sanitize(cell)
      if utf8.len(row[i]) and utf8.len(row[i]) > widths[i] then widths[i] = utf8.len(row[i]) end
    end
  end
  local function line(cells)
    local parts = {}
    for i, cell in ipairs(cells) do
      parts[i] = i < #cells and (cell .. string.rep(" ", widths[i] - (utf8.len(cell) or #cell))) or cell
    end
    return table.concat(parts, "  ")
  end
  output.out(line(header))
  for _, row in ipairs(rows) do output.out(line(row)) end
end

local function str(v) return type(v) == "string" and v ~= "" and v or "-" end

local function state_label(run)
  local code = require("clarifai.api").run_state(run)
  return code and states.name(code):gsub("^JOB_", "") or "-"
end

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

local function monitor(args)
  local id = one_id(args)
  if not id then return usage(RUN_ID_REQUIRED) end
  local full, err = require("clarifai.ids").resolve(ref_from(args))
  if not full then return nil, err end
  local c, cerr = make_client(args)
  if not c then return nil, cerr end
  local as_json = args.output == "json"
  local log_file
  if args.log_file then
    local f, ferr = io.open(args.log_file, "a")
    if not f then return nil, errors.new("config", "cannot open log file: " .. tostring(ferr)) end
    log_file = f
  end
  local res, merr = require("clarifai.watch").monitor(full, id, {
    client = c, timeout = args.timeout, interval = args.monitor_interval,
    on_state = function(ev)
      if as_json then
        print_json(ev)
      else
        output.out(string.format("Status: %s (%.1fs)", (ev.state:gsub("^JOB_", "")), ev.elapsed))
      end
      io.stdout:flush()
    end,
    on_log = function(ev)
      local line = text.sanitize(ev.message)
      if log_file then
        log_file:write(output.clean(line), "\n")
        log_file:flush()
      elseif as_json then
        print_json({ event = ev.event, run_id = ev.run_id, message = line })
      else
        output.out(line)
      end
      io.stdout:flush()
    end,
    on_error = function(e)
      if as_json then
        output.err(json.encode({ event = "error", error = error_view(e) }))
      else
        output.err("warning: " .. e.message .. " (will retry)")
      end
    end,
  })
  if log_file then log_file:close() end
  if not res then return nil, merr end
  if as_json then
    print_json(res)
  else
    local label = math.type(res.state_code) and states.label(res.state_code) or "unknown"
    if res.status == "timeout" then
      output.err(string.format("Error: run %s still %s after %gs (timeout)", id, label, args.timeout))
    elseif res.exit_code == 0 then
      output.out(string.format("Pipeline version run %s completed (%.1fs).", id, res.elapsed))
    else
      output.err(string.format("Error: pipeline version run %s ended %s.", id, label))
    end
  end
  return res.exit_code
end

local function transitions(args)
  if args.output == "json" then
    print_json(states.view())
  else
    output.out(states.table_text())
  end
  return 0
end

local HANDLERS = {
  status = status, list = list, history = history, monitor = monitor, transitions = transitions,
}

function M.run(args)
  local sub = args.subcommand
  if states.actions[sub] then return change(sub, args) end
  local h = HANDLERS[sub]
  if h then return h(args) end
  return usage("unknown command '" .. tostring(sub) .. "'")
end

return M
