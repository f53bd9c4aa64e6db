-- clarifai.http.core against the emulator: what goes on the wire, what comes
-- back, and the guarantees (timeouts, no redirects, size cap, handle life,
-- waits a signal ends, a session reused after an error mid-batch).

local http = require "clarifai.http.core"
local sys = require "clarifai.sys.core"
local bounds = require "support.bounds"
local emulator = require "support.emulator"
local cjson = require "cjson"


-- A request with the limits every request names (the library's come from
-- clarifai.limits; the module has no defaults of its own).
local function with_limits(t)
  t.connect_timeout = t.connect_timeout or 10
  t.timeout = t.timeout or 30
  t.max_size = t.max_size or 1024 * 1024
  return t
end

-- Runs requests to completion: at most `parallel` in flight, a freed slot
-- refilled before the next wait. Returns the results in request order.
local function perform(s, reqs, parallel)
  parallel = parallel or 8
  s:limit(math.max(parallel, 64), math.max(parallel, 100))
  local out, index, next_i, inflight, done = {}, {}, 1, 0, 0
  while done < #reqs do
    while inflight < parallel and next_i <= #reqs do
      local key = assert(s:submit(with_limits(reqs[next_i])))
      index[key] = next_i
      next_i, inflight = next_i + 1, inflight + 1
    end
    for _, r in ipairs(s:poll(30)) do
      out[index[r.key]] = r
      inflight, done = inflight - 1, done + 1
    end
  end
  return out
end

local function one(s, req) return perform(s, { req }, 1)[1] end

describe("clarifai.http.core #portable", function()
  local emu = emulator.fixture({ tick = 0 })
  local s
  teardown(function() if s then s:close() end end)
  before_each(function() s = s or assert(http.new()) end)

  local function auth() return { "Authorization: Key " .. emu.token } end

  it("sends method, headers and body, and returns status, headers and body", function()
    local r = one(s, {
      method = "PATCH", url = emu.url .. emulator.runs_path(),
      headers = { "Authorization: Key " .. emu.token, "Content-Type: application/json", "X-Trace: abc" },
      body = cjson.encode({ action = "overwrite", pipeline_version_runs = { { id = "run-train-01",
        orchestration_status = { status = { code = 64008 } } } } }),
    })
    assert.equal(200, r.status)
    assert.equal("application/json", r.headers["content-type"]:match("^[^;]+"))
    assert.equal(10000, cjson.decode(r.body).status.code)
    assert.is_true(r.sent)
    assert.equal("1.1", r.http_version)
    local req = emu:requests()[1]
    assert.equal("PATCH", req.method)
    assert.equal("abc", req.headers["x-trace"])
    assert.equal("Key " .. emu.token, req.headers.authorization)
    assert.equal("overwrite", cjson.decode(req.body).action)
    assert.is_nil(req.headers.expect)
  end)

  it("returns 4xx/5xx bodies like any other", function()
    local r = one(s, { url = emu.url .. "/v2/nowhere", headers = auth() })
    assert.equal(404, r.status)
    assert.equal(11101, cjson.decode(r.body).status.code)
  end)

  it("keeps at most the limit in flight and hands back every result once", function()
    emu:fault({ kind = "delay", seconds = 0.2, method = "GET", times = 12 })
    local reqs = {}
    for i = 1, 12 do
      reqs[i] = { url = emu.url .. emulator.runs_path("/run-train-0" .. (i % 2 + 1)), headers = auth() }
    end
    local t0 = sys.monotime()
    local results = perform(s, reqs, 4)
    local took = sys.monotime() - t0
    for i, r in ipairs(results) do
      assert.equal(200, r.status)
      assert.equal("run-train-0" .. (i % 2 + 1), cjson.decode(r.body).pipeline_version_run.id)
    end
    assert.equal(12, #emu:requests())
    -- 12 requests of 0.2 s, 4 at a time: three rounds, not one and not twelve
    assert.is_true(took >= 0.55, "took " .. took)
    bounds.check("signal_wake", took, "the wait a signal ended")
  end)

  it("reports a refused connection as not sent", function()
    local r = one(s, { url = "http://127.0.0.1:1/x" })
    assert.equal("COULDNT_CONNECT", r.error_code)
    assert.is_string(r.error)
    assert.is_false(r.sent)
  end)

  it("times out a request the server never answers", function()
    emu:fault({ kind = "hang", apply = false })
    local t0 = sys.monotime()
    local r = one(s, { url = emu.url .. emulator.runs_path("/run-train-01"), timeout = 0.5 })
    assert.equal("OPERATION_TIMEDOUT", r.error_code)
    assert.is_true(r.sent)
    bounds.check("request_timeout", sys.monotime() - t0)
  end)

  it("does not follow redirects", function()
    emu:fault({ kind = "redirect", status = 307, location = "http://127.0.0.1:9/elsewhere" })
    local r = one(s, { url = emu.url .. "/v2/x" })
    assert.equal(307, r.status)
    assert.equal("http://127.0.0.1:9/elsewhere", r.headers.location)
    assert.equal(1, #emu:requests())
  end)

  it("stops at the size cap", function()
    emu:fault({ kind = "http", status = 200, body = string.rep("x", 300000) })
    assert.equal("TOO_LARGE", one(s, { url = emu.url .. "/v2/x", max_size = 100000 }).error_code)
    emu:fault({ kind = "endless", interval = 0.001 })
    assert.equal("TOO_LARGE", one(s, { url = emu.url .. "/v2/x", max_size = 20000, timeout = 10 }).error_code)
  end)

  it("reports a truncated body and a closed connection", function()
    emu:fault({ kind = "truncate", bytes = 5, status = 200, body = '{"status":{"code":10000}}' })
    assert.equal("PARTIAL_FILE", one(s, { url = emu.url .. "/v2/x" }).error_code)
    emu:fault({ kind = "close" })
    local r = one(s, { url = emu.url .. "/v2/x" })
    assert.equal("GOT_NOTHING", r.error_code)
    assert.is_true(r.sent)
    assert.is_false(r.responded)
  end)

  it("never sends a request with a body twice: a reused connection closed unanswered is NO_ANSWER", function()
    local h = assert(http.new())
    local function patch(id)
      return { method = "PATCH", url = emu.url .. emulator.runs_path(), headers = auth(),
        body = cjson.encode(emulator.patch_body(id, 64008)) }
    end
    assert.equal(200, one(h, patch("run-train-01")).status)
    -- the server applies the next PATCH and closes unanswered
    emu:fault({ kind = "apply_then_close", method = "PATCH" })
    local r = one(h, patch("run-train-02"))
    local seen = emu:requests_of("PATCH")
    assert.equal(2, #seen, "libcurl sent it again")
    if http.features().resend_guard then
      -- it went on the same connection: libcurl asked before re-sending, and was told no
      assert.equal(seen[1].conn, seen[2].conn, "the second PATCH was on a reused connection")
      assert.equal("NO_ANSWER", r.error_code)
    else
      -- a libcurl before 7.80 cannot ask: a change takes a connection of its own, which
      -- libcurl never re-sends on, and the closed one is an empty reply
      assert.are_not.equal(seen[1].conn, seen[2].conn, "the second PATCH had a connection of its own")
      assert.equal("GOT_NOTHING", r.error_code)
    end
    assert.is_true(r.sent)
    assert.is_false(r.responded)
    -- the PATCH was applied, once: the same PATCH again is answered "already paused"
    local again = one(h, patch("run-train-02"))
    assert.equal(400, again.status)
    assert.matches("JOB_PAUSED", again.body, 1, true)
    -- a GET is still re-sent by libcurl on a fresh connection, as before
    emu:fault({ kind = "close", method = "GET" })
    local g = one(h, { url = emu.url .. emulator.runs_path("/run-train-01"), headers = auth() })
    assert.equal(200, g.status)
    assert.equal(2, #emu:requests_of("GET"))
    h:close()
  end)

  it("refuses other protocols and raises for malformed requests before sending", function()
    assert.equal("UNSUPPORTED_PROTOCOL", one(s, { url = "file:///etc/passwd" }).error_code)
    assert.has_error(function() s:submit(with_limits({ url = 1 })) end)
    assert.has_error(function() s:submit(with_limits({ url = "http://x", bogus = 1 })) end)
    assert.has_error(function() s:submit({ url = "http://x", headers = { "A: b\r\nC: d" } }) end)
    assert.has_error(function() s:submit(with_limits({ url = "http://x", timeout = -1 })) end)
    assert.has_error(function() s:submit(1) end)
    assert.has_error(function() s:limit(0, 100) end)
    assert.has_error(function() s:limit(64, 1025) end)
    assert.has_error(function() s:limit(64) end)
    assert.has_error(function() s:submit({ url = "http://x", timeout = 1, max_size = 1 }) end,
      "request field 'connect_timeout' is required")
    assert.has_error(function() s:poll(-1) end)
    assert.same({ 0, 0 }, { s:active() })
    assert.equal(0, #emu:requests())
  end)

  it("aborts one transfer or all, saying whether each request had left", function()
    emu:fault({ kind = "hang", apply = false, times = 3 })
    local k1 = s:submit(with_limits({ url = emu.url .. "/v2/a" }))
    local k2 = s:submit(with_limits({ url = emu.url .. "/v2/b" }))
    bounds.await("two requests at the server", function()
      s:poll(0.05)
      return #emu:requests() >= 2
    end)
    local k3 = s:submit(with_limits({ url = emu.url .. "/v2/c" })) -- aborted before it could start
    local r1 = s:abort(k1)
    assert.equal(k1, r1.key)
    assert.equal("ABORTED", r1.error_code)
    assert.is_true(r1.sent)
    assert.is_nil(s:abort(k1), "already gone")
    local rest = s:abort_all()
    assert.equal(2, #rest)
    local by = {}
    for _, r in ipairs(rest) do by[r.key] = r end
    assert.is_true(by[k2].sent)
    assert.is_false(by[k3].sent, "never connected")
    assert.same({ 0, 0 }, { s:active() })
  end)

  it("exposes a pollable fd and the next timeout for an event loop", function()
    local h = assert(http.new())
    assert.is_true(h:fd() >= 0)
    assert.is_nil(h:timeout(), "nothing pending")
    h:submit(with_limits({ url = emu.url .. emulator.runs_path("/run-train-01"), headers = auth() }))
    assert.is_number(h:timeout())
    local got = bounds.await("the transfer's result", function()
      return h:poll(0)[1] -- never blocks
    end)
    assert.equal(200, got.status)
    h:close()
  end)

  it("returns from a wait when a signal arrives, and sleeps through none", function()
    sys.trap_signals()
    sys.clear_signal()
    assert.is_true(sys.sleep(0.01))
    assert.is_nil(sys.signal())
    emu:fault({ kind = "hang", apply = false })
    s:submit(with_limits({ url = emu.url .. "/v2/x", timeout = 20 }))
    -- a child sends SIGTERM in 0.3 s: the 10 s wait ends then
    local f = assert(io.open("/proc/self/stat"))
    local pid = f:read("*l"):match("^(%d+)")
    f:close()
    os.execute(string.format("(sleep 0.3; kill -TERM %s) >/dev/null 2>&1 &", pid))
    local t0 = sys.monotime()
    local results = s:poll(10)
    local took = sys.monotime() - t0
    assert.equal(0, #results)
    assert.equal(sys.SIGTERM, sys.signal())
    bounds.check("request_timeout", took)
    -- a signal already seen no longer cuts waits short
    local t1 = sys.monotime()
    s:poll(0.3)
    assert.is_true(sys.monotime() - t1 >= 0.25)
    assert.is_false(sys.sleep(0.01), "sleeps end at once once a signal is caught")
    s:abort_all()
    sys.clear_signal()
  end)

  it("is reusable after an error mid-batch: leftover transfers are released", function()
    local h = assert(http.new())
    emu:fault({ kind = "delay", seconds = 0.3, times = 5 })
    local ok = pcall(function()
      for _ = 1, 5 do h:submit(with_limits({ url = emu.url .. emulator.runs_path("/run-train-01"), headers = auth() })) end
      h:poll(0.05)
      error("a callback failed")
    end)
    assert.is_false(ok)
    assert.equal(5, select(1, h:active()) + select(2, h:active()))
    h:abort_all()
    local r = one(h, { url = emu.url .. emulator.runs_path("/run-train-02"), headers = auth() })
    assert.equal(200, r.status)
    -- and a session dropped with transfers in flight is collected cleanly
    local weak = setmetatable({}, { __mode = "v" })
    do
      local g = assert(http.new())
      for _ = 1, 3 do g:submit(with_limits({ url = emu.url .. "/v2/x" })) end
      g:poll(0)
      weak[1] = g
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    h:close()
  end)

  it("closes idempotently, by close, <close> and the collector", function()
    local h = assert(http.new())
    h:close()
    h:close()
    assert.has_error(function() h:submit(with_limits({ url = emu.url })) end, "attempt to use a closed HTTP session")
    assert.equal("http session (closed)", tostring(h))
    local weak = setmetatable({}, { __mode = "v" })
    weak[1] = assert(http.new())
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
  end)

  it("reuses connections: 200 requests at 8 in flight open 8 connections", function()
    local reqs = {}
    for i = 1, 200 do reqs[i] = { url = emu.url .. emulator.runs_path("/run-train-01"), headers = auth() } end
    local h = assert(http.new())
    local results = perform(h, reqs, 8)
    local opened = 0
    for _, r in ipairs(results) do
      assert.equal(200, r.status)
      opened = opened + r.connects
    end
    local conns = {}
    for _, req in ipairs(emu:requests()) do conns[req.conn] = true end
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.equal(8, n, "connections seen by the server")
    assert.equal(8, opened, "connections libcurl reports opening")
    h:close()
  end)
end)

-- The skimmer a request's `skim` option runs as the body arrives:
-- http.core.skim(chunks, threshold) feeds it the chunks one after another.
describe("clarifai.http.core skim #portable", function()
  local skim = http.skim
  local L = string.rep("x", 20) -- longer than the threshold of 10 below

  it("replaces string values longer than the threshold by null, keys never", function()
    local body = '{"a":"' .. L .. '","' .. L .. '":1,"b":["short","' .. L .. '"],"c":{"d":"' .. L .. '","e":true}}'
    local out, n = skim(body, 10)
    assert.equal('{"a":null,"' .. L .. '":1,"b":["short",null],"c":{"d":null,"e":true}}', out)
    assert.equal(3, n)
    -- a key longer than the threshold in an object nested in an array, after a long value
    out = skim('[{"' .. L .. '":"' .. L .. '","' .. L .. '":["' .. L .. '",{"' .. L .. '":0}]}]', 10)
    assert.equal('[{"' .. L .. '":null,"' .. L .. '":[null,{"' .. L .. '":0}]}]', out)
  end)

  it("keeps a string of exactly the threshold, drops one byte more, counting bytes as sent", function()
    assert.same({ '["0123456789",null]', 1 }, { skim('["0123456789","0123456789A"]', 10) })
    -- escapes count as sent: \" is two bytes, \u00e9 six
    assert.same({ '["0123456\\"8",null]', 1 }, { skim('["0123456\\"8","0123456\\"89"]', 10) })
    assert.same({ '["\\u00e9\\u00e9",null]', 1 }, { skim('["\\u00e9\\u00e9","\\u00e9\\u00e9x"]', 12) })
    -- UTF-8 by bytes, kept or dropped whole: 5 two-byte letters are 10 bytes
    local e5 = string.rep("\195\169", 5)
    assert.same({ '["' .. e5 .. '",null]', 1 }, { skim('["' .. e5 .. '","' .. e5 .. 'x"]', 10) })
    assert.same({ '{"a":"","b":null}', 1 }, { skim('{"a":"","b":"' .. L .. '"}', 1) })
  end)

  it("follows escapes: an escaped quote or backslash never ends a string early", function()
    local body = '{"a":"\\"' .. L .. '\\\\","k\\"ey":"x\\\\","b":"\\\\\\"' .. L .. '"}'
    assert.equal('{"a":null,"k\\"ey":"x\\\\","b":null}', (skim(body, 10)))
    -- a key with an escaped quote followed by a long value
    assert.equal('{"\\"":null}', (skim('{"\\"":"' .. L .. '"}', 10)))
  end)

  it("gives the same text whatever the chunk boundaries", function()
    local bodies = {
      '{"status":{"code":10000},"runs":[{"id":"r1","spec":"' .. L .. '\\"' .. L .. '","n":[1,"\\\\",{"k":"'
        .. L .. '"}]},{"id":"\195\169\195\169","s":"\\u00e9' .. L .. '"}]}',
      '[ "' .. L .. '" , { "' .. L .. '" : "ab" , "x" : "' .. L .. '" } ]',
    }
    for _, body in ipairs(bodies) do
      local whole, n = skim(body, 10)
      for i = 0, #body do
        assert.same({ whole, n }, { skim({ body:sub(1, i), body:sub(i + 1) }, 10) }, "split at " .. i)
      end
      local bytes = {}
      for i = 1, #body do bytes[i] = body:sub(i, i) end
      assert.same({ whole, n }, { skim(bytes, 10) }, "one byte at a time")
      for i = 1, #body, 7 do
        for j = i, #body, 11 do
          assert.same({ whole, n }, { skim({ body:sub(1, i), body:sub(i + 1, j), body:sub(j + 1) }, 10) },
            "split at " .. i .. " and " .. j)
        end
      end
    end
  end)

  it("agrees with decoding, nulling long strings and encoding, on generated documents", function()
    local seed = 12345
    local function rnd(n) -- a small deterministic generator (same documents on every Lua)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    end
    local pieces = { "a", "\\\"", "\\\\", "\\n", "\\u00e9", "\195\169", " ", "{", "]", ":" }
    -- a string's text and, for a value, what skimming leaves of it (by its bytes as sent)
    local threshold
    local function str(key)
      local t = {}
      for i = 1, rnd(8) do t[i] = pieces[rnd(#pieces) + 1] end
      local text = '"' .. table.concat(t) .. '"'
      local v = cjson.decode("[" .. text .. "]")[1]
      if not key and #text - 2 > threshold then v = cjson.null end
      return text, v
    end
    local function value(depth)
      local k = rnd(depth > 4 and 3 or 5)
      if k == 0 then return str() elseif k == 1 then local n = rnd(1000) return tostring(n), n end
      if k == 2 then return "null", cjson.null end
      local parts, v = {}, {}
      for i = 1, rnd(4) do
        local text, x = value(depth + 1)
        if k == 3 then
          local ktext, key = str(true)
          parts[i], v[key] = ktext .. ":" .. text, x
        else
          parts[i], v[i] = text, x
        end
      end
      return k == 3 and ("{" .. table.concat(parts, ",") .. "}") or ("[" .. table.concat(parts, ",") .. "]"), v
    end
    for _ = 1, 300 do
      threshold = rnd(12) + 1
      local text, want = value(0)
      local doc = '{"k":' .. text .. "}"
      assert.same({ k = want }, cjson.decode((skim(doc, threshold))), doc)
    end
  end)

  it("passes anything else through harmlessly", function()
    for _, s in ipairs({ "", "not json at all", "<html><body>" .. L .. "</body></html>", "]]]}}}", '"' .. L .. '"',
      "12345", '{"a":1,"b":[true,false,null]}', '   {  }   ', '\0\1\2"' }) do
      assert.same({ s, 0 }, { skim(s, 10) })
    end
    -- unbalanced or truncated: strings inside containers may go, nothing else changes
    assert.equal('] [null, {"' .. L .. '"', (skim('] ["' .. L .. '", {"' .. L .. '"', 10)))
    assert.equal('{"a":null', (skim('{"a":"' .. L, 10)))
    assert.equal('{"a":"' .. string.rep("y", 9), (skim('{"a":"' .. string.rep("y", 9), 10)))
  end)

  it("stops skimming beyond its depth bound", function()
    local deep = string.rep("[", 256) .. '"' .. L .. '"' .. string.rep("]", 256)
    assert.equal(string.rep("[", 256) .. "null" .. string.rep("]", 256), (skim(deep, 10)))
    local deeper = string.rep("[", 257) .. '"' .. L .. '"' .. string.rep("]", 257)
    assert.same({ deeper, 0 }, { skim(deeper, 10) })
  end)

  it("refuses what is not chunks or a threshold", function()
    assert.has_error(function() skim({ "a", 1 }, 10) end)
    assert.has_error(function() skim(nil, 10) end)
    assert.has_error(function() skim("x", 0) end)
  end)
end)

describe("clarifai.http.core skimming a reply #portable", function()
  local emu = emulator.fixture({ tick = 0 })
  local s
  teardown(function() if s then s:close() end end)
  before_each(function() s = s or assert(http.new()) end)

  local big = string.rep("\\\"step\\\":\\\"x\\\"", 20000) -- 300 KB of escaped JSON text
  local BODY = '{"status":{"code":10000},"pipeline_version_runs":[{"id":"r1","orchestration_spec":{"spec_json":"'
    .. big .. '"},"orchestration_status":{"status":{"code":64001},"argo_status":{"status":"' .. big .. '"}}}]}'

  local function serve(fault)
    fault.status, fault.body = 200, fault.body or BODY
    fault.headers = { ["Content-Type"] = "application/json" }
    emu:fault(fault)
  end

  it("drops the long strings as they arrive, one byte at a time or in large pieces", function()
    local small = '{"status":{"code":10000},"runs":[{"id":"r1","s":"' .. string.rep("a", 40) .. '","t":"ok\\""}]}'
    serve({ kind = "drip", interval = 0.0005, body = small })
    local r = one(s, { url = emu.url .. "/v2/x", skim = 16 })
    assert.equal(200, r.status, r.error)
    local want = '{"status":{"code":10000},"runs":[{"id":"r1","s":null,"t":"ok\\""}]}'
    assert.equal(want, r.body)
    assert.same({ want }, { (http.skim(small, 16)) }, "the same as skimming the whole text at once")
    assert.equal(1, r.skimmed)
    assert.equal(#small, r.received)
    serve({ kind = "http" })
    r = one(s, { url = emu.url .. "/v2/x", skim = 16384, max_size = 100000, max_received = 1e9 })
    assert.equal(200, r.status, r.error)
    assert.equal(2, r.skimmed)
    assert.equal(#BODY, r.received)
    local doc = cjson.decode(r.body)
    assert.equal(cjson.null, doc.pipeline_version_runs[1].orchestration_spec.spec_json)
    assert.equal(64001, doc.pipeline_version_runs[1].orchestration_status.status.code)
    -- without skim: the whole body, over a cap the skimmed one fits in
    serve({ kind = "http" })
    r = one(s, { url = emu.url .. "/v2/x", max_size = 100000 })
    assert.equal("TOO_LARGE", r.error_code)
    assert.is_nil(r.skimmed)
  end)

  it("caps the bytes kept and, apart, the bytes received", function()
    -- whitespace is kept: a padded body ends at the cap on kept bytes
    serve({ kind = "http", body = '{"status":{"code":10000}}', pad = 300000 })
    local r = one(s, { url = emu.url .. "/v2/x", skim = 16384, max_size = 100000, max_received = 1e9 })
    assert.equal("TOO_LARGE", r.error_code)
    assert.equal("kept", r.cap)
    assert.is_true(r.received <= 300000)
    -- a declared length beyond max_received: refused before a byte is read
    serve({ kind = "http" })
    r = one(s, { url = emu.url .. "/v2/x", skim = 16384, max_size = 100000, max_received = 200000 })
    assert.equal("TOO_LARGE", r.error_code)
    assert.equal("received", r.cap)
    assert.equal(0, r.received)
    -- an endless stream of long strings ends at max_received
    emu:fault({ kind = "endless", interval = 0, chunk = '{"a":"' .. string.rep("z", 60000) .. '"},' })
    r = one(s, { url = emu.url .. "/v2/x", skim = 16384, max_size = 100000, max_received = 2000000, timeout = 20 })
    assert.equal("TOO_LARGE", r.error_code)
    assert.equal("received", r.cap)
    assert.is_true(r.received > 2000000)
    -- max_received below max_size counts as max_size
    serve({ kind = "http" })
    r = one(s, { url = emu.url .. "/v2/x", skim = 16384, max_size = #BODY, max_received = 1000 })
    assert.equal(200, r.status, r.error)
  end)
end)
