-- The argparse tree. Help texts about states come from clarifai.states, exit
-- codes from clarifai.errors, so the help cannot drift from the behaviour.

local argparse = require "argparse"
local errors = require "clarifai.errors"
local states = require "clarifai.states"

local M = {}

local ENV_HELP = [[
Environment:
  CLARIFAI_PAT       personal access token (wins over the config file)
  CLARIFAI_API_BASE  API base URL (default https://api.clarifai.com)
  SSL_CERT_FILE, SSL_CERT_DIR, CURL_CA_BUNDLE, CLARIFAI_ROOT_CERTIFICATES_PATH
                     CA certificates used to verify the server]]

-- Options every run command takes: the four ids.
local function id_options(cmd)
  cmd:option("--user_id --user-id", "User id (default: from config-lock.yaml)."):argname("ID")
  cmd:option("--app_id --app-id", "App id (default: from config-lock.yaml)."):argname("ID")
  cmd:option("--pipeline_id --pipeline-id", "Pipeline id (default: from config-lock.yaml)."):argname("ID")
  cmd:option("--pipeline_version_id --pipeline-version-id",
    "Pipeline version id (default: from config-lock.yaml)."):argname("ID")
end

local function examples(action)
  return table.concat({
    "Examples:",
    "  clarifai pr " .. action .. " RUN_ID",
    "  clarifai pipelinerun " .. action .. " --pipeline_version_run_id=RUN_ID",
    "  clarifai pr " .. action .. " RUN_ID --user_id=USER --app_id=APP \\",
    "      --pipeline_id=PIPELINE --pipeline_version_id=VERSION",
    "",
    "Without the four id flags, the ids come from config-lock.yaml in the current directory.",
  }, "\n")
end

local function action_command(group, action, summary)
  local spec = states.actions[action]
  local cmd = group:command(action):summary(summary)
  cmd:description(summary .. "\n\n" .. states.rule_sentence(action)
    .. "\nOn success the run's state becomes " .. states.label(spec.target) .. ".")
  cmd:argument("PIPELINE_VERSION_RUN_ID", "The pipeline version run id.")
    :args("?"):target("pipeline_version_run_id_pos")
  cmd:option("--pipeline_version_run_id --pipeline-version-run-id",
    "The run id (the positional argument wins)."):argname("ID")
  id_options(cmd)
  cmd:epilog(examples(action))
  return cmd
end

function M.build()
  local parser = argparse("clarifai", "Control Clarifai pipeline runs: pause, cancel and resume.")
  parser:command_target("command")
  parser:flag("--version", "Show the version and exit.")
  parser:option("--config", "Config file (default ~/.config/clarifai/config).")
    :argname("PATH")
  parser:option("--context", "Context of the config file to use (default: its current_context).")
    :argname("NAME")
  parser:flag("--verbose -v", "Show each HTTP request and response status on stderr (token redacted).")
  parser:flag("--debug", "Show a traceback for internal errors.")
  parser:require_command(false)
  parser:epilog(table.concat({
    "Exit codes:", errors.exit_text(), "", ENV_HELP,
  }, "\n"))

  local pr = parser:command("pipelinerun pr"):summary("Monitor and control pipeline runs.")
  pr:command_target("subcommand")
  pr:description("Monitor and control pipeline runs.\n\nAllowed state transitions:\n" .. states.table_text())
  action_command(pr, "pause", "Pause a pipeline version run.")
  action_command(pr, "cancel", "Cancel a pipeline version run.")
  action_command(pr, "resume", "Resume a paused pipeline version run.")
  return parser
end

return M
