-- The HTTP session's event-loop fd, whichever poller the build has (epoll,
-- kqueue, or poll(2) with its helper thread: make POLLER=poll): readable
-- when poll(0) has work, quiet otherwise (a loop watching it never spins),
-- and released by close. The server is a LuaSocket listener in this process,
-- so the spec decides when the answer goes out.

local http = require "clarifai.http.core"
local socket = require "socket"
local bounds = require "support.bounds"

-- Is fd readable within `seconds`? (socket.select takes any object with getfd.)
local function readable(fd, seconds)
  local r = socket.select({ { getfd = function() return fd end } }, nil, seconds)
  return #r > 0
end

-- poll(0) until the fd stays quiet for `quiet` seconds; returns how many
-- polls that took (a backend may wake a loop once for what it just handled).
local function settle(s, fd, quiet)
  for n = 1, 5 do
    if not readable(fd, quiet) then return n end
    assert.same({}, s:poll(0))
  end
  error("the fd stays readable: a loop watching it would spin")
end

describe("the session's event-loop fd #portable", function()
  local server, client, s
  before_each(function()
    server = assert(socket.bind("127.0.0.1", 0))
    server:settimeout(0)
    s = assert(http.new())
  end)
  after_each(function()
    if client then client:close() end
    server:close()
    s:close()
    client = nil
  end)

  -- Submits a GET and drives it (poll(0) only) until the server has read the
  -- whole request; the transfer then waits for the answer.
  local function start_request()
    local _, port = server:getsockname()
    local key = assert(s:submit({ url = "http://127.0.0.1:" .. port .. "/x", connect_timeout = 5, timeout = 10,
      max_size = 4096 }))
    bounds.await("the whole request at the server", function()
      assert.same({}, s:poll(0))
      client = client or server:accept()
      if not client then return false end
      client:settimeout(0.01)
      local line
      repeat line = client:receive("*l") until line == nil or line == ""
      return line == ""
    end)
    return key
  end

  it("names its poller", function()
    assert.truthy(({ epoll = true, kqueue = true, poll = true })[http.poller], tostring(http.poller))
    local want = os.getenv("CLARIFAI_POLLER")
    if want and want ~= "" then assert.equal(want, http.poller, "the build under test") end
  end)

  it("is readable when an answer arrives, and quiet while none does", function()
    local fd = assert(s:fd())
    assert.equal(fd, s:fd(), "one fd per session")
    local key = start_request()
    settle(s, fd, 0.3)
    assert.is_false(readable(fd, 0.5), "quiet while the server says nothing")
    assert.equal(1, s:active())
    client:send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    local t0 = socket.gettime()
    assert.is_true(readable(fd, 5), "readable once the answer is there")
    bounds.check("fd_ready", socket.gettime() - t0, "readable once the answer is there")
    local results = s:poll(0)
    assert.equal(1, #results, "poll(0) has the work the fd announced")
    assert.equal(key, results[1].key)
    assert.equal("ok", results[1].body)
    settle(s, fd, 0.3)
  end)

  it("is readable when the server closes the connection", function()
    local fd = assert(s:fd())
    start_request()
    settle(s, fd, 0.3)
    client:close()
    client = nil
    assert.is_true(readable(fd, 5))
    local results = s:poll(0)
    assert.equal(1, #results)
    assert.equal("GOT_NOTHING", results[1].error_code)
  end)

  it("drives a transfer with nothing but waits on the fd and the timeout", function()
    local fd = assert(s:fd())
    local key = start_request()
    client:send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
    local got, polls, t0 = nil, 0, socket.gettime()
    local sent_rest = false
    while not got and socket.gettime() - t0 < 5 do
      local t = s:timeout()
      readable(fd, t and math.min(t, 1) or 1)
      polls = polls + 1
      got = s:poll(0)[1]
      if not sent_rest then
        client:send("lo")
        sent_rest = true
      end
    end
    assert.equal(key, got and got.key)
    assert.equal("hello", got.body)
    bounds.check("fd_ready", socket.gettime() - t0, "the fd, not the timeout, woke the loop")
    assert.is_true(polls < 10, "woken " .. polls .. " times for two packets")
  end)

  it("closes with its fd watched, and is closed after", function()
    assert(s:fd())
    start_request()
    local t0 = socket.gettime()
    s:close()
    bounds.check("close_now", socket.gettime() - t0, "close with a transfer in flight")
    assert.has_error(function() s:fd() end)
    do -- a session whose fd was taken, never closed: __gc releases it
      local other = assert(http.new())
      assert(other:fd())
    end
    collectgarbage()
    collectgarbage()
  end)
end)
