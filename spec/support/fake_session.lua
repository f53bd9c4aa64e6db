-- A stand-in for a clarifai.http.core session: every request is answered by
-- respond(request) with a result table shaped like the real session's (no
-- network). Lets specs drive the transport, the batch state machine and the
-- reads through every outcome without a server.
--
--   local fake = require "support.fake_session"
--   local c, session = fake.client(function(req) return { status = 200, body = "…", sent = true } end)
--   runs.apply("pause", ref, ids, { client = c })   -- session.sent lists what was sent

local M = {}

function M.new(respond)
  local s = { queue = {}, sent = {}, next_key = 0, limit_seen = nil }
  function s.submit(self, req)
    self.next_key = self.next_key + 1
    self.queue[#self.queue + 1] = { key = self.next_key, req = req }
    self.sent[#self.sent + 1] = req
    return self.next_key
  end
  function s.poll(self)
    local out = {}
    local queue = self.queue
    self.queue = {}
    for _, q in ipairs(queue) do
      local r = respond(q.req)
      r.key = q.key
      out[#out + 1] = r
    end
    return out
  end
  function s.abort_all(self)
    local out = {}
    for _, q in ipairs(self.queue) do
      out[#out + 1] = { key = q.key, error_code = "ABORTED", error = "aborted", sent = false, responded = false }
    end
    self.queue = {}
    return out
  end
  function s.abort(self, key)
    for i, q in ipairs(self.queue) do
      if q.key == key then
        table.remove(self.queue, i)
        return { key = key, error_code = "ABORTED", error = "aborted", sent = false, responded = false }
      end
    end
    return nil
  end
  function s.active(self) return #self.queue, 0 end
  function s.limit(self, n) self.limit_seen = n end
  function s.fd() return -1 end
  function s.timeout() return nil end
  function s.close() end
  return s
end

-- client(respond [, client options]) -> a real client whose session is fake, the session
function M.client(respond, opts)
  local o = { pat = "tok-fake-1234", api_base = "https://api.example" }
  for k, v in pairs(opts or {}) do o[k] = v end
  local c = assert(require("clarifai.client").new(o))
  local s = M.new(respond)
  c.session = function() return s end
  return c, s
end

return M
