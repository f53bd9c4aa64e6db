--- Coroutines of your own inside a workflow (as cqueues' auxlib does it).
-- A library call waits by yielding to the workflow's scheduler. Inside a
-- coroutine of your own that yield would reach your resume() instead, so a
-- plain coroutine.wrap inside a workflow raises rather than block the loop.
-- A coroutine made here hands each of the library's waits up, with a
-- private yield, to the code that resumes it (and so on, up to the
-- workflow's own coroutine, where the scheduler's hooks run); your own
-- yields and values pass through unchanged. Outside any workflow the waits
-- block, as every library call does there. yield, status, running and
-- isyieldable are the `coroutine` library's own.
-- @module clarifai.async.coroutine
-- @usage
-- local co = require "clarifai.async.coroutine"
-- local gen = co.wrap(function() ... clarifai.runs.status(ref, ids) ... co.yield(x) ... end)

local transport = require "clarifai.transport"

local M = {}

local PRIVATE = transport.PRIVATE

--- A coroutine whose library waits are handed up, as coroutine.create.
-- @tparam function f the coroutine's body
-- @treturn thread the coroutine (resume it with this module's `resume`)
-- @usage
-- local c = co.create(function(ids)
--   for _, id in ipairs(ids) do co.yield(assert(clarifai.runs.status(ref, { id })).runs[1]) end
-- end)
-- local ok, run = co.resume(c, ids)
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

--- Resumes a coroutine, as coroutine.resume; a library wait inside it is performed here.
-- What it gives back are the coroutine's own yields and results: a private
-- yield (a library wait) is performed in the caller's context and the
-- coroutine resumed with its result.
-- @tparam thread co a coroutine (made by `create`; a plain one works as
-- with coroutine.resume)
-- @param ... values for the coroutine
-- @treturn boolean true, or false when the coroutine raised
-- @return ... the values it yielded or returned, or the error
-- @usage
-- local ok, run = co.resume(c, ids)
-- while ok and run do print(run.id) ok, run = co.resume(c) end
function M.resume(co, ...)
  return pass(co, coroutine.resume(co, ...))
end

local function raise_or_return(ok, ...)
  if not ok then error((...), 0) end
  return ...
end

--- A function that resumes a coroutine of `create`, as coroutine.wrap.
-- @tparam function f the coroutine's body
-- @treturn function resumes the coroutine with its arguments and returns what
-- it yields or returns
-- @raise (the returned function) the coroutine's error
-- @usage
-- local co = require "clarifai.async.coroutine"
-- async.spawn(function()
--   local states = co.wrap(function()                -- a generator of one's own
--     for _, id in ipairs(ids) do co.yield(assert(clarifai.runs.status(ref, { id })).runs[1]) end
--   end)
--   for run in states do print(run.id) end          -- each read yields to the loop meanwhile
-- end, on_done)
function M.wrap(f)
  local co = M.create(f)
  return function(...)
    return raise_or_return(M.resume(co, ...))
  end
end

--- Yields from a coroutine of `create`: coroutine.yield.
-- Its values go to the `resume` (or the `wrap` function) that runs it.
-- @function yield
-- @param ... the values to yield
-- @return ... the values of the next resume
-- @usage co.yield(run)
M.yield = coroutine.yield

--- A coroutine's status: coroutine.status.
-- @function status
-- @tparam thread co a coroutine
-- @treturn string "running", "suspended", "normal" or "dead"
-- @usage print(co.status(c))
M.status = coroutine.status

--- The running coroutine: coroutine.running.
-- @function running
-- @treturn thread the running coroutine (nil in the main one on Lua 5.1 and LuaJIT)
-- @treturn boolean true in the main coroutine (Lua 5.2 and newer)
-- @usage local me = co.running()
M.running = coroutine.running

--- Can the running coroutine yield: coroutine.isyieldable.
-- nil where the coroutine library lacks it (Lua 5.1 and 5.2; LuaJIT has it).
-- @function isyieldable
-- @treturn boolean true when it can
-- @usage if co.isyieldable and co.isyieldable() then co.yield() end
M.isyieldable = coroutine.isyieldable

return M
