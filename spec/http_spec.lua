-- clarifai.http.core against the emulator: what goes on the wire, what comes
-- back, and the guarantees (timeouts, no redirects, size cap, handle life).

local http = require "clarifai.http.core"
local emulator = require "support.emulator"
local cjson = require "cjson"

local sanitized = os.getenv("CLARIFAI_SANITIZE") ~= nil

describe("clarifai.http.core", function()
  local emu, s
  setup(function()
    emu = emulator.start({ tick = 0 })
  end)
  teardown(function()
    if s then s:close() end
    if emu then emu:stop() end
  end)
  before_each(function()
    emu:reset()
    s = s or http.new()
  end)

  it("sends method, headers and body, and returns status, headers and body", function()
    local status, headers, body, info = s:request({
      method = "PATCH", url = emu.url .. emulator.runs_path(),
      headers = { "Authorization: Key " .. emu.token, "Content-Type: application/json", "X-Trace: abc" },
      body = cjson.encode({ action = "overwrite", pipeline_version_runs = { { id = "run-train-01",
        orchestration_status = { status = { code = 64008 } } } } }),
    })
    assert.equal(200, status)
    assert.equal("application/json", headers["content-type"]:match("^[^;]+"))
    assert.equal(10000, cjson.decode(body).status.code)
    assert.is_true(info.sent)
    local req = emu:requests()[1]
    assert.equal("PATCH", req.method)
    assert.equal("abc", req.headers["x-trace"])
    assert.equal("Key " .. emu.token, req.headers.authorization)
    assert.equal("overwrite", cjson.decode(req.body).action)
    assert.is_nil(req.headers.expect)
  end)

  it("returns 4xx/5xx bodies like any other", function()
    local status, _, body = s:request({ url = emu.url .. "/v2/nowhere",
      headers = { "Authorization: Key " .. emu.token } })
    assert.equal(404, status)
    assert.equal(11101, cjson.decode(body).status.code)
  end)

  it("runs many requests with bounded parallelism, results in order", function()
    local reqs = {}
    for i = 1, 30 do
      reqs[i] = { url = emu.url .. emulator.runs_path("/run-train-0" .. (i % 2 + 1)),
        headers = { "Authorization: Key " .. emu.token, "X-N: " .. i } }
    end
    local results = s:perform(reqs, 4)
    assert.equal(30, #results)
    for i, r in ipairs(results) do
      assert.equal(200, r.status)
      assert.equal("run-train-0" .. (i % 2 + 1), cjson.decode(r.body).pipeline_version_run.id)
    end
    assert.equal(30, #emu:requests())
  end)

  it("reports a refused connection as not sent", function()
    local v, msg, code, info = s:request({ url = "http://127.0.0.1:1/x" })
    assert.is_nil(v)
    assert.equal("COULDNT_CONNECT", code)
    assert.is_string(msg)
    assert.is_false(info.sent)
  end)

  it("times out a request the server never answers", function()
    emu:fault({ kind = "hang", apply = false })
    local t0 = os.time()
    local v, _, code, info = s:request({ url = emu.url .. emulator.runs_path("/run-train-01"), timeout = 0.5 })
    assert.is_nil(v)
    assert.equal("OPERATION_TIMEDOUT", code)
    assert.is_true(info.sent)
    assert.is_true(os.time() - t0 <= 3)
  end)

  it("does not follow redirects", function()
    emu:fault({ kind = "redirect", status = 307, location = "http://127.0.0.1:9/elsewhere" })
    local status, headers = s:request({ url = emu.url .. "/v2/x" })
    assert.equal(307, status)
    assert.equal("http://127.0.0.1:9/elsewhere", headers.location)
    assert.equal(1, #emu:requests())
  end)

  it("stops at the size cap", function()
    emu:fault({ kind = "http", status = 200, body = string.rep("x", 300000) })
    local v, _, code = s:request({ url = emu.url .. "/v2/x", max_size = 100000 })
    assert.is_nil(v)
    assert.equal("TOO_LARGE", code)
    emu:fault({ kind = "endless", interval = 0.001 })
    local v2, _, code2 = s:request({ url = emu.url .. "/v2/x", max_size = 20000, timeout = 10 })
    assert.is_nil(v2)
    assert.equal("TOO_LARGE", code2)
  end)

  it("reports a truncated body and a closed connection", function()
    emu:fault({ kind = "truncate", bytes = 5, status = 200, body = '{"status":{"code":10000}}' })
    local v, _, code = s:request({ url = emu.url .. "/v2/x" })
    assert.is_nil(v)
    assert.equal("PARTIAL_FILE", code)
    emu:fault({ kind = "close" })
    local v2, _, code2, info2 = s:request({ url = emu.url .. "/v2/x" })
    assert.is_nil(v2)
    assert.equal("GOT_NOTHING", code2)
    assert.is_true(info2.sent)
    assert.is_false(info2.responded)
  end)

  it("refuses other protocols and malformed requests", function()
    local v, _, code = s:request({ url = "file:///etc/passwd" })
    assert.is_nil(v)
    assert.equal("UNSUPPORTED_PROTOCOL", code)
    assert.has_error(function() s:request({ url = 1 }) end)
    assert.has_error(function() s:request({ url = "http://x", bogus = 1 }) end)
    assert.has_error(function() s:request({ url = "http://x", headers = { "A: b\r\nC: d" } }) end)
    assert.has_error(function() s:perform({ 1 }) end)
    assert.has_error(function() s:perform({}, 0) end)
  end)

  it("closes idempotently, by close, <close> and the collector", function()
    local h = http.new()
    h:close()
    h:close()
    assert.has_error(function() h:request({ url = emu.url }) end, "attempt to use a closed HTTP session")
    do
      local h2 <close> = http.new()
      assert.equal(401, (h2:request({ url = emu.url .. "/v2/nowhere" })))
    end
    local weak = setmetatable({}, { __mode = "v" })
    weak[1] = http.new()
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
  end)

  it("interrupts a sleep only when a signal arrived", function()
    assert.is_true(http.sleep(0.01))
    assert.is_false(http.interrupted())
  end)

  if not sanitized then
    it("sends 200 requests over reused connections quickly", function()
      local reqs = {}
      for i = 1, 200 do
        reqs[i] = { url = emu.url .. emulator.runs_path("/run-train-01"), headers = { "Authorization: Key " .. emu.token } }
      end
      local t0 = require("clarifai.sys.core").monotime()
      local results = s:perform(reqs, 8)
      local elapsed = require("clarifai.sys.core").monotime() - t0
      for _, r in ipairs(results) do assert.equal(200, r.status) end
      assert.is_true(elapsed < 5, "took " .. elapsed)
    end)
  end
end)
