-- A fast path for the commands people run most (pause, cancel, resume):
-- argv of the plain documented shape is turned into the same table argparse
-- would build, without loading argparse (about 2 ms of a ~10 ms run). Any
-- argv this does not recognise (errors, unusual spellings, repeats) returns
-- nil and goes through argparse, which owns every message. Both are built
-- from clarifai.cli.flags; a spec checks they agree.

local flags = require "clarifai.cli.flags"

local M = {}

local GROUPS, ACTIONS = {}, {}
local group = flags.find({ "pipelinerun" })
GROUPS[group.name] = true
for _, a in ipairs(group.aliases) do GROUPS[a] = true end
for _, cmd in ipairs(group.commands) do
  if cmd.kind == "change" then ACTIONS[cmd.name] = cmd end
end

local GLOBAL = flags.option_map(flags.root) -- the root has no options of its own: the globals

-- Options argparse accepts only once; a repeat goes to argparse for its error.
local function set(t, k, v)
  if t[k] ~= nil then return false end
  t[k] = v
  return true
end

local function convert(o, v)
  local value = flags.convert(o, v)
  if value == nil then return nil end
  if o.choices then
    for _, c in ipairs(o.choices) do
      if c == value then return value end
    end
    return nil
  end
  return value
end

-- parse(argv) -> args table | nil (use argparse)
function M.parse(argv)
  local args = { ids = {} }
  local i, n = 1, #argv
  local grp, action
  while i <= n do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[%w_-]+)=(.*)$")
    name = name or a
    local o = (action and flags.option_map(ACTIONS[action])[name]) or GLOBAL[name]
    if o and o.argname then
      local v = inline
      if v == nil then
        i = i + 1
        v = argv[i]
        if v == nil or v:sub(1, 1) == "-" then return nil end
      end
      local converted = convert(o, v)
      if converted == nil or not set(args, o.target, converted) then return nil end
    elseif o and inline == nil then
      if not set(args, o.target, true) then return nil end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil -- help, unknown options, "--": argparse decides
    elseif not grp then
      if not GROUPS[a] then return nil end
      grp = a
    elseif not action then
      if not ACTIONS[a] then return nil end
      action = a
    else
      args.ids[#args.ids + 1] = a
    end
    i = i + 1
  end
  if not action then return nil end
  args.command, args.subcommand = "pipelinerun", action
  args.pipelinerun, args[action] = true, true
  for k, v in pairs(flags.defaults_of(ACTIONS[action])) do
    if args[k] == nil then args[k] = v end
  end
  return args
end

return M
