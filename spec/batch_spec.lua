-- The batch state machine (clarifai.batch) driven through a fake HTTP
-- session: every outcome, retries and reconciliation, without a server.
-- Each case scripts the replies per run and checks both the results and the
-- exact requests sent.

local batch = require "clarifai.batch"
local fake = require "support.fake_session"
local fake_clock = require "support.fake_clock"
local runs = require "clarifai.runs"

local REF = { user_id = "u", app_id = "a", pipeline_id = "p", pipeline_version_id = "v" }

local function body(code, extra)
  return string.format('{"status":{"code":%d,"description":"%s","req_id":"rq"}%s}', code,
    code == 10000 and "Ok" or "No", extra or "")
end
local function ok_patch(state) return { status = 200, sent = true,
  body = body(10000, ',"pipeline_version_runs":[{"id":"x","orchestration_status":{"status":{"code":' .. state .. '}}}]') }
end
local function run_state(state) return { status = 200, sent = true,
  body = body(10000, ',"pipeline_version_run":{"id":"x","orchestration_status":{"status":{"code":' .. state .. '}}}') }
end
local REFUSED = { status = 400, sent = true, body = body(26302) }
local BUSY = { status = 503, sent = true, body = "" }
local BROKEN = { status = 500, sent = true, body = "" }
local REFUSED_CONNECT = { error_code = "COULDNT_CONNECT", error = "refused", sent = false, responded = false }

-- Replies by run id and method, in order; records every request.
local function scripted(script)
  local seen = {}
  local c, session = fake.client(function(req)
    local id = req.body and req.body:match('"id":"([^"]+)"') or req.url:match("/runs/([^/?]+)$")
    local key = id .. " " .. req.method
    seen[key] = (seen[key] or 0) + 1
    local list = assert(script[key], "no reply scripted for " .. key)
    local r = list[seen[key]] or list[#list]
    local copy = {}
    for k, v in pairs(r) do copy[k] = v end
    return copy
  end, { deadline = 30 })
  return c, session, seen
end

describe("the batch state machine #portable", function()
  local clock
  -- backoff and Retry-After sleep on a fake clock
  before_each(function() clock = fake_clock.install() end)
  after_each(function() clock.remove() end)

  it("is data and steps: a spec drives one run's exchanges through send and reply", function()
    local c = scripted({ ["r1 PATCH"] = { BUSY, BROKEN, ok_patch(64008) }, ["r1 GET"] = { run_state(64001) } })
    local b = batch.new("pause", { ids = { "r1" }, scope = REF }, c, {})
    local session = c:session()
    local function exchange(ex)
      session:submit(batch.send(b, ex))
      return batch.reply(b, ex, session:poll(0)[1], false)
    end
    local patch = batch.fresh(b)
    assert.equal("patch", patch.kind)
    assert.is_nil(batch.fresh(b), "one run: one exchange")
    local delay = exchange(patch)
    assert.is_true(delay > 0 and delay <= 0.5, "a backoff below the first ceiling: " .. tostring(delay))
    -- the second attempt is ambiguous: a read of the run comes next
    local reads = exchange(patch)
    assert.equal(1, #reads)
    assert.equal("get", reads[1].kind)
    -- still Running: the PATCH goes again
    local again = exchange(reads[1])
    assert.equal(1, #again)
    assert.equal("patch", again[1].kind)
    assert.is_nil(exchange(again[1]))
    local rec = again[1].recs[1]
    assert.is_true(rec.done)
    assert.equal(3, rec.attempts)
    assert.same({ ok = 1, noop = 0, failed = 0, unknown = 0, not_sent = 0 }, b.summary)
  end)

  it("ends each run in one outcome: ok, noop, failed", function()
    local c, _, seen = scripted({
      ["r1 PATCH"] = { ok_patch(64008) },
      ["r2 PATCH"] = { REFUSED }, ["r2 GET"] = { run_state(64008) },
      ["r3 PATCH"] = { REFUSED }, ["r3 GET"] = { run_state(64002) },
    })
    local report = assert(runs.apply("pause", REF, { "r1", "r2", "r3" }, { client = c }))
    assert.same({ "ok", "noop", "failed" }, { report.results[1].outcome, report.results[2].outcome,
      report.results[3].outcome })
    assert.equal("JOB_COMPLETED", report.results[3].state)
    assert.equal("api", report.results[3].error.kind)
    assert.same({ ok = 1, noop = 1, failed = 1, unknown = 0, not_sent = 0 }, report.summary)
    assert.same({ ["r1 PATCH"] = 1, ["r2 PATCH"] = 1, ["r2 GET"] = 1, ["r3 PATCH"] = 1, ["r3 GET"] = 1 }, seen)
  end)

  it("retries what was not sent or was turned away, then stops with the attempt count", function()
    local notes = {}
    local c, _, seen = scripted({
      ["r1 PATCH"] = { BUSY, BUSY, ok_patch(64008) },
      ["r2 PATCH"] = { REFUSED_CONNECT },
    })
    local report = assert(runs.apply("pause", REF, { "r1", "r2" }, { client = c,
      on_retry = function(info) notes[#notes + 1] = info.run_id .. " " .. info.attempt end }))
    assert.equal("ok", report.results[1].outcome)
    assert.equal(3, seen["r1 PATCH"])
    assert.equal("failed", report.results[2].outcome)
    assert.equal("transport", report.results[2].error.kind)
    assert.matches("(after 3 attempts)", report.results[2].error.message, 1, true)
    assert.equal(3, seen["r2 PATCH"])
    table.sort(notes)
    assert.same({ "r1 2", "r1 3", "r2 2", "r2 3" }, notes)
  end)

  it("reconciles an ambiguous reply by reading the run", function()
    local c, _, seen = scripted({
      -- applied, then a 500: the read shows the target: ok, with a note
      ["r1 PATCH"] = { BROKEN }, ["r1 GET"] = { run_state(64008) },
      -- not applied (still Running): sent again, then ok
      ["r2 PATCH"] = { BROKEN, ok_patch(64008) }, ["r2 GET"] = { run_state(64001) },
      -- the read fails too: unknown
      ["r3 PATCH"] = { BROKEN }, ["r3 GET"] = { { status = 404, sent = true, body = body(11101) } },
      -- another terminal state: failed, kind state
      ["r4 PATCH"] = { BROKEN }, ["r4 GET"] = { run_state(64003) },
    })
    local report = assert(runs.apply("pause", REF, { "r1", "r2", "r3", "r4" }, { client = c }))
    local r = report.results
    assert.equal("ok", r[1].outcome)
    assert.matches("confirmed after an ambiguous response (HTTP 500)", r[1].note, 1, true)
    assert.equal("ok", r[2].outcome)
    assert.equal(2, seen["r2 PATCH"])
    assert.equal("unknown", r[3].outcome)
    assert.equal("unknown", r[3].error.kind)
    assert.equal("failed", r[4].outcome)
    assert.equal("state", r[4].error.kind)
    assert.equal(1, seen["r1 PATCH"])
  end)

  it("does not wait past the deadline for a Retry-After", function()
    local c = scripted({ ["r1 PATCH"] = { { status = 429, sent = true, retry_after = 120, body = "" } } })
    local report = assert(runs.apply("pause", REF, { "r1" }, { client = c }))
    assert.equal("failed", report.results[1].outcome)
    assert.equal("transient", report.results[1].error.kind)
    assert.matches("beyond the deadline", report.results[1].error.message, 1, true)
  end)

  it("on a stop: nothing new is sent, and what never started is not_sent", function()
    local n = 0
    local c, session = scripted({ ["r1 PATCH"] = { ok_patch(64008) }, ["r2 PATCH"] = { ok_patch(64008) },
      ["r3 PATCH"] = { ok_patch(64008) }, ["r4 PATCH"] = { ok_patch(64008) } })
    local report = assert(runs.apply("pause", REF, { "r1", "r2", "r3", "r4" }, { client = c, parallel = 1,
      on_result = function() n = n + 1 end, should_stop = function() return n >= 2 end }))
    assert.same({ ok = 2, noop = 0, failed = 0, unknown = 0, not_sent = 2 }, report.summary)
    assert.equal("not_sent", report.results[3].outcome)
    assert.is_true(report.results[3].stopped)
    assert.equal(2, #session.sent, "nothing was sent after the stop")
    assert.is_true(report.stopped)
  end)

  it("streams results without keeping them (collect = false)", function()
    local c = scripted({ ["r1 PATCH"] = { ok_patch(64008) }, ["r2 PATCH"] = { REFUSED },
      ["r2 GET"] = { run_state(64004) } })
    local got = {}
    local report = assert(runs.apply("pause", REF, { "r1", "r2", "r1" }, { client = c, collect = false,
      on_result = function(r, i) got[i] = r.outcome end }))
    assert.is_nil(report.results)
    assert.same({ "ok", "failed" }, got, "a duplicate id is sent and reported once")
  end)
end)
