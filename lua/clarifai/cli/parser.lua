-- The argparse tree, built from clarifai.cli.flags. argparse parses argv the
-- fast path does not recognise and owns those error messages; help texts
-- and completion scripts are rendered from the flag table directly.

local flags = require "clarifai.cli.flags"

local M = {}

-- argparse accepts "-" for "_" by itself: give it each spelling once.
local function argparse_names(o)
  local seen, out = {}, {}
  for _, n in ipairs(o.names) do
    local dashed = n:gsub("_", "-")
    if not seen[n] then
      out[#out + 1] = n
      seen[n], seen[dashed] = true, true
    end
  end
  return table.concat(out, " ")
end

local function converter(o)
  local name = o.names[1]
  return function(s)
    local v, problem = flags.convert(o, s)
    if v == nil then return nil, name .. " " .. problem .. " (got " .. s .. ")" end
    return v
  end
end

local function add_option(cmd, o)
  if not o.argname then
    cmd:flag(argparse_names(o)):target(o.target)
    return
  end
  local a = cmd:option(argparse_names(o)):target(o.target):argname(o.argname)
  if o.choices then a:choices(o.choices) end
  if o.kind and o.kind ~= "text" then a:convert(converter(o)) end
  if o.default ~= nil and not o.env then a:default(tostring(o.default)) end
end

local function add_command(parent, spec)
  local names = spec.name
  for _, a in ipairs(spec.aliases or {}) do names = names .. " " .. a end
  local cmd = parent:command(names)
  cmd:add_help(false) -- help is clarifai.cli.help's
  for _, arg in ipairs(spec.args or {}) do
    local a = cmd:argument(arg.name):argname(arg.argname)
    if arg.many then a:args("*") elseif arg.optional then a:args("?") end
    if arg.choices and arg.hidden_choices then
      -- accepted but never offered: the error lists the visible choices only
      local ok = {}
      for _, c in ipairs(arg.choices) do ok[c] = true end
      for _, c in ipairs(arg.hidden_choices) do ok[c] = true end
      a:convert(function(v)
        if ok[v] then return v end
        return nil, "argument '" .. arg.name .. "' must be one of " .. table.concat(arg.choices, ", ")
          .. " (got " .. v .. ")"
      end)
    elseif arg.choices then
      a:choices(arg.choices)
    end
  end
  for _, o in ipairs(spec.options or {}) do add_option(cmd, o) end
  if spec.commands then
    cmd:command_target(spec.name == "pipelinerun" and "subcommand" or (spec.name .. "_command"))
    cmd:require_command(false)
    for _, sub in ipairs(spec.commands) do add_command(cmd, sub) end
  end
  return cmd
end

function M.build()
  local argparse = require "argparse" -- loaded only when the fast path cannot parse argv
  local parser = argparse("clarifai")
  parser:add_help(false)
  parser:command_target("command")
  parser:require_command(false)
  parser:flag("--version"):target("version")
  for _, o in ipairs(flags.global) do add_option(parser, o) end
  for _, spec in ipairs(flags.commands) do add_command(parser, spec) end
  return parser
end

return M
