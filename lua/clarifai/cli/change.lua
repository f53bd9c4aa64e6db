-- `clarifai pr pause|cancel|resume`: one run or many. Each run's line is
-- printed as soon as it finishes (stdout for successes and no-ops, stderr
-- for failures), then a summary; -o jsonl streams one JSON object per run;
-- -o json prints one document at the end. A signal or a broken stdout stops
-- the batch with a true record of every run and a hint to re-run the rest.

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

-- Asks on the controlling terminal (whatever stdin is), only when this
-- process is in the terminal's foreground and stderr is a terminal.
local function confirm_cancel(ids)
  local sys = require "clarifai.sys.core"
  if not (sys.isatty(2) and sys.tty_foreground()) then return true end
  local tty = io.open("/dev/tty", "r+")
  if not tty then return true end
  local first = {}
  for i = 1, math.min(3, #ids) do first[i] = text.sanitize(ids[i]) end
  tty:write(string.format("Cancel %d runs (%s%s)? Cancelled runs cannot be resumed. [y/N] ",
    #ids, table.concat(first, ", "), #ids > 3 and ", …" or ""))
  tty:flush()
  local answer = tty:read("*l") or ""
  tty:close()
  return answer:match("^%s*[yY]") ~= nil
end

local function dry_run(action, full, ids, args)
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
      local headers = {}
      for _, h in ipairs(r.headers) do
        local k, v = h:match("^([^:]+):%s*(.*)$")
        if k:lower() == "authorization" then v = "Key ********" end
        headers[k] = v
      end
      list[i] = { method = r.method, url = r.url, headers = headers, body = json.decode(r.body) }
      if args.output == "jsonl" then common.print_json(list[i]) end
    end
  end
  if args.output == "json" then common.print_json({ dry_run = true, requests = list }) end
  return 0
end

-- The line a result prints in text mode.
local function report_line(action, r, many, args)
  local past = states.actions[action].past
  if r.outcome == "ok" then
    return output.out(string.format("Pipeline version run %s has been %s.", r.run_id, past))
  elseif r.outcome == "noop" then
    return output.out(string.format("Pipeline version run %s is already %s.", r.run_id, past))
  elseif r.outcome == "not_sent" then
    return output.err("not sent: " .. r.run_id)
  elseif r.outcome == "unknown" and r.stopped then
    return output.err("unknown: " .. r.run_id)
  end
  local e = r.error
  local msg = common.describe(e)
  if e.kind == "api" and e.state_code then
    msg = msg .. " The run is " .. states.label(e.state_code) .. "; "
      .. require("clarifai.cli.help").rule_sentence(action):gsub("^%u", string.lower)
  elseif r.outcome == "unknown" then
    local flags = common.scope_flags(args)
    msg = msg .. "; check with `clarifai pr status " .. common.shell_word(r.run_id)
      .. (flags ~= "" and (" " .. flags) or "") .. "`"
  end
  if many and e.kind ~= "state" and e.kind ~= "timeout" then msg = r.run_id .. ": " .. msg end
  return output.err("Error: " .. msg)
end

-- "3 paused, 1 already paused, 1 failed, 2 unknown, 5 not sent"
local function summary_text(action, s)
  local past = states.actions[action].past
  local parts = {}
  if s.ok > 0 then parts[#parts + 1] = s.ok .. " " .. past end
  if s.noop > 0 then parts[#parts + 1] = s.noop .. " already " .. past end
  if s.failed > 0 then parts[#parts + 1] = s.failed .. " failed" end
  if s.unknown > 0 then parts[#parts + 1] = s.unknown .. " unknown" end
  if s.not_sent > 0 then parts[#parts + 1] = s.not_sent .. " not sent" end
  if #parts == 0 then parts[1] = "nothing done" end
  return table.concat(parts, ", ")
end

local function id_list(ids, max)
  local shown = {}
  for i = 1, math.min(#ids, max) do shown[i] = text.sanitize(ids[i]) end
  return table.concat(shown, ", ") .. (#ids > max and ", …" or "")
end

-- After a stop: what was not sent and what may have changed, and how to
-- re-run exactly those runs with the user's own flags.
local function stop_hint(action, args, signal, not_sent, unknown)
  local why = signal and ("Stopped by " .. common.signal_name(signal))
    or "Stopped: standard output could not be written"
  output.err(why .. ": nothing more was sent.")
  local flags = common.scope_flags(args)
  local tail = flags ~= "" and (" " .. flags) or ""
  local function command(verb, ids, outcome, line)
    if #ids <= 20 then
      local words = {}
      for i, id in ipairs(ids) do words[i] = common.shell_word(id) end
      return "  clarifai pr " .. verb .. tail .. " " .. table.concat(words, " ")
    end
    local pick
    if args.output == "json" then
      pick = "jq -r '.results[] | select(.outcome == \"" .. outcome .. "\") | .run_id' OUTPUT_FILE"
    elseif args.output == "jsonl" then
      pick = "jq -r 'select(.outcome == \"" .. outcome .. "\") | .run_id' OUTPUT_FILE"
    else
      pick = "sed -n 's/^" .. line .. ": //p' STDERR_FILE"
    end
    return "  " .. pick .. " | clarifai pr " .. verb .. " -" .. tail
  end
  if #not_sent > 0 then
    output.err(string.format("%d run%s not sent; to send %s:", #not_sent, #not_sent == 1 and " was" or "s were",
      #not_sent == 1 and "it" or "them"))
    output.err(command(action, not_sent, "not_sent", "not sent"))
  end
  if #unknown > 0 then
    output.err(string.format("%d run%s in flight and may or may not have changed; to check:", #unknown,
      #unknown == 1 and " was" or "s were"))
    output.err(command("status", unknown, "unknown", "unknown"))
  end
  if (#not_sent > 20 or #unknown > 20) then
    output.err(args.output == "text" and "  (STDERR_FILE: where this command's standard error was saved)"
      or "  (OUTPUT_FILE: where this command's output was saved)")
  end
end

local function change(action, args)
  local ids, ierr = common.checked_ids(args)
  if ids == false then return 0 end
  if not ids then return nil, ierr end
  local full, err = common.resolve(args)
  if not full then return nil, err end
  if args.dry_run then return dry_run(action, full, ids, args) end
  if action == "cancel" and #ids > 1 and not args.yes and not confirm_cancel(ids) then
    output.err("Nothing was cancelled.")
    return 1
  end
  local c, cerr = common.make_client(args)
  if not c then return nil, cerr end

  local mode = args.output
  if mode ~= "json" then output.stream() end
  local many = #ids > 1
  local show_progress = output.enable_progress(args.no_progress) and many
  local n, failed_count = #ids, 0
  local first_fail, first_code -- the failure earliest in input order decides a batch that all failed
  local function note_failure(i, code)
    if not first_fail or i < first_fail then first_fail, first_code = i, code end
  end
  local accepted, not_sent, unknown = {}, {}, {}
  local single_error -- -o json of one run: its error also goes to stderr
  local outcome_of = {}

  local runs = require "clarifai.runs"
  -- -o json keeps each result as encoded text, unless --wait must update it
  local keep = mode == "json" and args.wait
  local encoder = mode == "json" and not keep and runs.encoder(action) or nil
  local report, rerr = runs.apply(action, full, ids, {
    client = c, parallel = args.parallel, collect = keep,
    should_stop = function() return output.broken end,
    on_retry = common.retry_note,
    on_result = function(r, i)
      if r.outcome == "ok" or r.outcome == "noop" then
        if args.wait then accepted[#accepted + 1] = i end
        if args.wait then outcome_of[i] = r.outcome end
      else
        failed_count = failed_count + 1
        note_failure(i, r.error.exit_code)
        if r.outcome == "not_sent" then not_sent[#not_sent + 1] = r.run_id
        elseif r.outcome == "unknown" and r.stopped then unknown[#unknown + 1] = r.run_id end
      end
      if encoder then encoder.add(r, i) end
      if r.note and mode ~= "jsonl" then output.err("Note: run " .. r.run_id .. ": " .. r.note .. ".") end
      if n == 1 and mode == "json" then single_error = r.error end
      if mode == "text" then
        report_line(action, r, many, args)
      elseif mode == "jsonl" then
        local v = runs.result_view(r)
        v.index = i
        common.print_json(v)
      end
    end,
    on_progress = show_progress and function(done, inflight)
      output.progress(string.format("%d/%d done · %d failed · %d in flight", done, n, failed_count, inflight))
    end or nil,
  })
  if not report then return nil, rerr end
  local summary = report.summary
  local signal = report.signal

  local waited
  if args.wait and not report.stopped and #accepted > 0 then
    local watch_ids = {}
    for k, i in ipairs(accepted) do watch_ids[k] = ids[i] end
    local reached, target = 0, states.label(states.actions[action].target)
    local w, werr = require("clarifai.watch").wait(action, full, watch_ids, {
      client = c, timeout = args.timeout, interval = args.interval, parallel = args.parallel,
      on_retry = common.retry_note, should_stop = function() return output.broken end,
      on_reached = function(wr)
        if wr.outcome == "reached" then reached = reached + 1 end
        if show_progress then
          output.progress(string.format("%d/%d reached %s · waiting for %d", reached, #watch_ids, target,
            #watch_ids - reached), true)
        end
      end,
      on_poll = show_progress and function(_, _, elapsed)
        output.progress(string.format("%d/%d reached %s · waiting for %d · %.0fs", reached, #watch_ids, target,
          #watch_ids - reached, elapsed))
      end or nil,
    })
    if not w then return nil, werr end
    waited = w
    signal = signal or w.signal
    for k, wr in ipairs(w.results) do
      local i = accepted[k]
      local r = report.results and report.results[i]
      if r then r.state_code, r.state = wr.state_code or r.state_code, wr.state or r.state end
      if wr.error and wr.outcome ~= "stopped" then
        summary[outcome_of[i]] = summary[outcome_of[i]] - 1
        summary.failed = summary.failed + 1
        note_failure(i, wr.error.exit_code)
        if r then r.error, r.outcome = wr.error, "failed" end
        if mode == "text" then output.err("Error: " .. wr.error.message)
        elseif mode == "jsonl" then
          common.print_json({ index = i, run_id = wr.run_id, wait = wr.outcome, state = wr.state or json.null,
            state_code = wr.state_code or json.null, error = errors.view(wr.error) })
        end
      elseif mode == "jsonl" then
        common.print_json({ index = i, run_id = wr.run_id, wait = wr.outcome, state = wr.state or json.null,
          state_code = wr.state_code or json.null, error = errors.view(wr.error) })
      end
    end
  end
  output.end_progress()

  if mode == "json" then
    if encoder then
      encoder.write(summary, output.write)
      output.write("\n")
    else
      common.print_json(runs.view(report))
    end
    local e = keep and report.results[1].error or single_error
    if n == 1 and e and not report.stopped then output.err(json.encode({ error = errors.view(e) })) end
  elseif mode == "jsonl" then
    common.print_json({ summary = summary })
  elseif many or report.stopped then
    output.err(summary_text(action, summary))
  end
  if waited and waited.signal then
    local got, still = {}, {}
    for _, wr in ipairs(waited.results) do
      if wr.outcome == "reached" then got[#got + 1] = wr.run_id
      elseif wr.outcome == "stopped" then still[#still + 1] = wr.run_id end
    end
    output.err(string.format("Stopped by %s while waiting: %d of %d accepted runs had reached %s%s.",
      common.signal_name(waited.signal), #got, #waited.results,
      states.label(states.actions[action].target), #got > 0 and (" (" .. id_list(got, 20) .. ")") or ""))
    if #still > 0 then output.err("Not yet: " .. id_list(still, 20) .. ".") end
  end
  if report.stopped then stop_hint(action, args, report.signal, not_sent, unknown) end
  output.flush()

  local stop = common.stop_code(signal)
  if stop then
    if output.broken and not signal then
      output.err("Error: cannot write to standard output; stopped sending (" .. summary_text(action, summary) .. ").")
    end
    return stop
  end
  if not first_fail then return 0 end
  if summary.ok + summary.noop > 0 then return errors.exit_codes.partial end
  return first_code
end

M.run = change

return M
