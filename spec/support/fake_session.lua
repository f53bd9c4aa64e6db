-- A stand-in for a clarifai.http.core session: every request is answered by
-- respond(request) with a result table shaped like the real session's (no
-- network). Lets specs drive the transport, the batch state machine and the
-- reads through every outcome without a server.
--
--   local fake = require "support.fake_session"
--   local c, session = fake.client(function(req) return { status = 200, body = "…", sent = true } end)
--   runs.apply("pause", ref, ids, { client = c })   -- session.sent lists what was sent
--
-- With a fake clock (support.fake_clock), a reply may take `after` seconds
-- of it (a slow server, a request that times out): poll() moves the clock
-- to the next reply due, so a spec runs in milliseconds.

local M = {}

function M.new(respond, clock)
  local s = { queue = {}, sent = {}, next_key = 0, limit_seen = nil, clock = clock }
  function s.submit(self, req)
    self.next_key = self.next_key + 1
    local q = { key = self.next_key, req = req, at = clock and clock.now() or 0 }
    self.queue[#self.queue + 1] = q
    self.sent[#self.sent + 1] = req
    return self.next_key
  end
  -- The reply to a queued request, made once (respond may keep state).
  local function reply(q)
    if not q.resp then
      q.resp = respond(q.req)
      q.due = q.at + (q.resp.after or 0)
      q.resp.after = nil
    end
    return q.resp
  end
  function s.poll(self, timeout)
    local out, rest = {}, {}
    local now = clock and clock.now() or 0
    local soonest
    for _, q in ipairs(self.queue) do
      reply(q)
      if q.due <= now then
        q.resp.key = q.key
        out[#out + 1] = q.resp
      else
        rest[#rest + 1] = q
        if not soonest or q.due < soonest then soonest = q.due end
      end
    end
    self.queue = rest
    if #out == 0 and soonest and clock and (timeout or 0) > 0 then
      -- wait (on the fake clock) for the next reply, at most `timeout`
      clock.advance(math.min(timeout, soonest - now))
      return self:poll(0)
    end
    return out
  end
  local function aborted(key, q)
    return { key = key, error_code = "ABORTED", error = "aborted", sent = q.req ~= nil, responded = false }
  end
  function s.abort_all(self)
    local out = {}
    for _, q in ipairs(self.queue) do out[#out + 1] = aborted(q.key, q) end
    self.queue = {}
    return out
  end
  function s.abort(self, key)
    for i, q in ipairs(self.queue) do
      if q.key == key then
        table.remove(self.queue, i)
        return aborted(key, q)
      end
    end
    return nil
  end
  function s.active(self) return #self.queue, 0 end
  function s.limit(self, connections, streams) self.limit_seen = { connections, streams } end
  function s.fd() return -1 end
  function s.timeout() return nil end
  function s.close() end
  return s
end

-- client(respond [, client options [, clock]]) -> a real client whose
-- session is fake, the session
function M.client(respond, opts, clock)
  local o = { pat = "tok-fake-1234", api_base = "https://api.example" }
  for k, v in pairs(opts or {}) do o[k] = v end
  local c = assert(require("clarifai.client").new(o))
  local s = M.new(respond, clock)
  c.session = function() return s end
  return c, s
end

return M
