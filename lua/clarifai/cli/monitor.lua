-- `clarifai pr monitor`: state changes and logs until the run ends.

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local function monitor(args)
  local id, ierr = common.one_id(args)
  if not id then return nil, ierr end
  local full, err = common.resolve(args)
  if not full then return nil, err end
  local c, cerr = common.make_client(args)
  if not c then return nil, cerr end
  local as_json = args.output == "json" or args.output == "jsonl" -- JSON Lines either way
  local log_file
  if args.log_file then
    local f, ferr = io.open(args.log_file, "a")
    if not f then return nil, errors.new("config", "cannot open log file: " .. tostring(ferr)) end
    log_file = f
  end
  local res, merr = require("clarifai.monitor").monitor(full, id, {
    client = c, timeout = args.timeout, interval = args.monitor_interval, on_retry = common.retry_note,
    on_state = function(ev)
      if as_json then
        common.print_json(ev)
      else
        output.out(string.format("Status: %s (%.1fs)", (ev.state:gsub("^JOB_", "")), ev.elapsed))
      end
      output.flush_out() -- each event is seen as it happens
    end,
    on_log = function(ev)
      local line = text.sanitize(ev.message)
      if log_file then
        log_file:write(output.clean(line), "\n")
        log_file:flush()
      elseif as_json then
        common.print_json({ event = ev.event, run_id = ev.run_id, message = line })
      else
        output.out(line)
      end
      output.flush_out()
    end,
    on_error = function(e)
      if as_json then
        output.err(json.encode({ event = "error", error = errors.view(e) }))
      else
        output.err("warning: " .. e.message .. " (will retry)")
      end
    end,
  })
  if log_file then log_file:close() end
  if not res then
    if merr.kind == "interrupted" then
      local code = common.stop_code(merr.signal) or errors.exit_codes.interrupted
      output.err("Stopped by " .. common.signal_name(merr.signal or 2) .. " while monitoring run " .. id .. ".")
      return code
    end
    return nil, merr
  end
  if as_json then
    if res.reason then res.reason = text.sanitize(res.reason) end
    common.print_json(res)
  else
    local label = require("clarifai.compat").isinteger(res.state_code) and states.label(res.state_code) or "unknown"
    if res.status == "timeout" then
      output.err(string.format("Error: run %s still %s after %gs (timeout)", id, label, args.timeout))
    elseif res.exit_code == 0 then
      output.out(string.format("Pipeline version run %s completed (%.1fs).", id, res.elapsed))
    else
      output.err(string.format("Error: pipeline version run %s ended %s%s.", id, label,
        res.reason and (": " .. text.sanitize(res.reason)) or ""))
    end
  end
  return common.stop_code(nil) or res.exit_code
end

M.run = monitor

return M
