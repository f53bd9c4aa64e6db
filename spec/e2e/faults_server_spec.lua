-- The reliability test plan, end to end (second half: a misbehaving server
-- against the PATCH, observability, signals and streams; faults_spec has the
-- rest). Every case checks the exit code, that the token never appeared and
-- what reached the server; the cases that promise an end within a deadline
-- check it (support.bounds).

local bounds = require "support.bounds"
local cli = require "support.cli"
local emulator = require "support.emulator"
local cjson = require "cjson"

local F = require("support.faults").new()
local TOKEN, IDS, FAST, args = F.TOKEN, F.IDS, F.FAST, F.args
local run, requests, state, pause, status = F.run, F.requests, F.state, F.pause, F.status
local statuses_given = F.statuses_given
local emu

describe("reliability", function()
  emu = F.use(emulator.fixture(F.FIXTURE))

  describe("the server against the PATCH", function()
    it("27: success: one line on stdout, nothing on stderr, exactly one PATCH", function()
      local r = pause({})
      assert.equal(0, r.code)
      assert.equal("Pipeline version run run-train-01 has been paused.\n", r.out)
      assert.equal("", r.err)
      assert.equal(1, #requests())
      assert.equal("overwrite", cjson.decode(requests("PATCH")[1].body).action)
    end)

    it("28: JOB_CONFLICT: one GET to look, exit 1, no PATCH retry", function()
      emu:fault({ kind = "http", method = "PATCH", status = 409, headers = { ["Content-Type"] = "application/json" },
        body = '{"status":{"code":64007,"description":"Job conflict","details":"run is completed"}}' })
      local r = pause({})
      assert.equal(1, r.code)
      assert.matches("Job conflict", r.err, 1, true)
      assert.equal(1, #requests("PATCH"))
      assert.equal(1, #requests("GET"))
    end)

    it("29: pause of a paused run: already paused, exit 0", function()
      local r = run(args("pr", "pause", "run-etl-04", FAST, IDS), {})
      assert.equal(0, r.code)
      assert.equal("Pipeline version run run-etl-04 is already paused.\n", r.out)
    end)

    it("30: 401/11009 and 403/11007: exit 4, no retry", function()
      local r = pause({ env = { CLARIFAI_PAT = "unknown-token-1" } })
      assert.equal(4, r.code)
      assert.equal(1, #requests())
      emu:reset()
      emu:fault({ kind = "http", method = "PATCH", status = 403,
        body = '{"status":{"code":11007,"description":"API key has insufficient permissions"}}' })
      local r2 = pause({})
      assert.equal(4, r2.code)
      assert.matches("insufficient permissions", r2.err, 1, true)
      assert.equal(1, #requests())
    end)

    it("31: 404/11101: exit 1, no retry", function()
      local r = run(args("pr", "pause", "ghost-run", FAST, IDS), {})
      assert.equal(1, r.code)
      assert.matches("Resource does not exist", r.err, 1, true)
      assert.equal(1, #requests("PATCH"))
    end)

    it("32: 429 with Retry-After: 2: the next PATCH comes 2 s later and succeeds", function()
      emu:fault({ kind = "http", method = "PATCH", status = 429, headers = { ["Retry-After"] = "2" },
        body = '{"status":{"code":11005,"description":"Making too many requests"}}' })
      local r = pause({})
      assert.equal(0, r.code, r.err)
      local p = requests("PATCH")
      assert.equal(2, #p)
      assert.is_true(p[2].time - p[1].time >= 1.9, "waited " .. (p[2].time - p[1].time))
      assert.matches("Retrying run run-train-01 in 2.0s: HTTP 429", r.err, 1, true)
    end)

    it("33: Retry-After beyond the deadline stops at once with exit 6, showing the wait", function()
      emu:fault({ kind = "http", method = "PATCH", status = 429, headers = { ["Retry-After"] = "3600" },
        body = '{"status":{"code":11005,"description":"Making too many requests"}}' })
      local r = pause({})
      assert.equal(6, r.code)
      assert.matches("retry after 3600s", r.err, 1, true)
      assert.equal(1, #requests("PATCH"))
    end)

    it("34: Retry-After in the past, garbage or negative: the default backoff", function()
      for _, v in ipairs({ "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "-5" }) do
        emu:reset()
        emu:fault({ kind = "http", method = "PATCH", status = 503, headers = { ["Retry-After"] = v },
          body = '{"status":{"code":10020,"description":"Unavailable"}}' })
        local r = pause({})
        assert.equal(0, r.code, v .. ": " .. r.err)
        assert.equal(2, #requests("PATCH"))
      end
    end)

    it("35: always 503: 3 attempts within the deadline, exit 6", function()
      emu:fault({ kind = "http", method = "PATCH", status = 503, times = 0, body = "" })
      local r = pause({ bound = "deadline" })
      assert.equal(6, r.code)
      assert.equal(3, #requests("PATCH"))
      assert.matches("after 3 attempts", r.err, 1, true)
    end)

    it("36: 200 with CONN_THROTTLED, then success: retried, exit 0", function()
      emu:fault({ kind = "http", method = "PATCH", status = 200,
        body = '{"status":{"code":11005,"description":"Making too many requests"}}' })
      local r = pause({})
      assert.equal(0, r.code, r.err)
      assert.equal(2, #requests("PATCH"))
    end)

    it("37: applied, then 500: one PATCH, one GET, exit 0, confirmed #portable", function()
      emu:fault({ kind = "apply_then_http", method = "PATCH", status = 500,
        body = '{"status":{"code":98004,"description":"Internal server issue"}}' })
      local r = pause({})
      assert.equal(0, r.code, r.err)
      assert.matches("confirmed after an ambiguous response (HTTP 500", r.err, 1, true)
      assert.equal(1, #requests("PATCH"))
      assert.equal(1, #requests("GET"))
    end)

    it("38: HTML 502 from a proxy, not applied: GET, one more PATCH, exit 0, no HTML shown", function()
      emu:fault({ kind = "http", method = "PATCH", status = 502, headers = { ["Content-Type"] = "text/html" },
        body = "<html><body><h1>502 Bad Gateway</h1></body></html>" })
      local r = pause({})
      assert.equal(0, r.code, r.err)
      assert.equal(2, #requests("PATCH"))
      assert.equal(1, #requests("GET"))
      assert.is_nil(r.err:find("<html>", 1, true))
      assert.is_nil(r.out:find("<html>", 1, true))
    end)

    it("39: applied, then no answer: reconciled after the attempt timeout", function()
      emu:fault({ kind = "hang", method = "PATCH", apply = true })
      local r = run(args("pr", "pause", "run-train-01", "--request-timeout", "1", "--deadline", "6", IDS), {})
      assert.equal(0, r.code, r.err)
      assert.matches("confirmed after an ambiguous response (OPERATION_TIMEDOUT)", r.err, 1, true)
      assert.equal(1, #requests("PATCH"))
    end)

    it("39b: no answer and the read hangs too: outcome unknown, exit 6 within the deadline", function()
      emu:fault({ kind = "hang", apply = true, times = 0 })
      local r = run(args("pr", "pause", "run-train-01", "--request-timeout", "0.5", "--deadline", "3", IDS),
        { bound = "deadline" })
      assert.equal(6, r.code)
      assert.matches("outcome unknown for run run-train-01", r.err, 1, true)
      assert.matches("clarifai pr status run-train-01", r.err, 1, true)
    end)

    it("40: applied, then the connection closes: exit 0 after exactly one state change", function()
      emu:fault({ kind = "apply_then_close", method = "PATCH" })
      local r = pause({})
      assert.equal(0, r.code, r.err)
      assert.equal(1, #requests("PATCH"))
      assert.equal(1, #requests("GET"))
      local _, doc = emu:api("GET", emulator.runs_path("/run-train-01/status_logs"), nil, TOKEN)
      local paused = 0
      for _, l in ipairs(doc.pipeline_version_run_status_logs) do
        if l.status.code == 64008 then paused = paused + 1 end
      end
      assert.equal(1, paused)
    end)

    it("40b: applied, then a REUSED connection closes: never re-sent, read back, ok, --verbose shows every request",
      function()
      -- one request at a time: every PATCH goes on the connection the one before it used
      emu:put_runs("rx", 5, "JOB_RUNNING")
      emu:fault({ kind = "apply_then_close", method = "PATCH", contains = '"rx3"' })
      local r = run(args("pr", "pause", "rx1", "rx2", "rx3", "rx4", "rx5", "--parallel", "1", "--verbose", FAST, IDS),
        {})
      assert.equal(0, r.code, r.err)
      local patches, conn_of = requests("PATCH"), {}
      for _, p in ipairs(patches) do conn_of[cjson.decode(p.body).pipeline_version_runs[1].id] = p.conn end
      -- the server saw one PATCH per run: rx3's was not sent again by libcurl
      assert.equal(5, #patches)
      assert.equal(1, emu:patched_ids().rx3)
      -- rx3's PATCH went on the connection rx1 and rx2 used (a reused one)
      assert.equal(conn_of.rx1, conn_of.rx2)
      assert.equal(conn_of.rx1, conn_of.rx3)
      -- and the PATCHes after it share a connection again
      assert.equal(conn_of.rx4, conn_of.rx5)
      -- rx3 is ok, read back; no run is reported noop
      assert.matches("Pipeline version run rx3 has been paused", r.out, 1, true)
      assert.matches("confirmed after an ambiguous response (NO_ANSWER", r.err, 1, true)
      assert.is_nil(r.out:find("already paused", 1, true))
      assert.equal(64008, state("rx3"))
      -- --verbose shows every request the server saw, and the unanswered PATCH
      local shown = {}
      for method in ("\n" .. r.err):gmatch("\n> (%u+) http") do shown[method] = (shown[method] or 0) + 1 end
      assert.equal(#patches, shown.PATCH)
      assert.equal(#requests("GET"), shown.GET)
      assert.equal(1, #requests("GET"))
      assert.matches("< NO_ANSWER: ", r.err, 1, true)
    end)

    it("40d: closed unanswered on a reused connection, not applied: read back, then sent again, with a note",
      function()
      emu:put_runs("ry", 3, "JOB_RUNNING")
      emu:fault({ kind = "close", method = "PATCH", contains = '"ry2"' })
      local r = run(args("pr", "pause", "ry1", "ry2", "ry3", "--parallel", "1", "--verbose", FAST, IDS), {})
      assert.equal(0, r.code, r.err)
      assert.matches("Pipeline version run ry2 has been paused", r.out, 1, true)
      -- the command, not libcurl, sent it again: after reading the run back, and it says so
      assert.equal(2, emu:patched_ids().ry2)
      assert.equal(1, #requests("GET"))
      assert.matches("Retrying run ry2 in 0.0s: NO_ANSWER: the connection closed after sending, before any answer, "
        .. "the run is still Running (attempt 2 of 3)", r.err, 1, true)
      local shown = select(2, ("\n" .. r.err):gsub("\n> PATCH ", ""))
      assert.equal(#requests("PATCH"), shown)
    end)

    it("40c: a selection whose groups' reused connection closes after applying: every run ok, none noop", function()
      emu:reset(false)
      emu:put_runs("sx", 300, "JOB_RUNNING")
      -- two of the three groups of 100 are applied and left unanswered on a reused connection
      emu:fault({ { kind = "apply_then_close", method = "PATCH", contains = '"sx150"' },
        { kind = "apply_then_close", method = "PATCH", contains = '"sx250"' } })
      local r = run(args("pr", "pause", "--all", "--yes", "--parallel", "1", "-o", "json", FAST, IDS), {})
      assert.equal(0, r.code, r.err)
      local doc = cjson.decode(r.out)
      assert.same({ ok = 300, noop = 0, failed = 0, unknown = 0, not_sent = 0 }, doc.summary)
      assert.equal(3, #requests("PATCH"))
      for id, n in pairs(emu:patched_ids()) do assert.equal(1, n, id) end
    end)

    it("41: a truncated body and a chunk cut mid-way are ambiguous: reconciled, no crash", function()
      for _, kind in ipairs({ "truncate", "chunk_cut" }) do
        emu:reset()
        emu:fault({ kind = kind, method = "PATCH", bytes = 20 })
        local r = pause({})
        assert.equal(0, r.code, kind .. ": " .. r.err)
        assert.equal(1, #requests("PATCH"), kind)
        assert.equal(64008, state("run-train-01"))
      end
    end)

    it("42: a slow drip is cut by the attempt timeout, then reconciled", function()
      emu:fault({ kind = "drip", method = "PATCH", interval = 0.5 })
      local r = run(args("pr", "pause", "run-train-01", "--request-timeout", "1", "--deadline", "6", IDS), {})
      assert.equal(0, r.code, r.err)
      assert.matches("confirmed after an ambiguous response", r.err, 1, true)
    end)

    it("43: a 200 text/html page: never shown raw; reads fail with exit 5 naming the type", function()
      emu:fault({ kind = "http", status = 200, times = 0, headers = { ["Content-Type"] = "text/html" },
        body = "<html>\27]0;pwned\7 captive portal " .. string.rep("x", 400) .. "</html>" })
      local r = status({})
      assert.equal(5, r.code)
      assert.matches("text/html", r.err, 1, true)
      assert.is_nil(r.err:find("\27", 1, true))
      assert.is_true(#r.err < 1200)
    end)

    it("44: invalid JSON (NaN, Infinity, hex, trailing garbage, a BOM): exit 5, no Lua error", function()
      local bodies = { '{"status":{"code":NaN}}', '{"status":{"code":Infinity}}', '{"status":{"code":0x10}}',
        '{"status":{"code":10000}} garbage', "\239\187\191" .. '{"status":{"code":10000}}' }
      for i, r in ipairs(statuses_given(bodies)) do
        assert.equal(5, r.code, bodies[i])
        assert.matches("not JSON", r.err, 1, true)
        assert.matches("Retrying read of run run%-bad%-" .. i .. " in %d+%.%ds: HTTP 200, not a valid API reply", r.err)
      end
    end)

    it("45: JSON nested 100 000 deep is rejected quickly", function()
      emu:fault({ kind = "http", status = 200, times = 0, body = string.rep("[", 100000) .. string.rep("]", 100000) })
      local r = status({})
      assert.equal(5, r.code)
    end)

    it("46: a 10 MB body and an endless stream are cut at the size cap: exit 5", function()
      emu:fault({ kind = "http", status = 200, times = 0, pad = 10 * 1024 * 1024,
        headers = { ["Content-Type"] = "application/json" }, body = '{"status":{"code":10000}}' })
      local r = status({})
      assert.equal(5, r.code)
      assert.matches("size limit", r.err, 1, true)
      emu:reset()
      -- 64 KiB pieces as fast as the socket takes them, and a request
      -- timeout far away: the cap, not the timeout, ends it however slow the machine.
      emu:fault({ kind = "endless", times = 0, interval = 0,
        chunk = '{"id":"r","orchestration_status":{}},' .. string.rep(" ", 64 * 1024) })
      local r2 = F.run(F.args("pr", "status", "run-train-01", "--request-timeout", "60", "--deadline", "120", F.IDS), {})
      assert.equal(5, r2.code, r2.err)
      assert.matches("size limit", r2.err, 1, true)
    end)

    it("47: shape errors in status: exit 5 'malformed response', never a Lua error", function()
      local bodies = { '{"status":null}', '{"status":"ok"}', '{"status":{"code":"10000"}}', '{}', "[1,2]",
        '{"status":{"code":10000},"pipeline_version_run":"x"}' }
      for i, r in ipairs(statuses_given(bodies)) do
        assert.equal(5, r.code, bodies[i] .. ": " .. r.err)
        assert.matches("malformed response", r.err, 1, true)
      end
    end)

    it("48: control characters and invalid UTF-8 in server text are escaped", function()
      emu:fault({ kind = "http", method = "PATCH", status = 400, headers = { ["Content-Type"] = "application/json" },
        body = '{"status":{"code":26302,"description":"bad \\u001b]0;pwned\\u0007 \\u009b31m \255\254",'
          .. '"details":"x\\u0000y"}}' })
      local r = pause({})
      assert.equal(1, r.code)
      assert.is_nil(r.err:find("\27", 1, true))
      assert.is_nil(r.err:find("\7", 1, true))
      assert.is_nil(r.err:find("\194\155", 1, true))
      assert.matches("\\x1b]0;pwned\\x07", r.err, 1, true)
    end)

    it("49: the server echoing the Authorization header: scrubbed", function()
      emu:fault({ kind = "http", method = "PATCH", status = 400,
        body = '{"status":{"code":11102,"description":"Invalid request","details":"header was Key ' .. TOKEN .. '"}}' })
      local r = pause({})
      assert.equal(4, r.code)
      assert.matches("header was Key [REDACTED]", r.err, 1, true)
    end)

    it("50: 307/308 to another server: not followed, exit 5, the other server sees nothing", function()
      local other = emulator.start({ tick = 0, token = TOKEN })
      for _, code in ipairs({ 307, 308 }) do
        emu:reset()
        emu:fault({ kind = "redirect", status = code, location = other.url .. "/v2/steal?x=1" })
        local r = pause({})
        assert.equal(5, r.code)
        assert.matches("redirecting to " .. other.url .. "/v2/steal", r.err, 1, true)
      end
      local seen = #other:requests()
      other:stop()
      assert.equal(0, seen)
    end)

    it("51: a 1 MB response header: rejected, exit 5", function()
      emu:fault({ kind = "http", status = 200, times = 0, headers = { ["X-Big"] = string.rep("a", 1024 * 1024) },
        body = '{"status":{"code":10000}}' })
      local r = status({})
      assert.equal(5, r.code)
    end)
  end)

  describe("observability, signals and streams", function()
    it("52: --verbose masks Authorization and never shows the token", function()
      local r = pause({}, { "--verbose" })
      assert.equal(0, r.code)
      assert.matches("> Authorization: Key ********", r.err, 1, true)
      assert.matches("< HTTP 200", r.err, 1, true)
    end)

    -- Runs the CLI, waits until `n` requests of `method` reached the server
    -- (however long the machine takes), lets it settle into its wait, then
    -- sends SIGINT: exit code, seconds from the signal to the exit, stderr.
    local function interrupt(argv, method, n)
      local p = cli.spawn(argv, { env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN } })
      emu:await_requests(method, n or 1)
      require("socket").sleep(0.2)
      p:kill("INT")
      local rc, took = p:wait(20)
      local text = p:err()
      p:close()
      assert.is_nil(text:find(TOKEN, 1, true))
      return rc, took, text
    end

    it("53: SIGINT mid-request: the request gets 1 s, then exit 130 saying how to check, nothing more #portable", function()
      emu:fault({ kind = "hang", method = "PATCH", apply = false })
      local rc, took, err = interrupt(args("pr", "pause", "run-train-01", IDS), "PATCH")
      assert.equal(130, rc)
      assert.is_true(took >= 0.9, "took " .. took)
      bounds.check("signal_exit", took)
      assert.matches("unknown: run-train-01\n", err, 1, true)
      assert.matches("may or may not have changed", err, 1, true)
      assert.matches("clarifai pr status --user_id=demo-user", err, 1, true)
      require("socket").sleep(0.3)
      assert.equal(1, #requests())
    end)

    it("54: SIGINT during a backoff sleep: exit 130 at once, no later attempt", function()
      emu:fault({ kind = "http", method = "PATCH", status = 503, times = 0, headers = { ["Retry-After"] = "5" },
        body = "" })
      local rc, took = interrupt(args("pr", "pause", "run-train-01", IDS), "PATCH")
      assert.equal(130, rc)
      bounds.check("signal_now", took)
      require("socket").sleep(0.3)
      assert.equal(1, #requests("PATCH"))
    end)

    it("54c: SIGINT while a read is in flight, answered 503 within the grace: exit 130, the Stopped line", function()
      emu:fault({ kind = "http", method = "GET", status = 503, seconds = 0.5, times = 0, body = "" })
      local rc, took, err = interrupt(args("pr", "status", "run-train-01", IDS), "GET")
      assert.equal(130, rc, err)
      bounds.check("signal_exit", took)
      assert.matches("Stopped by SIGINT", err, 1, true)
      assert.is_nil(err:find("internal error", 1, true), err)
      assert.is_nil(err:find("Retrying", 1, true), "nothing is retried after a stop")
    end)

    it("54b: SIGINT while waiting or monitoring: exit 130", function()
      emu:config({ transition_delay = 30 })
      local rc = interrupt(args("pr", "pause", "run-train-01", "--wait", IDS), "GET")
      assert.equal(130, rc)
      emu:reset()
      emu:config({ transition_delay = 30 })
      local rc2 = interrupt(args("pr", "monitor", "run-train-02", IDS), "GET")
      assert.equal(130, rc2)
    end)

    it("55: a closed stdout pipe does not kill the process with SIGPIPE: it exits quietly with 141", function()
      local err = os.tmpname()
      local script = string.format("CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s " .. cli.lua
        .. " %s pr list --per_page 100 %s 2>%s "
        .. "| (exec 0<&-); echo ${PIPESTATUS[0]}", cli.quote(emu.url), cli.quote(TOKEN), cli.quote(cli.bin),
        table.concat(IDS, " "), cli.quote(err))
      local q = io.popen("bash -c " .. cli.quote(script))
      local rc = tonumber(q:read("*l"))
      q:close()
      local text = cli.slurp(err)
      os.remove(err)
      assert.equal(141, rc)
      assert.equal("", text)
    end)

    it("56: -o json: one document on success; on failure empty stdout and one JSON line on stderr #portable", function()
      local ok = pause({}, { "-o", "json" })
      assert.equal(0, ok.code)
      assert.equal("ok", cjson.decode(ok.out).results[1].outcome)
      emu:fault({ kind = "http", method = "PATCH", status = 503, times = 0, body = "" })
      local bad = pause({}, { "-o", "json" })
      assert.equal(6, bad.code)
      local doc = cjson.decode(bad.out)
      assert.equal("failed", doc.results[1].outcome)
      local line = cjson.decode(bad.err:match("[^\n]*\n$"))
      assert.equal(6, line.error.exit_code)
      assert.equal("transient", line.error.kind)
      assert.equal(503, line.error.http_status)
    end)

    it("57: with a proxy set for everything, NO_PROXY keeps loopback direct", function()
      local r = pause({ env = { HTTPS_PROXY = "http://127.0.0.1:1", http_proxy = "http://127.0.0.1:1",
        ALL_PROXY = "http://127.0.0.1:1", NO_PROXY = "127.0.0.1,localhost" } })
      assert.equal(0, r.code, r.err)
    end)
  end)
end)
