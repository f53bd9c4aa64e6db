-- `clarifai pr monitor`: state changes and logs until the run ends.

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

-- The callbacks that print what monitor sees: JSON Lines (-o json|jsonl),
-- or text (log lines to --log_file when given).
local function printers(as_json, log_file)
  return {
    on_state = function(ev)
      if as_json then
        common.print_json(ev)
      else
        output.out(string.format("Status: %s (%.1fs)", states.short(ev.state_code), ev.elapsed))
      end
      output.flush_out() -- each event is seen as it happens
    end,
    on_log = function(ev)
      if log_file then
        log_file:write(output.clean(text.sanitize(ev.message)), "\n")
        log_file:flush()
      elseif as_json then
        -- JSON escapes control characters itself (\u00XX): the text stays exact
        common.print_json({ event = ev.event, run_id = ev.run_id, message = ev.message })
      else
        output.out(text.sanitize(ev.message))
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
  }
end

-- A monitor a signal (or a broken stdout) stopped: exit code | nil, err. A
-- reader that went away ends it quietly (141).
local function stopped(id, merr, as_json)
  if not merr.signal and output.gone then return common.stop_code() end
  if not merr.signal and output.broken then
    return nil, errors.new("output", "cannot write to standard output (" .. tostring(output.problem) .. ")")
  end
  local code = common.stop_code(merr.signal) or errors.exit_codes.interrupted
  if as_json then
    -- the stream ends with a result, as it does on every other ending
    common.print_json({ event = "result", run_id = id, status = "stopped",
      signal = merr.signal and common.signal_name(merr.signal) or json.null, exit_code = code,
      state = merr.state or json.null, state_code = merr.state_code or json.null, elapsed = merr.elapsed })
  end
  output.err("Stopped by " .. common.signal_name(merr.signal or 2) .. " while monitoring run " .. id .. ".")
  return code
end

-- How a monitor that ran to its end is told (text mode).
local function tell_end(id, res, args)
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

local function monitor(args)
  local id, full, c = common.one_run(args)
  if not id then return nil, full end
  local as_json = args.output == "json" or args.output == "jsonl" -- JSON Lines either way
  local log_file
  if args.log_file then
    local f, ferr = io.open(args.log_file, "a")
    if not f then return nil, errors.new("config", "cannot open log file: " .. tostring(ferr)) end
    log_file = f
  end
  local opts = printers(as_json, log_file)
  opts.client, opts.timeout, opts.interval = c, args.timeout, args.monitor_interval
  opts.on_retry, opts.should_stop = common.retry_note, function() return output.broken end
  local res, _, merr = require("clarifai.monitor").monitor(full, id, opts)
  if log_file then log_file:close() end
  if not res then
    if merr.kind == "interrupted" then return stopped(id, merr, as_json) end
    return nil, merr
  end
  if as_json then common.print_json(res) else tell_end(id, res, args) end
  return res.exit_code
end

M.run = monitor

return M
