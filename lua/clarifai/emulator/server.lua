-- A small HTTP/1.1 server on LuaSocket: one non-blocking listening socket,
-- one coroutine per connection, a socket.select loop that wakes whichever
-- connection can make progress. A slow or silent client only parks its own
-- coroutine, so it never holds up the others.
--
-- The handler runs inside the connection's coroutine and may call
-- ctx.sleep(seconds). It returns a response table:
--   status, headers (map or list of {name, value}), body (string),
--   raw (true: add no headers but Content-Length),
--   close (true: close the connection after this response),
--   mode = nil | "close" | "hang" | "drip" | "truncate" | "chunk_cut" | "endless",
--   interval (drip/endless), bytes (truncate/chunk_cut), after (function run once sent).

local socket = require "socket"

local M = {}

M.MAX_HEADER = 64 * 1024
M.MAX_BODY = 8 * 1024 * 1024

local REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [207] = "Multi-Status", [301] = "Moved Permanently", [302] = "Found", [303] = "See Other",
  [307] = "Temporary Redirect", [308] = "Permanent Redirect", [400] = "Bad Request",
  [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed",
  [408] = "Request Timeout", [409] = "Conflict", [411] = "Length Required",
  [413] = "Content Too Large", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large", [500] = "Internal Server Error",
  [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

-- Lua's interpreter turns SIGINT into this error; it must reach main().
local function rethrow_interrupt(err)
  if type(err) == "string" and err:find("interrupted!", 1, true) then error(err, 0) end
end

local Server = {}
Server.__index = Server

-- opts: handler(req, ctx) -> response, host, port, idle_timeout, log(msg).
function M.new(opts)
  return setmetatable({
    handler = assert(opts.handler, "handler required"),
    host = opts.host or "127.0.0.1",
    port = opts.port or 0,
    idle_timeout = opts.idle_timeout or 300,
    log = opts.log or function() end,
    conns = {},      -- socket -> connection
    timers = {},
    next_id = 0,
    stopping = false,
  }, Server)
end

function Server:listen()
  local l, err = socket.bind(self.host, self.port, 128)
  if not l then return nil, err end
  l:settimeout(0)
  self.listener = l
  local _, port = l:getsockname()
  self.port = tonumber(port)
  return self.host, self.port
end

-- Runs fn() once, `delay` seconds from now, on the main loop.
function Server:after(delay, fn)
  local t = { at = socket.gettime() + delay, fn = fn }
  self.timers[#self.timers + 1] = t
  return t
end

-- Runs fn() every `interval` seconds until it returns false.
function Server:every(interval, fn)
  local function tick()
    if fn() ~= false then self:after(interval, tick) end
  end
  return self:after(interval, tick)
end

function Server:stop()
  self.stopping = true
end

-- Coroutine-side I/O ---------------------------------------------------------

-- Waits for the socket to become readable/writable or for the deadline.
local function wait(kind, deadline)
  return coroutine.yield(kind, deadline)
end

local function sleep(seconds)
  if seconds and seconds > 0 then wait("sleep", socket.gettime() + seconds) end
end

-- Appends what the socket has to c.buf; waits when it has nothing.
local function fill(c, limit, deadline)
  while true do
    local data, err, partial = c.sock:receive(limit or 16384)
    local got = data or partial
    if got and #got > 0 then
      c.buf = c.buf .. got
      return true
    end
    if err ~= "timeout" then return nil, err or "closed" end
    if wait("r", deadline) == "timeout" then return nil, "timeout" end
  end
end

local function send_all(c, data)
  local i = 1
  while i <= #data do
    local last, err, elast = c.sock:send(data, i)
    if last then
      i = last + 1
    elseif err == "timeout" then
      i = (elast or i - 1) + 1
      wait("w")
    else
      return nil, err
    end
  end
  return true
end

-- Reads exactly n bytes (buffered first) without quadratic concatenation.
local function read_exact(c, n)
  local parts, have = {}, 0
  if #c.buf > 0 then
    local take = c.buf:sub(1, n)
    parts[1], have = take, #take
    c.buf = c.buf:sub(#take + 1)
  end
  while have < n do
    local data, err, partial = c.sock:receive(math.min(n - have, 1024 * 1024))
    local got = data or partial
    if got and #got > 0 then
      parts[#parts + 1] = got
      have = have + #got
    elseif err ~= "timeout" then
      return nil, err or "closed"
    elseif wait("r", socket.gettime() + c.server.idle_timeout) == "timeout" then
      return nil, "timeout"
    end
  end
  return table.concat(parts)
end

local function read_line(c, max)
  while true do
    local e = c.buf:find("\n", 1, true)
    if e then
      local line = c.buf:sub(1, e - 1):gsub("\r$", "")
      c.buf = c.buf:sub(e + 1)
      return line
    end
    if #c.buf > max then return nil, "too long" end
    local ok, err = fill(c, nil, socket.gettime() + c.server.idle_timeout)
    if not ok then return nil, err end
  end
end

local function read_chunked(c)
  local parts, total = {}, 0
  while true do
    local line, err = read_line(c, 4096)
    if not line then return nil, err == "too long" and 400 or err end
    local size = tonumber(line:match("^%s*(%x+)"), 16)
    if not size then return nil, 400 end
    if size == 0 then break end
    total = total + size
    if total > M.MAX_BODY then return nil, 413 end
    local data, derr = read_exact(c, size)
    if not data then return nil, derr end
    parts[#parts + 1] = data
    local crlf = read_line(c, 2)
    if crlf ~= "" then return nil, 400 end
  end
  -- Trailer fields, up to the empty line.
  local budget = M.MAX_HEADER
  while true do
    local line, err = read_line(c, budget)
    if not line then return nil, err == "too long" and 431 or err end
    if line == "" then break end
    budget = budget - #line
  end
  return table.concat(parts)
end

local function trim(s)
  return (s:gsub("^[ \t]+", ""):gsub("[ \t]+$", ""))
end

-- The head of the next request (up to the blank line), or nil plus an HTTP
-- status or an error string.
local function read_head(c)
  local head_end, sep
  while true do
    -- Tolerate stray blank lines before a request line (RFC 9112 2.2).
    c.buf = c.buf:gsub("^\r?\n", "")
    head_end, sep = c.buf:find("\r?\n\r?\n")
    if head_end then break end
    if #c.buf > M.MAX_HEADER then return nil, 431 end
    local ok, err = fill(c, nil, socket.gettime() + c.server.idle_timeout)
    if not ok then return nil, err end
  end
  if sep - 1 > M.MAX_HEADER then return nil, 431 end
  local head = c.buf:sub(1, head_end - 1)
  c.buf = c.buf:sub(sep + 1)
  return head
end

-- The request line and header fields of a head -> req | nil, 400.
local function parse_head(c, head)
  local lines = {}
  for line in (head .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  local method, target, major, minor = lines[1]:match("^(%u+) (%S+) HTTP/(%d)%.(%d)$")
  if not method then return nil, 400 end
  local headers, list = {}, {}
  for i = 2, #lines do
    local name, value = lines[i]:match("^([!#$%%&'*+%-.^_`|~%w]+):(.*)$")
    if not name then return nil, 400 end
    name, value = name:lower(), trim(value)
    list[#list + 1] = { name, value }
    headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
  end
  local req = {
    method = method, target = target, version = major .. "." .. minor,
    headers = headers, header_list = list, conn = c.id, peer = c.peer,
  }
  -- origin-form path and query (absolute-form has its scheme and host dropped)
  local path = target:gsub("^%a[%w+.-]*://[^/]*", "")
  if path == "" then path = "/" end
  req.path, req.query = path:match("^([^?]*)%??(.*)$")
  return req
end

-- The body as its framing says (chunked, Content-Length, none) -> body | nil, status or error.
local function read_body(c, req)
  local headers = req.headers
  local te = headers["transfer-encoding"]
  local chunked = te ~= nil and te:lower():find("chunked", 1, true) ~= nil
  local length
  if not chunked and headers["content-length"] then
    if not headers["content-length"]:match("^%d+$") then return nil, 400 end
    length = tonumber(headers["content-length"])
    if length > M.MAX_BODY then return nil, 413 end
  end
  local wants_body = chunked or (length and length > 0)
  if wants_body and req.version == "1.1" and #c.buf == 0
    and (headers.expect or ""):lower() == "100-continue" then
    local ok, err = send_all(c, "HTTP/1.1 100 Continue\r\n\r\n")
    if not ok then return nil, err end
  end
  if chunked then return read_chunked(c) end
  if length and length > 0 then return read_exact(c, length) end
  return ""
end

-- Reads one request. Returns req, or nil plus an HTTP status to answer with
-- (then close) or an error string (just close).
local function read_request(c)
  local head, herr = read_head(c)
  if not head then return nil, herr end
  local req, perr = parse_head(c, head)
  if not req then return nil, perr end
  local body, berr = read_body(c, req)
  if not body then return nil, berr end
  req.body = body
  local conn_hdr = (req.headers.connection or ""):lower()
  req.keep_alive = req.version == "1.1" and not conn_hdr:find("close", 1, true)
  return req
end

local function header_lines(headers, out)
  local has = {}
  if headers then
    local list = headers
    if #headers == 0 then
      list = {}
      for k, v in pairs(headers) do list[#list + 1] = { k, v } end
      table.sort(list, function(a, b) return a[1] < b[1] end)
    end
    for _, h in ipairs(list) do
      out[#out + 1] = h[1] .. ": " .. tostring(h[2]) .. "\r\n"
      has[h[1]:lower()] = true
    end
  end
  return has
end

-- Status line and headers for res; `framing` is "length" or "chunked".
local function head_of(res, framing, closing)
  local status = res.status or 200
  local out = { string.format("HTTP/1.1 %d %s\r\n", status, REASONS[status] or "Status") }
  local has = header_lines(res.headers, out)
  if not res.raw then
    if not has["content-type"] then out[#out + 1] = "Content-Type: application/json\r\n" end
    if not has.date then out[#out + 1] = os.date("!Date: %a, %d %b %Y %H:%M:%S GMT\r\n") end
    if closing and not has.connection then out[#out + 1] = "Connection: close\r\n" end
  end
  if framing == "chunked" then
    if not has["transfer-encoding"] then out[#out + 1] = "Transfer-Encoding: chunked\r\n" end
  elseif not has["content-length"] then
    out[#out + 1] = "Content-Length: " .. #(res.body or "") .. "\r\n"
  end
  out[#out + 1] = "\r\n"
  return table.concat(out)
end

-- Answers to requests that could not be read (bad framing, over the limits).
local function error_response(status)
  local body = string.format('{"status":{"code":%d,"description":"%s"}}',
    status == 431 and 11102 or 11100, REASONS[status] or "Bad request")
  return { status = status, body = body, close = true }
end

-- Sends res according to its mode; returns true to keep the connection.
local function respond(c, res, keep)
  local mode = res.mode
  if mode == "close" then return false end
  if mode == "hang" then
    -- Read and drop whatever comes until the client gives up.
    repeat
      c.buf = ""
    until not fill(c)
    return false
  end
  local body = res.body or ""
  if mode == "endless" then
    local ok = send_all(c, head_of(res, "chunked", true))
    local piece = res.chunk or '{"id":"pipeline-version-run","orchestration_status":{}},'
    if ok and #body > 0 then ok = send_all(c, string.format("%x\r\n%s\r\n", #body, body)) end
    while ok do
      sleep(res.interval or 0.05)
      ok = send_all(c, string.format("%x\r\n%s\r\n", #piece, piece))
    end
    return false
  end
  if mode == "chunk_cut" then
    local n = math.min(res.bytes or math.floor(#body / 2), #body)
    local ok = send_all(c, head_of(res, "chunked", true))
    if ok then send_all(c, string.format("%x\r\n", #body) .. body:sub(1, n)) end
    return false
  end
  if mode == "truncate" then
    local n = math.min(res.bytes or math.floor(#body / 2), #body)
    local ok = send_all(c, head_of(res, "length", true))
    if ok then send_all(c, body:sub(1, n)) end
    return false
  end
  local closing = not keep or res.close
  local data = head_of(res, "length", closing) .. body
  if mode == "drip" then
    local interval = res.interval or 0.05
    for i = 1, #data do
      if not send_all(c, data:sub(i, i)) then return false end
      if i < #data then sleep(interval) end
    end
  elseif not send_all(c, data) then
    return false
  end
  if res.after then res.after() end
  return not closing
end

-- One connection's life: requests in order until either side closes.
local function serve(c)
  local srv = c.server
  local ctx = { sleep = sleep, server = srv }
  while not srv.stopping do
    local req, err = read_request(c)
    if not req then
      if type(err) == "number" then respond(c, error_response(err), false) end
      break
    end
    req.time = socket.gettime()
    local ok, res = pcall(srv.handler, req, ctx)
    if not ok then
      rethrow_interrupt(res)
      srv.log("handler error: " .. tostring(res))
      res = { status = 500, close = true,
        body = '{"status":{"code":99009,"description":"Internal server error"}}' }
    end
    if not respond(c, res, req.keep_alive) then break end
  end
end

-- Main loop ------------------------------------------------------------------

function Server:drop(c)
  self.conns[c.sock] = nil
  c.sock:close()
end

function Server:resume(c, ...)
  local ok, kind, deadline = coroutine.resume(c.co, ...)
  if not ok then
    rethrow_interrupt(kind)
    self.log("connection error: " .. tostring(kind))
    self:drop(c)
  elseif coroutine.status(c.co) == "dead" then
    self:drop(c)
  else
    c.want, c.deadline = kind, deadline
  end
end

function Server:accept()
  while true do
    local s = self.listener:accept()
    if not s then return end
    s:settimeout(0)
    s:setoption("tcp-nodelay", true)
    self.next_id = self.next_id + 1
    local c = { sock = s, buf = "", server = self, id = self.next_id, peer = s:getpeername() }
    c.co = coroutine.create(serve)
    self.conns[s] = c
    self:resume(c, c)
  end
end

function Server:run_timers(now)
  local due, keep = {}, {}
  for _, t in ipairs(self.timers) do
    if t.at <= now then due[#due + 1] = t else keep[#keep + 1] = t end
  end
  self.timers = keep
  table.sort(due, function(a, b) return a.at < b.at end)
  for _, t in ipairs(due) do
    local ok, err = pcall(t.fn)
    if not ok then
      rethrow_interrupt(err)
      self.log("timer error: " .. tostring(err))
    end
  end
end

-- One turn of the loop: timers, deadlines, then at most max_wait in select.
function Server:step(max_wait)
  local now = socket.gettime()
  self:run_timers(now)
  local snapshot = {}
  for _, c in pairs(self.conns) do snapshot[#snapshot + 1] = c end
  for _, c in ipairs(snapshot) do
    if c.deadline and c.deadline <= now and self.conns[c.sock] == c then
      c.deadline = nil
      self:resume(c, "timeout")
    end
  end
  if self.stopping then return end

  local recvt, sendt = { self.listener }, {}
  local wake = now + max_wait
  for _, t in ipairs(self.timers) do wake = math.min(wake, t.at) end
  for s, c in pairs(self.conns) do
    if c.want == "r" then recvt[#recvt + 1] = s elseif c.want == "w" then sendt[#sendt + 1] = s end
    if c.deadline then wake = math.min(wake, c.deadline) end
  end
  local readable, writable = socket.select(recvt, sendt, math.max(0, wake - socket.gettime()))
  for _, s in ipairs(readable or {}) do
    if s == self.listener then
      self:accept()
    else
      local c = self.conns[s]
      if c and c.want == "r" then self:resume(c, "ready") end
    end
  end
  for _, s in ipairs(writable or {}) do
    local c = self.conns[s]
    if c and c.want == "w" then self:resume(c, "ready") end
  end
end

-- Serves until stop(); closes everything on the way out.
function Server:run()
  while not self.stopping do self:step(0.25) end
  self:close()
end

function Server:close()
  for s in pairs(self.conns) do s:close() end
  self.conns = {}
  if self.listener then self.listener:close() self.listener = nil end
end

return M
