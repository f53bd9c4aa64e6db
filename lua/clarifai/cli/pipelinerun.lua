-- `clarifai pipelinerun|pr …`: the run-control commands, a thin layer over
-- clarifai.runs and clarifai.watch that formats results and picks exit codes.

local states = require "clarifai.states"

local M = {}

-- Subcommand -> module and function that runs it.
local HANDLERS = {
  status = { "clarifai.cli.show", "status" }, list = { "clarifai.cli.show", "list" },
  history = { "clarifai.cli.show", "history" }, transitions = { "clarifai.cli.show", "transitions" },
  monitor = { "clarifai.cli.monitor", "run" }, watch = { "clarifai.cli.watch", "run" },
}

function M.run(args)
  local sub = args.subcommand
  if states.actions[sub] then return require("clarifai.cli.change").run(sub, args) end
  local h = assert(HANDLERS[sub], "no handler for a parsed subcommand")
  return require(h[1])[h[2]](args)
end

return M
