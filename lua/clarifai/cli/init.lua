-- The `clarifai` command: parses argv, runs one command, turns its result or
-- error into output and an exit code. A thin layer over the library.

local errors = require "clarifai.errors"
local flags = require "clarifai.cli.flags"
local output = require "clarifai.cli.output"
local text = require "clarifai.text"
local version = require "clarifai.version"

local M = {}

-- The command words the user typed (aliases as typed) and their spec,
-- skipping global options and their values.
local function typed(argv)
  local takes_value = {}
  for _, o in ipairs(flags.global) do
    if o.argname then for _, n in ipairs(o.names) do takes_value[n] = true end end
  end
  local words, cmd, i = {}, flags.root, 1
  while argv[i] do
    local a = argv[i]
    if takes_value[a] then
      i = i + 1
    elseif a:sub(1, 1) ~= "-" then
      local sub = flags.child(cmd, a)
      if not sub then break end
      words[#words + 1] = a
      cmd = sub
      for _, o in ipairs(sub.options or {}) do
        if o.argname then for _, n in ipairs(o.names) do takes_value[n] = true end end
      end
    end
    i = i + 1
  end
  return words, cmd
end

-- Usage error in the Python CLI's shape, with the synopsis of the command
-- the user typed.
local function usage_error(argv, message)
  local help = require "clarifai.cli.help"
  local words, cmd = typed(argv)
  local name = table.concat({ "clarifai", table.concat(words, " ") }, #words > 0 and " " or "")
  output.err("Usage: " .. help.synopsis(words, cmd))
  output.err("Try '" .. name .. " --help' for help.")
  output.err("")
  output.err("Error: " .. message)
  return errors.exit_codes.usage
end

local function wants_json(argv)
  for i, a in ipairs(argv) do
    if (a == "-o" or a == "--output") and (argv[i + 1] == "json" or argv[i + 1] == "jsonl") then return true end
    if a == "-ojson" or a == "--output=json" or a == "-ojsonl" or a == "--output=jsonl" then return true end
  end
  return false
end

-- Prints an error table and returns its exit code. With -o json the error
-- is one JSON line on stderr.
local function report(argv, err)
  local message = require("clarifai.cli.common").describe(err)
  if wants_json(argv) then
    local json = require "clarifai.json"
    local view = errors.view(err)
    view.message = message
    output.err(json.encode({ error = view }))
    return err.exit_code or errors.exit_codes.internal
  end
  if err.kind == "usage" then return usage_error(argv, message) end
  output.err("Error: " .. message)
  return err.exit_code or errors.exit_codes.internal
end

-- The head of a regular file (a FIFO must not block us), or nil.
local function head_of(sys, real)
  local _, _, kind = sys.read_file(real, 0)
  local f = (kind == "TOO_LARGE") and io.open(real, "rb") or nil
  local head = f and f:read(4096)
  if f then f:close() end
  return head
end

-- Is the file at `real` this tool's launcher? Another copy would hand the
-- command straight back (the Python CLI's own script imports
-- clarifai.cli.base, so match our launcher's line).
local function is_this_tool(sys, real, head)
  local me = arg and arg[0] and sys.realpath(arg[0])
  return real == me or (head ~= nil and head:find('require("clarifai.cli")', 1, true) ~= nil)
end

-- The Python clarifai CLI to hand unknown commands to: CLARIFAI_PYTHON_CLI,
-- else another `clarifai` on PATH that is not this tool. nil, err when
-- CLARIFAI_PYTHON_CLI names this tool.
local function find_python_cli()
  local sys = require "clarifai.sys.core"
  local explicit = os.getenv("CLARIFAI_PYTHON_CLI")
  if explicit and explicit ~= "" then
    local real = sys.realpath(explicit)
    if real and is_this_tool(sys, real, head_of(sys, real)) then
      return nil, errors.new("config", "CLARIFAI_PYTHON_CLI=" .. text.sanitize(explicit) .. " is this tool, which "
        .. "would hand the command to itself; set it to the Python clarifai CLI")
    end
    return explicit
  end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local real = sys.realpath(dir .. "/clarifai")
    local head = real and head_of(sys, real)
    if head and not is_this_tool(sys, real, head) then return real end
  end
  return nil
end

-- Set on the Python CLI we exec: seeing it when about to hand over again
-- means a script handed the command back to us (it would loop for ever).
local HANDED = "CLARIFAI_HANDED_OVER"

local function hand_over(argv, name)
  if os.getenv(HANDED) then
    return report(argv, errors.new("config", "'" .. text.sanitize(name) .. "' came back from the CLI it was handed to ("
      .. text.sanitize(os.getenv("CLARIFAI_PYTHON_CLI") or os.getenv(HANDED)) .. "); set CLARIFAI_PYTHON_CLI to the "
      .. "Python clarifai CLI"))
  end
  local py, perr = find_python_cli()
  if perr then return report(argv, perr) end
  if py then
    local sys = require "clarifai.sys.core"
    local full = { py }
    for _, a in ipairs(argv) do full[#full + 1] = a end
    output.flush()
    sys.setenv(HANDED, py)
    local _, err = sys.exec(py, full)
    output.err("Error: cannot run the Python clarifai CLI at " .. py .. ": " .. tostring(err))
    return errors.exit_codes.usage
  end
  output.err("Error: '" .. name .. "' is not a command of this tool, and no Python clarifai CLI was found "
    .. "to hand it to (set CLARIFAI_PYTHON_CLI to its path).")
  output.err("Commands here: pipelinerun (pr) pause|cancel|resume|status|list|monitor|history|transitions, "
    .. "completion, script, help. See 'clarifai --help'.")
  return errors.exit_codes.usage
end

local function show_help(argv, words)
  local help = require "clarifai.cli.help"
  local rendered = help.render(words)
  if not rendered then
    return usage_error(argv, "no command '" .. table.concat(words, " ") .. "'; see 'clarifai --help'")
  end
  output.out(rendered)
  return 0
end

-- The first word that is not a global option or its value.
local function command_index(argv)
  local _, i = flags.leading_globals(argv)
  return argv[i] and i or nil
end

local COMMANDS = {
  pipelinerun = "clarifai.cli.pipelinerun", completion = "clarifai.cli.completion",
}

local function run(argv)
  local ci = command_index(argv)
  local name = ci and argv[ci]
  if name and name:sub(1, 1) ~= "-" and not flags.child(flags.root, name) then return hand_over(argv, name) end
  local asks = name == "help"
  for _, a in ipairs(argv) do
    if a == "-h" or a == "--help" then asks = true end
  end
  local words = asks and require("clarifai.cli.help").request(argv)
  if words then return show_help(argv, words) end
  if name == "script" then
    local code, err = require("clarifai.cli.script").run(argv, ci)
    if err then return report(argv, err) end
    return code
  end
  local args = require("clarifai.cli.fastargs").parse(argv)
  if not args then
    local ok, parsed = require("clarifai.cli.parser").build():pparse(argv)
    if not ok then
      local w = typed(argv)
      if parsed:match("^unknown command") then
        parsed = parsed .. "; see 'clarifai " .. table.concat(w, " ") .. (#w > 0 and " " or "") .. "--help'"
      end
      return report(argv, errors.new("usage", parsed))
    end
    args = parsed
  end
  if args.version then
    output.out("clarifai " .. version.VERSION)
    return 0
  end
  if not args.command or (args.command == "pipelinerun" and not args.subcommand) then
    return show_help(argv, (typed(argv)))
  end
  local code, err = require(COMMANDS[args.command]).run(args, argv)
  if err then return report(argv, err) end
  return code or 0
end

-- main(argv): never returns; exits with the command's code.
function M.main(argv)
  argv = argv or {}
  local want_debug = false
  for _, a in ipairs(argv) do
    if a == "--debug" then want_debug = true end
  end
  pcall(function() require("clarifai.sys.core").ignore_sigpipe() end)
  local ok, code = xpcall(function() return run(argv) end, function(e)
    if want_debug then return debug.traceback(tostring(e), 2) end
    return tostring(e)
  end)
  if not ok then
    local msg = tostring(code)
    if msg:find("interrupted!", 1, true) then
      output.err("Error: interrupted")
      code = errors.exit_codes.interrupted
    else
      if not want_debug then msg = msg:match("^[^\n]*") end
      output.err("Error: internal error: " .. msg .. (want_debug and "" or " (run with --debug for details)"))
      code = errors.exit_codes.internal
    end
  end
  -- a stdout that could not be written fails the command (a batch that
  -- stopped sending because of it has said so already); one whose reader
  -- went away ends quietly with 141, as a process SIGPIPE ended would
  local finished = output.finish()
  if output.broken and not (code > 128 and code < 160) then
    if output.gone then
      code = require("clarifai.cli.common").READER_GONE
    elseif not output.told then
      output.err("Error: cannot write to standard output (" .. tostring(output.problem) .. ")")
      code = errors.exit_codes.output
    end
  end
  -- Closing the Lua state frees every object one by one and exit handlers
  -- tear down libcurl's dependencies; the kernel reclaims all of it faster.
  -- CLARIFAI_CLEAN_EXIT asks for the full close (memory checkers). Output a
  -- blocked reader would not take is not waited for (M.finish saved it).
  if os.getenv("CLARIFAI_CLEAN_EXIT") then os.exit(code, true) end
  local loaded, sys = pcall(require, "clarifai.sys.core")
  if loaded then sys.quick_exit(code, finished) end
  os.exit(code)
end

return M
