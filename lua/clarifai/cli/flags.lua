-- Every command and flag of `clarifai`, once. The argparse tree
-- (clarifai.cli.parser), the fast path (clarifai.cli.fastargs), help texts
-- (clarifai.cli.help) and completion scripts (clarifai.cli.completion) are
-- all built from this table, and defaults and ranges come from clarifai.limits, so
-- none of them can disagree. A new flag goes here and nowhere else.

local limits = require "clarifai.limits"

local M = {}

-- Seconds in each unit a duration may carry (a bare number is seconds).
local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600, d = 86400 }

--[[
convert(option, text) -> value | nil, problem
A flag's value from its text: as typed for kind "text"; otherwise a number
in the option's range from clarifai.limits (o.limit), e.g. "must be a whole
number 1..1024". A whole number is decimal digits only (0x10, 1e3 and -5
are refused); a time (a limit in seconds) is a duration: a number with an
optional unit, ms, s, m, h or d ("500ms", "5m"; "90" is 90 seconds). An
out-of-range value is a usage error, never clamped.
]]
function M.convert(o, s)
  if o.kind == "text" or not o.kind then return s end
  local l = limits.table[o.limit]
  if l.unit == "seconds" then
    local n, unit = s:match("^(%d*%.?%d+)(%a*)$")
    if not n or not UNITS[unit == "" and "s" or unit] then
      return nil, "must be a duration like 90s, 500ms, 45m, 2h or 3d (a bare number is seconds), "
        .. limits.range(o.limit)
    end
    return limits.check(o.limit, tonumber(n) * UNITS[unit == "" and "s" or unit])
  end
  if l.integer then
    if not s:match("^%d+$") then return nil, "must be a whole number " .. limits.range(o.limit) end
    return limits.check(o.limit, tonumber(s))
  end
  if not s:match("^%d*%.?%d+$") then return nil, "must be a number " .. limits.range(o.limit) end
  return limits.check(o.limit, tonumber(s))
end

-- An option: names (the first is the canonical one; for argparse, a name
-- with "_" also accepts "-"), target key, argname (nil for a flag), kind
-- ("text" or "number": then `limit`, its entry in clarifai.limits, gives
-- the range and the default), choices, help, complete ("file", "context",
-- "state", or choices). A number's default is filled in before the command
-- runs unless `later` (the command must see whether it was given; help
-- still shows it).
local function opt(t)
  if t.limit then
    local l = assert(limits.table[t.limit], t.limit)
    t.kind, t.range = t.kind or "number", limits.range(t.limit, true)
    if t.default == nil and not t.later then t.default = l.default end
    if not t.no_default then t.shown_default = l.default end
  end
  return t
end

local RUN_ID = opt { names = { "--pipeline_version_run_id", "--pipeline-version-run-id" },
  target = "pipeline_version_run_id", argname = "ID", kind = "text", help = "The run id (a positional id wins)." }

local SCOPE = {
  opt { names = { "--user_id", "--user-id" }, target = "user_id", argname = "ID", kind = "text",
    help = "User id (default: from config-lock.yaml)." },
  opt { names = { "--app_id", "--app-id" }, target = "app_id", argname = "ID", kind = "text",
    help = "App id (default: from config-lock.yaml)." },
  opt { names = { "--pipeline_id", "--pipeline-id" }, target = "pipeline_id", argname = "ID", kind = "text",
    help = "Pipeline id (default: from config-lock.yaml)." },
  opt { names = { "--pipeline_version_id", "--pipeline-version-id" }, target = "pipeline_version_id",
    argname = "ID", kind = "text", help = "Pipeline version id (default: from config-lock.yaml)." },
}

local NET = {
  opt { names = { "--connect-timeout", "--connect_timeout" }, target = "connect_timeout", argname = "TIME",
    limit = "connect_timeout", env = "CLARIFAI_CONNECT_TIMEOUT",
    help = "Time to establish a connection (a duration: 10, 10s, 500ms)." },
  opt { names = { "--request-timeout", "--request_timeout" }, target = "request_timeout", argname = "TIME",
    limit = "request_timeout", env = "CLARIFAI_REQUEST_TIMEOUT",
    help = "Time for one HTTP attempt (a duration: 30, 30s, 2m)." },
  opt { names = { "--deadline" }, target = "deadline", argname = "TIME", limit = "deadline",
    env = "CLARIFAI_DEADLINE", help = "Time for one run's change, retries and reconciliation included (60, 2m)." },
  opt { names = { "--max-response-size", "--max_response_size" }, target = "max_size", argname = "BYTES",
    limit = "max_size", env = "CLARIFAI_MAX_RESPONSE_SIZE",
    help = "Largest response accepted, in bytes (kept bytes: string values over "
      .. limits.defaults.skim .. " bytes in runs, such as the Argo spec and status, are dropped as they arrive "
      .. "and do not count)." },
}

local function output(choices, default)
  return opt { names = { "-o", "--output" }, target = "output", argname = "FORMAT", kind = "text",
    choices = choices, default = default, help = "Output format: " .. table.concat(choices, ", ") .. "." }
end

local PARALLEL = opt { names = { "--parallel" }, target = "parallel", argname = "N", limit = "parallel",
  help = "Requests in flight at once." }

local NO_PROGRESS = opt { names = { "--no-progress" }, target = "no_progress",
  help = "No live progress line on stderr (it is shown only on a terminal)." }

-- Wider scopes than one pipeline version: for a selection and for list.
local SCOPES = {
  opt { names = { "--all-versions" }, target = "all_versions",
    help = "Every version of the pipeline (--pipeline_id or config-lock.yaml)." },
  opt { names = { "--all-pipelines" }, target = "all_pipelines",
    help = "Every version of every pipeline of the app." },
  opt { names = { "--nodepool_id", "--nodepool-id" }, target = "nodepool_id", argname = "ID", kind = "text",
    help = "Every run on this nodepool, whatever its app, pipeline and version (with --compute_cluster_id; "
      .. "--app_id, --pipeline_id and --pipeline_version_id given as flags narrow it)." },
  opt { names = { "--compute_cluster_id", "--compute-cluster-id" }, target = "compute_cluster_id", argname = "ID",
    kind = "text", help = "The nodepool's compute cluster." },
  opt { names = { "--compute_cluster_user_id", "--compute-cluster-user-id" }, target = "compute_cluster_user_id",
    argname = "ID", kind = "text",
    help = "The compute cluster's owner (default: --user_id, then config-lock.yaml's user_id, then me)." },
}

-- Selecting the runs a change applies to, instead of naming them.
local function selection(name)
  local from = {}
  for i, code in ipairs(require("clarifai.states").actions[name].from) do
    from[i] = require("clarifai.states").label(code)
  end
  return {
    opt { names = { "--all" }, target = "all",
      help = "Every run " .. name .. " applies to (" .. table.concat(from, ", ") .. ") in the scope: one pipeline "
        .. "version unless a scope flag widens it (list --all, by contrast, reads every page)." },
    opt { names = { "--status" }, target = "status", argname = "STATES", kind = "text", complete = "state",
      help = "Only runs in these states (comma-separated; those " .. name .. " applies to)." },
    opt { names = { "--older-than", "--older_than" }, target = "older_than", argname = "AGE",
      limit = "older_than", later = true, no_default = true,
      help = "Only runs created at least AGE ago (90s, 45m, 2h, 3d; by created_at, against this machine's clock)." },
    opt { names = { "--limit" }, target = "limit", argname = "N", limit = "selection_limit", later = true,
      no_default = true, help = "Only the N oldest runs of the selection (by created_at)." },
    opt { names = { "--group-size", "--group_size" }, target = "group_size", argname = "N", limit = "group_size",
      later = true, no_default = true, help = "Runs of one version per PATCH (a selection: default "
        .. limits.defaults.group_size .. "; ids: 1)." },
  }
end

-- Options every command takes, before or after its name.
M.global = {
  opt { names = { "--config" }, target = "config", argname = "PATH", kind = "text", complete = "file",
    help = "Config file (default ~/.config/clarifai/config)." },
  opt { names = { "--context" }, target = "context", argname = "NAME", kind = "text", complete = "context",
    help = "Context of the config file to use (default: its current_context)." },
  opt { names = { "--verbose", "-v" }, target = "verbose",
    help = "Show each HTTP request (token redacted) and its outcome on stderr." },
  opt { names = { "--debug" }, target = "debug", help = "Show a traceback for internal errors." },
}

local function concat(...)
  local out = {}
  for _, part in ipairs({ ... }) do
    if part.names then out[#out + 1] = part else
      for _, o in ipairs(part) do out[#out + 1] = o end
    end
  end
  return out
end

-- A command spec whose `options` list is built when first asked for
-- (spec.options): one command's run builds its own options, not the other
-- commands' (building them all was a tenth of a pause's start).
local function command(spec, options)
  return setmetatable(spec, { __index = function(t, key)
    if key ~= "options" then return nil end
    local list = options()
    rawset(t, "options", list)
    return list
  end })
end

local IDS_ARG = { name = "ids", argname = "PIPELINE_VERSION_RUN_ID", many = true,
  help = "Run ids; - reads them from standard input (one or more per line; blank lines and # comments skipped)." }
local ID_ARG = { name = "id", argname = "PIPELINE_VERSION_RUN_ID", optional = true, help = "The run id." }

local function change_command(name, summary)
  return command({ name = name, summary = summary, kind = "change", action = name, args = { IDS_ARG } }, function()
    return concat(RUN_ID, SCOPE, selection(name), SCOPES, PARALLEL,
      opt { names = { "-y", "--yes" }, target = "yes",
        help = name == "cancel" and "Do not ask before cancelling more than one run, or a selection."
          or "Do not ask before changing a selection." },
      opt { names = { "--wait" }, target = "wait", help = "Wait until the transition has happened." },
      opt { names = { "--timeout" }, target = "timeout", argname = "TIME", limit = "wait_timeout", later = true,
        help = "With --wait: give up after this long (exit 124; 300, 5m, 1h)." },
      opt { names = { "--interval" }, target = "interval", argname = "TIME", limit = "wait_interval", later = true,
        help = "With --wait: time between polls (2, 2s, 500ms)." },
      opt { names = { "--dry-run" }, target = "dry_run",
        help = "Print the exact HTTP request(s), token redacted, and send nothing (a selection: list the runs "
          .. "it selects, per version; no PATCH)." },
      NO_PROGRESS,
      output({ "text", "json", "jsonl", "ids" }, "text"), NET)
  end)
end

-- `watch`: follow a selection's state changes, and react to them.
local WATCH = command({
  name = "watch", summary = "Follow a selection of runs: a line per state change; react with --exec.",
  description = "Follow the runs of a selection (ids, --all or --status, in one version or a wider scope) and "
    .. "print an event each time one changes: new (first seen; on the first poll every run, unless "
    .. "--quiet-start), change (from -> to), left (no longer in the listed states: read once, then no longer "
    .. "followed). Polls see states, not every transition: a run that passes through a state between two polls "
    .. "is reported from the state seen before to the state seen now. --exec runs a command for each event, "
    .. "the event in its environment and as a JSON line on its stdin.",
  args = { IDS_ARG },
}, function()
  return concat(RUN_ID, SCOPE,
    opt { names = { "--all" }, target = "all", help = "Every run of the scope, in any state." },
    opt { names = { "--status" }, target = "status", argname = "STATES", kind = "text", complete = "state",
      help = "Only runs in these states (comma-separated: running,paused,…); the server filters." },
    opt { names = { "--older-than", "--older_than" }, target = "older_than", argname = "AGE",
      limit = "older_than", later = true, no_default = true, help = "Only runs created at least AGE ago." },
    SCOPES,
    opt { names = { "--until" }, target = "until", argname = "STATES", kind = "text", complete = "state",
      help = "End once every followed run is in one of these states or a terminal one (exit 0; 1 when a run "
        .. "ended in another terminal state)." },
    opt { names = { "--timeout" }, target = "timeout", argname = "TIME", limit = "watch_timeout", later = true,
      no_default = true, help = "End after this long (exit 124; default: never)." },
    opt { names = { "--interval" }, target = "interval", argname = "TIME", limit = "wait_interval",
      help = "Time between polls (2, 2s, 500ms)." },
    opt { names = { "--quiet-start", "--quiet_start" }, target = "quiet_start",
      help = "No event for the runs the first poll finds: only what changes after." },
    opt { names = { "--exec" }, target = "exec", argname = "'CMD ARGS'", kind = "text",
      help = "Run CMD for each event (split as a shell splits words, quotes honoured, nothing expanded; "
        .. "use sh -c for a shell). The event is in CLARIFAI_EVENT, CLARIFAI_RUN_ID, CLARIFAI_USER_ID, "
        .. "CLARIFAI_APP_ID, CLARIFAI_PIPELINE_ID, CLARIFAI_PIPELINE_VERSION_ID, CLARIFAI_FROM, CLARIFAI_TO and "
        .. "a JSON line on stdin; the token is not passed on." },
    opt { names = { "--exec-parallel", "--exec_parallel" }, target = "exec_parallel", argname = "N",
      limit = "exec_parallel", help = "Hooks running at once; later events wait in order." },
    PARALLEL, output({ "text", "jsonl" }, "text"), NET)
end)

M.commands = {
  {
    name = "pipelinerun", aliases = { "pr" }, summary = "Monitor and control pipeline runs.",
    kind = "group",
    commands = {
      change_command("pause", "Pause a pipeline version run."),
      change_command("cancel", "Cancel a pipeline version run."),
      change_command("resume", "Resume a paused pipeline version run."),
      command({
        name = "status", aliases = { "get" }, summary = "Show the state and times of runs.",
        description = "Show each run's state, created, started and ended times (RFC 3339 UTC, to the second; "
          .. "-o json gives the API's own text) and total run duration; -o wide adds each run's ids.",
        args = { IDS_ARG },
      }, function() return concat(RUN_ID, SCOPE, PARALLEL, output({ "table", "wide", "json" }, "table"), NET) end),
      command({
        name = "list", aliases = { "ls" }, summary = "List the runs of a pipeline version.",
        description = "List the runs of a pipeline version, newest first, a page at a time. The table shows "
          .. "each run's AGE, the version's first 8 characters, and USER_ID and APP_ID only where runs differ in "
          .. "them; -o wide shows every id whole.",
      }, function()
        return concat(SCOPE,
          opt { names = { "--status" }, target = "status", argname = "STATES", kind = "text", complete = "state",
            help = "Only runs in these states (comma-separated: running,paused,…)." },
          opt { names = { "--page", "--page_no", "--page-no" }, target = "page", argname = "N", limit = "page",
            later = true, help = "Page number." },
          opt { names = { "--per_page", "--per-page" }, target = "per_page", argname = "N", limit = "per_page",
            later = true, help = "Runs per page (with --all: " .. limits.defaults.api_per_page .. ")." },
          opt { names = { "--all" }, target = "all",
            help = "Follow every page (at most " .. limits.defaults.list_max .. " runs)." },
          SCOPES, PARALLEL, NO_PROGRESS,
          output({ "table", "wide", "json", "jsonl", "ids" }, "table"), NET)
      end),
      command({
        name = "monitor", summary = "Watch a run's state and logs until it ends.",
        args = { ID_ARG },
      }, function()
        return concat(RUN_ID, SCOPE,
          opt { names = { "--timeout" }, target = "timeout", argname = "TIME", limit = "monitor_timeout",
            help = "Give up after this long (exit 124; 3600, 1h)." },
          opt { names = { "--monitor_interval", "--monitor-interval", "--interval" }, target = "monitor_interval",
            argname = "TIME", limit = "monitor_interval", help = "Time between polls (10, 10s, 500ms)." },
          opt { names = { "--log_file", "--log-file" }, target = "log_file", argname = "PATH", kind = "text",
            complete = "file", help = "Append log lines to this file instead of stdout." },
          output({ "text", "jsonl", "json" }, "text"), NET)
      end),
      command({
        name = "history", summary = "Show a run's status changes (who, when, why).",
        description = "Show a run's status-change log: when each state was entered, by whom and why.",
        args = { ID_ARG },
      }, function() return concat(RUN_ID, SCOPE, output({ "table", "json" }, "table"), NET) end),
      WATCH,
      command({ name = "transitions", summary = "Show the state transition table." },
        function() return { output({ "text", "json" }, "text") } end),
    },
  },
  {
    name = "completion", summary = "Print a shell completion script.",
    description = "Print a completion script for bash, zsh or fish.\n\n"
      .. "  bash: source <(clarifai completion bash)\n"
      .. "  zsh:  clarifai completion zsh > \"${fpath[1]}/_clarifai\"\n"
      .. "  fish: clarifai completion fish > ~/.config/fish/completions/clarifai.fish",
    -- "contexts" (not shown in help) prints the config's context names: the
    -- scripts call it to complete --context
    args = { { name = "shell", argname = "SHELL", choices = { "bash", "zsh", "fish" }, hidden_choices = { "contexts" },
      help = "bash, zsh or fish." } },
    options = {},
  },
  {
    name = "script", summary = "Run a Lua workflow with the library loaded.",
    description = "Run a Lua workflow with the library loaded.\n\n"
      .. "`require \"clarifai\"` gives the library; its default client comes from the same\n"
      .. "--config, --context and environment as every command. `arg` holds the arguments.",
    args = { { name = "file", argname = "FILE.lua", help = "The Lua file." },
             { name = "args", argname = "ARGS", many = true, help = "Arguments for the script." } },
    options = {},
  },
  {
    name = "help", summary = "Show help for a command.",
    description = "Show help for a command: clarifai help pr pause.",
    args = { { name = "topic", argname = "COMMAND", many = true, help = "The command." } },
    options = {},
  },
}

-- find(path) -> the command spec at a path of names or aliases
-- ({"pr", "pause"}), or nil; the root is {}.
local ROOT = { name = "clarifai", kind = "group", commands = M.commands, options = {} }
M.root = ROOT

local function child(cmd, word)
  for _, sub in ipairs(cmd.commands or {}) do
    if sub.name == word then return sub end
    for _, a in ipairs(sub.aliases or {}) do
      if a == word then return sub end
    end
  end
  return nil
end
M.child = child

function M.find(path)
  local cmd = ROOT
  for _, word in ipairs(path) do
    cmd = child(cmd, word)
    if not cmd then return nil end
  end
  return cmd
end

-- option_map(cmd) -> name -> option, for cmd's own options and the globals
-- (built once per command: the fast path asks on every run).
local maps = setmetatable({}, { __mode = "k" })
function M.option_map(cmd)
  if maps[cmd] then return maps[cmd] end
  local map = {}
  for _, list in ipairs({ M.global, cmd.options or {} }) do
    for _, o in ipairs(list) do
      for _, n in ipairs(o.names) do map[n] = o end
    end
  end
  maps[cmd] = map
  return map
end

-- The flag of an option (its target: "nodepool_id") as help shows it
-- ("--nodepool_id"), whichever command has it; "--" .. target otherwise.
function M.name_of(target)
  local function search(cmd)
    for _, list in ipairs({ cmd.options or {} }) do
      for _, o in ipairs(list) do
        if o.target == target then return o.names[1] end
      end
    end
    for _, sub in ipairs(cmd.commands or {}) do
      local n = search(sub)
      if n then return n end
    end
    return nil
  end
  for _, o in ipairs(M.global) do
    if o.target == target then return o.names[1] end
  end
  return search(ROOT) or ("--" .. target)
end

--[[
leading_globals(argv) -> values, index: the global options at the start of
argv (--config PATH, --config=PATH, --context, -v/--verbose, --debug) as
target -> value, and the index of the first argument that is not one.
]]
function M.leading_globals(argv)
  local map, values, i = M.option_map(ROOT), {}, 1
  while argv[i] do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[%w_-]+)=(.*)$")
    local o = map[name or a]
    if not o then break end
    if not o.argname then
      values[o.target] = true
      i = i + 1
    elseif inline then
      values[o.target] = inline
      i = i + 1
    else
      values[o.target] = argv[i + 1]
      i = i + 2
    end
  end
  return values, i
end

-- The defaults a parsed command starts from: target -> value.
function M.defaults_of(cmd)
  local out = {}
  for _, o in ipairs(cmd.options or {}) do
    if o.default ~= nil and not o.env then out[o.target] = o.default end
  end
  return out
end

return M
