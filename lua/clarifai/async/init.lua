--- Running library calls inside an event loop.
-- A workflow is a function run as a coroutine; every wait of the library
-- inside it (the network, retry backoff, poll intervals) goes through the
-- library's transport, which yields to the loop through the scheduler's two
-- functions instead of blocking. Called outside a workflow, the same
-- functions block.
--
-- wait_fd and sleep are called inside the workflow's coroutine and may yield
-- it, as long as the host resumes it (with `resume`) when the condition holds
-- (the luv and cqueues adapters, `clarifai.async.luv` and
-- `clarifai.async.cqueues`, show both ways). Optional hooks: start(body)
-- runs body as a coroutine the host's way (default: coroutine.create and
-- resume), and cancel(workflow) releases what the hooks hold for a workflow.
-- Each workflow gets its own client (its own HTTP session) unless its calls
-- pass opts.client. Signals are the host's business: nothing is trapped.
-- Coroutines of your own inside a workflow: `clarifai.async.coroutine` (also
-- this module's field `coroutine`). Needs Lua 5.2 or newer, or LuaJIT: Lua
-- 5.1 cannot yield across pcall.
-- @module clarifai.async
-- @usage
-- local sched = require("clarifai.async").new{
--   wait_fd = function(fd, timeout) ... end, -- return when fd is readable or timeout s passed
--   sleep = function(seconds) ... end,       -- return after seconds
-- }
-- local handle = sched:spawn(function() return clarifai.runs.pause(ref) end,
--   function(ok, ...) ... end)                -- on_done: fn's results, or false, err
-- handle:cancel()                             -- stop it, release its transfers at once

local errors = require "clarifai.errors"
local transport = require "clarifai.transport"

local M = {}

--- `clarifai.async.coroutine`, loaded when first read: coroutines of your own inside a workflow.
-- @class field
-- @name coroutine
setmetatable(M, { __index = function(t, k)
  if k ~= "coroutine" then return nil end
  local mod = require "clarifai.async.coroutine"
  rawset(t, k, mod)
  return mod
end })

-- Lua 5.1 cannot yield across pcall, which the library uses: refuse there.
local function check_version()
  if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
    error("clarifai.async needs Lua 5.2 or newer, or LuaJIT: Lua 5.1 cannot yield across pcall "
      .. "(the blocking library works everywhere)", 3)
  end
end

local CANCELLED = setmetatable({}, { __tostring = function() return "workflow cancelled" end })

-- coroutine -> workflow. Weak both ways: a workflow refers to its coroutine,
-- and Lua 5.1/LuaJIT weak keys are not ephemerons (that would keep a
-- cancelled workflow alive); a live coroutine keeps its workflow alive anyway.
local workflows = setmetatable({}, { __mode = "kv" })

--- The workflow the running coroutine belongs to.
-- For hooks: the workflow a wait_fd or sleep is made for (the luv adapter
-- keeps its handles there, so that cancel can close them).
-- @treturn ?table the workflow, or nil outside a workflow (and in a
-- coroutine of your own inside one)
-- @usage
-- function hooks.sleep(seconds)
--   local w = async.current()        -- the workflow that waits
--   ...
-- end
function M.current()
  local co = coroutine.running()
  return co and workflows[co] or nil
end

--- Wakes a workflow a hook parked: resumes its coroutine, when that is suspended.
-- For hooks. A coroutine that is not suspended (running, or dead after a
-- cancel) is left alone.
-- @tparam thread co the workflow's coroutine
-- @param ... values for the coroutine's yield
-- @return nothing
-- @raise an error that escapes the workflow (only a failing on_done can) is
-- raised to the caller: the loop
-- @usage
-- my_loop.after(seconds, function() require("clarifai.async").resume(co) end)
function M.resume(co, ...)
  if coroutine.status(co) ~= "suspended" then return end
  local ok, err = coroutine.resume(co, ...)
  if not ok then error(err, 0) end
end

local Scheduler = {}
Scheduler.__index = Scheduler

--- A scheduler for a loop of your own.
-- @tparam table hooks the loop's waits:
-- @tparam function hooks.wait_fd wait_fd(fd, timeout): returns when fd (the
-- HTTP session's pollable fd) is readable or timeout seconds passed; called
-- inside the workflow's coroutine, may yield it
-- @tparam function hooks.sleep sleep(seconds): returns after seconds; may
-- yield likewise
-- @tparam[opt] function hooks.start start(body, workflow): runs body as a
-- coroutine the host's way (cqueues uses cq:wrap)
-- @tparam[opt] function hooks.cancel cancel(workflow): releases what the
-- hooks hold for a cancelled workflow
-- @treturn Scheduler the scheduler
-- @raise on Lua 5.1 (not LuaJIT): it cannot yield across pcall; and when
-- hooks lacks wait_fd or sleep
-- @usage
-- local async = require "clarifai.async"
-- local sched = async.new{
--   wait_fd = function(fd, timeout)
--     local co = coroutine.running()
--     my_loop.watch_readable(fd, timeout, function() async.resume(co) end)
--     coroutine.yield()
--   end,
--   sleep = function(seconds)
--     local co = coroutine.running()
--     my_loop.after(seconds, function() async.resume(co) end)
--     coroutine.yield()
--   end,
-- }
-- sched:spawn(workflow, on_done)
function M.new(hooks)
  check_version()
  assert(type(hooks) == "table" and type(hooks.wait_fd) == "function" and type(hooks.sleep) == "function",
    "a scheduler needs wait_fd(fd, timeout) and sleep(seconds)")
  return setmetatable({ hooks = hooks }, Scheduler)
end

local function cancelled_error(w)
  return errors.new("cancelled", "workflow cancelled" .. (w.reason and (": " .. w.reason) or ""))
end

-- The transport's two waits, inside a workflow. A wait remembers the fd it
-- waits on, so a cancel can make the hooks forget it at once.
function Scheduler:wait_fd(fd, timeout)
  local w = M.current()
  if w and w.cancelled then error(CANCELLED, 0) end
  if w then w.fd = fd end
  self.hooks.wait_fd(fd, timeout)
  if w then w.fd = nil end
  if w and w.cancelled then error(CANCELLED, 0) end
end

function Scheduler:sleep(seconds)
  local w = M.current()
  if w and w.cancelled then error(CANCELLED, 0) end
  self.hooks.sleep(seconds)
  if w and w.cancelled then error(CANCELLED, 0) end
end

-- The transport's pumps started inside a workflow: a cancel aborts exactly
-- their transfers (another workflow's, on a shared client, are left alone).
function Scheduler.adopt(_, pump)
  local w = M.current()
  if w then w.pumps[pump] = true end
end

-- The workflow's own client, resolved as the CLI resolves the default one:
-- client | nil, err.
function Scheduler.client()
  local w = M.current()
  local client_mod = require "clarifai.client"
  if not w then
    local c, _, err = client_mod.default()
    if not c then return nil, err end
    return c
  end
  if not w.client then
    local c, _, err = client_mod.from_config({})
    if not c then return nil, err end
    w.client = c
  end
  return w.client
end

-- What a workflow holds: the transfers it started, its own client.
local function release(w)
  for pump in pairs(w.pumps) do pump:close() end
  w.pumps = setmetatable({}, { __mode = "k" })
  if w.client then
    w.client:close()
    w.client = nil
  end
end

local function pack(...) return { n = select("#", ...), ... } end
local unpack = require("clarifai.compat").unpack

local function tell(w, res)
  if res[1] then
    w.on_done(true, unpack(res, 2, res.n))
  elseif res[2] == CANCELLED then
    w.on_done(false, cancelled_error(w))
  else
    w.on_done(false, res[2])
  end
end

-- The end of a workflow: tell on_done (once), then release what it holds.
-- on_done runs inside the workflow when the workflow ended by itself, so it
-- may call the library (with the workflow's client); an error it raises
-- goes to whoever resumed the workflow, after the release.
local function finish(w, res)
  if w.done then return release(w) end
  w.done = true
  local ok, err = true, nil
  if w.on_done then ok, err = pcall(tell, w, res) end
  release(w)
  if not ok then error(err, 0) end
end

local Handle = {}
Handle.__index = Handle

--- A scheduler, made by `new` (the adapters make theirs).
-- @type Scheduler

--- Runs fn() as a workflow; returns at once (fn runs until its first wait).
-- on_done(true, fn's results...) or on_done(false, err) is told when it
-- ends; a cancelled workflow ends with an error of kind "cancelled" (an error
-- fn raises is passed as it is). on_done runs inside the workflow when the
-- workflow ended by itself, so it may call the library (with the workflow's
-- client); an error it raises goes to whoever resumed the workflow.
-- @tparam function fn the workflow
-- @tparam[opt] function on_done on_done(ok, ...)
-- @treturn Handle the workflow's handle
-- @raise when fn is not a function
-- @usage
-- local handle = sched:spawn(function()
--   return assert(clarifai.runs.pause(ref))
-- end, function(ok, res) print(ok, ok and res.state or tostring(res)) end)
function Scheduler:spawn(fn, on_done)
  assert(type(fn) == "function", "spawn needs a function")
  local w = { sched = self, on_done = on_done, done = false, cancelled = false,
    pumps = setmetatable({}, { __mode = "k" }) }
  local function body()
    w.co = coroutine.running()
    workflows[w.co] = w
    transport.schedulers[w.co] = self
    finish(w, pack(pcall(fn)))
  end
  if self.hooks.start then
    self.hooks.start(body, w)
  else
    M.resume(coroutine.create(body))
  end
  return setmetatable({ workflow = w }, Handle)
end

--- A running workflow, as `Scheduler:spawn` and the adapters return it.
-- @type Handle

--- Stops the workflow now: its waits are released, its transfers aborted, on_done(false, err) is told.
-- err is of kind "cancelled" (exit code 130), its message "workflow
-- cancelled", and the reason after a colon when one is given. Safe to call
-- twice, and after the workflow ended (then it does nothing). Called from
-- inside the workflow itself, it unwinds the workflow.
-- @tparam[opt] string reason said in the error's message
-- @return nothing
-- @usage
-- local handle = async.spawn(workflow, on_done)
-- local timer = uv.new_timer()
-- timer:start(30000, 0, function() handle:cancel("took too long") end)
function Handle:cancel(reason)
  local w = self.workflow
  if w.done or w.cancelled then return end
  w.cancelled, w.reason = true, reason
  if w.co and coroutine.running() == w.co then error(CANCELLED, 0) end
  if w.sched.hooks.cancel then w.sched.hooks.cancel(w) end
  release(w)
  finish(w, { false, CANCELLED, n = 2 })
  -- a coroutine we resume ourselves is dropped now; one the host's loop owns
  -- (hooks.start) wakes from its wait, sees the cancel and unwinds
  if not w.sched.hooks.start and w.co and coroutine.status(w.co) == "suspended" and coroutine.close then
    coroutine.close(w.co)
  end
end

--- Has the workflow ended (by itself or cancelled)?
-- @treturn boolean true once the workflow has ended (on_done is told then)
-- @usage if not handle:done() then handle:cancel() end
function Handle:done() return self.workflow.done end

return M
