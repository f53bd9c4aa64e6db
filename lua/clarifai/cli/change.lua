-- `clarifai pr pause|cancel|resume`: one run or many, --wait, --dry-run.

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local usage, run_ids, ref_from, make_client = common.usage, common.run_ids, common.ref_from, common.make_client
local print_json, batch_exit, RUN_ID_REQUIRED = common.print_json, common.batch_exit, common.RUN_ID_REQUIRED
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

M.run = change

return M
