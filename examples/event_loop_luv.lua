-- Pause runs from inside a luv (libuv) event loop, each in its own workflow,
-- then wait until each is paused, while the loop keeps serving a ticker.
--
--   lua5.4 examples/event_loop_luv.lua USER APP PIPELINE VERSION RUN_ID...
--   clarifai script examples/event_loop_luv.lua USER APP PIPELINE VERSION RUN_ID...
--
-- Credentials as for every command: CLARIFAI_PAT and CLARIFAI_API_BASE, or
-- the config file's current context. Prints one line per run, then how many
-- times the ticker fired while the library worked.
local uv = require "luv"
local clarifai = require "clarifai"
local async = require "clarifai.async.luv"

local ref = { user_id = arg[1], app_id = arg[2], pipeline_id = arg[3], pipeline_version_id = arg[4] }
local ids = { select(5, (table.unpack or unpack)(arg)) } -- luacheck: ignore 113
assert(#ids > 0, "usage: event_loop_luv.lua USER APP PIPELINE VERSION RUN_ID...")

local ticks = 0
local ticker = uv.new_timer()
ticker:start(100, 100, function() ticks = ticks + 1 end)

local left, failures = #ids, 0
for _, id in ipairs(ids) do
  async.spawn(function()
    local run_ref = { user_id = ref.user_id, app_id = ref.app_id, pipeline_id = ref.pipeline_id,
      pipeline_version_id = ref.pipeline_version_id, run_id = id }
    local result = assert(clarifai.runs.pause(run_ref))
    local waited = assert(clarifai.watch.wait("pause", ref, { id }, { interval = 0.5, timeout = 60 }))
    return result, waited.results[1]
  end, function(ok, result, waited)
    if ok then
      print(string.format("%s: %s, then %s (%s)", id, result.outcome, waited.outcome, waited.state))
    else
      failures = failures + 1
      io.stderr:write(id, ": ", tostring(result), "\n")
    end
    left = left - 1
    if left == 0 then ticker:close() end -- the loop ends when nothing is left
  end)
end

uv.run()
print(string.format("the loop ticked %d times meanwhile", ticks))
return failures == 0 and 0 or 1
