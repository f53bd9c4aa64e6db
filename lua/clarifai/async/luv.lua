--- Workflows on luv's default loop (libuv: Neovim, Luvit, many daemons).
-- A wait parks the workflow's coroutine on a uv poll handle (the HTTP
-- session's fd) and a uv timer; whichever fires first resumes it. See
-- `clarifai.async` for what a workflow is and what yields.
-- @module clarifai.async.luv
-- @usage
-- local uv = require "luv"
-- local async = require "clarifai.async.luv"
-- async.spawn(function() return clarifai.runs.pause(ref) end, function(ok, res) ... end)
-- uv.run()

local uv = require "luv"
local async = require "clarifai.async"

local M = {}

local function ms(seconds) return math.max(0, math.floor(seconds * 1000 + 0.5)) end

-- A timer counts from the loop's cached time, which is stale when the loop
-- has not run for a while (a workflow spawned before uv.run): refresh it.
local function start_timer(timer, seconds, fn)
  uv.update_time()
  timer:start(ms(seconds), 0, fn)
end

local function close(h)
  if h and not h:is_closing() then
    if h.stop then h:stop() end
    h:close()
  end
end

-- Parks the running workflow until one of its handles fires.
local function park(w, handles)
  local co = coroutine.running()
  local woken = false
  local function wake()
    if woken then return end
    woken = true
    for _, h in ipairs(handles) do close(h) end
    if w then w.handles = nil end
    async.resume(co)
  end
  if w then w.handles = handles end
  return wake
end

local hooks = {}

function hooks.wait_fd(fd, timeout)
  local w = async.current()
  local poll, timer = uv.new_poll(fd), timeout and uv.new_timer() or nil
  local wake = park(w, { poll, timer })
  poll:start("r", wake)
  if timer then start_timer(timer, timeout, wake) end
  coroutine.yield()
end

function hooks.sleep(seconds)
  local timer = uv.new_timer()
  local wake = park(async.current(), { timer })
  start_timer(timer, seconds, wake)
  coroutine.yield()
end

-- A cancelled workflow: its handles close, so nothing keeps it alive.
function hooks.cancel(w)
  for _, h in ipairs(w.handles or {}) do close(h) end
  w.handles = nil
end

local sched

--- Runs fn as a workflow on luv's default loop and returns at once; the caller runs uv.run().
-- handle:cancel() stops it: an abandoned workflow is never collected while
-- its poll handle is open, so cancel is the way out. on_done(true, fn's
-- results...) or on_done(false, err) is told when it ends.
-- @tparam function fn the workflow
-- @tparam[opt] function on_done on_done(ok, ...)
-- @treturn Handle the workflow's handle (`clarifai.async`'s)
-- @raise on Lua 5.1 (not LuaJIT), and when fn is not a function
-- @usage
-- local handle = async.spawn(function()
--   assert(clarifai.runs.pause(ref))
--   return assert(clarifai.watch.wait("pause", ref, { ref.run_id }, { interval = 1 }))
-- end, function(ok, res) print(ok, ok and res.results[1].outcome or tostring(res)) end)
-- uv.run()                                   -- the loop keeps serving everything else meanwhile
function M.spawn(fn, on_done)
  sched = sched or async.new(hooks)
  return sched:spawn(fn, on_done)
end

return M
