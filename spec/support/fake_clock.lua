-- A clock for specs: now() only moves when something sleeps or a fake
-- session waits, so retries, backoff, Retry-After, deadlines and polling run
-- in milliseconds whatever the machine is doing.
--
--   local clock = require("support.fake_clock").install()   -- the transport reads it
--   ... clock.now(), clock.slept (every sleep, in order) ...
--   clock.remove()

local M = {}

function M.new(start)
  local c = { t = start or 1000, slept = {}, events = {} }
  function c.now() return c.t end
  -- at(t, fn): fn() runs when the clock reaches t (a signal arriving, say);
  -- a wait in progress ends there.
  function c.at(t, fn)
    c.events[#c.events + 1] = { t = t, fn = fn }
    table.sort(c.events, function(a, b) return a.t < b.t end)
  end
  -- advance(seconds) -> seconds it moved: it stops early at an event.
  function c.advance(seconds)
    local to = c.t + seconds
    local e = c.events[1]
    if e and e.t <= to then
      table.remove(c.events, 1)
      local moved = math.max(0, e.t - c.t)
      c.t = math.max(c.t, e.t)
      e.fn()
      return moved
    end
    c.t = to
    return seconds
  end
  -- sleep(seconds) -> true, or false when a signal event cut it short
  function c.sleep(seconds)
    c.slept[#c.slept + 1] = seconds
    if seconds > 0 then return c.advance(seconds) >= seconds or not c.caught end
    return true
  end
  -- raise(sig): a signal arrives now (transport.signal reports it).
  function c.raise(sig)
    c.caught, c.caught_at = sig, c.t
  end
  function c.signal()
    if c.caught then return c.caught, c.caught_at end
    return nil
  end
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
