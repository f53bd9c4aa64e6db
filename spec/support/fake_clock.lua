-- A clock for specs: now() only moves when something sleeps or a fake
-- session waits, so retries, backoff, Retry-After, deadlines and polling run
-- in milliseconds whatever the machine is doing.
--
--   local clock = require("support.fake_clock").install()   -- the transport reads it
--   ... clock.now(), clock.slept (every sleep, in order) ...
--   clock.remove()

local M = {}

function M.new(start)
  local c = { t = start or 1000, slept = {} }
  function c.now() return c.t end
  function c.sleep(seconds)
    c.slept[#c.slept + 1] = seconds
    if seconds > 0 then c.t = c.t + seconds end
    return true
  end
  function c.advance(seconds) c.t = c.t + seconds end
  return c
end

-- install([start]) -> a clock the transport uses until clock.remove().
function M.install(start)
  local transport = require "clarifai.transport"
  local c = M.new(start)
  transport.set_clock(c)
  function c.remove() transport.set_clock(nil) end
  return c
end

return M
