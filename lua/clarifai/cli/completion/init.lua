-- `clarifai completion bash|zsh|fish`: shell completion scripts generated
-- from the flag table (clarifai.cli.flags), so they know every command,
-- alias and option the command line does.
--
-- gather() walks the table once into one entry per command: its
-- subcommands, the option names to offer, and what follows each option
-- that takes a value. One emitter per shell turns that into a script; each
-- script holds the data as tables plus one generic function that finds the
-- command being typed (aliases resolved, option values skipped) and
-- completes the current word from the tables.
--
-- `clarifai completion contexts` (hidden) prints the config file's context
-- names, one a line: the scripts run it to complete --context.

local flags = require "clarifai.cli.flags"

local M = {}

local HELP = { names = { "-h", "--help" }, help = "Show help." }
local VERSION = { names = { "--version" }, help = "Show the version." }

---------------------------------------------------------------------------
-- Data: the flag table as completion needs it.
---------------------------------------------------------------------------

local function twin_key(name) return (name:gsub("_", "-")) end

-- offered_names(o) -> the names of option o a completion offers: every name
-- except one that only swaps "_" for "-" (or back) in a name offered before
-- it ({"--user_id", "--user-id"} -> {"--user_id"}). The command line accepts
-- the twins all the same; offering them would only double the list.
local function offered_names(o)
  local seen, out = {}, {}
  for _, n in ipairs(o.names) do
    local key = twin_key(n)
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = n
    end
  end
  return out
end
M.offered_names = offered_names

-- What follows an option: nil for a flag; else "file", "context", "state",
-- "choices" (its own list), or "none" (an id or a number: nothing to offer).
local function value_kind(o)
  if not o.argname then return nil end
  if type(o.complete) == "table" or (not o.complete and o.choices) then return "choices" end
  return o.complete or "none"
end

local function option_choices(o)
  if type(o.complete) == "table" then return o.complete end
  return o.choices
end

-- What a command's first positional argument completes: nil, "file" or
-- "choices" (its visible choices only: "contexts" stays hidden).
local function argument_of(cmd)
  local a = (cmd.args or {})[1]
  if not a then return nil end
  if a.choices then return { kind = "choices", choices = a.choices } end
  if a.complete == "file" or (not a.complete and (a.argname or ""):match("^FILE")) then return { kind = "file" } end
  return nil
end

-- The state names --status offers on cmd, spelt as it takes them (running,
-- paused, ...): the states its action applies to (pause: queued, running;
-- clarifai.states.actions), or every state for a command without an action
-- (list filters by any).
local function state_names(cmd)
  local states = require "clarifai.states"
  local codes = {}
  if cmd.action then
    codes = assert(states.actions[cmd.action], "completion: no action " .. tostring(cmd.action)).from
  else
    for i, s in ipairs(states.list) do codes[i] = s.code end
  end
  local out = {}
  for i, code in ipairs(codes) do out[i] = states.short(code):lower() end
  return out
end

local function command_options(cmd, is_root)
  -- { options, shared }: shared ones are the same for every command
  local lists = { { flags.global, true }, { { HELP }, true } }
  if is_root then lists[#lists + 1] = { { VERSION }, false } end
  lists[#lists + 1] = { cmd.options or {}, false }
  local taken, out = {}, {}
  for _, list in ipairs(lists) do
    for _, o in ipairs(list[1]) do
      local names = {}
      for _, n in ipairs(offered_names(o)) do
        if not taken[n] then names[#names + 1] = n end
        taken[n] = true
      end
      if #names > 0 then
        local kind = value_kind(o)
        out[#out + 1] = { names = names, all = o.names, help = o.help or "", kind = kind,
          choices = option_choices(o), states = kind == "state" and state_names(cmd) or nil, shared = list[2] }
      end
    end
  end
  return out
end

--[[
gather() -> {
  commands = { entry, ... }   the root first, then depth first; an entry:
    path     "clarifai pipelinerun pause": canonical names from the root
    subs     { { words = { name, alias... }, path =, summary = }, ... }
    options  { { names = offered names, all = every name, help =, kind =,
                 choices =, states = (kind "state": the state names this
                 command's --status takes), shared = (a global or
                 -h/--help) }, ... }, each name once; globals, help,
             --version (root), then the command's
    arg      nil | { kind = "file" } | { kind = "choices", choices = }
  valued = { name = kind }   every name (twins too) of every option that
                             takes a value; "choices" and "state" ones look
                             up entry.options for the list
}
]]
function M.gather()
  local data = { commands = {}, valued = {} }
  local function note_values(path, options)
    for _, o in ipairs(options) do
      for _, n in ipairs(o.kind and o.all or {}) do
        local before = data.valued[n]
        assert(before == nil or before == o.kind,
          "completion: " .. n .. " (" .. path .. ") takes a different kind of value elsewhere")
        data.valued[n] = o.kind
      end
    end
  end
  local function walk(cmd, path)
    local entry = { path = path, subs = {}, options = command_options(cmd, cmd == flags.root),
      arg = argument_of(cmd) }
    data.commands[#data.commands + 1] = entry
    note_values(path, entry.options)
    for _, sub in ipairs(cmd.commands or {}) do
      local words = { sub.name }
      for _, a in ipairs(sub.aliases or {}) do words[#words + 1] = a end
      entry.subs[#entry.subs + 1] = { words = words, path = path .. " " .. sub.name, summary = sub.summary or "" }
    end
    for _, sub in ipairs(cmd.commands or {}) do walk(sub, path .. " " .. sub.name) end
  end
  walk(flags.root, "clarifai")
  return data
end

-- script(shell) -> the completion script for bash, zsh or fish.
function M.script(shell)
  assert(shell == "bash" or shell == "zsh" or shell == "fish", "unknown shell " .. tostring(shell))
  local text = require("clarifai.cli.completion." .. shell).emit(M.gather())
  if text:sub(-1) ~= "\n" then text = text .. "\n" end
  return text
end

function M.run(args)
  local output = require "clarifai.cli.output"
  if args.shell == "contexts" then
    for _, name in ipairs(require("clarifai.config").context_names({ config_path = args.config })) do
      output.out(name)
    end
    return 0
  end
  output.write(M.script(args.shell))
  return 0
end

return M
