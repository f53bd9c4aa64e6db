-- Running library calls inside an event loop. A workflow is a function run
-- as a coroutine; every wait of the library inside it (the network, retry
-- backoff, poll intervals) goes through clarifai.transport, which yields to
-- the loop through the scheduler's two functions instead of blocking:
--
--   local sched = require("clarifai.async").new{
--     wait_fd = function(fd, timeout) ... end, -- return when fd is readable or timeout s passed
--     sleep = function(seconds) ... end,       -- return after seconds
--   }
--   local handle = sched:spawn(function() return clarifai.runs.pause(ref) end,
--     function(ok, ...) ... end)                -- on_done: fn's results, or false, err
--   handle:cancel()                             -- stop it, release its transfers at once
--
-- wait_fd and sleep are called inside the workflow's coroutine and may yield
-- it, as long as the host resumes it when the condition holds (the luv and
-- cqueues adapters show both ways). Optional hooks: start(body) runs body
-- as a coroutine the host's way (default: coroutine.create + resume), and
-- cancel(workflow) releases what the hooks hold for a workflow.
-- Each workflow gets its own client (its own HTTP session) unless its calls
-- pass opts.client. Signals are the host's business: nothing is trapped.

local errors = require "clarifai.errors"
local transport = require "clarifai.transport"

local M = {}

-- Coroutines of your own inside a workflow: see clarifai.async.coroutine.
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

-- The workflow the running coroutine belongs to, or nil.
function M.current()
  local co = coroutine.running()
  return co and workflows[co] or nil
end

-- resume(co, ...): for hooks, to wake a workflow they parked. An error that
-- escapes (only a failing on_done can) is raised to the caller: the loop.
function M.resume(co, ...)
  if coroutine.status(co) ~= "suspended" then return end
  local ok, err = coroutine.resume(co, ...)
  if not ok then error(err, 0) end
end

local Scheduler = {}
Scheduler.__index = Scheduler

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

--[[
spawn(fn, on_done) -> handle
Runs fn() as a workflow; returns at once (fn runs until its first wait).
on_done(true, fn's results...) or on_done(false, err) when it ends; a
cancelled workflow ends with an error of kind "cancelled".
]]
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

-- cancel([reason]): stops the workflow now: its waits are released, its
-- transfers aborted, on_done(false, err) is told. Safe to call twice.
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

function Handle:done() return self.workflow.done end

return M
