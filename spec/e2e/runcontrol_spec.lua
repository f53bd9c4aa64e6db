-- Run control beyond the Python CLI, end to end against the emulator: many
-- ids, no-ops, --wait, status, list, history, monitor, JSON, dry runs,
-- transitions, completion, user scripts and the Python CLI handoff.

local bounds = require "support.bounds"
local cli = require "support.cli"
local emulator = require "support.emulator"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_4d2b8e0f19"
local IDS = cli.IDS
local POSITIONAL_IDS = { "demo-user", "demo-app", "hello-world-pipeline", "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" }

local emu

local args = cli.args

local run, _, start = cli.runner(function() return emu.url end, TOKEN)

local function count(method) return emu:count(method) end

local function state(id)
  return emu:get_run(id).orchestration_status.status.code
end

local lines = cli.lines

-- The flat error object of the README's schema.
local ERROR_KEYS = { "exit_code", "kind", "message", "http_status", "api_code", "api_name", "req_id" }
local function assert_error_object(e)
  local n = 0
  for _ in pairs(e) do n = n + 1 end
  assert.equal(#ERROR_KEYS, n)
  for _, k in ipairs(ERROR_KEYS) do assert.is_not_nil(e[k], k) end
  assert.is_number(e.exit_code)
  assert.is_string(e.kind)
  assert.is_string(e.message)
end

describe("run control", function()
  emu = emulator.fixture({ tick = 0, token = TOKEN })

  describe("many ids", function()
    it("changes every run concurrently, a line per run as it finishes, with a summary #portable", function()
      local r = run(args("pr", "pause", "run-train-01", "run-eval-03", "run-train-02", IDS))
      assert.equal(0, r.code, r.err)
      local got = lines(r.out)
      table.sort(got)
      assert.same({
        "Pipeline version run run-eval-03 has been paused.",
        "Pipeline version run run-train-01 has been paused.",
        "Pipeline version run run-train-02 has been paused.",
      }, got)
      assert.equal("3 paused\n", r.err)
      assert.equal(3, count("PATCH"))
      assert.equal(3, #emu:requests(), "one request per run on the success path")
      for _, id in ipairs({ "run-train-01", "run-eval-03", "run-train-02" }) do assert.equal(64008, state(id)) end
    end)

    it("reads ids from stdin with -", function()
      local r = run(args("pr", "pause", "-", IDS), { stdin = "run-train-01\nrun-train-02  run-eval-03\n" })
      assert.equal(0, r.code, r.err)
      assert.equal(3, #lines(r.out))
      assert.equal(3, count("PATCH"))
    end)

    it("exits 7 on partial failure, names the failing run and still changes the others #portable", function()
      local r = run(args("pr", "pause", "run-train-01", "run-etl-05", "run-train-02", IDS))
      assert.equal(7, r.code)
      local got = lines(r.out)
      table.sort(got)
      assert.same({
        "Pipeline version run run-train-01 has been paused.",
        "Pipeline version run run-train-02 has been paused.",
      }, got)
      assert.matches("Error: run%-etl%-05: Failed to patch pipeline version run: Invalid pipeline request", r.err)
      assert.matches("2 paused, 1 failed\n$", r.err)
      assert.equal(64008, state("run-train-01"))
      assert.equal(64008, state("run-train-02"))
      assert.equal(64002, state("run-etl-05"))
    end)

    it("exits with the first failure's code when every run fails", function()
      local r = run(args("pr", "resume", "no-such-run", "run-etl-05", IDS))
      assert.equal(1, r.code)
      assert.matches("0? ?2 failed", r.err)
    end)

    it("never prompts when not on a terminal", function()
      local r = run(args("pr", "cancel", "run-train-01", "run-train-02", IDS))
      assert.equal(0, r.code)
      assert.is_nil(r.err:find("[y/N]", 1, true))
      assert.equal("2 cancelled\n", r.err)
    end)

    it("asks before cancelling several runs on a terminal; -y skips the question", function()
      local function on_tty(answer, extra)
        local cmd = table.concat({ cli.lua, cli.quote(cli.bin), "pr", "cancel", "run-train-01", "run-train-02",
          extra or "", table.concat(IDS, " ") }, " ")
        return cli.on_tty(cmd, answer, { CLARIFAI_PAT = TOKEN, CLARIFAI_API_BASE = emu.url })
      end
      local no = on_tty("n")
      assert.matches("Cancel 2 runs (run-train-01, run-train-02)? Cancelled runs cannot be resumed. [y/N]",
        no, 1, true)
      assert.matches("Error: declined at the prompt; nothing was sent (nothing was cancelled)", no, 1, true)
      assert.matches("rc=8", no, 1, true)
      assert.equal(0, count("PATCH"))
      local yes = on_tty("y")
      assert.matches("2 cancelled", yes, 1, true)
      assert.equal(2, count("PATCH"))
      emu:reset()
      local skip = on_tty("n", "-y")
      assert.is_nil(skip:find("[y/N]", 1, true))
      assert.matches("rc=0", skip, 1, true)
    end)

    it("honours --parallel", function()
      local ids = {}
      for i = 1, 20 do
        local id = string.format("bulk-%02d", i)
        emu:put_run({ id = id, state = "JOB_RUNNING" })
        ids[#ids + 1] = id
      end
      local r = run(args("pr", "pause", "--parallel", "3", ids, IDS))
      assert.equal(0, r.code, r.err)
      assert.equal(20, #lines(r.out))
      assert.equal("20 paused\n", r.err)
      local bad = run(args("pr", "pause", "--parallel", "0", "x", IDS))
      assert.equal(2, bad.code)
    end)
  end)

  describe("no-ops", function()
    it("succeeds with 'already' for pause of a paused, cancel of a cancelled and resume of a running run", function()
      local cases = {
        { "pause", "run-etl-04", "Pipeline version run run-etl-04 is already paused." },
        { "cancel", "run-old-07", "Pipeline version run run-old-07 is already cancelled." },
        { "resume", "run-train-01", "Pipeline version run run-train-01 is already resumed." },
      }
      for _, c in ipairs(cases) do
        emu:reset()
        local r = run(args("pr", c[1], c[2], IDS))
        assert.equal(0, r.code, r.err)
        assert.equal(c[3] .. "\n", r.out)
        assert.equal("", r.err)
        assert.equal(1, count("PATCH"))
        assert.equal(1, count("GET"), "read once after the refusal")
      end
    end)

    it("reports noop in JSON and in the summary", function()
      local r = run(args("pr", "pause", "run-etl-04", "run-train-01", "-o", "json", IDS))
      assert.equal(0, r.code)
      local doc = cjson.decode(r.out)
      assert.equal("noop", doc.results[1].outcome)
      assert.equal("ok", doc.results[2].outcome)
      assert.same({ ok = 1, noop = 1, failed = 0, unknown = 0, not_sent = 0 }, doc.summary)
    end)
  end)

  describe("--wait", function()
    -- The emulator's clock is frozen: a delayed change lands when the spec
    -- moves the clock, after the command has been seen polling.
    local function gets() return count("GET") end

    it("returns once the transition has happened #portable", function()
      emu:config({ transition_delay = 5 })
      local p = start(args("pr", "pause", "run-train-01", "--wait", "--interval", "0.2", "--timeout", "60", IDS))
      emu:await_requests("GET", 1)
      assert.equal(64001, state("run-train-01"), "still Running at the first poll")
      local polled = gets()
      emu:advance(5)
      local r = p:finish()
      assert.equal(0, r.code, r.err)
      assert.equal("Pipeline version run run-train-01 has been paused.\n", r.out)
      assert.equal(64008, state("run-train-01"))
      assert.is_true(gets() > polled, "it polled again after the change")
    end)

    it("waits for resume to leave Paused", function()
      emu:config({ transition_delay = 5 })
      local p = start(args("pr", "resume", "run-etl-04", "--wait", "--interval", "0.1", "--timeout", "60", IDS))
      emu:await_requests("GET", 1)
      assert.equal(64008, state("run-etl-04"), "still Paused at the first poll")
      emu:advance(5)
      local r = p:finish()
      assert.equal(0, r.code, r.err)
      assert.equal(64001, state("run-etl-04"))
    end)

    it("stops at once with exit 1 when the run reaches another terminal state", function()
      emu:config({ transition_delay = 60 })
      emu:put_run({ id = "doomed", state = "JOB_RUNNING", script = { { after = 10, state = "JOB_FAILED" } } })
      local p = start(args("pr", "pause", "doomed", "--wait", "--interval", "0.1", "--timeout", "60", IDS))
      emu:await_requests("GET", 1)
      local t0 = require("socket").gettime()
      emu:advance(10)
      local r = p:finish()
      assert.equal(1, r.code)
      assert.matches("doomed: cannot be paused: the run is Failed (JOB_FAILED)", r.err, 1, true)
      bounds.check("wait_notice", require("socket").gettime() - t0, "noticing another terminal state")
    end)

    it("polls many runs through the list endpoint, not one GET per run per poll #portable", function()
      emu:put_runs("w", 40)
      emu:config({ transition_delay = 5 })
      local ids = {}
      for i = 1, 40 do ids[i] = "w" .. i end
      local p = start(args("pr", "pause", ids, "--wait", "--interval", "0.2", "--timeout", "60", IDS))
      emu:await_requests("GET", 3, "/runs$")
      for i = 1, 40 do assert.equal(64001, state("w" .. i), "still Running while it polls") end
      local t0 = require("socket").gettime()
      emu:advance(5)
      local r = p:finish()
      assert.equal(0, r.code, r.err)
      bounds.check("wait_notice", require("socket").gettime() - t0, "noticing the transitions")
      for i = 1, 40 do assert.equal(64008, state("w" .. i)) end
      local lists, gets_ = 0, 0
      for _, req in ipairs(emu:requests()) do
        if req.method == "GET" and req.path:match("/runs$") then
          lists = lists + 1
          assert.matches("status_codes=JOB_RUNNING", req.query, 1, true)
          assert.matches("per_page=128", req.query, 1, true)
        elseif req.method == "GET" then
          gets_ = gets_ + 1
        end
      end
      -- one list page a poll; per-run GETs would be 40 a poll
      assert.equal(0, gets_, "no run was read on its own")
      assert.is_true(lists >= 4, lists .. " list pages")
    end)

    it("reads a run the list no longer shows with a GET, and reports its other terminal state", function()
      emu:config({ transition_delay = 60 })
      for i = 1, 4 do emu:put_run({ id = "t" .. i, state = "JOB_RUNNING" }) end
      emu:put_run({ id = "t5", state = "JOB_RUNNING", script = { { after = 10, state = "JOB_COMPLETED" } } })
      local p = start(args("pr", "pause", "t1", "t2", "t3", "t4", "t5", "--wait", "--interval", "0.1", "--timeout",
        "60", IDS))
      emu:await_requests("GET", 1, "/runs$")
      emu:advance(10) -- t5 completes before its pause lands
      emu:await_requests("GET", 1, "/runs/t5$")
      emu:advance(60) -- the others reach Paused
      local r = p:finish()
      assert.equal(7, r.code, r.err) -- some runs failed
      assert.matches("t5: cannot be paused: the run is Completed (JOB_COMPLETED)", r.err, 1, true)
      assert.matches("4 paused, 1 failed", r.err, 1, true)
    end)

    it("exits 124 on timeout, within the timeout plus one interval", function()
      emu:config({ transition_delay = 30 })
      local r = run(args("pr", "pause", "run-train-01", "--wait", "--timeout", "1", "--interval", "0.3", IDS))
      assert.equal(124, r.code)
      assert.matches("run-train-01: still Running after 1s", r.err, 1, true)
      bounds.check("wait_timeout", r.elapsed, "the wait with --timeout 1 --interval 0.3")
    end)
  end)

  describe("status, list and history", function()
    it("shows state, times and duration", function()
      local r = run(args("pr", "status", "run-etl-06", IDS))
      assert.equal(0, r.code, r.err)
      local l = lines(r.out)
      assert.matches("^ID%s+STATE%s+CREATED_AT%s+STARTED_AT%s+ENDED_AT%s+DURATION$", l[1])
      -- times to the second in the table (the API's text has microseconds)
      local T = "%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ"
      assert.matches("^run%-etl%-06%s+FAILED%s+" .. T .. "%s+" .. T .. "%s+" .. T .. "%s+%S+s$", l[2])
      local g = run(args("pr", "get", "run-etl-06", IDS))
      assert.equal(r.out, g.out)
      local w = lines(run(args("pr", "status", "run-etl-06", "-o", "wide", IDS)).out)
      assert.matches("^ID%s+USER_ID%s+APP_ID%s+PIPELINE_ID%s+PIPELINE_VERSION_ID%s+STATE%s+CREATED_AT%s+STARTED_AT%s+"
        .. "ENDED_AT%s+DURATION$", w[1])
      assert.matches("^run%-etl%-06%s+demo%-user%s+demo%-app%s+hello%-world%-pipeline%s+8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19%s+"
        .. "FAILED%s+" .. T, w[2])
      local j = cjson.decode(run(args("pr", "status", "run-etl-06", "-o", "json", IDS)).out)
      assert.matches("%.%d%d%d%d%d%dZ$", j.runs[1].created_at, "JSON keeps the API's text")
    end)

    it("lists runs in a table: the version shortened, uniform ids left out, times to the second, AGE", function()
      emu:reset(false)
      local now = os.time()
      for _, r in ipairs({ { "r-days", 2 * 86400 + 600 }, { "r-hours", 3 * 3600 + 60 }, { "r-mins", 30 * 60 + 5 },
        { "r-secs", 2 } }) do
        emu:put_run({ id = r[1], state = "JOB_RUNNING", created_at = now - r[2] })
      end
      local r = run(args("pr", "list", IDS))
      assert.equal(0, r.code, r.err)
      local l = lines(r.out)
      assert.equal(5, #l)
      assert.matches("^ID%s+PIPELINE_VERSION_ID%s+STATE%s+CREATED_AT%s+AGE$", l[1])
      assert.is_nil(r.out:find("STATUS", 1, true), "the state column is STATE")
      assert.is_nil(r.out:find("demo-user", 1, true), "one user throughout: no USER_ID column")
      assert.is_nil(r.out:find("8c1e0b6f2d", 1, true), "the version is shortened")
      local age = {}
      for _, line in ipairs(l) do
        local id, ver, st, created, ago = line:match("^(%S+)%s+(%S+)%s+(%S+)%s+(%S+)%s+(%S+)$")
        if id ~= "ID" then
          assert.equal("8c1e0b6f", ver)
          assert.equal("RUNNING", st)
          assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", created)
          age[id] = ago
        end
      end
      assert.equal("2d", age["r-days"])
      assert.equal("3h", age["r-hours"])
      assert.equal("30m", age["r-mins"])
      assert.matches("^%d+s$", age["r-secs"])
      -- -o wide: every id column, the whole version
      local w = lines(run(args("pr", "list", "-o", "wide", IDS)).out)
      assert.matches("^ID%s+USER_ID%s+APP_ID%s+PIPELINE_ID%s+PIPELINE_VERSION_ID%s+STATE%s+CREATED_AT%s+AGE$", w[1])
      assert.matches("^r%-%a+%s+demo%-user%s+demo%-app%s+hello%-world%-pipeline%s+8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19%s+"
        .. "RUNNING%s+%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ%s+%d+[smhd]$", w[2])
      -- JSON keeps the API's own text
      local j = cjson.decode(run(args("pr", "list", "-o", "json", IDS)).out)
      assert.equal("8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19", j.runs[1].pipeline_version.id)
      assert.matches("%.%d%d%d%d%d%dZ$", j.runs[1].created_at)
    end)

    it("exits 1 for an unknown run in status", function()
      local r = run(args("pr", "status", "nope", IDS))
      assert.equal(1, r.code)
      assert.matches("CONN_DOES_NOT_EXIST", r.err, 1, true)
    end)

    it("lists with status filters, paging and ids output piped into cancel -", function()
      local r = run(args("pr", "list", "--status", "running,queued", "-o", "ids", IDS))
      assert.equal(0, r.code, r.err)
      local ids = lines(r.out)
      table.sort(ids)
      assert.same({ "run-eval-03", "run-train-01", "run-train-02" }, ids)
      local reqs = emu:requests()
      assert.matches("status_codes=JOB_RUNNING", reqs[#reqs].query, 1, true)
      assert.matches("status_codes=JOB_QUEUED", reqs[#reqs].query, 1, true)
      assert.matches("per_page=16", reqs[#reqs].query, 1, true)

      local c = run(args("pr", "cancel", "-", IDS), { stdin = r.out })
      assert.equal(0, c.code, c.err)
      for _, id in ipairs(ids) do assert.equal(64004, state(id)) end

      local p1 = run(args("pr", "ls", "--per_page", "2", "--page_no", "2", "-o", "json", IDS))
      local doc = cjson.decode(p1.out)
      assert.equal(2, #doc.runs)
      assert.equal(2, doc.page)
      assert.equal(2, doc.per_page)
      local all = cjson.decode(run(args("pr", "list", "--per-page", "2", "--all", "-o", "json", IDS)).out)
      assert.equal(7, #all.runs)
    end)

    it("prints [] for an empty list and refuses unknown states", function()
      local r = run(args("pr", "list", "--status", "failed,cancelled", "-o", "json", IDS))
      assert.equal(2, #cjson.decode(r.out).runs)
      emu:reset(false)
      local empty = run(args("pr", "list", "-o", "json", IDS))
      assert.matches('"runs":%[%]', empty.out)
      local bad = run(args("pr", "list", "--status", "sleeping", IDS))
      assert.equal(2, bad.code)
      assert.matches("unknown status 'sleeping'", bad.err, 1, true)
    end)

    it("shows the status-change history, who and why", function()
      run(args("pr", "pause", "run-train-01", IDS))
      local r = run(args("pr", "history", "run-train-01", IDS))
      assert.equal(0, r.code, r.err)
      assert.matches("^TIME%s+STATE%s+MESSAGE%s+BY\n", r.out)
      local last = lines(r.out)[#lines(r.out)]
      assert.matches("PAUSED", last, 1, true)
      assert.matches("demo%-user", last)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ%s", last, nil, "the time to the second")
      local j = cjson.decode(run(args("pr", "history", "run-train-01", "-o", "json", IDS)).out)
      assert.equal(64008, j.status_logs[#j.status_logs].status.code)
    end)
  end)

  describe("monitor", function()
    -- The run goes through `steps` (state names) one after another, each
    -- once the monitor has shown the state before it (the emulator's clock
    -- moves only when the spec says). Returns the result, and the seconds
    -- from the last change to the monitor's exit.
    local function watch(id, steps, extra)
      local script = {}
      for i, st in ipairs(steps) do script[i] = { after = 10 * i, state = st } end
      emu:put_run({ id = id, state = "JOB_RUNNING", script = script,
        lines = { "step-0: starting", '{"level":"info","msg":"step-0: loaded 40 items"}', "a\nb" } })
      local p = start(args("pr", "monitor", id, "--monitor_interval", "0.2", "--timeout", "60", extra or {}, IDS))
      local shown, t0 = "RUNNING", nil
      for _, st in ipairs(steps) do
        emu:await("the monitor showing " .. shown, function() return p:out():find(shown, 1, true) end)
        t0 = require("socket").gettime()
        emu:advance(10)
        shown = st:gsub("^JOB_", "")
      end
      local r = p:finish()
      return r, require("socket").gettime() - t0
    end

    it("ends promptly with exit 0 on completion, printing states and logs", function()
      local r, took = watch("m-ok", { "JOB_COMPLETED" })
      assert.equal(0, r.code, r.err)
      assert.matches("Status: RUNNING %(%d+%.%ds%)", r.out)
      assert.matches("Status: COMPLETED %(%d+%.%ds%)", r.out)
      assert.matches("step-0: starting\n", r.out, 1, true)
      assert.matches("\nstep-0: loaded 40 items\n", r.out, 1, true)
      assert.matches("\na\nb\n", r.out, 1, true)
      bounds.check("monitor_end", took, "ending after the run completed")
      local _, n = r.out:gsub("step%-0: starting", "")
      assert.equal(1, n, "log lines are not repeated")
    end)

    it("ends with exit 1 on failure and on cancellation, and reports Paused once", function()
      local f = watch("m-fail", { "JOB_FAILED" })
      assert.equal(1, f.code)
      assert.matches("Status: FAILED", f.out, 1, true)
      local c = watch("m-cancel", { "JOB_PAUSED", "JOB_CANCELLED" })
      assert.equal(1, c.code)
      local _, paused = c.out:gsub("Status: PAUSED", "")
      assert.equal(1, paused)
      assert.matches("Status: CANCELLED", c.out, 1, true)
    end)

    it("pages logs as ListLogEntries does: each line once, in order, reading only the pages that changed", function()
      local function numbered(from, to)
        local t = {}
        for i = from, to do t[#t + 1] = "line-" .. i end
        return t
      end
      -- 50 lines: exactly one full page of the monitor's 50 (a page boundary)
      emu:put_run({ id = "m-logs", state = "JOB_RUNNING", lines = numbered(1, 50) })
      local p = start(args("pr", "monitor", "m-logs", "--monitor_interval", "0.2", "--timeout", "60", IDS))
      emu:await("the first page shown", function() return p:out():find("line-50\n", 1, true) end)
      -- 150 lines arrive between two polls: three more full pages, ending on a boundary again
      emu:add_logs("m-logs", numbered(51, 200))
      emu:await("every line shown", function() return p:out():find("line-200\n", 1, true) end)
      local polls = emu:await_requests("GET", 0, "/runs/m%-logs$") + 2
      emu:await_requests("GET", polls, "/runs/m%-logs$") -- two more polls over a log that did not change
      emu:set_state("m-logs", "JOB_COMPLETED")
      local r = p:finish()
      assert.equal(0, r.code, r.err)
      local shown = {}
      for n in r.out:gmatch("line%-(%d+)\n") do shown[#shown + 1] = tonumber(n) end
      local want = {}
      for i = 1, 200 do want[i] = i end
      assert.same(want, shown, "each line once, in order")
      -- per poll (a GET of the run, then its log requests): at most the pages that changed, plus one
      local per_poll, most = {}, 0
      for _, q in ipairs(emu:requests_of("GET")) do
        if q.path:match("/runs/m%-logs$") then
          per_poll[#per_poll + 1] = 0
        elseif q.path:match("/logs$") and #per_poll > 0 then
          per_poll[#per_poll] = per_poll[#per_poll] + 1
          assert.matches("per_page=50", q.query, 1, true)
        end
      end
      for _, n in ipairs(per_poll) do most = math.max(most, n) end
      assert.is_true(most <= 4, "at most 3 changed pages + the probe in a poll, got " .. most)
      assert.equal(1, per_poll[#per_poll - 1], "a poll of an unchanged log reads its last page only")
    end)

    it("exits 124 when the run does not end in time", function()
      emu:put_run({ id = "m-slow", state = "JOB_RUNNING" })
      local r = run(args("pr", "monitor", "m-slow", "--monitor_interval", "0.2", "--timeout", "1", IDS))
      assert.equal(124, r.code)
      bounds.check("monitor_end", r.elapsed - 1, "ending after --timeout 1")
    end)

    it("writes JSON Lines with -o json and logs to --log_file", function()
      local dir = cli.tmpdir()
      local r = watch("m-json", { "JOB_COMPLETED" }, { "-o", "json", "--log_file", dir .. "/run.log" })
      assert.equal(0, r.code, r.err)
      local events = {}
      for _, l in ipairs(lines(r.out)) do events[#events + 1] = cjson.decode(l) end
      assert.equal("state", events[1].event)
      assert.equal("result", events[#events].event)
      assert.equal("success", events[#events].status)
      assert.equal(0, events[#events].exit_code)
      assert.matches("step%-0: loaded 40 items", cli.slurp(dir .. "/run.log"))
    end)
  end)

  describe("-o json", function()
    it("prints the action report and the error object", function()
      local r = run(args("pr", "pause", "run-train-01", "run-etl-05", "-o", "json", IDS))
      assert.equal(7, r.code)
      local doc = cjson.decode(r.out)
      assert.equal("pause", doc.action)
      assert.equal("ok", doc.results[1].outcome)
      assert.equal("JOB_PAUSED", doc.results[1].state)
      assert.equal(64008, doc.results[1].state_code)
      assert.equal(cjson.null, doc.results[1].error)
      assert.equal("failed", doc.results[2].outcome)
      assert_error_object(doc.results[2].error)
      assert.equal(1, doc.results[2].error.exit_code)
      assert.equal(26302, doc.results[2].error.api_code)
      assert.same({ ok = 1, noop = 0, failed = 1, unknown = 0, not_sent = 0 }, doc.summary)
    end)

    it("is exactly what the library returns, encoded", function()
      local clarifai = require "clarifai"
      local ref = { user_id = "demo-user", app_id = "demo-app", pipeline_id = "hello-world-pipeline",
        pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" }
      local c = assert(clarifai.client.new({ pat = TOKEN, api_base = emu.url }))
      local ids = { "run-train-01", "run-etl-04", "run-etl-05" }
      local lib = cjson.decode(clarifai.runs.to_json(assert(clarifai.runs.apply("pause", ref, ids, { client = c }))))
      c:close()
      emu:reset()
      local out = cjson.decode(run(args("pr", "pause", ids, "-o", "json", IDS)).out)
      for _, doc in ipairs({ lib, out }) do
        for _, r in ipairs(doc.results) do
          r.req_id = nil
          if type(r.error) == "table" then
            r.error.req_id = nil
            r.error.message = r.error.message:gsub("req_id: %x+", "")
          end
        end
      end
      assert.same(lib, out)
    end)

    it("lets library callers pass a token and base, or rely on the environment's resolution", function()
      local clarifai = require "clarifai"
      local ref = { user_id = "demo-user", app_id = "demo-app", pipeline_id = "hello-world-pipeline",
        pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19", run_id = "run-train-01" }
      local r = assert(clarifai.runs.pause(ref, { pat = TOKEN, api_base = emu.url }))
      assert.equal("JOB_PAUSED", r.state)
      assert.equal(64008, r.state_code)
      assert.is_string(r.req_id)
      local again = assert(clarifai.runs.pause(ref, { pat = TOKEN, api_base = emu.url }))
      assert.equal("noop", again.outcome)
      local none, message, err = clarifai.runs.resume({ user_id = "demo-user", app_id = "demo-app",
        pipeline_id = "hello-world-pipeline", pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19",
        run_id = "run-etl-05" }, { pat = TOKEN, api_base = emu.url })
      assert.is_nil(none)
      assert.equal(err.message, message)
      assert.equal("api", err.kind)
      assert.equal(1, err.exit_code)
      assert.equal(400, err.http_status)
      assert.equal(26302, err.api_code)
      assert.equal("PIPELINE_INVALID_REQUEST", err.api_name)
      assert.is_string(err.req_id)
      local _, _, uerr = clarifai.runs.pause({ run_id = "x" }, { pat = TOKEN, api_base = emu.url, lockfile = false })
      assert.equal("usage", uerr.kind)
      assert.equal(2, uerr.exit_code)
    end)

    it("prints one JSON error line on stderr for a failure", function()
      local r = run(args("pr", "pause", "run-etl-05", "-o", "json", IDS))
      assert.equal(1, r.code)
      local err = cjson.decode(r.err)
      assert_error_object(err.error)
      local u = run(args("pr", "status", "-o", "json", IDS))
      assert.equal(2, u.code)
      assert_error_object(cjson.decode(u.err).error)
    end)

    it("gives status its runs", function()
      local doc = cjson.decode(run(args("pr", "status", "run-train-01", "run-etl-04", "-o", "json", IDS)).out)
      assert.equal(2, #doc.runs)
      assert.equal("run-train-01", doc.runs[1].id)
      assert.equal(64008, doc.runs[2].orchestration_status.status.code)
    end)

    it("describes the transition table", function()
      local doc = cjson.decode(run({ "pr", "transitions", "-o", "json" }).out)
      assert.equal("pause", doc.transitions[1].action)
      assert.same({ "JOB_QUEUED", "JOB_RUNNING" }, doc.transitions[1].from)
      assert.equal("JOB_PAUSED", doc.transitions[1].to)
      local text = run({ "pr", "transitions" }).out
      assert.matches("resume%s+Paused%s+Running", text)
    end)
  end)

  describe("--dry-run", function()
    it("prints the exact requests, redacted, and sends nothing, without credentials", function()
      local r = run(args("pr", "cancel", "run-train-01", "run-train-02", "--dry-run", IDS),
        { unset = { "CLARIFAI_PAT" } })
      assert.equal(0, r.code, r.err)
      assert.matches("PATCH " .. emu.url .. "/v2/users/demo-user/apps/demo-app/pipelines/hello-world-pipeline"
        .. "/versions/8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19/runs\n", r.out, 1, true)
      assert.matches("Authorization: Key ********", r.out, 1, true)
      assert.matches('{"action":"overwrite","pipeline_version_runs":[{"id":"run-train-02",'
        .. '"orchestration_status":{"status":{"code":"JOB_CANCELLED"}}}]}', r.out, 1, true)
      assert.equal(0, #emu:requests())
      local j = run(args("pr", "pause", "run-train-01", "--dry-run", "-o", "json", IDS))
      local doc = cjson.decode(j.out)
      assert.is_true(doc.dry_run)
      assert.equal("PATCH", doc.requests[1].method)
      assert.equal("Key ********", doc.requests[1].headers.Authorization)
      assert.equal("JOB_PAUSED", doc.requests[1].body.pipeline_version_runs[1].orchestration_status.status.code)
      assert.equal(0, #emu:requests())
    end)
  end)

  describe("completion", function()
    it("loads in bash and names the commands", function()
      for _, shell in ipairs({ "bash", "zsh", "fish" }) do
        local r = run({ "completion", shell })
        assert.equal(0, r.code)
        assert.matches("pipelinerun", r.out, 1, true)
      end
      local script = os.tmpname()
      cli.write(script, run({ "completion", "bash" }).out)
      local ok = os.execute("bash -c 'source " .. script .. " && complete -p clarifai' >/dev/null 2>&1")
      os.remove(script)
      assert.is_true(ok)
    end)
  end)

  describe("user workflows", function()
    local function context_home()
      local home = cli.tmpdir()
      os.execute("mkdir -p " .. cli.quote(home .. "/.config/clarifai"))
      local path = home .. "/.config/clarifai/config"
      cli.write(path, "contexts:\n  emu:\n    CLARIFAI_API_BASE: " .. emu.url .. "\n    CLARIFAI_PAT: " .. TOKEN
        .. "\ncurrent_context: emu\n")
      os.execute("chmod 600 " .. cli.quote(path))
      return home
    end
    local function script_path(path, extra)
      return run(args("script", path, extra or {}),
        { home = context_home(), unset = { "CLARIFAI_PAT", "CLARIFAI_API_BASE" } })
    end
    local function script(name, extra)
      return script_path(cli.root .. "/examples/" .. name, extra)
    end

    it("pauses every running run and waits for them", function()
      local r = script("pause_running_and_wait.lua", POSITIONAL_IDS)
      assert.equal(0, r.code, r.err)
      assert.matches("2 of 2 running runs paused.", r.out, 1, true)
      assert.equal(64008, state("run-train-01"))
      assert.equal(64008, state("run-train-02"))
    end)

    it("cancels runs queued for longer than N minutes", function()
      emu:put_run({ id = "stale-q", state = "JOB_QUEUED", created_at = os.time() - 3600 })
      emu:put_run({ id = "fresh-q", state = "JOB_QUEUED", created_at = os.time() - 10 })
      local r = script("cancel_stale_queued.lua", args("30", POSITIONAL_IDS))
      assert.equal(0, r.code, r.err)
      assert.matches("stale%-q%s+cancelled", r.out)
      assert.equal(64004, state("stale-q"))
      assert.equal(64000, state("fresh-q"))
    end)

    it("resumes every paused run and reports", function()
      run(args("pr", "pause", "run-train-01", IDS))
      local r = script("resume_paused.lua", POSITIONAL_IDS)
      assert.equal(0, r.code, r.err)
      assert.matches("2 resumed, 0 failed.", r.out, 1, true)
      assert.equal(64001, state("run-etl-04"))
    end)

    it("runs the README's Lua API example", function()
      local readme = cli.slurp(cli.root .. "/README.md")
      local code = readme:match("## The Lua API\n.-\n```lua\n(.-)```")
      assert.is_string(code, "README has a Lua API example")
      local dir = cli.tmpdir()
      cli.write(dir .. "/example.lua", code)
      local r = script_path(dir .. "/example.lua")
      assert.equal(0, r.code, r.err)
      assert.matches("^run%-train%-01\tJOB_PAUSED\t64008\t%x+\n", r.out)
      assert.matches("\nrun%-train%-02\treached\tJOB_PAUSED\n", r.out)
      -- under plain lua5.4 a failing assert(...) prints the error's message, not "(error object is a table value)"
      local plain = dir .. "/plain.lua"
      cli.write(plain, 'package.path = "' .. cli.root .. '/lua/?.lua;' .. cli.root .. '/lua/?/init.lua;" .. package.path\n'
        .. 'package.cpath = "' .. cli.root .. '/build/?.so;" .. package.cpath\n' .. code)
      local p = io.popen(string.format("cd %s && env -u LD_PRELOAD HOME=%s CLARIFAI_API_BASE=%s CLARIFAI_PAT=wrong-token "
        .. "lua5.4 %s 2>&1; echo \"rc=$?\"", cli.quote(dir), cli.quote(dir), cli.quote(emu.url), cli.quote(plain)))
      local out = p:read("*a")
      p:close()
      assert.matches("lua5.4: [^\n]*plain%.lua:%d+: Failed to list pipeline version runs: API key not found", out)
      assert.is_nil(out:find("error object is a", 1, true))
      assert.matches("rc=1", out, 1, true)
    end)

    it("reports a script's error table like a command's, without a traceback", function()
      local dir = cli.tmpdir()
      -- a script's assert raises the error table it is given third: the exit code is the error's
      cli.write(dir .. "/bad.lua", 'local c = require "clarifai"\n'
        .. 'assert(c.runs.pause({ run_id = "x", user_id = "demo-user", app_id = "demo-app",'
        .. ' pipeline_id = "hello-world-pipeline", pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" }))\n')
      local r = run({ "script", dir .. "/bad.lua" }, { home = context_home(), unset = { "CLARIFAI_PAT" } })
      assert.equal(1, r.code)
      assert.matches("^Error: Failed to patch pipeline version run: Resource does not exist%. Details: pipeline "
        .. "version run x not found%. Code: CONN_DOES_NOT_EXIST%. %(req_id: %x+%)\n$", r.err)
      cli.write(dir .. "/usage.lua", 'assert(require("clarifai").runs.pause({ run_id = "x" }, { lockfile = false }))\n')
      local u = run({ "script", dir .. "/usage.lua" }, { home = context_home(), unset = { "CLARIFAI_PAT" } })
      assert.equal(2, u.code)
      assert.matches("\nError: Missing required parameters.", u.err, 1, true)
      cli.write(dir .. "/down.lua", 'local c = require "clarifai"\n'
        .. 'local cl = assert(c.client.new({ pat = "p", api_base = "http://127.0.0.1:1", connect_timeout = 2 }))\n'
        .. 'assert(c.runs.pause({ run_id = "x", user_id = "u", app_id = "a", pipeline_id = "p",'
        .. ' pipeline_version_id = "v" }, { client = cl }))\n')
      local d = run({ "script", dir .. "/down.lua" })
      assert.equal(5, d.code, d.err)
      -- a plain message (not an error table) still ends the script with exit 1
      cli.write(dir .. "/plain.lua", 'assert(false, "nope")\n')
      local p = run({ "script", dir .. "/plain.lua" })
      assert.equal(1, p.code)
      assert.matches("plain%.lua:1: nope", p.err)
      cli.write(dir .. "/args.lua", 'print(arg[0], arg[1], arg[2], select("#", ...))\n')
      local a = run({ "script", dir .. "/args.lua", "--x", "y" })
      assert.equal(dir .. "/args.lua\t--x\ty\t2\n", a.out)
    end)
  end)

  describe("beside the Python CLI", function()
    it("hands unknown commands to CLARIFAI_PYTHON_CLI with the same arguments", function()
      local dir = cli.tmpdir()
      cli.write(dir .. "/py-clarifai", "#!/bin/sh\necho \"python cli: $*\"\nexit 3\n")
      os.execute("chmod +x " .. cli.quote(dir .. "/py-clarifai"))
      local r = run({ "--context", "x", "login", "--pat", "abc" }, { env = { CLARIFAI_PYTHON_CLI = dir .. "/py-clarifai" } })
      assert.equal(3, r.code)
      assert.equal("python cli: --context x login --pat abc\n", r.out)
    end)

    it("finds another clarifai later on PATH, and not itself", function()
      local dir = cli.tmpdir()
      os.execute("mkdir -p " .. cli.quote(dir .. "/a") .. " " .. cli.quote(dir .. "/b"))
      os.execute("ln -s " .. cli.quote(cli.bin) .. " " .. cli.quote(dir .. "/a/clarifai"))
      -- shaped like the console script pip writes for the Python CLI
      cli.write(dir .. "/b/clarifai", "#!/bin/sh\n# from clarifai.cli.base import main\necho \"python: $*\"\n")
      os.execute("chmod +x " .. cli.quote(dir .. "/b/clarifai"))
      local r = run({ "model", "list" }, { env = { PATH = dir .. "/a:" .. dir .. "/b:/usr/bin:/bin" } })
      assert.equal(0, r.code, r.err)
      assert.equal("python: model list\n", r.out)
    end)

    it("exits 2 listing its commands when there is no Python CLI", function()
      local r = run({ "login" }, { env = { PATH = "/usr/bin:/bin" } })
      assert.equal(2, r.code)
      assert.matches("'login' is not a command of this tool", r.err, 1, true)
      assert.matches("pipelinerun (pr)", r.err, 1, true)
    end)
  end)
end)
