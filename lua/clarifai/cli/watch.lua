-- `clarifai pr watch`: follows a selection (watch.events) and prints a line
-- per event (-o jsonl: an object per event); --exec runs a hook for each
-- (clarifai.hooks), at most --exec-parallel at once, never holding up the
-- polls. Ends when --until holds, --timeout passes, or on a signal (no new
-- hook starts; running ones get SIGTERM after 1 s; the exit within 1.5 s).

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local output = require "clarifai.cli.output"
local text = require "clarifai.text"

local M = {}

-- The names a hook gets the event under, and what it must not get.
local ENV = { event = "CLARIFAI_EVENT", run_id = "CLARIFAI_RUN_ID", user_id = "CLARIFAI_USER_ID",
  app_id = "CLARIFAI_APP_ID", pipeline_id = "CLARIFAI_PIPELINE_ID",
  pipeline_version_id = "CLARIFAI_PIPELINE_VERSION_ID", from = "CLARIFAI_FROM", to = "CLARIFAI_TO" }
local SECRETS = { "CLARIFAI_PAT", "CLARIFAI_SESSION_TOKEN" }

-- What is watched: { scope, filter } | nil, err.
local function what(args)
  local selection = require "clarifai.cli.selection"
  local selecting, serr = selection.check_flags(args)
  if selecting == nil then return nil, serr end
  if not selecting and #(args.ids or {}) == 0 and not args.pipeline_version_run_id then
    return common.usage("name the runs to watch (ids or -) or select them (--all, --status)")
  end
  local filter = { states = common.split_list(args.status), older_than = args.older_than }
  if not selecting then
    local list, ierr = common.checked_ids(args)
    if list == false then return 0 end
    if not list then return nil, ierr end
    local full, err = common.resolve(args)
    if not full then return nil, err end
    filter.run_ids = list
    return { scope = full, filter = filter }
  end
  local scope, err = selection.scope(args)
  if not scope then return nil, err end
  return { scope = scope, filter = filter }
end

-- The text line of an event: time, event, run, version, from -> to.
local function line(ev)
  local version = tostring(ev.pipeline_id) .. "/" .. common.short_id(ev.pipeline_version_id)
  local from = ev.from ~= require("clarifai.json").null and ev.from or ""
  local to = ev.to ~= require("clarifai.json").null and ev.to or "?"
  return string.format("%s  %-6s  %s  %s  %s%s", ev.time, ev.event, text.cell(ev.run_id), text.cell(version),
    from ~= "" and (from .. " ") or "", "→ " .. to)
end

-- A hook runner for --exec, or nil; nil, err for a command that cannot be split.
local function hook_runner(args)
  if not args.exec then return nil end
  local hooks = require "clarifai.hooks"
  local words, why = hooks.split(args.exec)
  if not words then return nil, errors.new("usage", "--exec: " .. why) end
  return hooks.runner({ argv = words, parallel = args.exec_parallel, strip_env = SECRETS,
    on_exit = function(info)
      if info.ok then return end
      local ev = info.env or {}
      local how = info.how == "signal" and ("killed by signal " .. tostring(info.signal))
        or info.how == "exit" and ("exit " .. tostring(info.code)) or tostring(info.message or info.how)
      output.err(string.format("hook failed (%s) for %s %s", how, tostring(ev.CLARIFAI_EVENT),
        text.sanitize(tostring(ev.CLARIFAI_RUN_ID))))
    end })
end

-- Sleeping between polls: hooks are collected and started meanwhile, in
-- slices; false when a signal came.
local function sleeper(runner)
  local sys = require "clarifai.sys.core"
  return function(seconds)
    local left = seconds
    repeat
      if runner then runner:step() end
      local slice = runner and math.min(left, 0.05) or left
      if not sys.sleep(slice) then return false end
      left = left - slice
    until left <= 0
    return true
  end
end

local function submit(runner, ev)
  local env = {}
  for k, name in pairs(ENV) do
    local v = ev[k]
    env[name] = type(v) == "string" and v or ""
  end
  runner:submit(env, require("clarifai.json").encode(ev) .. "\n")
  runner:step()
end

-- The summary on stderr, and the hooks' end: a normal end lets the queued
-- and running hooks finish; a stop ends them.
local function finish(events, runner, args)
  if runner then
    if events.ended == "stopped" then runner:stop() else
      local ok = runner:drain()
      if not ok then runner:stop() end
    end
  end
  local c = events.counts
  local parts = { string.format("%d poll%s: %d new, %d change%s, %d left", events.polls, events.polls == 1 and "" or "s",
    c.new, c.change, c.change == 1 and "" or "s", c.left) }
  if runner then
    local h = runner:counts()
    parts[#parts + 1] = string.format("hooks: %d ran, %d failed", h.started, h.failed)
  end
  if events.ended == "stopped" and events.signal then
    common.stopped_reading(events.signal, "watching")
  end
  -- a reader that went away ends it quietly (141); a stdout that fails, with its error (74)
  if (args.output == "text" or runner) and not output.gone then output.err("watch: " .. table.concat(parts, "; ")) end
end

function M.run(args)
  local w, err = what(args)
  if type(w) ~= "table" then return w, err end
  local c, cerr = common.make_client(args)
  if not c then return nil, cerr end
  local runner, herr = hook_runner(args)
  if herr then return nil, herr end
  local watch = require "clarifai.watch"
  local events, _, eerr = watch.events(w.scope, w.filter, { client = c, interval = args.interval,
    timeout = args.timeout, ["until"] = args["until"] and common.split_list(args["until"]) or nil,
    quiet_start = args.quiet_start == true, parallel = args.parallel, on_retry = common.retry_note,
    on_error = function(e) output.err("warning: " .. common.describe(e) .. " (the watch goes on)") end,
    should_stop = function() return output.broken end, sleep = sleeper(runner) })
  if not events then return nil, eerr end
  for ev in events do
    if args.output == "jsonl" then common.print_json(ev) else output.out(line(ev)) end
    output.flush_out()
    if runner then submit(runner, ev) end
  end
  finish(events, runner, args)
  if events.ended == "error" then return nil, events.error end
  if events.ended == "stopped" and not events.signal then return common.stop_code(nil) or events.exit_code end
  return events.exit_code
end

return M
