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

-- Cancelling several runs named by id asks first, when there is a terminal
-- to ask on (without one it proceeds: scripts pass ids this way).
local function confirm_cancel(ids)
  local first = {}
  for i = 1, math.min(3, #ids) do first[i] = text.sanitize(ids[i]) end
  local answer = common.ask(string.format("Cancel %d runs (%s%s)? Cancelled runs cannot be resumed. [y/N] ",
    #ids, table.concat(first, ", "), #ids > 3 and ", …" or ""))
  return answer ~= false
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

-- What the command keeps of a batch while results stream past: counts,
-- the failure that decides the exit code, and the ids a stop record lists.
local function new_tally(action, args, n)
  return { action = action, args = args, n = n, many = n > 1, failed = 0, accepted = {}, outcome_of = {},
    not_sent = {}, unknown = {}, first_fail = nil, first_code = nil }
end

-- The failure earliest in input order decides a batch in which all failed.
local function note_failure(t, i, code)
  if not t.first_fail or i < t.first_fail then t.first_fail, t.first_code = i, code end
end

local function on_result(t, r, i)
  if r.outcome == "ok" or r.outcome == "noop" then
    if t.args.wait then
      t.accepted[#t.accepted + 1] = i
      t.outcome_of[i] = r.outcome
    end
  else
    t.failed = t.failed + 1
    note_failure(t, i, r.error.exit_code)
    -- what a stop record names: the run (and its version, in a selection)
    local who = r.pipeline_version_id and { run_id = r.run_id, user_id = r.user_id, app_id = r.app_id,
      pipeline_id = r.pipeline_id, pipeline_version_id = r.pipeline_version_id } or r.run_id
    if r.outcome == "not_sent" then t.not_sent[#t.not_sent + 1] = who
    elseif r.outcome == "unknown" and r.stopped then t.unknown[#t.unknown + 1] = who end
  end
  local mode = t.args.output
  if t.encoder then t.encoder.add(r, i) end
  if r.note and mode ~= "jsonl" then output.err("Note: run " .. r.run_id .. ": " .. r.note .. ".") end
  if t.n == 1 and mode == "json" then t.single_error = r.error end
  if mode == "text" then
    report_line(t.action, r, t.many, t.args)
  elseif mode == "jsonl" then
    local v = require("clarifai.runs").result_view(r)
    v.index = i
    common.print_json(v)
  end
end

-- One run's wait ended: a failed wait turns an accepted run into a failure.
local function on_waited(t, report, i, wr)
  local r = report.results and report.results[i]
  if r then
    r.state_code, r.state = wr.state_code or r.state_code, wr.state or r.state
    r.wait = { outcome = wr.outcome, state = wr.state, state_code = wr.state_code, error = wr.error }
  end
  local failed = wr.error and wr.outcome ~= "stopped"
  if failed then
    local s = report.summary
    s[t.outcome_of[i]], s.failed = s[t.outcome_of[i]] - 1, s.failed + 1
    note_failure(t, i, wr.error.exit_code)
    if r then r.error, r.outcome = wr.error, "failed" end
  end
  if t.args.output == "jsonl" then
    common.print_json({ index = i, run_id = wr.run_id, wait = wr.outcome, state = wr.state or json.null,
      state_code = wr.state_code or json.null, error = errors.view(wr.error) })
  elseif failed and t.args.output == "text" then
    output.err("Error: " .. wr.error.message)
  end
end

-- --wait over the accepted runs, with a progress line of how many got there.
local function wait_phase(t, source, c, report)
  -- the runs the batch accepted, of lists the batch checked: not checked again
  local watch_ids = require("clarifai.ids").mark(json.array())
  for k, i in ipairs(t.accepted) do watch_ids[k] = source.refs and source.refs[i] or source.ids[i] end
  local reached, target = 0, states.label(states.actions[t.action].target)
  local function line(extra)
    return string.format("%d/%d reached %s · waiting for %d%s", reached, #watch_ids, target, #watch_ids - reached,
      extra or "")
  end
  local opts = {
    client = c, timeout = t.args.timeout, interval = t.args.interval, parallel = t.args.parallel,
    on_retry = common.retry_note, should_stop = function() return output.broken end,
    on_reached = function(wr)
      if wr.outcome == "reached" then reached = reached + 1 end
      if t.progress then output.progress(line(), true) end
    end,
    on_poll = t.progress and function(_, _, elapsed) output.progress(line(string.format(" · %.0fs", elapsed))) end
      or nil,
  }
  local watch = require "clarifai.watch"
  local w, werr, _
  if source.refs then w, _, werr = watch.wait(t.action, watch_ids, opts)
  else w, _, werr = watch.wait(t.action, source.full, watch_ids, opts) end
  if not w then return nil, werr end
  for k, wr in ipairs(w.results) do on_waited(t, report, t.accepted[k], wr) end
  return w
end

-- After stdout's reader went away: what it did not take, saved to a file
-- (mode 0600), and where (said once, on stderr) | nil when it is all there.
local function saved_unwritten()
  if not output.gone then return nil end
  local path, err = output.save_unwritten()
  if path then return "what it did not take is in " .. path end
  return err and ("what it did not take could not be saved (" .. err .. ")") or nil
end

-- The end of the output: the document, the summary, the stop record.
local function print_end(t, report, waited)
  local mode, summary = t.args.output, report.summary
  if mode == "json" then
    if t.encoder then
      t.encoder.write(summary, output.write)
      output.write("\n")
    else
      common.print_json(require("clarifai.runs").view(report))
    end
  elseif mode == "jsonl" then
    common.print_json({ summary = summary })
  end
  output.flush_out()
  local saved = saved_unwritten()
  local e = t.keep and report.results[1].error or t.single_error
  if mode == "json" and t.n == 1 and e and not report.stopped then
    output.err(json.encode({ error = errors.view(e) }))
  elseif mode == "text" and (t.many or report.stopped) then
    output.err(summary_text(t.action, summary))
  end
  if waited and waited.signal then require("clarifai.cli.record").wait_stopped(t.action, waited) end
  if report.stopped then
    require("clarifai.cli.record").stop_hint(t.action, t.args, report.signal, t.not_sent, t.unknown,
      not report.signal and saved or nil)
  end
  if saved and not (report.stopped and not report.signal) then
    output.err("clarifai: the reader of standard output went away; " .. saved)
  end
  output.flush()
end

local function exit_code(t, report, signal)
  local stop = common.stop_code(signal)
  if stop then
    if output.broken and not output.gone and not signal then
      output.err("Error: cannot write to standard output; stopped sending (" .. summary_text(t.action, report.summary)
        .. ").")
      output.told = true
    end
    return stop
  end
  if not t.first_fail then return 0 end
  if report.summary.ok + report.summary.noop > 0 then return errors.exit_codes.partial end
  return t.first_code
end

-- What the command changes and the client: { ids, full } (runs named by
-- id) or { refs, counts } (a selection); or an exit code, or nil, err.
local function prepare(action, args)
  if not args.wait and (args.timeout or args.interval) then
    output.err("warning: --timeout and --interval apply only with --wait; ignored")
  end
  local selection = require "clarifai.cli.selection"
  local codes, serr = selection.check(action, args)
  if codes == nil then return nil, serr end
  if codes then return selection.prepare(action, args, codes) end
  local ids, ierr = common.checked_ids(args)
  if ids == false then return 0 end
  if not ids then return nil, ierr end
  local full, err = common.resolve(args)
  if not full then return nil, err end
  if args.dry_run then return require("clarifai.cli.dryrun").run(action, full, ids, args) end
  if action == "cancel" and #ids > 1 and not args.yes and not confirm_cancel(ids) then
    return nil, errors.new("declined", "declined at the prompt; nothing was sent (nothing was cancelled)")
  end
  local c, cerr = common.make_client(args)
  if not c then return nil, cerr end
  return { ids = ids, full = full }, c
end

local function change(action, args)
  local source, c = prepare(action, args)
  if type(source) ~= "table" then return source, c end
  local runs = require "clarifai.runs"
  -- should stdout's reader go away, what it did not take goes to a file
  output.keep_unwritten()
  local t = new_tally(action, args, source.refs and #source.refs or #source.ids)
  t.progress = t.many and output.enable_progress(args.no_progress)
  -- -o json keeps each result as encoded text, unless --wait must update it
  t.keep = args.output == "json" and args.wait
  t.encoder = args.output == "json" and not t.keep and runs.encoder(action) or nil
  local opts = {
    client = c, parallel = args.parallel, collect = t.keep, on_retry = common.retry_note,
    group_size = args.group_size,
    should_stop = function() return output.broken end,
    on_result = function(r, i) on_result(t, r, i) end,
    -- after each round of finished runs: their lines go out before the next wait
    on_progress = function(done, inflight)
      output.flush_out()
      if t.progress then
        output.progress(string.format("%d/%d done · %d failed · %d in flight", done, t.n, t.failed, inflight))
      end
    end,
  }
  local report, rerr, _
  if source.refs then report, _, rerr = runs.apply(action, source.refs, opts)
  else report, _, rerr = runs.apply(action, source.full, source.ids, opts) end
  if not report then return nil, rerr end
  local waited
  if args.wait and not report.stopped and #t.accepted > 0 then
    local werr
    waited, werr = wait_phase(t, source, c, report)
    if not waited then return nil, werr end
  end
  output.end_progress()
  print_end(t, report, waited)
  return exit_code(t, report, report.signal or (waited and waited.signal))
end

M.run = change

return M
