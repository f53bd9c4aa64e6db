-- Pause every running run of a pipeline version and wait until all are paused.
--
--   clarifai script examples/pause_running_and_wait.lua [USER APP PIPELINE VERSION] [TIMEOUT]
--
-- Without ids, they come from ./config-lock.yaml.
local clarifai = require "clarifai"

local ref = { user_id = arg[1], app_id = arg[2], pipeline_id = arg[3], pipeline_version_id = arg[4] }
local timeout = tonumber(arg[5]) or 120
ref = assert(clarifai.ids.resolve(ref))

local running = assert(clarifai.runs.list(ref, { status = { "running" }, all = true }))
if #running.runs == 0 then
  print("No running runs.")
  return 0
end
local ids = {}
for i, run in ipairs(running.runs) do ids[i] = run.id end

local report = assert(clarifai.runs.apply("pause", ref, ids))
local paused = {}
for _, r in ipairs(report.results) do
  if r.error then
    io.stderr:write(r.run_id, ": ", r.error.message, "\n")
  else
    paused[#paused + 1] = r.run_id
  end
end

local waited = assert(clarifai.watch.wait("pause", ref, paused, { timeout = timeout, interval = 0.5 }))
local done = 0
for _, r in ipairs(waited.results) do
  print(string.format("%-20s %s", r.run_id, r.outcome == "reached" and "paused" or r.outcome))
  if r.outcome == "reached" then done = done + 1 end
end
print(string.format("%d of %d running runs paused.", done, #ids))
return done == #ids and 0 or 7
