-- When one run of a pipeline version fails, cancel its siblings: the runs
-- of the same version still queued, running or paused (shards of one job
-- that are worth nothing once one of them has failed). Follows the version
-- until every run has ended.
--
--   clarifai script examples/cancel_siblings_on_failure.lua [USER APP PIPELINE VERSION] [INTERVAL]
--
-- Without ids, they come from ./config-lock.yaml.
local clarifai = require "clarifai"

local ref = assert(clarifai.ids.resolve({ user_id = arg[1], app_id = arg[2], pipeline_id = arg[3],
  pipeline_version_id = arg[4] }))
local interval = tonumber(arg[5]) or 5

-- every state is listed, so a run that fails is seen changing to FAILED
local events = assert(clarifai.watch.events(ref, { states = {} }, { interval = interval,
  ["until"] = { "completed", "failed", "cancelled", "unexpected_error" } }))
local cancelled = 0
for ev in events do
  if ev.to == "FAILED" and ev.from ~= clarifai.json.null then -- a run that failed while watched
    print(string.format("%s failed: cancelling its siblings", ev.run_id))
    local siblings = assert(clarifai.runs.select(ref, { states = { "queued", "running", "paused" } }))
    if #siblings > 0 then
      local report = assert(clarifai.runs.apply("cancel", siblings))
      for _, r in ipairs(report.results) do
        print(string.format("  %-20s %s", r.run_id, r.outcome))
        if r.outcome == "ok" then cancelled = cancelled + 1 end
      end
    end
  end
end
print(string.format("every run has ended; %d sibling%s cancelled", cancelled, cancelled == 1 and "" or "s"))
if events.ended == "error" then error(events.error) end
return events.ended == "until" and 0 or events.exit_code
