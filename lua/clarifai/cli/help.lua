-- Help texts, rendered from clarifai.cli.flags (commands, options, defaults)
-- and clarifai.states (which transitions are allowed), so they cannot drift
-- from the behaviour. Cheap: no argparse.

local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local flags = require "clarifai.cli.flags"
local states = require "clarifai.states"

local M = {}

local WIDTH = 100

local function labels(codes)
  local out = {}
  for i, c in ipairs(codes) do out[i] = states.label(c) end
  return out
end

local function join_or(words)
  if #words == 1 then return words[1] end
  return table.concat(words, ", ", 1, #words - 1) .. " or " .. words[#words]
end

local function terminal_labels()
  local t = {}
  for _, s in ipairs(states.list) do
    if s.terminal then t[#t + 1] = s.label end
  end
  return t
end

-- The sentence each command's help shows; the wording of the first sentence
-- is the Python CLI's.
function M.rule_sentence(action)
  if action == "pause" then
    return "Pausing is allowed only when the pipeline run is in "
      .. join_or(labels(states.actions.pause.from)) .. " state."
  elseif action == "cancel" then
    return "Cancelling is allowed when the pipeline run is not already in a terminal state ("
      .. join_or(terminal_labels()) .. ")."
  elseif action == "resume" then
    return "Resuming is allowed only when the pipeline run is in "
      .. join_or(labels(states.actions.resume.from)) .. " state."
  end
  error("unknown action " .. tostring(action), 2)
end

-- The transition table as plain text (`pr --help`, `pr transitions`).
function M.transitions_text()
  local lines = { string.format("  %-8s %-28s %s", "ACTION", "ALLOWED FROM", "RESULT") }
  for _, name in ipairs(states.action_order) do
    local a = states.actions[name]
    lines[#lines + 1] = string.format("  %-8s %-28s %s", name, table.concat(labels(a.from), ", "),
      states.label(a.target))
  end
  lines[#lines + 1] = "  Terminal states (no further change): " .. table.concat(terminal_labels(), ", ") .. "."
  return table.concat(lines, "\n")
end

function M.exit_text()
  local lines = {}
  for _, row in ipairs(errors.exit_table) do
    lines[#lines + 1] = string.format("  %-4s %s", row[1], row[2])
  end
  return table.concat(lines, "\n")
end

local ENV_HELP = [[
Environment:
  CLARIFAI_PAT       personal access token (wins over the config file)
  CLARIFAI_API_BASE  API base URL (default https://api.clarifai.com)
  CLARIFAI_CONNECT_TIMEOUT, CLARIFAI_REQUEST_TIMEOUT, CLARIFAI_DEADLINE
                     defaults for --connect-timeout, --request-timeout, --deadline
  SSL_CERT_FILE, SSL_CERT_DIR, CURL_CA_BUNDLE, CLARIFAI_ROOT_CERTIFICATES_PATH
                     CA certificates used to verify the server
  NO_COLOR, TERM=dumb
                     no live progress line
  CLARIFAI_PYTHON_CLI
                     the Python `clarifai` to hand other commands to]]

-- Paragraphs wrapped to WIDTH, each line prefixed with indent.
local function wrap(textv, width, indent)
  local out = {}
  for para in (textv .. "\n"):gmatch("(.-)\n") do
    if para == "" or para:match("^  ") then
      out[#out + 1] = (para == "" and "" or indent .. para)
    else
      local line = ""
      for word in para:gmatch("%S+") do
        if line ~= "" and #indent + #line + 1 + #word > width then
          out[#out + 1] = indent .. line
          line = word
        else
          line = line == "" and word or (line .. " " .. word)
        end
      end
      out[#out + 1] = indent .. line
    end
  end
  return out
end

-- The spellings worth showing: dashed/underscored twins of a shown name are
-- accepted everywhere and not listed.
local function shown_names(o)
  local seen, out = {}, {}
  for _, n in ipairs(o.names) do
    local key = n:gsub("_", "-")
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = n
    end
  end
  table.sort(out, function(a, b)
    local sa, sb = a:sub(1, 2) ~= "--", b:sub(1, 2) ~= "--"
    if sa ~= sb then return sa end
    return false
  end)
  return out
end

local function option_row(o)
  local left = table.concat(shown_names(o), ", ") .. (o.argname and (" " .. o.argname) or "")
  local help = o.help or ""
  local extra = {}
  local default = o.shown_default
  if default == nil then default = o.default end
  if default ~= nil then extra[#extra + 1] = "default: " .. tostring(default) end
  if o.range then extra[#extra + 1] = o.range end
  if o.env then extra[#extra + 1] = "env " .. o.env end
  if #extra > 0 then help = help:gsub("%.$", "") .. " (" .. table.concat(extra, "; ") .. ")." end
  return left, help
end

-- Rows in two aligned columns; a left cell too wide puts its text below.
local function columns(rows)
  local width = 0
  for _, r in ipairs(rows) do
    if #r[1] <= 34 and #r[1] > width then width = #r[1] end
  end
  local out = {}
  local pad = 2 + width + 3
  for _, r in ipairs(rows) do
    local body = wrap(r[2], WIDTH, string.rep(" ", pad))
    if #r[1] > width then
      out[#out + 1] = "  " .. r[1]
      for _, l in ipairs(body) do out[#out + 1] = l end
    else
      local first = table.remove(body, 1) or ""
      out[#out + 1] = "  " .. r[1] .. string.rep(" ", width - #r[1] + 3) .. first:sub(pad + 1)
      for _, l in ipairs(body) do out[#out + 1] = l end
    end
  end
  return table.concat(out, "\n")
end

-- synopsis(words, cmd) -> "clarifai pr pause [OPTIONS] [PIPELINE_VERSION_RUN_ID]..."
function M.synopsis(words, cmd)
  local parts = { "clarifai" }
  for _, w in ipairs(words) do parts[#parts + 1] = w end
  if cmd.kind == "group" then
    parts[#parts + 1] = "[OPTIONS] COMMAND [ARGS]..."
  else
    if cmd.options and #cmd.options > 0 then parts[#parts + 1] = "[OPTIONS]" end
    for _, a in ipairs(cmd.args or {}) do
      if a.many then parts[#parts + 1] = "[" .. a.argname .. "]..."
      elseif a.optional then parts[#parts + 1] = "[" .. a.argname .. "]"
      else parts[#parts + 1] = a.argname end
    end
  end
  return table.concat(parts, " ")
end

local function examples(action)
  local from = states.actions[action].from
  local some = states.short(from[#from]):lower()
  return table.concat({
    "Examples:",
    "  clarifai pr " .. action .. " RUN_ID",
    "  clarifai pipelinerun " .. action .. " --pipeline_version_run_id=RUN_ID",
    "  clarifai pr " .. action .. " RUN_ID --user_id=USER --app_id=APP \\",
    "      --pipeline_id=PIPELINE --pipeline_version_id=VERSION",
    "  clarifai pr " .. action .. " RUN_A RUN_B RUN_C --wait",
    "  clarifai pr list --status running -o ids | clarifai pr " .. action .. " -",
    "  clarifai pr " .. action .. " --all --all-versions --older-than 2h --dry-run",
    "  clarifai pr " .. action .. " --status " .. some .. " --nodepool_id NODEPOOL --compute_cluster_id CLUSTER --yes",
    "",
    "Without the four id flags, the ids come from config-lock.yaml in the current directory.",
    "With no run id, --all or --status selects runs (the list endpoints, every page) and changes",
    "them in groups of one version (--group-size, default 100 per PATCH), after asking (-y: do not ask).",
    "Results are printed as each run finishes; -o jsonl gives one JSON object per run.",
    "SIGINT, SIGTERM and SIGHUP stop sending at once and print every run's outcome.",
  }, "\n")
end

-- The description paragraph(s) of a command.
local function description(cmd)
  if cmd.kind == "change" then
    local spec = states.actions[cmd.action]
    local waits = cmd.action == "resume" and "the run has left Paused" or ("the run is " .. states.label(spec.target))
    return cmd.summary .. "\n\n" .. M.rule_sentence(cmd.action)
      .. "\nOn success the run's state becomes " .. states.label(spec.target) .. "."
      .. "\nA run already " .. spec.past .. " counts as a success (\"already " .. spec.past .. "\")."
      .. "\nWith --wait, returns once " .. waits .. "."
  elseif cmd.name == "pipelinerun" then
    return cmd.summary .. "\n\nAllowed state transitions:\n" .. M.transitions_text()
  elseif cmd.name == "monitor" then
    return cmd.summary .. "\n\nEnds on every terminal state: exit 0 Completed; 1 Failed, Unexpected error "
      .. "or Cancelled (with the reason from the status log); 124 timeout. Paused is reported once and "
      .. "watching goes on. -o jsonl writes one JSON object per event."
  end
  return cmd.description or cmd.summary
end

-- render(words) -> the help text of the command at `words` (as typed, so the
-- usage line shows the alias the user used), or nil for an unknown command.
function M.render(words)
  local cmd = flags.find(words)
  if not cmd then return nil end
  local out = { "Usage: " .. M.synopsis(words, cmd), "" }
  local root = #words == 0
  for _, l in ipairs(wrap(root and ("Control Clarifai pipeline runs: pause, cancel and resume, wait, status, "
    .. "list, monitor and history.") or description(cmd), WIDTH, "")) do out[#out + 1] = l end
  if cmd.commands then
    local rows = {}
    for _, sub in ipairs(cmd.commands) do
      local names = sub.name
      for _, a in ipairs(sub.aliases or {}) do names = names .. ", " .. a end
      rows[#rows + 1] = { names, sub.summary }
    end
    out[#out + 1] = ""
    out[#out + 1] = "Commands:"
    out[#out + 1] = columns(rows)
  end
  if cmd.args and #cmd.args > 0 then
    local rows = {}
    for _, a in ipairs(cmd.args) do
      local help = a.help
      if a.choices then help = help:gsub("%.$", "") .. " (one of: " .. table.concat(a.choices, ", ") .. ")." end
      rows[#rows + 1] = { a.argname, help }
    end
    out[#out + 1] = ""
    out[#out + 1] = "Arguments:"
    out[#out + 1] = columns(rows)
  end
  local rows = { { "-h, --help", "Show this help and exit." } }
  if root then rows[#rows + 1] = { "--version", "Show the version and exit." } end
  for _, o in ipairs(cmd.options or {}) do rows[#rows + 1] = { option_row(o) } end
  if root then
    for _, o in ipairs(flags.global) do rows[#rows + 1] = { option_row(o) } end
  end
  out[#out + 1] = ""
  out[#out + 1] = "Options:"
  out[#out + 1] = columns(rows)
  if not root then
    out[#out + 1] = ""
    out[#out + 1] = "Global options (before or after the command): --config PATH, --context NAME, -v/--verbose, "
      .. "--debug."
  end
  if cmd.kind == "change" then
    out[#out + 1] = ""
    out[#out + 1] = examples(cmd.action)
  elseif root then
    out[#out + 1] = ""
    out[#out + 1] = "Exit codes:\n" .. M.exit_text()
    out[#out + 1] = ""
    out[#out + 1] = ENV_HELP
    out[#out + 1] = ""
    out[#out + 1] = "Other commands (login, model, pipeline upload, …) are handed to the Python clarifai CLI."
  elseif cmd.name == "status" or cmd.name == "list" then
    out[#out + 1] = ""
    out[#out + 1] = "Reads are retried like writes (at most " .. defaults.max_attempts .. " attempts within --deadline, "
      .. "default " .. defaults.deadline .. " s)."
  end
  return table.concat(out, "\n")
end

-- `help WORDS…`: the words after "help", up to the first option.
local function argv_help(argv, at)
  local words = {}
  for k = at + 1, #argv do
    if argv[k]:sub(1, 1) == "-" then break end
    words[#words + 1] = argv[k]
  end
  return words
end

-- request(argv) -> the command words of a help request, or nil: `help
-- [WORDS…]`, or -h/--help anywhere (not as an option's value).
function M.request(argv)
  local words, wants, i = {}, false, 1
  local takes_value = {}
  local function note_options(cmd)
    for _, o in ipairs(cmd and cmd.options or {}) do
      if o.argname then for _, n in ipairs(o.names) do takes_value[n] = true end end
    end
  end
  for _, o in ipairs(flags.global) do
    if o.argname then for _, n in ipairs(o.names) do takes_value[n] = true end end
  end
  local cmd = flags.root
  local positional = false
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      wants = true
    elseif a == "--" then
      break
    elseif takes_value[a] then
      i = i + 1
    elseif a:sub(1, 1) ~= "-" and not positional then
      local sub = flags.child(cmd, a)
      if #words == 0 and a == "help" then
        return argv_help(argv, i)
      elseif sub then
        words[#words + 1] = a
        cmd = sub
        note_options(sub)
      else
        positional = true
      end
    end
    i = i + 1
  end
  if wants then return words end
  return nil
end

return M
