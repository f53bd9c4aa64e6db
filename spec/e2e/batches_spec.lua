-- Batches users can trust, end to end against the emulator: every run ends in
-- one true outcome, a signal stops a batch with a complete record, lines
-- stream as runs finish, -o jsonl, nothing-to-do input, duplicate ids, and
-- ids that cannot leave their path segment.

local bounds = require "support.bounds"
local cli = require "support.cli"
local emulator = require "support.emulator"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_77b1e0c4aa"
local IDS = cli.IDS
local args = cli.args

local lines, count = cli.lines, cli.count
local emu
local run, _, start = cli.runner(function() return emu.url end, TOKEN)
local function patched_ids() return emu:patched_ids() end

local function id_list(prefix, n)
  local t = {}
  for i = 1, n do t[i] = prefix .. i end
  return t
end

describe("batches", function()
  emu = emulator.fixture({ tick = 0, token = TOKEN })

  -- A 3,000-run batch against a server that delays every PATCH, stopped by
  -- a signal: the record must be complete and true.
  local function stopped_batch(sig, expect_code)
    local n = 3000
    emu:put_runs("b", n)
    emu:fault({ kind = "delay", seconds = 0.25, method = "PATCH", times = 100000 })
    local p = cli.spawn(args("pr", "pause", "-", IDS), {
      env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN },
      stdin = table.concat(id_list("b", n), "\n") .. "\n",
    })
    -- stop it mid-way, however long the machine takes to get going
    emu:await_requests("PATCH", 16)
    os.execute("sleep 0.5")
    p:kill(sig)
    local code, took = p:wait(20)
    local out, err = p:out(), p:err()
    p:close()
    assert.equal(expect_code, code, err:sub(-2000))
    bounds.check("signal_exit", took, "the exit after the signal")
    assert.is_nil((out .. err):find(TOKEN, 1, true))

    local seen, ok, unknown, not_sent = {}, {}, {}, {}
    for _, l in ipairs(lines(out)) do
      local id = l:match("^Pipeline version run (%S+) has been paused%.$")
      assert.is_string(id, "unexpected stdout line: " .. l)
      ok[#ok + 1] = id
      seen[id] = (seen[id] or 0) + 1
    end
    for _, l in ipairs(lines(err)) do
      local id = l:match("^not sent: (%S+)$")
      if id then not_sent[#not_sent + 1] = id end
      local u = l:match("^unknown: (%S+)$")
      if u then unknown[#unknown + 1] = u end
      id = id or u
      if id then seen[id] = (seen[id] or 0) + 1 end
    end
    -- every id exactly once
    assert.equal(n, count(seen))
    for id, times in pairs(seen) do assert.equal(1, times, id .. " reported " .. times .. " times") end
    assert.equal(n, #ok + #not_sent + #unknown)
    -- unknown only for runs that were in flight
    assert.is_true(#unknown <= 8, #unknown .. " unknown")
    assert.is_true(#ok > 0 and #not_sent > 2000)
    -- not sent means not sent; ok means changed on the server
    local patched = patched_ids()
    for _, id in ipairs(not_sent) do assert.is_nil(patched[id], id .. " was sent") end
    for _, id in ipairs(unknown) do assert.is_not_nil(patched[id], id .. " unknown but never sent") end
    for _, id in ipairs(ok) do
      assert.equal(64008, emu:get_run(id).orchestration_status.status.code, id)
    end
    -- the summary and how to send the rest, with the user's own id flags
    local summary = string.format("%d paused", #ok)
    if #unknown > 0 then summary = summary .. ", " .. #unknown .. " unknown" end
    summary = summary .. ", " .. #not_sent .. " not sent"
    assert.matches("\n" .. summary .. "\n", err, 1, true)
    assert.matches("nothing more was sent", err, 1, true)
    assert.matches("| clarifai pr pause - --user_id=demo-user --app_id=demo-app --pipeline_id=hello-world-pipeline "
      .. "--pipeline_version_id=8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19", err, 1, true)
    return ok, not_sent, unknown
  end

  it("stopped by SIGINT: every id once, true outcomes, exit 130 within 1.5 s", function()
    stopped_batch("INT", 130)
  end)

  it("stopped by SIGTERM: the same record, exit 143", function()
    local _, not_sent = stopped_batch("TERM", 143)
    assert.is_true(#not_sent > 0)
  end)

  it("stopped by SIGHUP: exit 129; -o json still prints the whole document", function()
    emu:put_runs("h", 100)
    emu:fault({ kind = "delay", seconds = 0.3, method = "PATCH", times = 1000 })
    local p = cli.spawn(args("pr", "pause", id_list("h", 100), "-o", "json", IDS),
      { env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN } })
    emu:await_requests("PATCH", 8)
    p:kill("HUP")
    local code = p:wait(10)
    local doc = cjson.decode(p:out())
    local err = p:err()
    p:close()
    assert.equal(129, code)
    assert.equal(100, #doc.results)
    local s = doc.summary
    assert.equal(100, s.ok + s.noop + s.failed + s.unknown + s.not_sent)
    assert.is_true(s.not_sent > 20, s.not_sent .. " not sent") -- more than the hint lists inline
    for i, r in ipairs(doc.results) do
      assert.equal("h" .. i, r.run_id, "input order")
      if r.outcome == "not_sent" then assert.equal("not_sent", r.error.kind) end
    end
    assert.matches("Stopped by SIGHUP", err, 1, true)
    assert.matches("jq -r", err, 1, true)
  end)

  it("a signal wins over a stdout nobody reads: exit 143 within 1.5 s, the unwritten rest in a 0600 file", function()
    local n = 3000
    emu:put_runs("w", n)
    local p = cli.spawn(args("pr", "pause", "-", "--parallel", "64", IDS), {
      env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN },
      stdin = table.concat(id_list("w", n), "\n") .. "\n",
      blocked_stdout = true,
    })
    -- once the pipe is full the batch stops sending: wait for that, however
    -- long the machine takes to get there
    local last, still = -1, 0
    emu:await("the batch to stop sending once the pipe is full", function()
      os.execute("sleep 0.1")
      local sent = emu:count("PATCH")
      if sent > 0 and sent == last then still = still + 1 else still = 0 end
      last = sent
      return still >= 3
    end)
    p:kill("TERM")
    local code, took = p:wait(20)
    local err, piped = p:err(), p:drain()
    p:close()
    assert.equal(143, code, err:sub(-2000))
    bounds.check("signal_exit", took, "the exit after the signal")
    local path = err:match("clarifai: what could not be written to stdout within the grace is in (%S+)\n")
    assert.is_string(path, err:sub(-2000))
    local saved = cli.slurp(path)
    local mode = io.popen("stat -c %a " .. cli.quote(path)):read("*l")
    os.remove(path)
    assert.equal("600", mode)
    assert.is_true(#saved > 0)
    -- every id once: in the pipe, in the file, or on stderr (not sent, unknown)
    local seen = {}
    for _, l in ipairs(lines(piped .. saved)) do
      local id = l:match("^Pipeline version run (%S+) has been paused%.$")
      if id then seen[id] = (seen[id] or 0) + 1 end
    end
    for _, l in ipairs(lines(err)) do
      local id = l:match("^not sent: (%S+)$") or l:match("^unknown: (%S+)$")
      if id then seen[id] = (seen[id] or 0) + 1 end
    end
    assert.equal(n, count(seen))
    for id, times in pairs(seen) do assert.equal(1, times, id) end
  end)

  describe("a reader that goes away", function()
    -- Runs `clarifai ARGV < stdin | READER` in bash in the background
    -- (READER: a shell command on the pipe's read end that touches
    -- $D/gone once it holds that end no more), with TMPDIR a fresh
    -- directory. -> a handle: :gone(), :done(), and :result() -> { code =
    -- the command's own exit status, err, piped = what READER kept in
    -- $D/piped, dir }.
    local function piped(argv, stdin, reader)
      local dir = cli.tmpdir()
      cli.write(dir .. "/stdin", stdin or "")
      local script = string.format("D=%s; TMPDIR=$D CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s setsid -w %s <$D/stdin "
        .. "2>$D/err | %s; echo \"${PIPESTATUS[0]}\" > $D/rc.tmp; mv $D/rc.tmp $D/rc", cli.quote(dir),
        cli.quote(emu.url), cli.quote(TOKEN), cli.command_line(argv), reader)
      os.execute("bash -c " .. cli.quote(script) .. " >/dev/null 2>&1 &")
      local h = { dir = dir }
      function h.gone() return io.open(dir .. "/gone") ~= nil end
      function h.done() return cli.slurp(dir .. "/rc"):match("%d+") ~= nil end
      function h.result()
        bounds.await("the command's exit", h.done)
        return { code = tonumber(cli.slurp(dir .. "/rc"):match("%d+")), err = cli.slurp(dir .. "/err"),
          piped = cli.slurp(dir .. "/piped"), dir = dir }
      end
      return h
    end

    it("list --all | head -1 over 3,000 runs: one line out, nothing on stderr, exit 141", function()
      emu:put_runs("l", 3000)
      local r = piped(args("pr", "list", "--all", IDS), "", "(head -1 > $D/piped; touch $D/gone)").result()
      assert.equal(141, r.code, r.err)
      assert.equal("", r.err)
      assert.equal(1, #lines(r.piped))
      assert.matches("^ID%s", r.piped)
      assert.equal(24, emu:count("GET"), "every page was read (3,000 runs in pages of 128)")
      assert.equal("err\ngone\npiped\nrc\nstdin\n", io.popen("ls " .. cli.quote(r.dir)):read("*a"), "no saved output")
    end)

    -- What a change whose reader went away leaves: the saved file (0600)
    -- named in one line of stderr, and every run's result once, in the
    -- pipe's line, in that file or on stderr.
    local function accounted(r, n)
      assert.equal(141, r.code, r.err:sub(-2000))
      assert.is_nil(r.err:find("Error:", 1, true), r.err:sub(-2000))
      local notes = {}
      for _, l in ipairs(lines(r.err)) do
        if l:find("went away", 1, true) then notes[#notes + 1] = l end
      end
      assert.equal(1, #notes, r.err:sub(-2000))
      local path = notes[1]:match("^Stopped: the reader of standard output went away: nothing more was sent; "
        .. "what it did not take is in (%S+)$")
      assert.is_string(path, notes[1])
      assert.equal(r.dir, path:match("^(.*)/clarifai%-stdout%-[^/]+$"), "in $TMPDIR")
      assert.equal("600", io.popen("stat -c %a " .. cli.quote(path)):read("*l"))
      local saved = cli.slurp(path)
      local seen, in_file = {}, 0
      for _, l in ipairs(lines(r.piped .. saved)) do
        local id = l:match("^Pipeline version run (%S+) has been paused%.$")
        assert.is_string(id, "not a result line: " .. l)
        seen[id] = (seen[id] or 0) + 1
      end
      for _ in saved:gmatch("[^\n]+") do in_file = in_file + 1 end
      for _, l in ipairs(lines(r.err)) do
        local id = l:match("^not sent: (%S+)$") or l:match("^unknown: (%S+)$")
        if id then seen[id] = (seen[id] or 0) + 1 end
      end
      assert.equal(n, count(seen))
      for id, times in pairs(seen) do assert.equal(1, times, id) end
      -- what was sent is what the server saw, and nothing after the stop
      assert.is_true(count(patched_ids()) < 100, count(patched_ids()) .. " runs sent")
      return in_file
    end

    it("pause - | head -1 of 3,000 ids: the results it did not take in a 0600 file, one line on stderr, exit 141",
      function()
        local n = 3000
        emu:put_runs("g", n)
        -- the first PATCH is answered at once; the others wait for the clock,
        -- so the first line is alone in the pipe when head reads it
        emu:fault({ { kind = "delay", seconds = 0, method = "PATCH", times = 1 },
          { kind = "delay", clock = true, seconds = 1, method = "PATCH", times = 100000 } })
        local h = piped(args("pr", "pause", "-", IDS), table.concat(id_list("g", n), "\n") .. "\n",
          "(head -1 > $D/piped; exec 0<&-; touch $D/gone)")
        bounds.await("head's exit", h.gone)
        emu:clear_faults()
        emu:advance(1) -- the PATCHes in flight are answered: their lines meet a pipe nobody reads
        local r = h.result()
        assert.equal(1, #lines(r.piped))
        assert.is_true(accounted(r, n) >= 7, "the results of the runs in flight are in the file")
      end)

    it("a reader that leaves lines in the pipe: those lines are saved too", function()
      local n = 3000
      emu:put_runs("k", n)
      -- the first 8 PATCHes are answered at once, the others wait for the clock
      emu:fault({ { kind = "delay", seconds = 0, method = "PATCH", times = 8 },
        { kind = "delay", clock = true, seconds = 1, method = "PATCH", times = 100000 } })
      -- bash's read takes one line, byte by byte; the reader closes the pipe
      -- when told, leaving the other lines in it
      local h = piped(args("pr", "pause", "-", IDS), table.concat(id_list("k", n), "\n") .. "\n",
        "(IFS= read -r line; printf '%s\\n' \"$line\" > $D/piped; until [ -e $D/go ]; do sleep 0.01; done; "
        .. "exec 0<&-; touch $D/gone)")
      -- a run's slot is refilled only after its line was written: 16 PATCHes
      -- mean the first 8 lines are in the pipe
      emu:await_requests("PATCH", 16)
      cli.write(h.dir .. "/go", "")
      bounds.await("the reader's exit", h.gone)
      emu:clear_faults()
      emu:advance(1)
      local r = h.result()
      assert.equal(1, #lines(r.piped))
      assert.is_true(accounted(r, n) >= 15, "the 7 lines left in the pipe and the 8 in flight are in the file")
    end)
  end)

  it("prints each run's line as it finishes, not at the end #portable", function()
    emu:put_runs("s", 6)
    emu:fault({ kind = "delay", seconds = 0.4, method = "PATCH", times = 6 })
    -- timestamp every stdout line as it arrives through a pipe
    local script = string.format([[
      CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s setsid -w %s %s pr pause s1 s2 s3 s4 s5 s6 --parallel 2 %s 2>/dev/null |
      while IFS= read -r line; do echo "$(date +%%s.%%N) $line"; done
      echo "end $(date +%%s.%%N)"]], cli.quote(emu.url), cli.quote(TOKEN), cli.lua, cli.quote(cli.bin),
      table.concat(IDS, " "))
    local p = io.popen("bash -c " .. cli.quote(script))
    local got = p:read("*a")
    p:close()
    local stamps = {}
    for t in got:gmatch("(%d+%.%d+) Pipeline version run") do stamps[#stamps + 1] = tonumber(t) end
    local finish = tonumber(got:match("end (%d+%.%d+)"))
    assert.equal(6, #stamps, got)
    assert.is_true(finish - stamps[1] > 0.6, "the first line came at the end: " .. got)
  end)

  it("-o jsonl: one object per run as it finishes, with its input index, then the summary #portable", function()
    local r = run(args("pr", "pause", "run-train-01", "run-etl-05", "run-etl-04", "-o", "jsonl", IDS))
    assert.equal(7, r.code)
    local objs = {}
    for _, l in ipairs(lines(r.out)) do objs[#objs + 1] = cjson.decode(l) end
    assert.equal(4, #objs)
    assert.same({ summary = { ok = 1, noop = 1, failed = 1, unknown = 0, not_sent = 0 } }, objs[4])
    local by = {}
    for i = 1, 3 do by[objs[i].run_id] = objs[i] end
    assert.equal(1, by["run-train-01"].index)
    assert.equal("ok", by["run-train-01"].outcome)
    assert.equal("JOB_PAUSED", by["run-train-01"].state)
    assert.equal(2, by["run-etl-05"].index)
    assert.equal("failed", by["run-etl-05"].outcome)
    assert.equal(26302, by["run-etl-05"].error.api_code)
    assert.equal(3, by["run-etl-04"].index)
    assert.equal("noop", by["run-etl-04"].outcome)
    assert.equal("", r.err:gsub("Error:[^\n]*\n", ""), "no text lines on stderr in jsonl mode")
  end)

  it("monitor -o jsonl is the JSON Lines stream (-o json stays accepted)", function()
    emu:put_run({ id = "m1", state = "JOB_RUNNING", script = { { after = 10, state = "JOB_COMPLETED" } } })
    for _, fmt in ipairs({ "jsonl", "json" }) do
      local p = start(args("pr", "monitor", "m1", "--monitor_interval", "0.1", "-o", fmt, IDS))
      if fmt == "jsonl" then
        emu:await_requests("GET", 1) -- seen Running, then it completes
        emu:advance(10)
      end
      local r = p:finish()
      assert.equal(0, r.code, r.err)
      local last
      for _, l in ipairs(lines(r.out)) do last = cjson.decode(l) end
      assert.equal("result", last.event)
      assert.equal("success", last.status)
    end
  end)

  describe("input", function()
    it("an empty `-` is nothing to do: exit 0, nothing sent, one note", function()
      local r = run(args("pr", "pause", "-", IDS), { stdin = "" })
      assert.equal(0, r.code)
      assert.equal("", r.out)
      assert.equal("no run ids on standard input: nothing to do\n", r.err)
      assert.equal(0, #emu:requests())
      local blank = run(args("pr", "cancel", "-", IDS), { stdin = "\n  \n# nothing running\n" })
      assert.equal(0, blank.code)
      assert.equal(0, #emu:requests())
    end)

    it("the README's pipeline exits 0 when nothing is running", function()
      emu:reset(false)
      local script = string.format("CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s %s %s pr list --status running -o ids %s"
        .. " | CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s setsid -w %s %s pr pause - %s; echo \"rc=$?\"",
        cli.quote(emu.url), cli.quote(TOKEN), cli.lua, cli.quote(cli.bin), table.concat(IDS, " "),
        cli.quote(emu.url), cli.quote(TOKEN), cli.lua, cli.quote(cli.bin), table.concat(IDS, " "))
      local p = io.popen("sh -c " .. cli.quote(script) .. " 2>&1")
      local out = p:read("*a")
      p:close()
      assert.matches("rc=0", out, 1, true)
      assert.matches("nothing to do", out, 1, true)
    end)

    it("skips blank lines and # comments on stdin; sends a duplicate id once and reports it once #portable", function()
      local r = run(args("pr", "pause", "-", "run-train-01", IDS),
        { stdin = "# paused by cron\n\nrun-train-01\n  run-train-02 run-train-01\n#run-eval-03\n" })
      assert.equal(0, r.code, r.err)
      assert.equal(2, #lines(r.out))
      assert.equal("2 paused\n", r.err)
      assert.same({ ["run-train-01"] = 1, ["run-train-02"] = 1 }, patched_ids())
    end)

    it("asks before cancelling ids read from stdin, on the terminal", function()
      local function on_tty(answer)
        local cmd = string.format("printf 'run-train-01\\nrun-train-02\\n' | %s %s pr cancel - %s",
          cli.lua, cli.quote(cli.bin), table.concat(IDS, " "))
        return cli.on_tty(cmd, answer, { CLARIFAI_PAT = TOKEN, CLARIFAI_API_BASE = emu.url })
      end
      local no = on_tty("n")
      assert.matches("Cancel 2 runs (run-train-01, run-train-02)? Cancelled runs cannot be resumed. [y/N]", no, 1, true)
      assert.matches("Error: declined at the prompt; nothing was sent", no, 1, true)
      assert.matches("rc=8", no, 1, true)
      assert.equal(0, count(patched_ids()))
      local yes = on_tty("y")
      assert.matches("2 cancelled", yes, 1, true)
      assert.equal(2, count(patched_ids()))
    end)

    it("accepts -y on pause and resume too", function()
      assert.equal(0, run(args("pr", "pause", "run-train-01", "-y", IDS)).code)
      assert.equal(0, run(args("pr", "resume", "run-train-01", "--yes", IDS)).code)
    end)
  end)

  describe("ids stay in their path segment #portable", function()
    local bad = { ".", "..", "a/b", "x?y", "x#y", "50%", "a b", "tab\there", "bell\7", "caf\233", "" }
    it("refuses a bad run id from arguments, stdin and the flag (exit 2, nothing sent)", function()
      for _, id in ipairs(bad) do
        local r = run(args("pr", "status", id, IDS))
        assert.equal(2, r.code, "accepted " .. id)
        assert.matches("invalid pipeline_version_run_id", r.err, 1, true)
        assert.matches("(from argument 1)", r.err, 1, true)
      end
      local s = run(args("pr", "pause", "-", IDS), { stdin = "run-train-01\n../x\n" })
      assert.equal(2, s.code)
      assert.matches("invalid pipeline_version_run_id '../x' (from standard input line 2): it contains '/'",
        s.err, 1, true)
      local f = run(args("pr", "history", "--pipeline_version_run_id", "..", IDS))
      assert.equal(2, f.code)
      assert.matches("'..' (from --pipeline_version_run_id)", f.err, 1, true)
      assert.equal(0, #emu:requests())
    end)

    it("refuses a bad scope id from a flag or the lockfile", function()
      local r = run({ "pr", "pause", "run-train-01", "--user_id", "..", "--app_id", "demo-app", "--pipeline_id",
        "hello-world-pipeline", "--pipeline_version_id", "v1" })
      assert.equal(2, r.code)
      assert.matches("invalid user_id '..' (from --user_id)", r.err, 1, true)
      local dir = cli.tmpdir()
      cli.write(dir .. "/config-lock.yaml", "pipeline:\n  id: hello world\n  user_id: demo-user\n"
        .. "  app_id: demo-app\n  version_id: v1\n")
      local l = run({ "pr", "pause", "run-train-01" }, { cwd = dir })
      assert.equal(2, l.code)
      assert.matches("invalid pipeline_id 'hello world' (from config-lock.yaml pipeline.id)", l.err, 1, true)
      assert.equal(0, #emu:requests())
    end)

    it("passes real ids and percent-encodes the rest; --verbose shows the bytes sent", function()
      emu:put_run({ id = "a1b2c3d4e5f6", user_id = "me+you", app_id = "app_1", pipeline_id = "p-1",
        pipeline_version_id = "v1.2", state = "JOB_RUNNING" })
      local r = run({ "-v", "pr", "pause", "a1b2c3d4e5f6", "--user_id", "me+you", "--app_id", "app_1",
        "--pipeline_id", "p-1", "--pipeline_version_id", "v1.2" })
      assert.equal(0, r.code, r.err)
      local req = emu:requests()[1]
      local shown = r.err:match("> PATCH http://[^/]+(%S+)")
      assert.equal("/v2/users/me%2Byou/apps/app_1/pipelines/p-1/versions/v1.2/runs", shown)
      assert.equal(shown, req.path, "what --verbose shows is what reached the server")
    end)
  end)
end)
