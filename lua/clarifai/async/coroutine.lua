-- Coroutines of your own inside a workflow (as cqueues' auxlib does it).
--
--   local co = require "clarifai.async.coroutine"
--   local gen = co.wrap(function() ... clarifai.runs.status(ref, ids) ... co.yield(x) ... end)
--
-- A library call waits by yielding to the workflow's scheduler. Inside a
-- coroutine of your own that yield would reach your resume() instead, so a
-- plain coroutine.wrap inside a workflow raises rather than block the loop.
-- A coroutine made here hands each of the library's waits up, with a
-- private yield, to the code that resumes it (and so on, up to the
-- workflow's own coroutine, where the scheduler's hooks run); your own
-- yields and values pass through unchanged. Outside any workflow the waits
-- block, as every library call does there.

local transport = require "clarifai.transport"

local M = {}

local PRIVATE = transport.PRIVATE

-- create(f) -> a coroutine whose library waits are handed up.
function M.create(f)
  local co = coroutine.create(f)
  transport.handed_up[co] = true
  return co
end

local function perform(_, ...) return transport.perform(...) end

-- What resume() gives back: the coroutine's own yields and results; a
-- private yield is performed here and the coroutine resumed with its result.
local function pass(co, ok, ...)
  if ok and (...) == PRIVATE then return pass(co, coroutine.resume(co, perform(...))) end
  return ok, ...
end

-- resume(co, ...) -> as coroutine.resume.
function M.resume(co, ...)
  return pass(co, coroutine.resume(co, ...))
end

local function raise_or_return(ok, ...)
  if not ok then error((...), 0) end
  return ...
end

-- wrap(f) -> a function that resumes the coroutine, as coroutine.wrap.
function M.wrap(f)
  local co = M.create(f)
  return function(...)
    return raise_or_return(M.resume(co, ...))
  end
end

M.yield, M.status, M.running = coroutine.yield, coroutine.status, coroutine.running
M.isyieldable = coroutine.isyieldable

return M
