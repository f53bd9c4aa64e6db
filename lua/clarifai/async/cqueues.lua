--- Workflows on a cqueues controller.
-- The workflow runs as one of cq's coroutines; a wait is cqueues.poll on the
-- HTTP session's fd (and a condition variable, so a cancel wakes it). See
-- `clarifai.async` for what a workflow is and what yields.
-- @module clarifai.async.cqueues
-- @usage
-- local cq = require("cqueues").new()
-- require("clarifai.async.cqueues").wrap(cq, function() return clarifai.runs.pause(ref) end,
--   function(ok, res) ... end)
-- assert(cq:loop())

local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local async = require "clarifai.async"

local M = {}

-- What cqueues.poll watches: an object with pollfd/events.
local function readable(fd)
  return { pollfd = function() return fd end, events = function() return "r" end }
end

local hooks = {}

function hooks.wait_fd(fd, timeout)
  local w = async.current()
  if w and w.cond then
    cqueues.poll(readable(fd), w.cond, timeout)
  else
    cqueues.poll(readable(fd), timeout)
  end
  -- forget the fd at once: the session may close it before the next wait
  cqueues.cancel(fd)
end

function hooks.sleep(seconds)
  local w = async.current()
  if w and w.cond then cqueues.poll(w.cond, seconds) else cqueues.sleep(seconds) end
end

function hooks.cancel(w)
  -- the session's fd closes next: cqueues must forget it first
  if w.fd then cqueues.cancel(w.fd) end
  if w.cond then w.cond:signal() end -- it wakes, sees the cancel and unwinds
end

--- Runs fn as a workflow on controller cq and returns at once; the caller runs cq:loop().
-- handle:cancel() stops it. on_done(true, fn's results...) or
-- on_done(false, err) is told when it ends.
-- @tparam userdata cq the cqueues controller
-- @tparam function fn the workflow
-- @tparam[opt] function on_done on_done(ok, ...)
-- @treturn Handle the workflow's handle (`clarifai.async`'s)
-- @raise on Lua 5.1 (not LuaJIT), and when fn is not a function
-- @usage
-- local cq = require("cqueues").new()
-- local wrap = require("clarifai.async.cqueues").wrap
-- wrap(cq, function() return assert(clarifai.runs.pause(ref)) end,
--   function(ok, res) print(ok, ok and res.state or tostring(res)) end)
-- assert(cq:loop())
function M.wrap(cq, fn, on_done)
  local sched = async.new({
    wait_fd = hooks.wait_fd, sleep = hooks.sleep, cancel = hooks.cancel,
    start = function(body, w)
      w.cond = condition.new()
      cq:wrap(body)
    end,
  })
  return sched:spawn(fn, on_done)
end

return M
