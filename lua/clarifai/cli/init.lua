-- The `clarifai` command: parses argv, runs one command, turns its result or
-- error into output and an exit code. A thin layer over the library.

local errors = require "clarifai.errors"
local output = require "clarifai.cli.output"
local version = require "clarifai.version"

local M = {}

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

-- Prints an error table and returns its exit code.
local function report(argv, err)
  if err.kind == "usage" then return usage_error(argv, err.message) end
  output.err("Error: " .. err.message)
  return err.exit_code or errors.exit_codes.internal
end
M.report = report

local function run(argv)
  local parser = require("clarifai.cli.parser").build()
  local ok, args = parser:pparse(argv)
  if not ok then return usage_error(argv, args) end
  if args.version then
    output.out("clarifai " .. version.VERSION)
    return 0
  end
  if not args.command then
    io.stdout:write(parser:get_help(), "\n")
    return 0
  end
  local command = require("clarifai.cli." .. args.command)
  local code, err = command.run(args, argv)
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
  os.exit(code, true)
end

return M
