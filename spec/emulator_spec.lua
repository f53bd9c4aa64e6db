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

local function wait_until(fn, timeout)
  local deadline = socket.gettime() + (timeout or 3)
  while socket.gettime() < deadline do
    local v = fn()
    if v then return v end
    socket.sleep(0.02)
  end
  return fn()
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

    it("pages log entries, each with a unique url", function()
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
      local _, _, res = emu:api("GET", run_path("logged", "/pipeline.version.run/logs?page=4&per_page=2"))
      assert.truthy(res.body:find('"log_entries":[]', 1, true))
      local _, dflt = emu:api("GET", run_path("logged", "/pipeline.version.run/logs"))
      assert.equals(1, dflt.page)
      assert.equals(32, dflt.per_page)
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
    it("moves queued runs to running then completed; paused runs stay", function()
      emu:config({ tick = 0.2 })
      emu:put_run({ id = "auto", state = "JOB_QUEUED" })
      emu:put_run({ id = "held", state = "JOB_PAUSED" })
      local t0 = socket.gettime()
      local run = wait_until(function()
        local _, body = emu:api("GET", run_path("auto"))
        local r = body.pipeline_version_run
        return r.orchestration_status.status.code == 64001 and r
      end)
      assert.truthy(run, "never started")
      assert.is_string(run.started_at)
      assert.is_nil(run.ended_at)
      run = wait_until(function()
        local _, body = emu:api("GET", run_path("auto"))
        local r = body.pipeline_version_run
        return r.orchestration_status.status.code == 64002 and r
      end)
      assert.truthy(run, "never completed")
      assert.is_true(socket.gettime() - t0 >= 1.2 - 0.05)
      assert.is_string(run.ended_at)
      assert.equals("1s", run.total_run_duration)
      assert.equals(64008, state_of("held"))
      local _, logs = emu:api("GET", run_path("auto", "/pipeline.version.run/logs"))
      assert.is_true(#logs.log_entries >= 4)
    end)

    it("plays a run's script", function()
      emu:put_run({ id = "doomed", state = "JOB_RUNNING",
        script = { { after = 0.3, state = "JOB_FAILED" } } })
      assert.equals(64001, state_of("doomed"))
      assert.truthy(wait_until(function() return state_of("doomed") == 64003 end))
      local _, body = emu:api("GET", run_path("doomed"))
      assert.is_string(body.pipeline_version_run.ended_at)
    end)

    it("applies accepted changes after transition_delay", function()
      emu:config({ transition_delay = 0.3 })
      local status, body = emu:api("PATCH", RUNS, patch_body("run-train-01", "JOB_PAUSED"))
      assert.equals(200, status)
      assert.equals(64001, body.pipeline_version_runs[1].orchestration_status.status.code)
      assert.equals(64001, state_of("run-train-01"))
      assert.truthy(wait_until(function() return state_of("run-train-01") == 64008 end))
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
    local pid = tonumber(wait_until(function() return (read_file(dir .. "/pid") or ""):match("%d+") end, 5))
    return dir, pid
  end

  local function port_of(dir)
    local line = wait_until(function() return (read_file(dir .. "/out") or ""):match("^([^\n]*)\n") end, 5)
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
    local rc = wait_until(function() return (read_file(dir .. "/rc") or ""):match("%d+") end, 5)
    assert.equals("0", rc)
  end)

  it("exits 0 without a traceback on SIGINT", function()
    local dir, pid = spawn()
    finally(function() cleanup(dir, pid) end)
    local port = port_of(dir)
    assert.truthy(port)
    os.execute("kill -INT " .. pid)
    -- the shell creates rc, then writes it: wait for the digits
    local rc = wait_until(function() return (read_file(dir .. "/rc") or ""):match("%d+") end, 5)
    assert.equals("0", rc)
    assert.equals("", read_file(dir .. "/err"))
  end)
end)
