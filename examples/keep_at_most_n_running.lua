-- Keep at most N runs of a pipeline version running: when more are
-- running, pause the newest; when fewer are, resume the oldest of those it
-- paused. Follows the version until --timeout (or a signal).
--
--   clarifai script examples/keep_at_most_n_running.lua N [USER APP PIPELINE VERSION] [INTERVAL] [TIMEOUT]
--
-- Without ids, they come from ./config-lock.yaml. Loaded with dofile(), the
-- file returns the function instead (a workflow can run it in an event
-- loop: every wait then yields to the loop).
local clarifai = require "clarifai"

-- keep(ref, n, opts) -> events (how the watch ended), the runs it paused
-- and resumed. opts: interval, timeout, client, on_change(action, run_id).
local function keep(ref, n, opts)
  opts = opts or {}
  local running, nrunning, mine = {}, 0, {} -- run ids seen running, and how many; the runs this paused
  local function set(id, on)
    if (running[id] == true) ~= on then
      running[id], nrunning = on or nil, nrunning + (on and 1 or -1)
    end
  end
  local call = { client = opts.client }
  local events = assert(clarifai.watch.events(ref, { states = { "running", "paused" } },
    { interval = opts.interval or 5, timeout = opts.timeout, client = opts.client }))
  local log = { paused = {}, resumed = {} }
  local function act(action, id)
    local run = { run_id = id }
    for k, v in pairs(ref) do run[k] = v end
    local report = assert(clarifai.runs.apply(action, { run }, call))
    local r = report.results[1]
    if r.outcome ~= "ok" and r.outcome ~= "noop" then -- it ended meanwhile, say: the watch will tell
      io.stderr:write(id, ": ", r.error and r.error.message or r.outcome, "\n")
      return
    end
    local list = action == "pause" and log.paused or log.resumed
    list[#list + 1] = id
    if opts.on_change then opts.on_change(action, id) end
  end
  for ev in events do
    set(ev.run_id, ev.to == "RUNNING")
    if nrunning > n then -- the newest running runs go: one listing, oldest first, gives their ages
      local list = assert(clarifai.runs.select(ref, { states = { "running" } }, call))
      for i = #list, 1, -1 do
        local id = list[i].run_id
        if nrunning <= n then break end
        if running[id] then
          act("pause", id)
          set(id, false)
          mine[#mine + 1] = id
        end
      end
    end
    while nrunning < n and #mine > 0 do
      local oldest = table.remove(mine, 1)
      act("resume", oldest)
      set(oldest, true)
    end
  end
  return events, log
end

if arg and arg[0] and arg[0]:match("keep_at_most_n_running%.lua$") and tonumber(arg[1]) then
  local ref = assert(clarifai.ids.resolve({ user_id = arg[2], app_id = arg[3], pipeline_id = arg[4],
    pipeline_version_id = arg[5] }))
  local events, log = keep(ref, tonumber(arg[1]), { interval = tonumber(arg[6]), timeout = tonumber(arg[7]),
    on_change = function(action, id) print(action .. "d " .. id) end })
  print(string.format("%d paused, %d resumed; the watch ended: %s", #log.paused, #log.resumed, events.ended))
  return events.ended == "error" and 1 or 0
end
return keep
