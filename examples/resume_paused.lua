-- Resume every paused run of a pipeline version and report what happened.
--
--   clarifai script examples/resume_paused.lua [USER APP PIPELINE VERSION]
--
-- Without ids, they come from ./config-lock.yaml.
local clarifai = require "clarifai"

local ref = assert(clarifai.ids.resolve({ user_id = arg[1], app_id = arg[2], pipeline_id = arg[3],
  pipeline_version_id = arg[4] }))

local paused = assert(clarifai.runs.list(ref, { status = { "paused" }, all = true }))
if #paused.runs == 0 then
  print("No paused runs.")
  return 0
end

local failed = 0
for _, run in ipairs(paused.runs) do
  local result, message = clarifai.runs.resume({ user_id = ref.user_id, app_id = ref.app_id,
    pipeline_id = ref.pipeline_id, pipeline_version_id = ref.pipeline_version_id, run_id = run.id })
  if result then
    print(string.format("%-20s resumed (%s)", run.id, result.state))
  else
    failed = failed + 1
    print(string.format("%-20s not resumed: %s", run.id, message))
  end
end
print(string.format("%d resumed, %d failed.", #paused.runs - failed, failed))
-- an error table raised here ends the script with its exit code
if failed > 0 then error({ kind = "partial", message = failed .. " runs were not resumed", exit_code = 7 }) end
