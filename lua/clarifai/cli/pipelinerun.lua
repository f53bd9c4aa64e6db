-- `clarifai pipelinerun|pr …`: the run-control commands.

local errors = require "clarifai.errors"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"

local M = {}

-- The run reference from the parsed flags (positional run id wins).
local function ref_from(args)
  return {
    run_id = args.pipeline_version_run_id_pos or args.pipeline_version_run_id,
    user_id = args.user_id,
    app_id = args.app_id,
    pipeline_id = args.pipeline_id,
    pipeline_version_id = args.pipeline_version_id,
  }
end

-- A client resolved from --config/--context and the environment.
local function make_client(args)
  local client_mod = require "clarifai.client"
  local trace
  if args.verbose then trace = output.err end
  local c, settings = client_mod.from_config({
    config_path = args.config, context = args.context, trace = trace,
  })
  if not c then return nil, settings end
  output.add_secret(c.pat)
  for _, w in ipairs(settings.warnings) do output.err(w) end
  return c
end

local function change(action, args)
  local ref = ref_from(args)
  if not ref.run_id or ref.run_id == "" then
    return nil, errors.new("usage", "pipeline_version_run_id is required. Provide it as a positional "
      .. "argument or use --pipeline_version_run_id flag.")
  end
  local full, err = require("clarifai.ids").resolve(ref)
  if not full then return nil, err end
  local c, cerr = make_client(args)
  if not c then return nil, cerr end
  local runs = require "clarifai.runs"
  local report, rerr = runs.apply(action, full, { ref.run_id }, { client = c })
  if not report then return nil, rerr end
  local past = states.actions[action].past
  local r = report.results[1]
  if r.outcome == "ok" then
    output.out(string.format("Pipeline version run %s has been %s.", r.run_id, past))
  elseif r.outcome == "noop" then
    output.out(string.format("Pipeline version run %s is already %s.", r.run_id, past))
  else
    local e = r.error
    if e.kind == "api" and e.state then
      e.message = e.message .. " The run is " .. states.label(e.state_code) .. "; "
        .. states.rule_sentence(action):gsub("^%u", string.lower)
    end
    return nil, e
  end
  return 0
end

function M.run(args)
  local sub = args.subcommand
  if states.actions[sub] then return change(sub, args) end
  return nil, errors.new("usage", "unknown command '" .. tostring(sub) .. "'")
end

return M
