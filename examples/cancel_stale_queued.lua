-- Cancel runs that have been queued for longer than N minutes.
--
--   clarifai script examples/cancel_stale_queued.lua MINUTES [USER APP PIPELINE VERSION]
--
-- Without ids, they come from ./config-lock.yaml.
local clarifai = require "clarifai"

local minutes = tonumber(arg[1])
if not minutes then
  io.stderr:write("usage: cancel_stale_queued.lua MINUTES [USER APP PIPELINE VERSION]\n")
  return 2
end
local ref = assert(clarifai.ids.resolve({ user_id = arg[2], app_id = arg[3], pipeline_id = arg[4],
  pipeline_version_id = arg[5] }))

local queued = assert(clarifai.runs.list(ref, { status = { "queued" }, all = true }))
local cutoff = os.time() - minutes * 60
local stale = {}
for _, run in ipairs(queued.runs) do
  local created = clarifai.timefmt.parse(run.created_at)
  if created and created < cutoff then stale[#stale + 1] = run.id end
end
if #stale == 0 then
  print(string.format("No run queued for more than %g minutes.", minutes))
  return 0
end

local report = assert(clarifai.runs.apply("cancel", ref, stale))
for _, r in ipairs(report.results) do
  if r.error then
    print(string.format("%-20s failed: %s", r.run_id, r.error.message))
  else
    print(string.format("%-20s cancelled", r.run_id))
  end
end
local s = report.summary
print(string.format("%d cancelled, %d already cancelled, %d failed.", s.ok, s.noop, s.failed + s.unknown))
return (s.failed + s.unknown) == 0 and 0 or 7
