-- A loopback TCP proxy that delays every byte, in each direction, by a fixed
-- time: put it between a client and a server on 127.0.0.1 and each round
-- trip costs 2 × delay more, as over a long link. Used by the network lab of
-- the benchmarks (bench/lib/lab.lua); `tc netem` needs privileges we do not
-- assume.
--
--   lua5.4 bench/delayproxy.lua --upstream PORT --delay MS [--port PORT]
--                               [--jitter MS] [--connect-rtt] [--seed N]
--
--   --upstream PORT  where to forward (127.0.0.1:PORT)
--   --delay MS       one-way delay added to every byte (RTT grows by 2 × MS)
--   --port PORT      where to listen (127.0.0.1; default 0: a free port)
--   --jitter MS      each chunk's delay is MS ± up to this much (uniform),
--                    never below 0 and never reordering a direction's bytes
--   --connect-rtt    also stand in for the TCP handshake: a client's first
--                    bytes reach the server no earlier than 3 × delay after
--                    the accept (SYN, SYN-ACK, then the data), as on a link
--                    where connect() itself costs one round trip
--   --seed N         seed of the jitter
--
-- Prints `listening on 127.0.0.1:PORT` first, then `accept N` for every
-- connection it accepts (N counts from 1), flushed at once, so a reader can
-- count connections. Listens only on 127.0.0.1. Ends on SIGTERM/SIGINT.
--
-- How: one thread, non-blocking sockets and select(). Every chunk read from
-- one side is stamped with its arrival time and queued for the other side
-- with a release time of arrival + delay (kept monotonic per direction);
-- the loop sleeps until the next release or the next readable socket. An
-- end of stream is queued the same way (then shutdown(SHUT_WR) of the other
-- side), so half-closes keep their timing. At most 4 MiB wait per direction:
-- beyond that the source is not read until the queue drains.

local socket = require "socket"

local opts = { port = 0, jitter = 0, delay = nil, upstream = nil, connect_rtt = false, seed = 1 }
do
  local i = 1
  while arg[i] do
    local a = arg[i]
    if a == "--connect-rtt" then
      opts.connect_rtt = true
      i = i + 1
    else
      local k, v = a:match("^%-%-([%w-]+)$"), tonumber(arg[i + 1])
      if not k or not v or opts[k] == false then
        io.stderr:write("usage: delayproxy.lua --upstream PORT --delay MS [--port PORT] [--jitter MS] "
          .. "[--connect-rtt] [--seed N]\n")
        os.exit(2)
      end
      opts[k] = v
      i = i + 2
    end
  end
  if not opts.upstream or not opts.delay then
    io.stderr:write("delayproxy: --upstream and --delay are required\n")
    os.exit(2)
  end
end

local DELAY, JITTER = opts.delay / 1000, opts.jitter / 1000
local MAX_QUEUED = 4 * 1024 * 1024
local CHUNK = 65536
local now = socket.gettime
math.randomseed(math.tointeger(opts.seed) or 1)

local function delay_of()
  if JITTER <= 0 then return DELAY end
  return math.max(0, DELAY + (math.random() * 2 - 1) * JITTER)
end

local server = assert(socket.bind("127.0.0.1", math.tointeger(opts.port) or 0))
server:settimeout(0)
local _, lport = server:getsockname()
io.stdout:write("listening on 127.0.0.1:", lport, "\n")
io.stdout:flush()

-- A direction: bytes read from `src`, written to `dst` when due.
--   q[head..tail]: {at = release time, data = string | false (end of stream)}
local dirs = {}      -- every live direction
local by_src = {}    -- socket -> direction reading it
local accepted = 0

local function new_dir(src, dst, floor)
  local d = { src = src, dst = dst, q = {}, head = 1, tail = 0, last = floor or 0, queued = 0, eof = false,
              done = false, peer = nil }
  dirs[d] = true
  by_src[src] = d
  return d
end

local function close_pair(d)
  for _, x in ipairs({ d, d.peer }) do
    if dirs[x] then
      dirs[x] = nil
      by_src[x.src] = nil
      x.src:close()
    end
  end
end

local function push(d, data, t)
  local at = math.max(t + delay_of(), d.last)
  d.last = at
  d.tail = d.tail + 1
  d.q[d.tail] = { at = at, data = data }
  if data then d.queued = d.queued + #data end
end

local function on_accept()
  while true do
    local c = server:accept()
    if not c then return end
    local t = now()
    accepted = accepted + 1
    io.stdout:write("accept ", accepted, "\n")
    io.stdout:flush()
    local u = socket.tcp()
    u:settimeout(2)
    local ok = u:connect("127.0.0.1", math.tointeger(opts.upstream))
    if not ok then
      u:close()
      c:close()
    else
      c:settimeout(0)
      u:settimeout(0)
      c:setoption("tcp-nodelay", true)
      u:setoption("tcp-nodelay", true)
      local up = new_dir(c, u, opts.connect_rtt and (t + 3 * DELAY) or 0)
      local down = new_dir(u, c, 0)
      up.peer, down.peer = down, up
    end
  end
end

local function on_readable(d, t)
  local data, err, partial = d.src:receive(CHUNK)
  data = data or partial
  if data and #data > 0 then push(d, data, t) end
  if err == "closed" then
    d.eof = true
    push(d, false, t)
  elseif err and err ~= "timeout" then
    close_pair(d)
  end
end

-- Writes what is due; returns true when due data could not all be written.
local function flush(d, t)
  while d.head <= d.tail do
    local item = d.q[d.head]
    if item.at > t then return false end
    if item.data == false then
      d.dst:shutdown("send")
      d.done = true
      d.q[d.head] = nil
      d.head = d.head + 1
      if d.peer.done then close_pair(d) end
      return false
    end
    local sent, err, last = d.dst:send(item.data)
    if not sent then
      if err ~= "timeout" then close_pair(d) return false end
      last = last or 0
      if last > 0 then
        item.data = item.data:sub(last + 1)
        d.queued = d.queued - last
      end
      return true
    end
    d.queued = d.queued - #item.data
    d.q[d.head] = nil
    d.head = d.head + 1
  end
  d.q, d.head, d.tail = {}, 1, 0
  return false
end

while true do
  local t = now()
  local readers, writers, wake = { server }, {}, t + 1
  for d in pairs(dirs) do
    if flush(d, t) then writers[#writers + 1] = d.dst end
    if dirs[d] then
      local item = d.q[d.head]
      if item and item.at > t and item.at < wake then wake = item.at end
      if not d.eof and d.queued < MAX_QUEUED then readers[#readers + 1] = d.src end
    end
  end
  local r = socket.select(readers, writers, math.max(0, wake - now()))
  t = now()
  for _, s in ipairs(r) do
    if s == server then on_accept()
    else
      local d = by_src[s]
      if d then on_readable(d, t) end
    end
  end
end
