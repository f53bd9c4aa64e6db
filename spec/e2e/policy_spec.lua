-- The failure policy (clarifai.retry) as one table: every class of reply
-- (HTTP status class x API code class) and of transport failure (by phase)
-- with what it means and what a read and a change do next. Then the timed
-- rules on a fake clock and a fake session: Retry-After, backoff, the
-- deadline, the grace after a stop, and the polls of --wait and monitor.
-- Nothing here waits for real time.

local api = require "clarifai.api"
local fake = require "support.fake_session"
local fake_clock = require "support.fake_clock"
local retry = require "clarifai.retry"
local runs = require "clarifai.runs"

local REF = { user_id = "u", app_id = "a", pipeline_id = "p", pipeline_version_id = "v" }

local function body(code)
  return string.format('{"status":{"code":%d,"description":"d","req_id":"rq"}}', code)
end
local function run_body(state)
  return '{"status":{"code":10000,"description":"Ok"},"pipeline_version_run":{"id":"r1",'
    .. '"orchestration_status":{"status":{"code":' .. state .. '}}},"pipeline_version_runs":[{"id":"r1",'
    .. '"orchestration_status":{"status":{"code":' .. state .. '}}}]}'
end
local function reply(status, code) return { status = status, sent = true, body = body(code) } end
local function broken(code, sent, responded)
  return { error_code = code, error = code, sent = sent, responded = responded or false }
end

describe("the failure policy #portable", function()
  -- status class, API code class, the reply -> phase, error kind, read retried?, change retried?
  local CLASSES = {
    { "2xx", "success", reply(200, 10000), "ok", nil, false, false },
    { "2xx", "throttle", reply(200, 11005), "rejected", "transient", true, true },
    { "2xx", "refusal", reply(200, 26302), "definite", "api", false, false },
    { "2xx", "not an API reply", { status = 200, sent = true, body = "<html>" }, "ambiguous", "protocol", true, false },
    { "400", "refusal", reply(400, 26302), "definite", "api", false, false },
    { "401", "auth", reply(401, 11009), "definite", "auth", false, false },
    { "403", "auth", reply(403, 11007), "definite", "auth", false, false },
    { "404", "does not exist", reply(404, 11101), "definite", "api", false, false },
    { "409", "conflict", reply(409, 64007), "definite", "api", false, false },
    { "429", "throttle", reply(429, 11005), "rejected", "transient", true, true },
    { "429", "no API reply", { status = 429, sent = true, body = "" }, "rejected", "transient", true, true },
    { "500", "failure", reply(500, 98004), "ambiguous", "unknown", true, false },
    { "502", "no API reply", { status = 502, sent = true, body = "<html>" }, "ambiguous", "unknown", true, false },
    { "503", "try again", reply(503, 10030), "rejected", "transient", true, true },
    { "504", "no API reply", { status = 504, sent = true, body = "" }, "ambiguous", "unknown", true, false },
    { "3xx", "redirect", { status = 307, sent = true, body = "", headers = { location = "https://x" } },
      "definite", "transport", false, false },
    -- transport failures by phase
    { "-", "refused before sending", broken("COULDNT_CONNECT", false), "not_sent", "transport", true, true },
    { "-", "connect timeout", broken("OPERATION_TIMEDOUT", false), "not_sent", "transport", true, true },
    { "-", "no such host", broken("COULDNT_RESOLVE_HOST", false), "definite", "transport", false, false },
    { "-", "TLS verification", broken("PEER_FAILED_VERIFICATION", false), "definite", "transport", false, false },
    { "-", "timeout after sending", broken("OPERATION_TIMEDOUT", true), "ambiguous", "unknown", true, false },
    { "-", "closed after sending", broken("GOT_NOTHING", true), "ambiguous", "unknown", true, false },
    { "-", "closed unanswered, not re-sent", broken("NO_ANSWER", true), "ambiguous", "unknown", true, false },
    { "-", "over the size cap", broken("TOO_LARGE", true, true), "definite", "protocol", false, false },
    { "-", "aborted before sending", broken("ABORTED", false), "not_sent", "not_sent", true, true },
    { "-", "aborted after sending", broken("ABORTED", true), "ambiguous", "unknown", true, false },
  }

  for _, c in ipairs(CLASSES) do
    it(string.format("%s / %s -> %s", c[1], c[2], c[4]), function()
      local doc, err = api.decode(c[3], { what = "patch pipeline version run" })
      assert.equal(c[4], retry.classify(c[3], err))
      if c[5] then
        assert.is_nil(doc)
        assert.equal(c[5], err.kind, err.message)
        assert.equal(c[6], retry.again(c[3], err, { attempts = 1, left = 60, op = "read" }) ~= nil, "read")
        assert.equal(c[7], retry.again(c[3], err, { attempts = 1, left = 60, op = "write" }) ~= nil, "change")
      else
        assert.is_table(doc)
      end
    end)
  end

  it("never retries past the attempts, and reads a refusal back unless the run does not exist", function()
    local _, busy = api.decode(reply(503, 10030), {})
    assert.is_nil(retry.again(reply(503, 10030), busy, { attempts = retry.MAX_ATTEMPTS, left = 60, op = "read" }))
    -- an operation that is neither is a programmer error, never a silent nil
    assert.has_error(function() retry.again(reply(503, 10030), busy, { attempts = 1, left = 60, op = true }) end)
    local _, refused = api.decode(reply(400, 26302), {})
    assert.is_true(retry.read_after_refusal(refused))
    local _, missing = api.decode(reply(404, 11101), {})
    assert.is_false(retry.read_after_refusal(missing))
  end)
end)

describe("timed rules on a fake clock #portable", function()
  local clock
  before_each(function() clock = fake_clock.install() end)
  after_each(function() clock.remove() end)

  -- A client whose replies come from `replies` in order (the last repeats).
  local function client(replies, opts)
    local n = 0
    local c, session = fake.client(function()
      n = n + 1
      local r = replies[math.min(n, #replies)]
      local copy = {}
      for k, v in pairs(r) do copy[k] = v end
      return copy
    end, opts, clock)
    return c, session
  end

  it("honours Retry-After exactly, and stops at once when it is beyond the deadline", function()
    local c = client({ { status = 429, sent = true, retry_after = 2, body = body(11005) }, reply(200, 10000) })
    local t0 = clock.now()
    assert(runs.pause({ user_id = "u", app_id = "a", pipeline_id = "p", pipeline_version_id = "v", run_id = "r1" },
      { client = c }))
    assert.same({ 2 }, clock.slept)
    assert.equal(2, clock.now() - t0)
    local far = client({ { status = 429, sent = true, retry_after = 3600, body = body(11005) } })
    local _, _, err = runs.pause({ user_id = "u", app_id = "a", pipeline_id = "p", pipeline_version_id = "v",
      run_id = "r1" }, { client = far })
    assert.equal("transient", err.kind)
    assert.matches("beyond the deadline", err.message, 1, true)
  end)

  it("backs off with full jitter under doubling ceilings, at most 3 attempts", function()
    math.randomseed(7)
    local c, session = client({ reply(503, 10030) })
    local _, _, err = runs.pause({ user_id = "u", app_id = "a", pipeline_id = "p", pipeline_version_id = "v",
      run_id = "r1" }, { client = c })
    assert.equal(3, #session.sent)
    assert.equal(2, #clock.slept)
    assert.is_true(clock.slept[1] <= 0.5 and clock.slept[2] <= 1.0, table.concat(clock.slept, ", "))
    assert.matches("(after 3 attempts)", err.message, 1, true)
  end)

  it("cuts each attempt to the deadline left, and a slow reply becomes an ambiguous one", function()
    -- every reply takes 40 s of the clock; the deadline is 60 s, each attempt 30 s
    local c, session = client({ { status = 200, sent = true, body = run_body(64001), after = 40 } },
      { deadline = 60, request_timeout = 30 })
    local report = assert(runs.apply("pause", REF, { "r1" }, { client = c }))
    local timeouts = {}
    for i, req in ipairs(session.sent) do timeouts[i] = req.timeout end
    assert.equal(30, timeouts[1])
    assert.is_true(timeouts[#timeouts] <= 60 - 30, "the last attempt fits what the deadline left")
    assert.equal(1, #report.results)
  end)

  it("gives requests in flight the grace after a signal, then aborts them: unknown, not sent", function()
    -- every reply takes 5 s; SIGTERM comes 0.5 s after the first two were sent
    local c = client({ { status = 200, sent = true, body = run_body(64008), after = 5 } })
    local t0 = clock.now()
    clock.at(t0 + 0.5, function() clock.raise(15) end)
    local report = assert(runs.apply("pause", REF, { "r1", "r2", "r3" }, { client = c, parallel = 2 }))
    assert.is_true(report.stopped)
    assert.equal(15, report.signal)
    assert.equal(2, report.summary.unknown, "in flight when stopped")
    assert.equal(1, report.summary.not_sent)
    assert.is_true(math.abs(clock.now() - t0 - 1.5) < 1e-9, "the grace is 1 s from the signal")
  end)

  it("lets requests in flight finish within the grace", function()
    local c = client({ { status = 200, sent = true, body = run_body(64008), after = 0.8 } })
    local t0 = clock.now()
    clock.at(t0 + 0.5, function() clock.raise(2) end)
    local report = assert(runs.apply("pause", REF, { "r1", "r2", "r3" }, { client = c, parallel = 2 }))
    assert.same({ ok = 2, noop = 0, failed = 0, unknown = 0, not_sent = 1 }, report.summary)
    assert.is_true(math.abs(clock.now() - t0 - 0.8) < 1e-9, "ended " .. (clock.now() - t0) .. " s later")
  end)

  it("polls --wait with an interval that grows by half while nothing changes, to twice --interval", function()
    local c = client({ { status = 200, sent = true, body = run_body(64001) } })
    local w = assert(require("clarifai.watch").wait("pause", REF, { "r1" }, { client = c, interval = 2,
      timeout = 20 }))
    assert.equal("timeout", w.results[1].outcome)
    assert.same({ 2, 3, 4, 4, 4, 3 }, clock.slept)
  end)

  it("monitor polls every interval until its timeout", function()
    local c = client({ { status = 200, sent = true, body = run_body(64001) } })
    local res = assert(require("clarifai.monitor").monitor(REF, "r1", { client = c, interval = 10, timeout = 35,
      logs = false }))
    assert.equal("timeout", res.status)
    assert.same({ 10, 10, 10, 5 }, clock.slept)
  end)
end)
