-- The record a stopped batch leaves on stderr: why it stopped, which runs
-- were not sent or may have changed, and the commands that re-run exactly
-- those runs with the user's own flags; after a stopped --wait, which
-- accepted runs had reached the target state.

local api = require "clarifai.api"
local common = require "clarifai.cli.common"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local function id_list(ids, max)
  local shown = {}
  for i = 1, math.min(#ids, max) do shown[i] = text.sanitize(ids[i]) end
  return table.concat(shown, ", ") .. (#ids > max and ", …" or "")
end

-- The entries of a stop record by version, each with the flags that name
-- it: run ids (one version: the user's own flags) or refs (a selection:
-- each version's four ids).
local function by_version(list, args)
  local groups, at = {}, {}
  for _, e in ipairs(list) do
    local key, flags = "", common.scope_flags(args)
    if type(e) == "table" then
      key = api.version_key(e)
      local words = { args.config and ("--config=" .. common.shell_word(args.config)) or nil }
      if args.context then words[#words + 1] = "--context=" .. common.shell_word(args.context) end
      for _, f in ipairs({ "user_id", "app_id", "pipeline_id", "pipeline_version_id" }) do
        words[#words + 1] = "--" .. f .. "=" .. common.shell_word(e[f])
      end
      flags = table.concat(words, " ")
    end
    if not at[key] then
      at[key] = { flags = flags, ids = {}, selection = type(e) == "table",
        version = type(e) == "table" and e.pipeline_version_id or nil }
      groups[#groups + 1] = at[key]
    end
    local ids = at[key].ids
    ids[#ids + 1] = type(e) == "table" and e.run_id or e
  end
  return groups
end

-- After a stop: what was not sent and what may have changed, and how to
-- re-run exactly those runs with the user's own flags (one command per
-- version of a selection). saved: where the output a reader that went away
-- did not take was saved ("what it did not take is in PATH"), said in the
-- same line.
function M.stop_hint(action, args, signal, not_sent, unknown, saved)
  local why = signal and ("Stopped by " .. common.signal_name(signal))
    or output.gone and "Stopped: the reader of standard output went away"
    or "Stopped: standard output could not be written"
  output.err(why .. ": nothing more was sent" .. (saved and ("; " .. saved) or "."))
  -- Up to 20 ids go on the command line. More: on a terminal (whose output
  -- is saved nowhere) they go to a file (0600, in $TMPDIR) the command
  -- reads; elsewhere the command picks them from the saved output (a
  -- selection's: the JSON names each run's version; its text does not, so
  -- its ids go on the command line).
  local sys = require "clarifai.sys.core"
  local on_tty, pointed = sys.isatty(2), false
  local function inline(verb, tail, ids)
    local words = {}
    for i, id in ipairs(ids) do words[i] = common.shell_word(id) end
    return "  clarifai pr " .. verb .. tail .. " " .. table.concat(words, " ")
  end
  local function command(verb, g, outcome, line)
    local tail = g.flags ~= "" and (" " .. g.flags) or ""
    local ids = g.ids
    if #ids <= 20 then return inline(verb, tail, ids) end
    if on_tty then
      local path = sys.save(outcome:gsub("_", "-"), table.concat(ids, "\n") .. "\n")
      if path then return "  clarifai pr " .. verb .. " -" .. tail .. " < " .. common.shell_word(path) end
    end
    local which = "select(.outcome == \"" .. outcome .. "\""
    if g.selection then -- a JSON string, inside the shell's single quotes
      which = which .. " and .pipeline_version_id == " .. require("clarifai.json").encode(g.version):gsub("'", "'\\''")
    end
    which = which .. ")"
    local pick
    if args.output == "json" then
      pick = "jq -r '.results[] | " .. which .. " | .run_id' OUTPUT_FILE"
    elseif args.output == "jsonl" then
      pick = "jq -r '" .. which .. " | .run_id' OUTPUT_FILE"
    elseif g.selection then
      return inline(verb, tail, ids)
    else
      pick = "sed -n 's/^" .. line .. ": //p' STDERR_FILE"
    end
    pointed = true
    return "  " .. pick .. " | clarifai pr " .. verb .. " -" .. tail
  end
  if #not_sent > 0 then
    output.err(string.format("%d run%s not sent; to send %s:", #not_sent, #not_sent == 1 and " was" or "s were",
      #not_sent == 1 and "it" or "them"))
    for _, g in ipairs(by_version(not_sent, args)) do
      output.err(command(action, g, "not_sent", "not sent"))
    end
  end
  if #unknown > 0 then
    output.err(string.format("%d run%s in flight and may or may not have changed; to check:", #unknown,
      #unknown == 1 and " was" or "s were"))
    for _, g in ipairs(by_version(unknown, args)) do
      output.err(command("status", g, "unknown", "unknown"))
    end
  end
  if pointed then
    output.err(args.output == "text" and "  (STDERR_FILE: where this command's standard error was saved)"
      or "  (OUTPUT_FILE: where this command's output was saved)")
  end
end

-- After a signal during --wait: which accepted runs had reached the target.
function M.wait_stopped(action, waited)
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

return M
