-- A fast path for the commands people run most (pause, cancel, resume):
-- argv of the plain documented shape is turned into the same table argparse
-- would build, without loading argparse (about 2 ms of a ~10 ms run). Any
-- argv this does not recognise (help, errors, unusual spellings) returns nil
-- and goes through argparse, which owns every message. A spec checks that
-- both give the same table.

local M = {}

local GROUPS = { pipelinerun = true, pr = true }
local ACTIONS = { pause = true, cancel = true, resume = true }

-- Options that take a value: name -> { target, convert }.
local function seconds(s)
  local n = tonumber(s)
  if not n or n < 0 or n ~= n or n == math.huge then return nil end
  return n
end
local function positive_int(s)
  local n = math.tointeger(tonumber(s))
  if not n or n < 1 then return nil end
  return n
end
local function text(s) return s end
local function output(s) if s == "text" or s == "json" then return s end end

local VALUE = {
  ["--config"] = { "config", text }, ["--context"] = { "context", text },
  ["--pipeline_version_run_id"] = { "pipeline_version_run_id", text },
  ["--pipeline-version-run-id"] = { "pipeline_version_run_id", text },
  ["--user_id"] = { "user_id", text }, ["--user-id"] = { "user_id", text },
  ["--app_id"] = { "app_id", text }, ["--app-id"] = { "app_id", text },
  ["--pipeline_id"] = { "pipeline_id", text }, ["--pipeline-id"] = { "pipeline_id", text },
  ["--pipeline_version_id"] = { "pipeline_version_id", text },
  ["--pipeline-version-id"] = { "pipeline_version_id", text },
  ["--parallel"] = { "parallel", positive_int },
  ["--timeout"] = { "timeout", seconds }, ["--interval"] = { "interval", seconds },
  ["--connect-timeout"] = { "connect_timeout", seconds }, ["--connect_timeout"] = { "connect_timeout", seconds },
  ["--request-timeout"] = { "request_timeout", seconds }, ["--request_timeout"] = { "request_timeout", seconds },
  ["--deadline"] = { "deadline", seconds },
  ["-o"] = { "output", output }, ["--output"] = { "output", output },
}

local FLAG = {
  ["--verbose"] = "verbose", ["-v"] = "verbose", ["--debug"] = "debug",
  ["--wait"] = "wait", ["--dry-run"] = "dry_run",
}

-- Options argparse accepts only once; a repeat goes to argparse for its error.
local function set(t, k, v)
  if t[k] ~= nil then return false end
  t[k] = v
  return true
end

-- parse(argv) -> args table | nil (use argparse)
function M.parse(argv)
  local args = { ids = {} }
  local i, n = 1, #argv
  local group, action
  while i <= n do
    local a = argv[i]
    local name, inline = a:match("^(%-%-[%w_-]+)=(.*)$")
    name = name or a
    if VALUE[name] then
      local spec = VALUE[name]
      local v = inline
      if v == nil then
        i = i + 1
        v = argv[i]
        if v == nil or v:sub(1, 1) == "-" then return nil end
      end
      -- global options may come before the group; the rest only after the action
      if not action and spec[1] ~= "config" and spec[1] ~= "context" then return nil end
      local converted = spec[2](v)
      if converted == nil or not set(args, spec[1], converted) then return nil end
    elseif inline == nil and FLAG[a] then
      local target = FLAG[a]
      if not action and target ~= "verbose" and target ~= "debug" then return nil end
      if not set(args, target, true) then return nil end
    elseif inline == nil and (a == "-y" or a == "--yes") then
      if action ~= "cancel" or not set(args, "yes", true) then return nil end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil -- help, unknown options, "--": argparse decides
    elseif not group then
      if not GROUPS[a] then return nil end
      group = a
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
  args.parallel = args.parallel or 8
  args.timeout = args.timeout or 300
  args.interval = args.interval or 2
  args.output = args.output or "text"
  return args
end

return M
