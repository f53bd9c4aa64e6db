-- The `clarifai` command: parses argv, runs one command, turns its result or
-- error into output and an exit code. A thin layer over the library.

local errors = require "clarifai.errors"
local output = require "clarifai.cli.output"
local version = require "clarifai.version"

local M = {}

local GLOBAL_VALUE = { ["--config"] = true, ["--context"] = true }
local GLOBAL_FLAG = { ["--verbose"] = true, ["-v"] = true, ["--debug"] = true }

-- Index of the first argument that is not a global option, or nil.
local function command_index(argv)
  local i = 1
  while argv[i] do
    local a = argv[i]
    if GLOBAL_VALUE[a] then i = i + 2
    elseif a:match("^%-%-config=") or a:match("^%-%-context=") or GLOBAL_FLAG[a] then i = i + 1
    else return i end
  end
  return nil
end

-- Which group alias and subcommand the user typed (for usage lines).
local function typed_path(argv)
  for i, a in ipairs(argv) do
    if a == "pipelinerun" or a == "pr" then
      local sub = argv[i + 1]
      if sub and sub:sub(1, 1) ~= "-" then return a, sub end
      return a, nil
    end
  end
  return nil, nil
end

local function usage_error(argv, message)
  local group, sub = typed_path(argv)
  local cmd = "clarifai" .. (group and (" " .. group) or "") .. (sub and (" " .. sub) or "")
  local args = sub and " [OPTIONS] [PIPELINE_VERSION_RUN_ID]" or " [OPTIONS] COMMAND [ARGS]..."
  output.err("Usage: " .. cmd .. args)
  output.err("Try '" .. cmd .. " --help' for help.")
  output.err("")
  output.err("Error: " .. message)
  return errors.exit_codes.usage
end
M.usage_error = usage_error

-- Prints an error table and returns its exit code. With -o json the error
-- is one JSON line on stderr.
local function report(argv, err, as_json)
  if as_json then
    local json = require "clarifai.json"
    output.err(json.encode({ error = errors.view(err) }))
    return err.exit_code or errors.exit_codes.internal
  end
  if err.kind == "usage" then return usage_error(argv, err.message) end
  output.err("Error: " .. err.message)
  return err.exit_code or errors.exit_codes.internal
end
M.report = report

-- The Python clarifai CLI to hand unknown commands to: CLARIFAI_PYTHON_CLI,
-- else another `clarifai` on PATH that is not this tool.
local function find_python_cli()
  local sys = require "clarifai.sys.core"
  local explicit = os.getenv("CLARIFAI_PYTHON_CLI")
  if explicit and explicit ~= "" then return explicit end
  local me = arg and arg[0] and sys.realpath(arg[0])
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local cand = dir .. "/clarifai"
    local real = sys.realpath(cand)
    if real and real ~= me then
      -- regular files only (a FIFO must not block us); then just the head
      local _, _, kind = sys.read_file(real, 0)
      local f = (kind == "TOO_LARGE") and io.open(real, "rb") or nil
      local head = f and f:read(4096)
      if f then f:close() end
      -- another copy of this tool would hand the command straight back (the
      -- Python CLI's own script imports clarifai.cli.base: match our launcher)
      if head and not head:find('require("clarifai.cli")', 1, true) then return real end
    end
  end
  return nil
end

local function hand_over(argv, name)
  local py = find_python_cli()
  if py then
    local sys = require "clarifai.sys.core"
    local full = { py }
    for _, a in ipairs(argv) do full[#full + 1] = a end
    output.flush()
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

-- Top-level commands this tool implements (clarifai.cli.parser builds them).
local KNOWN = { pipelinerun = true, pr = true, completion = true, script = true, help = true }

local function wants_json(argv)
  for i, a in ipairs(argv) do
    if (a == "-o" or a == "--output") and argv[i + 1] == "json" then return true end
    if a == "-ojson" or a == "--output=json" then return true end
  end
  return false
end

local function run(argv)
  local help = require("clarifai.cli.helpcache").lookup(argv)
  if help then
    output.out(help)
    return 0
  end
  local ci = command_index(argv)
  local name = ci and argv[ci]
  if name and name:sub(1, 1) ~= "-" and not KNOWN[name] then return hand_over(argv, name) end
  if name == "script" then
    local code, err = require("clarifai.cli.script").run(argv, ci)
    if err then return report(argv, err) end
    return code
  end
  local args = require("clarifai.cli.fastargs").parse(argv)
  local parser
  if not args then
    parser = require("clarifai.cli.parser").build()
    local ok, parsed = parser:pparse(argv)
    if not ok then return usage_error(argv, parsed) end
    args = parsed
  end
  if args.version then
    output.out("clarifai " .. version.VERSION)
    return 0
  end
  if not args.command then
    output.out(parser:get_help())
    return 0
  end
  local command = require("clarifai.cli." .. args.command)
  local code, err = command.run(args, argv)
  if err then return report(argv, err, wants_json(argv)) end
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
  local ok, code = xpcall(run, function(e)
    if want_debug then return debug.traceback(tostring(e), 2) end
    return tostring(e)
  end, argv)
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
  output.flush()
  -- Closing the Lua state frees every object one by one and exit handlers
  -- tear down libcurl's dependencies; the kernel reclaims all of it faster.
  -- CLARIFAI_CLEAN_EXIT asks for the full close (memory checkers).
  if os.getenv("CLARIFAI_CLEAN_EXIT") then os.exit(code, true) end
  local loaded, sys = pcall(require, "clarifai.sys.core")
  if loaded then sys.quick_exit(code) end
  os.exit(code)
end

return M
