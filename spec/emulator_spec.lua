-- The emulator over real HTTP: wire shapes, the state machine, time,
-- the request log, faults and the server's handling of connections.

local socket = require "socket"
local cjson = require "cjson"
local emulator = require "support.emulator"

local DEMO = emulator.DEMO
local RUNS = emulator.runs_path()
local function run_path(id, rest) return emulator.runs_path("/" .. id .. (rest or "")) end

local function patch_body(id, code, action)
  return {
    pipeline_version_runs = { { id = id, orchestration_status = { status = { code = code } } } },
    action = action or "overwrite",
  }
end

-- fn()'s first true value, however long the machine takes (within the
-- suite's watchdog: only a hang fails it).
local function wait_until(what, fn)
  return require("support.bounds").await(what, fn)
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

describe("emulator", function()
  local emu = emulator.fixture({ tick = 0 })

  local function state_of(id)
    local _, body = emu:api("GET", run_path(id))
    return body.pipeline_version_run.orchestration_status.status.code
  end

  describe("startup", function()
    it("prints its URL on the first line and picks a free port", function()
      assert.matches("^http://127%.0%.0%.1:%d+$", emu.url)
      assert.is_true(emu.port > 0)
      local res = emu:request("GET", "/v2/users/me", nil, { Authorization = "Key " .. DEMO.token })
      assert.equals(200, res.status)
      assert.equals("application/json", res.headers["content-type"])
    end)
  end)

  describe("auth", function()
    it("answers 401 / 11102 to a missing or malformed header", function()
      local variants = { {}, { Authorization = "Bearer " .. DEMO.token }, { Authorization = "Key" } }
      for _, headers in ipairs(variants) do
        local res = emu:request("GET", RUNS, nil, headers)
        assert.equals(401, res.status)
        local body = cjson.decode(res.body)
        assert.equals(11102, body.status.code)
        assert.equals("Invalid request", body.status.description)
        assert.equals("Empty or malformed authorization header. Please provide an API key or session token.",
          body.status.details)
      end
    end)

    it("answers 401 / 11009 to an unknown key, with the list field empty", function()
      local res = emu:request("GET", RUNS, nil, { Authorization = "Key wrong-pat" })
      assert.equals(401, res.status)
      local body = cjson.decode(res.body)
      assert.equals(11009, body.status.code)
      assert.equals("API key not found", body.status.description)
      assert.equals("invalid key", body.status.details)
      assert.truthy(res.body:find('"pipeline_version_runs":[]', 1, true))
    end)
  end)

  describe("PATCH runs", function()
    local cases = {
      { "pause", "run-train-01", "JOB_PAUSED", 64008 },
      { "cancel", "run-eval-03", 64004, 64004 },
      { "resume", "run-etl-04", "JOB_RUNNING", 64001 },
    }
    for _, c in ipairs(cases) do
      it(c[1] .. " succeeds with the updated run in the response", function()
        local status, body, res = emu:api("PATCH", RUNS, patch_body(c[2], c[3]))
        assert.equals(200, status)
        assert.equals("application/json", res.headers["content-type"])
        assert.equals(10000, body.status.code)
        assert.equals("Ok", body.status.description)
        assert.is_string(body.status.req_id)
        local run = body.pipeline_version_runs[1]
        assert.equals(c[2], run.id)
        assert.equals(DEMO.user, run.user_id)
        assert.equals(DEMO.app, run.app_id)
        assert.same({ id = DEMO.version, pipeline_id = DEMO.pipeline }, run.pipeline_version)
        assert.equals(c[4], run.orchestration_status.status.code)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%dZ$", run.modified_at)
        assert.equals(c[4], state_of(c[2]))
      end)
    end

    local refused = {
      { "pause", "run-etl-04", 64008, "JOB_PAUSED" },
      { "resume", "run-train-01", 64001, "JOB_RUNNING" },
      { "cancel", "run-etl-05", 64004, "JOB_COMPLETED" },
      { "pause", "run-old-07", 64008, "JOB_CANCELLED" },
    }
    for _, c in ipairs(refused) do
      it("refuses to " .. c[1] .. " a run in " .. c[4], function()
        local before = state_of(c[2])
        local _, _, res = emu:api("PATCH", RUNS, patch_body(c[2], c[3]))
        assert.equals(400, res.status)
        local body = cjson.decode(res.body)
        assert.equals(26302, body.status.code)
        assert.equals("Invalid pipeline request", body.status.description)
        assert.equals(string.format("cannot %s pipeline version run %s in state %s", c[1], c[2], c[4]),
          body.status.details)
        assert.truthy(res.body:find('"pipeline_version_runs":[]', 1, true))
        assert.equals(before, state_of(c[2]))
      end)
    end

    it("refuses a code that is no action's target, with the configured code", function()
      emu:config({ reject_code = 64007 })
      local status, body = emu:api("PATCH", RUNS, patch_body("run-train-01", "JOB_COMPLETED"))
      assert.equals(400, status)
      assert.equals(64007, body.status.code)
      assert.equals(64001, state_of("run-train-01"))
    end)

    it("is all or nothing", function()
      local body = patch_body("run-train-01", 64008)
      body.pipeline_version_runs[2] = patch_body("run-etl-05", 64008).pipeline_version_runs[1]
      local status = emu:api("PATCH", RUNS, body)
      assert.equals(400, status)
      assert.equals(64001, state_of("run-train-01"))
    end)

    it("ignores user_app_id in the body and accepts `me`", function()
      local body = patch_body("run-train-02", "JOB_PAUSED")
      body.user_app_id = { user_id = "someone-else", app_id = "other" }
      local status = emu:api("PATCH", emulator.runs_path(nil, { user = "me" }), body)
      assert.equals(200, status)
      assert.equals(64008, state_of("run-train-02"))
    end)

    it("answers 400 / 11100 to broken JSON", function()
      local status, body = emu:api("PATCH", RUNS, '{"pipeline_version_runs": [')
      assert.equals(400, status)
      assert.equals(11100, body.status.code)
    end)

    it("answers 400 / 26301 to another action or an empty list", function()
      local status, body = emu:api("PATCH", RUNS, patch_body("run-train-01", 64008, "merge"))
      assert.equals(400, status)
      assert.equals(26301, body.status.code)
      status, body = emu:api("PATCH", RUNS, '{"pipeline_version_runs":[],"action":"overwrite"}')
      assert.equals(400, status)
      assert.equals(26301, body.status.code)
    end)

    it("answers 404 / 11101 to an unknown run or version", function()
      local status, body = emu:api("PATCH", RUNS, patch_body("no-such-run", 64008))
      assert.equals(404, status)
      assert.equals(11101, body.status.code)
      status, body = emu:api("PATCH", emulator.runs_path(nil, { version = "nope" }),
        patch_body("run-train-01", 64008))
      assert.equals(404, status)
      assert.equals(11101, body.status.code)
    end)
  end)

  describe("routing", function()
    it("answers 404 / 11101 to an unknown path", function()
      local status, body = emu:api("GET", "/v2/users/demo-user/widgets")
      assert.equals(404, status)
      assert.equals(11101, body.status.code)
      assert.equals("Resource does not exist", body.status.description)
    end)

    it("answers 400 / 11103 to a wrong method on a known path", function()
      local status, body = emu:api("DELETE", RUNS)
      assert.equals(400, status)
      assert.equals(11103, body.status.code)
      assert.equals("Method not allowed", body.status.description)
    end)

    it("serves a run under both GET paths, ignoring extra query parameters", function()
      local long = run_path("run-etl-05") .. "?user_app_id.user_id=demo-user&user_app_id.app_id=demo-app"
      local status, a = emu:api("GET", long)
      assert.equals(200, status)
      local status2, b = emu:api("GET", string.format("/v2/pipelines/%s/versions/%s/runs/run-etl-05",
        DEMO.pipeline, DEMO.version))
      assert.equals(200, status2)
      assert.same(a.pipeline_version_run, b.pipeline_version_run)
      local run = a.pipeline_version_run
      assert.equals(64002, run.orchestration_status.status.code)
      assert.is_string(run.started_at)
      assert.is_string(run.ended_at)
      assert.matches("^[%d.]+s$", run.total_run_duration)
    end)
  end)

  describe("listing", function()
    it("filters by status_codes (names or ints) and pages newest first", function()
      local _, body = emu:api("GET", RUNS .. "?status_codes=JOB_RUNNING&status_codes=64008")
      local ids = {}
      for i, r in ipairs(body.pipeline_version_runs) do ids[i] = r.id end
      assert.same({ "run-train-02", "run-train-01", "run-etl-04" }, ids)
      local _, p2 = emu:api("GET", RUNS .. "?page=2&per_page=2")
      assert.equals(2, #p2.pipeline_version_runs)
      assert.equals("run-train-01", p2.pipeline_version_runs[1].id)
      local _, all = emu:api("GET", RUNS)
      assert.equals(7, #all.pipeline_version_runs)
    end)

    it("sends an empty list as []", function()
      local _, _, res = emu:api("GET", RUNS .. "?page=9")
      assert.truthy(res.body:find('"pipeline_version_runs":[]', 1, true))
      emu:reset(false)
      _, _, res = emu:api("GET", RUNS)
      assert.equals(200, res.status)
      assert.truthy(res.body:find('"pipeline_version_runs":[]', 1, true))
    end)
  end)

  describe("status logs and logs", function()
    it("adds a status log per transition, naming the user for requested ones", function()
      local _, before = emu:api("GET", run_path("run-train-01", "/status_logs"))
      local n = #before.pipeline_version_run_status_logs
      emu:api("PATCH", RUNS, patch_body("run-train-01", "JOB_PAUSED"))
      emu:set_state("run-train-01", "JOB_FAILED", "node lost")
      local _, after = emu:api("GET", run_path("run-train-01", "/status_logs"))
      local logs = after.pipeline_version_run_status_logs
      assert.equals(n + 2, #logs)
      assert.equals(64008, logs[n + 1].status.code)
      assert.equals(DEMO.user, logs[n + 1].triggered_by_user_id)
      assert.equals("run-train-01", logs[n + 1].pipeline_version_run_id)
      assert.equals(64003, logs[n + 2].status.code)
      assert.equals("", logs[n + 2].triggered_by_user_id)
      assert.equals("node lost", logs[n + 2].message)
      local _, only = emu:api("GET", run_path("run-train-01", "/status_logs?status_codes=JOB_PAUSED"))
      assert.equals(1, #only.pipeline_version_run_status_logs)
    end)

    it("pages log entries as ListLogEntries does, each with a unique url", function()
      emu:put_run({ id = "logged", state = "JOB_RUNNING" })
      emu:add_logs("logged", { "one", "two", "three", '{"msg":"four"}', "five\nsix" })
      local seen, messages = {}, {}
      for page = 1, 3 do
        local status, body = emu:api("GET", run_path("logged", "/pipeline.version.run/logs?page=" .. page
          .. "&per_page=2"))
        assert.equals(200, status)
        assert.equals(page, body.page)
        assert.equals(2, body.per_page)
        for _, e in ipairs(body.log_entries) do
          assert.equals("pipeline.version.run", e.log_type)
          assert.is_true(#e.url > 0 and not seen[e.url])
          seen[e.url] = true
          messages[#messages + 1] = e.message
        end
      end
      assert.same({ "one", "two", "three", '{"msg":"four"}', "five\nsix" }, messages)
      -- past the end, or no page at all: the last page, and the reply says which
      local _, past = emu:api("GET", run_path("logged", "/pipeline.version.run/logs?page=4&per_page=2"))
      assert.equals(3, past.page)
      assert.same({ "five\nsix" }, { past.log_entries[1].message })
      local _, last = emu:api("GET", run_path("logged", "/pipeline.version.run/logs?per_page=2"))
      assert.equals(3, last.page)
      assert.equals(1, #last.log_entries)
      local _, dflt = emu:api("GET", run_path("logged", "/pipeline.version.run/logs"))
      assert.equals(1, dflt.page)
      assert.equals(32, dflt.per_page)
      assert.equals(5, #dflt.log_entries)
    end)
  end)

  describe("POST runs", function()
    it("creates queued runs, with the given id or a new one", function()
      local status, body = emu:api("POST", RUNS, { pipeline_version_runs = { { id = "fresh" } } })
      assert.equals(200, status)
      assert.equals("fresh", body.pipeline_version_runs[1].id)
      assert.equals(64000, body.pipeline_version_runs[1].orchestration_status.status.code)
      local _, anon = emu:api("POST", RUNS, {})
      assert.matches("^%x+$", anon.pipeline_version_runs[1].id)
      assert.equals(64000, state_of("fresh"))
    end)
  end)

  describe("time", function()
    -- The specs' emulator starts with a frozen clock: time moves only by
    -- POST /_emulator/clock, and everything that fell due happens then.
    local function run_of(id)
      local _, body = emu:api("GET", run_path(id))
      return body.pipeline_version_run
    end

    it("moves queued runs to running then completed as the clock moves; paused runs stay", function()
      emu:config({ tick = 0.2 })
      emu:put_run({ id = "auto", state = "JOB_QUEUED" })
      emu:put_run({ id = "held", state = "JOB_PAUSED" })
      assert.equals(64000, state_of("auto"), "nothing moves while the clock stands")
      emu:advance(0.2)
      local run = run_of("auto")
      assert.equals(64001, run.orchestration_status.status.code)
      assert.is_string(run.started_at)
      assert.is_nil(run.ended_at)
      emu:advance(0.9)
      assert.equals(64001, state_of("auto"), "five ticks of running make a run complete, not four and a half")
      emu:advance(0.1)
      run = run_of("auto")
      assert.equals(64002, run.orchestration_status.status.code)
      assert.is_string(run.ended_at)
      assert.equals("1s", run.total_run_duration)
      assert.equals(64008, state_of("held"))
      local _, logs = emu:api("GET", run_path("auto", "/pipeline.version.run/logs"))
      assert.is_true(#logs.log_entries >= 4, "a log line a tick while it ran")
    end)

    it("plays a run's script when the clock reaches each step", function()
      emu:put_run({ id = "doomed", state = "JOB_RUNNING",
        script = { { after = 0.3, state = "JOB_FAILED" } } })
      assert.equals(64001, state_of("doomed"))
      emu:advance(0.29)
      assert.equals(64001, state_of("doomed"))
      emu:advance(0.01)
      assert.equals(64003, state_of("doomed"))
      local _, body = emu:api("GET", run_path("doomed"))
      assert.is_string(body.pipeline_version_run.ended_at)
    end)

    it("applies accepted changes after transition_delay", function()
      emu:config({ transition_delay = 0.3 })
      local status, body = emu:api("PATCH", RUNS, patch_body("run-train-01", "JOB_PAUSED"))
      assert.equals(200, status)
      assert.equals(64001, body.pipeline_version_runs[1].orchestration_status.status.code)
      assert.equals(64001, state_of("run-train-01"))
      emu:advance(0.3)
      assert.equals(64008, state_of("run-train-01"))
    end)

    it("shows, freezes, releases and moves the clock; refuses bad values", function()
      local c = emu:clock()
      assert.is_true(c.frozen)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", c.time)
      local moved = emu:advance(3600)
      assert.is_true(math.abs(moved.now - c.now - 3600) < 1e-6, "a frozen clock moves by exactly the step")
      local released = emu:clock({ frozen = false })
      assert.is_false(released.frozen)
      socket.sleep(0.05)
      assert.is_true(emu:clock().now > released.now, "a released clock runs")
      assert.is_true(emu:clock().now >= moved.now, "and never runs back")
      for _, bad in ipairs({ { advance = -1 }, { advance = "1" }, { frozen = "yes" } }) do
        local res = emu:request("POST", "/_emulator/clock", bad)
        assert.equals(400, res.status)
      end
      emu:reset()
      assert.is_true(emu:clock().frozen, "a reset brings back the clock the emulator started with")
    end)
  end)

  describe("request log", function()
    it("records method, path, query, headers and body of /v2 requests only", function()
      local sent = cjson.encode(patch_body("run-train-01", "JOB_PAUSED"))
      emu:api("PATCH", RUNS, sent)
      emu:request("GET", RUNS .. "?page=1")
      emu:config({})
      local log = emu:requests()
      assert.equals(2, #log)
      assert.equals("PATCH", log[1].method)
      assert.equals(RUNS, log[1].path)
      assert.equals("Key " .. DEMO.token, log[1].headers.authorization)
      assert.equals("application/json", log[1].headers["content-type"])
      assert.equals(sent, log[1].body)
      assert.equals("page=1", log[2].query)
      assert.is_nil(log[2].headers.authorization)
      assert.is_true(log[2].seq > log[1].seq and log[2].time >= log[1].time)
      emu:reset()
      assert.equals(0, #emu:requests())
    end)
  end)

  describe("faults", function()
    it("http answers the given status and raw body without applying", function()
      emu:fault({ kind = "http", method = "PATCH", status = 503, body = "upstream down",
        headers = { ["Content-Type"] = "text/plain" } })
      local res = emu:request("PATCH", RUNS, patch_body("run-train-01", 64008),
        { Authorization = "Key " .. DEMO.token })
      assert.equals(503, res.status)
      assert.equals("upstream down", res.body)
      assert.equals(64001, state_of("run-train-01"))
    end)

    it("apply_then_http applies the change anyway", function()
      emu:fault({ kind = "apply_then_http", path = "/runs", status = 502, body = "" })
      local res = emu:request("PATCH", RUNS, patch_body("run-train-01", 64008),
        { Authorization = "Key " .. DEMO.token })
      assert.equals(502, res.status)
      assert.equals("", res.body)
      assert.equals(64008, state_of("run-train-01"))
    end)

    it("close drops the connection without an answer, `times` times", function()
      emu:fault({ kind = "close", method = "GET", times = 2 })
      for _ = 1, 2 do
        local res, err = emu:request("GET", RUNS, nil, { Authorization = "Key " .. DEMO.token })
        assert.is_nil(res)
        assert.equals("closed", err)
      end
      assert.equals(200, (emu:api("GET", RUNS)))
      assert.equals(3, #emu:requests())
    end)

    it("redirect answers 307 with a Location", function()
      emu:fault({ kind = "redirect", location = "http://127.0.0.1:1/elsewhere" })
      local res = emu:request("GET", RUNS, nil, { Authorization = "Key " .. DEMO.token })
      assert.equals(307, res.status)
      assert.equals("http://127.0.0.1:1/elsewhere", res.headers.location)
    end)

    it("truncate sends the full Content-Length but only part of the body", function()
      emu:fault({ kind = "truncate", bytes = 10 })
      local res, err, partial = emu:request("GET", run_path("run-train-01"), nil,
        { Authorization = "Key " .. DEMO.token })
      assert.is_nil(res)
      assert.equals("closed", err)
      assert.equals(10, #partial)
    end)

    it("a hanging request does not hold up the others", function()
      emu:fault({ kind = "hang", method = "GET" })
      local stuck = emulator.connect(emu.port)
      emulator.send_request(stuck, "GET", RUNS, nil, { Authorization = "Key " .. DEMO.token })
      socket.sleep(0.05)
      local t0 = socket.gettime()
      assert.equals(200, (emu:api("GET", RUNS)))
      require("support.bounds").check("emulator_reply", socket.gettime() - t0)
      stuck:settimeout(0.1)
      local res, err = emulator.read_response(stuck)
      assert.is_nil(res)
      assert.equals("timeout", err)
      stuck:close()
    end)

    it("delay on the clock holds a request until the clock has moved that far, then answers it", function()
      emu:fault({ kind = "delay", clock = true, seconds = 5, method = "GET" })
      local held = emulator.connect(emu.port)
      emulator.send_request(held, "GET", RUNS, nil, { Authorization = "Key " .. DEMO.token })
      emu:await_requests("GET", 1)
      held:settimeout(0.1)
      local res, err = emulator.read_response(held)
      assert.is_nil(res)
      assert.equals("timeout", err)
      assert.equals(200, (emu:api("GET", RUNS)), "the fault took one request")
      emu:advance(4)
      res, err = emulator.read_response(held)
      assert.is_nil(res)
      assert.equals("timeout", err)
      emu:advance(1)
      held:settimeout(require("support.bounds").limit("watchdog"))
      res = assert(emulator.read_response(held))
      held:close()
      assert.equals(200, res.status)
      assert.is_table(cjson.decode(res.body).pipeline_version_runs)
    end)
  end)

  describe("connections", function()
    it("serves 16 concurrent keep-alive connections", function()
      local socks = {}
      for i = 1, 16 do socks[i] = assert(emulator.connect(emu.port)) end
      for round = 1, 4 do
        for i, s in ipairs(socks) do
          assert(emulator.send_request(s, "GET", RUNS .. "?page=" .. round .. "&conn=" .. i, nil,
            { Authorization = "Key " .. DEMO.token }))
        end
        for _, s in ipairs(socks) do
          local res = assert(emulator.read_response(s))
          assert.equals(200, res.status)
          assert.equals(10000, cjson.decode(res.body).status.code)
        end
      end
      for _, s in ipairs(socks) do s:close() end
      assert.equals(64, #emu:requests())
    end)

    it("accepts a chunked request body", function()
      local s = assert(emulator.connect(emu.port))
      local body = cjson.encode(patch_body("run-train-01", "JOB_PAUSED"))
      local chunks = string.format("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 10, body:sub(1, 10),
        #body - 10, body:sub(11))
      s:send("PATCH " .. RUNS .. " HTTP/1.1\r\nHost: x\r\nAuthorization: Key " .. DEMO.token
        .. "\r\nTransfer-Encoding: chunked\r\n\r\n" .. chunks)
      local res = assert(emulator.read_response(s))
      s:close()
      assert.equals(200, res.status)
      assert.equals(64008, state_of("run-train-01"))
    end)

    it("refuses an oversized body with 413 and closes HTTP/1.0 connections", function()
      local s = assert(emulator.connect(emu.port))
      s:send("PATCH " .. RUNS .. " HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n")
      local res = assert(emulator.read_response(s))
      assert.equals(413, res.status)
      s:close()
      s = assert(emulator.connect(emu.port))
      s:send("GET " .. RUNS .. " HTTP/1.0\r\nAuthorization: Key " .. DEMO.token .. "\r\n\r\n")
      res = assert(emulator.read_response(s))
      assert.equals(200, res.status)
      local _, err = s:receive(1)
      assert.equals("closed", err)
      s:close()
    end)
  end)
  -- Bulk run control ---------------------------------------------------------

  local function states_of(ids, path)
    local out = {}
    for i, id in ipairs(ids) do
      local _, body = emu:api("GET", (path or RUNS) .. "/" .. id)
      out[i] = body.pipeline_version_run.orchestration_status.status.code
    end
    return out
  end

  local function codes_of(list)
    local out = {}
    for i, r in ipairs(list) do out[i] = r.orchestration_status.status.code end
    return out
  end

  local function ids_of(list)
    local out = {}
    for i, r in ipairs(list) do out[i] = r.id end
    return out
  end

  local M3 = { "m1", "m2", "m3" }

  describe("multi-run PATCH", function()
    before_each(function() emu:put_runs("m", 3, "JOB_RUNNING") end)

    it("defaults to atomic, configurable and reset with the world", function()
      assert.equals("atomic", emu:config({}).patch_mode)
      assert.equals("mixed", emu:config({ patch_mode = "mixed" }).patch_mode)
      assert.has_error(function() emu:config({ patch_mode = "some" }) end)
      emu:reset()
      assert.equals("atomic", emu:config({}).patch_mode)
    end)

    for _, mode in ipairs({ "atomic", "mixed" }) do
      it(mode .. ": changes every run when all are allowed (10000)", function()
        emu:config({ patch_mode = mode })
        local status, body = emu:api("PATCH", RUNS, emulator.patch_body(M3, "JOB_PAUSED"))
        assert.equals(200, status)
        assert.equals(10000, body.status.code)
        assert.same(M3, ids_of(body.pipeline_version_runs))
        assert.same({ 64008, 64008, 64008 }, codes_of(body.pipeline_version_runs))
        assert.same({ 64008, 64008, 64008 }, states_of(M3))
      end)
    end

    it("atomic: one terminal run refuses the whole request, nothing changes", function()
      emu:set_state("m2", "JOB_COMPLETED")
      local status, body, res = emu:api("PATCH", RUNS, emulator.patch_body(M3, "JOB_PAUSED"))
      assert.equals(400, status)
      assert.equals(26302, body.status.code)
      assert.equals("cannot pause pipeline version run m2 in state JOB_COMPLETED", body.status.details)
      assert.truthy(res.body:find('"pipeline_version_runs":[]', 1, true))
      assert.same({ 64001, 64002, 64001 }, states_of(M3))
    end)

    it("mixed: applies the allowed runs, 200 / 10010 lists each run in its state after", function()
      emu:config({ patch_mode = "mixed" })
      emu:set_state("m2", "JOB_COMPLETED")
      local status, body = emu:api("PATCH", RUNS, emulator.patch_body(M3, "JOB_PAUSED"))
      assert.equals(200, status)
      assert.equals(10010, body.status.code)
      assert.equals("Mixed Success", body.status.description)
      assert.matches("cannot pause pipeline version run m2 in state JOB_COMPLETED", body.status.details, 1, true)
      assert.same(M3, ids_of(body.pipeline_version_runs))
      assert.same({ 64008, 64002, 64008 }, codes_of(body.pipeline_version_runs))
      assert.same({ 64008, 64002, 64008 }, states_of(M3))
      local _, logs = emu:api("GET", run_path("m1", "/status_logs"))
      local last = logs.pipeline_version_run_status_logs[#logs.pipeline_version_run_status_logs]
      assert.equals(64008, last.status.code)
      assert.equals(DEMO.user, last.triggered_by_user_id)
    end)

    it("mixed: leaves unknown runs out of the list", function()
      emu:config({ patch_mode = "mixed" })
      local status, body = emu:api("PATCH", RUNS, emulator.patch_body({ "m1", "ghost", "m3" }, "JOB_CANCELLED"))
      assert.equals(200, status)
      assert.equals(10010, body.status.code)
      assert.same({ "m1", "m3" }, ids_of(body.pipeline_version_runs))
      assert.same({ 64004, 64001, 64004 }, states_of(M3))
    end)

    it("mixed: applied runs still wait for transition_delay", function()
      emu:config({ patch_mode = "mixed", transition_delay = 0.3 })
      emu:set_state("m2", "JOB_COMPLETED")
      local status, body = emu:api("PATCH", RUNS, emulator.patch_body(M3, "JOB_PAUSED"))
      assert.equals(200, status)
      assert.equals(10010, body.status.code)
      assert.same({ 64001, 64002, 64001 }, codes_of(body.pipeline_version_runs))
      assert.same({ 64001, 64002, 64001 }, states_of(M3))
      emu:advance(0.3)
      assert.same({ 64008, 64002, 64008 }, states_of(M3))
    end)

    it("single: refuses more than one run (400 / 26302), a one-run PATCH works", function()
      emu:config({ patch_mode = "single" })
      local status, body, res = emu:api("PATCH", RUNS, emulator.patch_body(M3, "JOB_PAUSED"))
      assert.equals(400, status)
      assert.equals(26302, body.status.code)
      assert.equals("only one run per request", body.status.details)
      assert.truthy(res.body:find('"pipeline_version_runs":[]', 1, true))
      assert.same({ 64001, 64001, 64001 }, states_of(M3))
      for _, id in ipairs(M3) do
        status, body = emu:api("PATCH", RUNS, emulator.patch_body(id, "JOB_PAUSED"))
        assert.equals(200, status)
        assert.equals(10000, body.status.code)
      end
      assert.same({ 64008, 64008, 64008 }, states_of(M3))
    end)

    it("single: a one-run PATCH of a terminal run is refused as atomic", function()
      emu:config({ patch_mode = "single" })
      emu:set_state("m2", "JOB_COMPLETED")
      local status, body = emu:api("PATCH", RUNS, emulator.patch_body(M3, "JOB_PAUSED"))
      assert.equals(400, status)
      assert.equals("only one run per request", body.status.details)
      status, body = emu:api("PATCH", RUNS, emulator.patch_body("m2", "JOB_PAUSED"))
      assert.equals(400, status)
      assert.equals("cannot pause pipeline version run m2 in state JOB_COMPLETED", body.status.details)
      assert.same({ 64001, 64002, 64001 }, states_of(M3))
    end)

    it("partial: applies only the first run and answers 500 / 98004", function()
      emu:config({ patch_mode = "partial" })
      local status, body, res = emu:api("PATCH", RUNS, emulator.patch_body(M3, "JOB_PAUSED"))
      assert.equals(500, status)
      assert.equals(98004, body.status.code)
      assert.equals("Internal server issue", body.status.description)
      assert.truthy(res.body:find('"pipeline_version_runs":[]', 1, true))
      assert.same({ 64008, 64001, 64001 }, states_of(M3))
      -- one allowed run: applied, still 500
      status = emu:api("PATCH", RUNS, emulator.patch_body("m3", "JOB_CANCELLED"))
      assert.equals(500, status)
      assert.same({ 64008, 64001, 64004 }, states_of(M3))
    end)

    it("partial: with the first run terminal, only the first allowed one changes", function()
      emu:config({ patch_mode = "partial" })
      emu:set_state("m1", "JOB_COMPLETED")
      local status, body = emu:api("PATCH", RUNS, emulator.patch_body(M3, "JOB_PAUSED"))
      assert.equals(500, status)
      assert.equals(98004, body.status.code)
      assert.same({ 64002, 64008, 64001 }, states_of(M3))
    end)

    it("records each multi-run request as it came", function()
      emu:config({ patch_mode = "mixed" })
      local sent = cjson.encode(emulator.patch_body(M3, "JOB_PAUSED"))
      emu:api("PATCH", RUNS, sent)
      local log = emu:requests_of("PATCH")
      assert.equals(1, #log)
      assert.equals(sent, log[1].body)
      assert.same({ m1 = 1, m2 = 1, m3 = 1 }, emu:patched_ids())
    end)
  end)

  describe("terminal_on_patch", function()
    it("fraction 1 completes every run named for the first time before the PATCH", function()
      emu:put_runs("t", 4, "JOB_RUNNING")
      -- named by a PATCH before the fault: never completed by it
      assert.equals(200, (emu:api("PATCH", RUNS, emulator.patch_body("t4", "JOB_PAUSED"))))
      local faults = emu:fault({ kind = "terminal_on_patch", fraction = 1 })
      assert.equals("terminal_on_patch", faults[1].kind)
      assert.same({ 64001, 64001, 64001, 64008 }, states_of({ "t1", "t2", "t3", "t4" }))
      local status, body = emu:api("PATCH", RUNS, emulator.patch_body({ "t1", "t2" }, "JOB_PAUSED"))
      assert.equals(400, status)
      assert.equals(26302, body.status.code)
      assert.equals("cannot pause pipeline version run t1 in state JOB_COMPLETED", body.status.details)
      assert.same({ 64002, 64002, 64001, 64008 }, states_of({ "t1", "t2", "t3", "t4" }))
      local _, logs = emu:api("GET", run_path("t1", "/status_logs"))
      local last = logs.pipeline_version_run_status_logs[#logs.pipeline_version_run_status_logs]
      assert.equals(64002, last.status.code)
      assert.equals("", last.triggered_by_user_id)
      -- persistent: still listed, still at work
      assert.equals(1, #emu:faults())
      assert.equals("terminal_on_patch", emu:faults()[1].kind)
      assert.equals(200, (emu:api("PATCH", RUNS, emulator.patch_body("t4", "JOB_RUNNING"))))
      assert.equals(400, (emu:api("PATCH", RUNS, emulator.patch_body("t3", "JOB_PAUSED"))))
      assert.equals(64002, state_of("t3"))
      -- other requests do not consume it
      emu:api("GET", RUNS)
      assert.equals(1, #emu:faults())
      emu:clear_faults()
      emu:put_run({ id = "t5", state = "JOB_RUNNING" })
      assert.equals(200, (emu:api("PATCH", RUNS, emulator.patch_body("t5", "JOB_PAUSED"))))
    end)

    it("refuses a fraction outside 0..1", function()
      assert.has_error(function() emu:fault({ kind = "terminal_on_patch", fraction = 1.5 }) end)
      assert.has_error(function() emu:fault({ kind = "terminal_on_patch", fraction = "half" }) end)
    end)

    local function completed_by_first_patch()
      emu:put_runs("h", 100, "JOB_RUNNING")
      emu:config({ patch_mode = "mixed" })
      emu:fault({ kind = "terminal_on_patch", fraction = 0.5 })
      local ids = {}
      for i = 1, 100 do ids[i] = "h" .. i end
      local _, body = emu:api("PATCH", RUNS, emulator.patch_body(ids, "JOB_PAUSED"))
      local done = {}
      for _, r in ipairs(body.pipeline_version_runs) do
        if r.orchestration_status.status.code == 64002 then done[#done + 1] = r.id end
      end
      return done, ids
    end

    it("fraction 0.5 completes about half of 100 runs, the same ones on a reset world", function()
      local done, ids = completed_by_first_patch()
      assert.is_true(#done >= 30 and #done <= 70, #done .. " of 100 completed")
      -- later PATCHes see them Completed and complete no others
      local status, body = emu:api("PATCH", RUNS, emulator.patch_body(ids, "JOB_RUNNING"))
      assert.equals(200, status)
      assert.equals(10010, body.status.code)
      local still = 0
      for _, r in ipairs(body.pipeline_version_runs) do
        if r.orchestration_status.status.code == 64002 then still = still + 1 end
      end
      assert.equals(#done, still)
      emu:reset()
      local again = completed_by_first_patch()
      assert.same(done, again)
    end)
  end)

  describe("pipeline and version listing", function()
    local function ids(path)
      local status, body = emu:api("GET", path)
      assert.equals(200, status)
      return ids_of(body.pipelines or body.pipeline_versions), body
    end

    before_each(function()
      for _, s in ipairs({ { "p-c", "v1" }, { "p-a", "v1" }, { "p-b", "v3" }, { "p-b", "v1" }, { "p-b", "v2" } }) do
        emu:put_runs(s[1] .. s[2] .. "-", 1, "JOB_RUNNING", { pipeline_id = s[1], pipeline_version_id = s[2] })
      end
      emu:put_runs("x", 1, "JOB_RUNNING", { app_id = "other-app", pipeline_id = "p-x" })
    end)

    it("lists an app's pipelines by id, paged", function()
      local all, body = ids(emulator.pipelines_path())
      assert.same({ "hello-world-pipeline", "p-a", "p-b", "p-c" }, all)
      for _, p in ipairs(body.pipelines) do
        assert.equals(DEMO.user, p.user_id)
        assert.equals(DEMO.app, p.app_id)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$", p.created_at)
      end
      assert.same({ "p-b", "p-c" }, ids(emulator.pipelines_path() .. "?page=2&per_page=2"))
      assert.same({ "p-x" }, ids(emulator.pipelines_path({ user = "me", app = "other-app" })))
      local _, _, res = emu:api("GET", emulator.pipelines_path() .. "?page=3&per_page=2")
      assert.truthy(res.body:find('"pipelines":[]', 1, true))
    end)

    it("lists a pipeline's versions by id, paged", function()
      local all, body = ids(emulator.pipelines_path({ pipeline = "p-b" }))
      assert.same({ "v1", "v2", "v3" }, all)
      for _, v in ipairs(body.pipeline_versions) do
        assert.equals("p-b", v.pipeline_id)
        assert.equals(DEMO.user, v.user_id)
        assert.equals(DEMO.app, v.app_id)
        assert.is_string(v.created_at)
      end
      assert.same({ "v3" }, ids(emulator.pipelines_path({ pipeline = "p-b" }) .. "?page=3&per_page=1"))
      assert.same({ DEMO.version }, ids(emulator.pipelines_path({ user = "me", pipeline = DEMO.pipeline })))
    end)

    it("answers 404 / 11101 with the list field [] for an unknown user, app or pipeline", function()
      local cases = {
        { emulator.pipelines_path({ user = "nobody" }), '"pipelines":[]' },
        { emulator.pipelines_path({ app = "nope" }), '"pipelines":[]' },
        { emulator.pipelines_path({ pipeline = "nope" }), '"pipeline_versions":[]' },
      }
      for _, c in ipairs(cases) do
        local status, body, res = emu:api("GET", c[1])
        assert.equals(404, status)
        assert.equals(11101, body.status.code)
        assert.truthy(res.body:find(c[2], 1, true))
      end
    end)

    it("ignores the page when told to", function()
      emu:config({ ignore_paging = true })
      assert.same({ "hello-world-pipeline", "p-a" }, ids(emulator.pipelines_path() .. "?page=2&per_page=2"))
      assert.same({ "v1" }, ids(emulator.pipelines_path({ pipeline = "p-b" }) .. "?page=2&per_page=1"))
    end)
  end)

  describe("runs on nodepools", function()
    local T0

    local function put(id, state, np, scope)
      local t = { id = id, state = state, created_at = T0 + (scope.at or 0) }
      for k, v in pairs(scope) do if k ~= "at" then t[k] = v end end
      if np then t.nodepool_id, t.compute_cluster_id = np, t.compute_cluster_id or "cc-1" end
      return emu:put_run(t)
    end

    before_each(function()
      T0 = os.time() - 30 -- newer than every demo run
      put("a1", "JOB_RUNNING", "np-1", { at = 1 })
      put("a2", "JOB_PAUSED", "np-1", { at = 2, app_id = "app-2", pipeline_id = "pipe-2" })
      put("a3", "JOB_COMPLETED", "np-1", { at = 3, pipeline_version_id = "ver-9" })
      -- another user's run on the demo user's compute cluster
      put("a4", "JOB_QUEUED", "np-1", { at = 4, user_id = "team-user", app_id = "team-app",
        pipeline_id = "team-pipe", pipeline_version_id = "team-ver", compute_cluster_user_id = DEMO.user })
      -- the compute cluster user defaults to the run's user
      put("t1", "JOB_QUEUED", "np-1", { at = 4, user_id = "team-user", app_id = "team-app",
        pipeline_id = "team-pipe", pipeline_version_id = "team-ver" })
      put("a5", "JOB_RUNNING", "np-1", { at = 5, app_id = "app-3", pipeline_id = "pipe-3",
        pipeline_version_id = "ver-3" })
      put("b1", "JOB_RUNNING", "np-2", { at = 6 })
      put("b2", "JOB_RUNNING", "np-1", { at = 7, compute_cluster_id = "cc-2" })
      put("o1", "JOB_RUNNING", "np-1", { at = 8, compute_cluster_user_id = "other-owner" })
      put("n1", "JOB_RUNNING", nil, { at = 9 })
    end)

    it("lists exactly the runs of that nodepool and compute cluster user, newest first", function()
      local status, body = emu:api("GET", emulator.nodepool_path("np-1", "cc-1"))
      assert.equals(200, status)
      assert.equals(10000, body.status.code)
      assert.same({ "a5", "a4", "a3", "a2", "a1" }, ids_of(body.pipeline_version_runs))
      local by = {}
      for _, r in ipairs(body.pipeline_version_runs) do by[r.id] = r end
      assert.equals("team-user", by.a4.user_id)
      assert.equals("team-app", by.a4.app_id)
      assert.same({ id = "team-ver", pipeline_id = "team-pipe" }, by.a4.pipeline_version)
      assert.equals("app-2", by.a2.app_id)
      assert.same({ id = DEMO.version, pipeline_id = "pipe-2" }, by.a2.pipeline_version)
      assert.same({ id = "ver-3", pipeline_id = "pipe-3" }, by.a5.pipeline_version)
      for _, r in ipairs(body.pipeline_version_runs) do
        assert.same({ { id = "np-1", compute_cluster = { id = "cc-1", user_id = DEMO.user } } }, r.nodepools)
      end
      local _, by_name = emu:api("GET", emulator.nodepool_path("np-1", "cc-1", DEMO.user))
      assert.same(ids_of(body.pipeline_version_runs), ids_of(by_name.pipeline_version_runs))
    end)

    it("filters by status_codes and pages", function()
      local _, body = emu:api("GET", emulator.nodepool_path("np-1", "cc-1")
        .. "?status_codes=JOB_RUNNING&status_codes=64008")
      assert.same({ "a5", "a2", "a1" }, ids_of(body.pipeline_version_runs))
      local _, p2 = emu:api("GET", emulator.nodepool_path("np-1", "cc-1") .. "?page=2&per_page=2")
      assert.same({ "a3", "a2" }, ids_of(p2.pipeline_version_runs))
      local _, p3 = emu:api("GET", emulator.nodepool_path("np-1", "cc-1") .. "?page=3&per_page=2")
      assert.same({ "a1" }, ids_of(p3.pipeline_version_runs))
      local status = emu:api("GET", emulator.nodepool_path("np-1", "cc-1") .. "?status_codes=JOB_NOPE")
      assert.equals(400, status)
    end)

    it("reads another user's compute cluster; an unknown nodepool lists nothing", function()
      local _, other = emu:api("GET", emulator.nodepool_path("np-1", "cc-1", "other-owner"))
      assert.same({ "o1" }, ids_of(other.pipeline_version_runs))
      local _, team = emu:api("GET", emulator.nodepool_path("np-1", "cc-1", "team-user"))
      assert.same({ "t1" }, ids_of(team.pipeline_version_runs))
      assert.same({ { id = "np-1", compute_cluster = { id = "cc-1", user_id = "other-owner" } } },
        other.pipeline_version_runs[1].nodepools)
      assert.same({ "b2" }, ids_of(select(2, emu:api("GET", emulator.nodepool_path("np-1", "cc-2"))).pipeline_version_runs))
      local status, _, res = emu:api("GET", emulator.nodepool_path("np-404", "cc-1"))
      assert.equals(200, status)
      assert.truthy(res.body:find('"pipeline_version_runs":[]', 1, true))
    end)

    it("gives the nodepool in every wire form of the run, and none for a run on no nodepool", function()
      local _, got = emu:api("GET", run_path("b1"))
      assert.same({ { id = "np-2", compute_cluster = { id = "cc-1", user_id = DEMO.user } } },
        got.pipeline_version_run.nodepools)
      local _, _, res = emu:api("GET", run_path("n1"))
      assert.falsy(res.body:find("nodepools", 1, true))
      local _, list = emu:api("GET", RUNS .. "?per_page=3")
      assert.same({ "n1", "o1", "b2" }, ids_of(list.pipeline_version_runs))
      -- a listed run reads exactly as its GET
      for _, r in ipairs(list.pipeline_version_runs) do
        local _, one = emu:api("GET", run_path(r.id))
        local a, b = r, one.pipeline_version_run
        a.total_run_duration, b.total_run_duration = nil, nil
        assert.same(b, a)
      end
      local _, bad = pcall(emu.put_run, emu, { id = "z", nodepool_id = "np-1" })
      assert.matches("compute_cluster_id", tostring(bad))
    end)

    it("places a POSTed run by its runner_selector", function()
      local status, body = emu:api("POST", RUNS, { pipeline_version_runs = { { id = "sel" } },
        runner_selector = { nodepool = { id = "np-7", compute_cluster = { id = "cc-7", user_id = "cc-owner" } } } })
      assert.equals(200, status)
      assert.same({ { id = "np-7", compute_cluster = { id = "cc-7", user_id = "cc-owner" } } },
        body.pipeline_version_runs[1].nodepools)
      local _, on = emu:api("GET", emulator.nodepool_path("np-7", "cc-7", "cc-owner"))
      assert.same({ "sel" }, ids_of(on.pipeline_version_runs))
    end)
  end)

  describe("bulk control form", function()
    local SCOPE = { user_id = "bulk-user", app_id = "bulk-app", pipeline_id = "bulk-pipe",
      pipeline_version_id = "bulk-ver", nodepool_id = "np", compute_cluster_id = "cc",
      created_at = "2026-01-02T03:04:05Z" }
    local BULK = emulator.runs_path(nil, { user = "bulk-user", app = "bulk-app", pipeline = "bulk-pipe",
      version = "bulk-ver" })

    it("creates many runs in one version, one nodepool, one created_at", function()
      assert.equals(200, emu:put_runs("s", 200, "JOB_QUEUED", SCOPE))
      local _, p1 = emu:api("GET", BULK)
      assert.equals(128, #p1.pipeline_version_runs)
      local first = p1.pipeline_version_runs[1]
      assert.equals("s200", first.id)
      assert.equals("bulk-user", first.user_id)
      assert.equals("bulk-app", first.app_id)
      assert.same({ id = "bulk-ver", pipeline_id = "bulk-pipe" }, first.pipeline_version)
      assert.equals(64000, first.orchestration_status.status.code)
      assert.equals("2026-01-02T03:04:05.000000Z", first.created_at)
      assert.same({ { id = "np", compute_cluster = { id = "cc", user_id = "bulk-user" } } }, first.nodepools)
      local _, p2 = emu:api("GET", BULK .. "?page=2")
      assert.equals(72, #p2.pipeline_version_runs)
      assert.equals("s1", p2.pipeline_version_runs[72].id)
      local _, on = emu:api("GET", emulator.nodepool_path("np", "cc", "bulk-user") .. "?per_page=500")
      assert.equals(200, #on.pipeline_version_runs)
      local _, pipes = emu:api("GET", emulator.pipelines_path({ user = "bulk-user", app = "bulk-app" }))
      assert.same({ "bulk-pipe" }, ids_of(pipes.pipelines))
      assert.equals("2026-01-02T03:04:05.000000Z", pipes.pipelines[1].created_at)
      local _, demo = emu:api("GET", RUNS)
      assert.equals(7, #demo.pipeline_version_runs)
    end)

    it("refuses a bad scope field", function()
      assert.has_error(function() emu:put_runs("e", 2, "JOB_RUNNING", { app_id = 7 }) end)
      assert.has_error(function() emu:put_runs("e", 2, "JOB_RUNNING", { nodepool_id = "np" }) end)
      assert.has_error(function() emu:put_runs("e", 2, "JOB_RUNNING", { created_at = "yesterday" }) end)
      assert.has_error(function() emu:get_run("e1") end)
    end)

    it("serves a 10,000-run world in well under a second of CPU", function()
      local cpu0 = emu:cpu()
      for v = 1, 50 do
        emu:put_runs("w" .. v .. "-", 200, v % 3 == 0 and "JOB_PAUSED" or "JOB_RUNNING",
          { pipeline_version_id = "ver-" .. v, nodepool_id = "np-" .. (v % 2), compute_cluster_id = "cc" })
      end
      local n = 50
      for i = 1, 200 do
        local v = i % 50 + 1
        local path = emulator.runs_path(nil, { version = "ver-" .. v }) .. "?page=" .. (i % 2 + 1)
        local _, body = emu:api("GET", path)
        assert.equals(i % 2 == 0 and 128 or 72, #body.pipeline_version_runs)
        n = n + 1
      end
      for i = 1, 40 do
        local v = i % 50 + 1
        local ids = {}
        for k = 1, 5 do ids[k] = "w" .. v .. "-" .. k end
        emu:api("PATCH", emulator.runs_path(nil, { version = "ver-" .. v }), emulator.patch_body(ids, "JOB_CANCELLED"))
        n = n + 1
      end
      for _ = 1, 10 do
        local _, body = emu:api("GET", emulator.nodepool_path("np-1", "cc") .. "?status_codes=JOB_CANCELLED")
        assert.equals(100, #body.pipeline_version_runs)
        n = n + 1
      end
      local used = emu:cpu() - cpu0
      local limit = require("support.bounds").SCALE
      assert.is_true(used < limit, string.format("%d requests took %.2f s of emulator CPU", n, used))
    end)
  end)

  describe("big runs (run_size)", function()
    local SIZE = 64 * 1024
    local NP = { nodepool_id = "np", compute_cluster_id = "cc" }

    -- every field a real run carries, the texts about SIZE bytes in all
    local function check_big(r, what)
      local spec = r.orchestration_spec.argo_orchestration_spec
      assert.equals("argoproj.io/v1alpha1", spec.api_version, what)
      assert.equals("Workflow", cjson.decode(spec.spec_json).kind, what)
      assert.same(r.orchestration_spec, r.pipeline_version.orchestration_spec, what)
      local argo = cjson.decode(r.orchestration_status.argo_status.status)
      assert.equals("Running", argo.phase, what)
      assert.is_true(#spec.spec_json * 2 + #r.orchestration_status.argo_status.status > SIZE / 2, what)
      assert.equals("GPU nodepool for pipeline steps", r.nodepools[1].description, what)
      assert.equals("us-east-1", r.nodepools[1].compute_cluster.region, what)
      assert.equals(DEMO.user, r.nodepools[1].compute_cluster.user_id, what)
    end

    it("gives every reply that carries runs an Argo spec, an Argo status and whole nodepools", function()
      emu:put_runs("big", 3, "JOB_RUNNING", NP)
      assert.equals(SIZE, emu:config({ run_size = SIZE }).run_size)
      local _, _, res = emu:api("GET", run_path("big1"))
      assert.is_true(#res.body > SIZE and #res.body < SIZE * 1.1, "GET: " .. #res.body .. " bytes")
      check_big(cjson.decode(res.body).pipeline_version_run, "GET")
      local _, list = emu:api("GET", RUNS .. "?per_page=2")
      for _, r in ipairs(list.pipeline_version_runs) do check_big(r, "list") end
      local _, on = emu:api("GET", emulator.nodepool_path("np", "cc", DEMO.user))
      assert.equals(3, #on.pipeline_version_runs)
      check_big(on.pipeline_version_runs[1], "nodepool list")
      local status, patched = emu:api("PATCH", RUNS, patch_body("big2", 64008))
      assert.equals(200, status)
      check_big(patched.pipeline_version_runs[1], "PATCH reply")
      -- a small world again: the runs lose their texts
      emu:config({ run_size = 0 })
      local _, _, small = emu:api("GET", run_path("big1"))
      assert.is_true(#small.body < 1024)
    end)

    it("renders a big run as json.encode renders its wire form, and reads as its GET", function()
      local world_mod = require "clarifai.emulator.world"
      local json = require "clarifai.json"
      local states = require "clarifai.states"
      for _, size in ipairs({ 0, 3000, SIZE }) do
        local w = world_mod.new({ tick = 2, run_size = size, frozen = true })
        w:put_run({ id = "on-np", code = states.by_name.JOB_RUNNING.code, nodepool_id = "np", compute_cluster_id = "cc" })
        for id, run in pairs(w.runs) do
          assert.equals(json.encode(w:run_json(run), world_mod.FIRST), w:run_text(run), size .. " " .. id)
        end
      end
      emu:config({ run_size = 3000 })
      local _, list = emu:api("GET", RUNS)
      for _, r in ipairs(list.pipeline_version_runs) do
        local _, one = emu:api("GET", run_path(r.id))
        assert.same(one.pipeline_version_run, r)
      end
    end)

    it("refuses a run_size that is not a whole number of bytes up to 16 MiB", function()
      for _, bad in ipairs({ -1, 1.5, "big", 16 * 1024 * 1024 + 1 }) do
        assert.has_error(function() emu:config({ run_size = bad }) end, nil, tostring(bad))
      end
      assert.equals(0, emu:config().run_size)
    end)

    it("keeps a 10,000-run world of big runs cheap: the texts are built once and shared, never kept per run",
      function()
      local world_mod = require "clarifai.emulator.world"
      local size = 256 * 1024
      assert.equals(world_mod.big_parts(size), world_mod.big_parts(size), "built once per size")
      local w = world_mod.new({ tick = 0, run_size = size, frozen = true, seed = false })
      for i = 1, 10000 do
        w:put_run({ id = "k" .. i, code = 64001, nodepool_id = "np", compute_cluster_id = "cc" })
      end
      collectgarbage()
      local before = collectgarbage("count")
      for i = 1, 1000 do assert.is_true(#w:run_text(w.runs["k" .. i]) > size) end
      collectgarbage()
      local kept = collectgarbage("count") - before
      -- 1,000 rendered runs keep their small pieces, not 250 MB of text
      assert.is_true(kept < 8 * 1024, string.format("rendering kept %.0f kB", kept))
    end)
  end)

end)

describe("emulator process", function()
  -- Runs the launcher under a shell that records its exit status. The
  -- emulator also watches this process, so it cannot outlive the suite.
  local function spawn()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir " .. dir)
    local me = read_file("/proc/self/stat"):match("^%d+")
    os.execute(string.format("(env -u LD_PRELOAD lua5.4 bin/clarifai-emulator --port 0 --quiet "
      .. "--exit-with %s >%s/out 2>%s/err </dev/null & echo $! >%s/pid; wait $!; echo $? >%s/rc) "
      .. ">/dev/null 2>&1 &", me, dir, dir, dir, dir))
    local pid = tonumber(wait_until("the emulator's pid", function()
      return (read_file(dir .. "/pid") or ""):match("%d+")
    end))
    return dir, pid
  end

  local function port_of(dir)
    local line = wait_until("the emulator's first line", function()
      return (read_file(dir .. "/out") or ""):match("^([^\n]*)\n")
    end)
    return line and tonumber(line:match("^listening on http://127%.0%.0%.1:(%d+)$"))
  end

  local function cleanup(dir, pid)
    if pid and emulator.alive(pid) then os.execute("kill -9 " .. pid .. " 2>/dev/null") end
    os.execute("rm -rf " .. dir)
  end

  it("exits 0 on POST /_emulator/shutdown", function()
    local dir, pid = spawn()
    finally(function() cleanup(dir, pid) end)
    local port = port_of(dir)
    assert.truthy(port)
    local res = emulator.http(port, "POST", "/_emulator/shutdown", "")
    assert.equals(200, res.status)
    -- the shell creates rc, then writes it: wait for the digits
    local rc = wait_until("the emulator's exit", function() return (read_file(dir .. "/rc") or ""):match("%d+") end)
    assert.equals("0", rc)
  end)

  it("exits 0 without a traceback on SIGINT", function()
    local dir, pid = spawn()
    finally(function() cleanup(dir, pid) end)
    local port = port_of(dir)
    assert.truthy(port)
    os.execute("kill -INT " .. pid)
    -- the shell creates rc, then writes it: wait for the digits
    local rc = wait_until("the emulator's exit", function() return (read_file(dir .. "/rc") or ""):match("%d+") end)
    assert.equals("0", rc)
    assert.equals("", read_file(dir .. "/err"))
  end)
end)
