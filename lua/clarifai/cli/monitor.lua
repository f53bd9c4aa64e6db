-- `clarifai pr monitor`: state changes and logs until the run ends.

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local usage, one_id, ref_from, make_client = common.usage, common.one_id, common.ref_from, common.make_client
local print_json, RUN_ID_REQUIRED, error_view = common.print_json, common.RUN_ID_REQUIRED, errors.view

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

M.run = monitor

return M
