-- The argparse tree. Help texts about states come from clarifai.states, exit
-- codes from clarifai.errors, so the help cannot drift from the behaviour.

local errors = require "clarifai.errors"
local states = require "clarifai.states"

local M = {}

local ENV_HELP = [[
Environment:
  CLARIFAI_PAT       personal access token (wins over the config file)
  CLARIFAI_API_BASE  API base URL (default https://api.clarifai.com)
  CLARIFAI_CONNECT_TIMEOUT, CLARIFAI_REQUEST_TIMEOUT, CLARIFAI_DEADLINE
                     defaults for --connect-timeout, --request-timeout, --deadline
  SSL_CERT_FILE, SSL_CERT_DIR, CURL_CA_BUNDLE, CLARIFAI_ROOT_CERTIFICATES_PATH
                     CA certificates used to verify the server
  CLARIFAI_PYTHON_CLI
                     the Python `clarifai` to hand other commands to]]

local function number(name)
  return function(s)
    local n = tonumber(s)
    if not n or n < 0 or n ~= n or n == math.huge then
      return nil, name .. " must be a non-negative number of seconds"
    end
    return n
  end
end

local function positive_int(name)
  return function(s)
    local n = math.tointeger(tonumber(s))
    if not n or n < 1 then return nil, name .. " must be a positive whole number" end
    return n
  end
end

-- The four scope ids every run command takes.
local function id_options(cmd)
  cmd:option("--user_id --user-id", "User id (default: from config-lock.yaml)."):argname("ID")
  cmd:option("--app_id --app-id", "App id (default: from config-lock.yaml)."):argname("ID")
  cmd:option("--pipeline_id --pipeline-id", "Pipeline id (default: from config-lock.yaml)."):argname("ID")
  cmd:option("--pipeline_version_id --pipeline-version-id",
    "Pipeline version id (default: from config-lock.yaml)."):argname("ID")
end

-- HTTP timeouts (per command so they also work after the subcommand).
local function net_options(cmd)
  cmd:option("--connect-timeout --connect_timeout", "Seconds to establish a connection (default 10).")
    :argname("S"):convert(number("--connect-timeout"))
  cmd:option("--request-timeout --request_timeout", "Seconds for one HTTP attempt (default 30).")
    :argname("S"):convert(number("--request-timeout"))
  cmd:option("--deadline", "Seconds for one run's change, retries included (default 60).")
    :argname("S"):convert(number("--deadline"))
end

local function output_option(cmd, choices, default)
  cmd:option("-o --output", "Output format: " .. table.concat(choices, ", ") .. ".")
    :choices(choices):default(default):argname("FORMAT")
end

local function run_id_option(cmd)
  cmd:option("--pipeline_version_run_id --pipeline-version-run-id",
    "The run id (a positional id wins)."):argname("ID")
end

local function examples(action)
  return table.concat({
    "Examples:",
    "  clarifai pr " .. action .. " RUN_ID",
    "  clarifai pipelinerun " .. action .. " --pipeline_version_run_id=RUN_ID",
    "  clarifai pr " .. action .. " RUN_ID --user_id=USER --app_id=APP \\",
    "      --pipeline_id=PIPELINE --pipeline_version_id=VERSION",
    "  clarifai pr " .. action .. " RUN_A RUN_B RUN_C --wait",
    "  clarifai pr list --status running -o ids | clarifai pr " .. action .. " -",
    "",
    "Without the four id flags, the ids come from config-lock.yaml in the current directory.",
  }, "\n")
end

local function action_command(group, action, summary)
  local spec = states.actions[action]
  local cmd = group:command(action):summary(summary)
  local waits = action == "resume" and "the run has left Paused"
    or ("the run is " .. states.label(spec.target))
  cmd:description(summary .. "\n\n" .. states.rule_sentence(action)
    .. "\nOn success the run's state becomes " .. states.label(spec.target) .. "."
    .. "\nA run already " .. spec.past .. " counts as a success (\"already " .. spec.past .. "\")."
    .. "\nWith --wait, returns once " .. waits .. ".")
  cmd:argument("ids", "Run ids; - reads them from stdin."):args("*"):argname("PIPELINE_VERSION_RUN_ID")
  run_id_option(cmd)
  id_options(cmd)
  cmd:option("--parallel", "Requests in flight at once (default 8)."):argname("N")
    :convert(positive_int("--parallel")):default("8")
  if action == "cancel" then
    cmd:flag("-y --yes", "Do not ask before cancelling more than one run.")
  end
  cmd:flag("--wait", "Wait until the transition has happened.")
  cmd:option("--timeout", "With --wait: give up after this many seconds (exit 124).")
    :argname("S"):convert(number("--timeout")):default("300")
  cmd:option("--interval", "With --wait: seconds between polls.")
    :argname("S"):convert(number("--interval")):default("2")
  cmd:flag("--dry-run", "Print the HTTP request(s) (token redacted) and send nothing.")
  output_option(cmd, { "text", "json" }, "text")
  net_options(cmd)
  cmd:epilog(examples(action))
  return cmd
end

function M.build()
  local argparse = require "argparse" -- loaded only when the fast path cannot parse argv
  local parser = argparse("clarifai", "Control Clarifai pipeline runs: pause, cancel and resume, "
    .. "wait, status, list, monitor and history.")
  parser:command_target("command")
  parser:add_help_command()
  parser:flag("--version", "Show the version and exit.")
  parser:option("--config", "Config file (default ~/.config/clarifai/config).")
    :argname("PATH")
  parser:option("--context", "Context of the config file to use (default: its current_context).")
    :argname("NAME")
  parser:flag("--verbose -v", "Show each HTTP request and response status on stderr (token redacted).")
  parser:flag("--debug", "Show a traceback for internal errors.")
  parser:require_command(false)
  parser:epilog(table.concat({
    "Exit codes:", errors.exit_text(), "", ENV_HELP, "",
    "Other commands (login, model, pipeline upload, …) are handed to the Python clarifai CLI.",
  }, "\n"))

  local pr = parser:command("pipelinerun pr"):summary("Monitor and control pipeline runs.")
  pr:command_target("subcommand")
  pr:description("Monitor and control pipeline runs.\n\nAllowed state transitions:\n" .. states.table_text())
  action_command(pr, "pause", "Pause a pipeline version run.")
  action_command(pr, "cancel", "Cancel a pipeline version run.")
  action_command(pr, "resume", "Resume a paused pipeline version run.")

  local status = pr:command("status get"):summary("Show the state and times of runs.")
  status:argument("ids", "Run ids; - reads them from stdin."):args("*"):argname("PIPELINE_VERSION_RUN_ID")
  run_id_option(status)
  id_options(status)
  output_option(status, { "table", "json" }, "table")
  net_options(status)

  local list = pr:command("list ls"):summary("List the runs of a pipeline version.")
  id_options(list)
  list:option("--status", "Only runs in these states (comma-separated: running,paused,…).")
    :argname("STATES")
  list:option("--page --page_no --page-no", "Page number."):argname("N")
    :convert(positive_int("--page")):default("1")
  list:option("--per_page --per-page", "Runs per page."):argname("N")
    :convert(positive_int("--per-page")):default("16")
  list:flag("--all", "Follow every page.")
  output_option(list, { "table", "json", "ids" }, "table")
  net_options(list)

  local monitor = pr:command("monitor"):summary("Watch a run's state and logs until it ends.")
  monitor:description("Watch a run's state and logs until it ends.\n\n"
    .. "Ends on every terminal state: exit 0 Completed; 1 Failed, Unexpected error or Cancelled; "
    .. "124 timeout.\nPaused is reported once and watching goes on.")
  monitor:argument("id", "The run id."):args("?"):argname("PIPELINE_VERSION_RUN_ID")
  run_id_option(monitor)
  id_options(monitor)
  monitor:option("--timeout", "Give up after this many seconds (exit 124).")
    :argname("S"):convert(number("--timeout")):default("3600")
  monitor:option("--monitor_interval --monitor-interval --interval", "Seconds between polls.")
    :argname("S"):convert(number("--monitor_interval")):default("10")
  monitor:option("--log_file --log-file", "Append log lines to this file instead of stdout.")
    :argname("PATH")
  output_option(monitor, { "text", "json" }, "text")
  net_options(monitor)

  local history = pr:command("history"):summary("Show a run's status changes (who, when, why).")
  history:argument("id", "The run id."):args("?"):argname("PIPELINE_VERSION_RUN_ID")
  run_id_option(history)
  id_options(history)
  output_option(history, { "table", "json" }, "table")
  net_options(history)

  local transitions = pr:command("transitions"):summary("Show the state transition table.")
  output_option(transitions, { "text", "json" }, "text")

  local completion = parser:command("completion"):summary("Print a shell completion script.")
  completion:argument("shell", "bash, zsh or fish."):choices({ "bash", "zsh", "fish" })

  local script = parser:command("script"):summary("Run a Lua workflow with the library loaded.")
  script:description("Run a Lua workflow with the library loaded.\n\n"
    .. "`require \"clarifai\"` gives the library; its default client comes from the same\n"
    .. "--config, --context and environment as every command. `arg` holds the arguments.")
  script:argument("file", "The Lua file."):argname("FILE.lua")
  script:argument("args", "Arguments for the script."):args("*")
  return parser
end

return M
