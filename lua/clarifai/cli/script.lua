-- `clarifai script FILE.lua [ARGS…]`: runs a user's Lua workflow with the
-- library available as `require "clarifai"`, its default client resolved from
-- the same --config, --context and environment as every command.

local errors = require "clarifai.errors"
local output = require "clarifai.cli.output"

local M = {}

-- run(argv, index of "script") -> exit code | nil, err
function M.run(argv, ci)
  local opts = require("clarifai.cli.flags").leading_globals(argv)
  local file = argv[ci + 1]
  if not file or file == "--help" or file == "-h" then
    output.out(require("clarifai.cli.help").render({ "script" }))
    return file and 0 or 2
  end
  -- The script's globals are the process's, but for assert: the library's
  -- failures are nil, message, err, and this assert raises err itself (an
  -- error table ends the script with that error's exit code).
  local env = setmetatable({ assert = errors.assert }, { __index = _G, __newindex = _G })
  local chunk, lerr = require("clarifai.compat").loadfile(file, env)
  if not chunk then
    return nil, errors.new("usage", "cannot load " .. file .. ": " .. tostring(lerr))
  end

  -- The library's default client follows this invocation's options.
  local client = require "clarifai.client"
  client.set_defaults({ config_path = opts.config, context = opts.context,
    trace = opts.verbose and output.err or nil })
  local c, _, cerr = client.default()
  if c then output.add_secret(c.pat)
  elseif cerr and cerr.kind == "usage" then return nil, cerr end

  local script_arg = { [0] = file }
  for k = ci + 2, #argv do script_arg[#script_arg + 1] = argv[k] end
  rawset(_G, "arg", script_arg)

  local unpack = require("clarifai.compat").unpack
  local ok, res = xpcall(function() return chunk(unpack(script_arg)) end, function(e)
    if type(e) == "table" then return e end
    return tostring(e)
  end)
  if ok then
    return require("clarifai.compat").isinteger(res) and res or 0
  end
  if type(res) == "table" and res.exit_code and res.message then return nil, res end
  output.err("Error: " .. tostring(res))
  return 1
end

return M
