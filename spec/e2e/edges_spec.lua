-- The second round of what users found at the edges: output that is lost,
-- limits checked at the boundary, a declined prompt, a Python CLI that is
-- this tool, ids that cannot round-trip, invisible characters, NO_COLOR and
-- narrow terminals, stops that read the same in every format, hints that
-- name real files, library argument errors, and the smaller request rules.

local bounds = require "support.bounds"
local cli = require "support.cli"
local emulator = require "support.emulator"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_e4d9b27c10"
local IDS = cli.IDS
local args = cli.args
local lines = cli.lines
local emu
local run = cli.runner(function() return emu.url end, TOKEN)
local REF = { user_id = "demo-user", app_id = "demo-app", pipeline_id = "hello-world-pipeline",
  pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" }

local function requests(method) return emu:requests_of(method) end

-- Runs a shell command line on a pseudo-terminal of `cols` columns, with
-- the token and the emulator's address.
local function on_pty(command, env, cols)
  local all = { CLARIFAI_PAT = TOKEN, CLARIFAI_API_BASE = emu.url, TERM = "xterm" }
  for k, v in pairs(env or {}) do all[k] = v end
  return cli.pty(command, all, cols)
end

local clarifai_line = cli.command_line

describe("at the edges", function()
  emu = emulator.fixture({ tick = 0, token = TOKEN })

  it("every command that prints fails with exit 74 and one line when stdout is lost", function()
    emu:put_run({ id = "m1", state = "JOB_COMPLETED" })
    local cases = {
      args("pr", "status", "run-train-01", IDS), args("pr", "list", IDS), args("pr", "history", "run-train-01", IDS),
      { "pr", "transitions" }, { "pr", "transitions", "-o", "json" }, { "--help" }, { "pr", "pause", "--help" },
      { "completion", "bash" }, { "--version" }, args("pr", "monitor", "m1", IDS),
      args("pr", "status", "run-train-01", "-o", "json", IDS),
    }
    for _, argv in ipairs(cases) do
      local script = string.format("CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s %s 2>&1 > /dev/full; echo \"rc=$?\"",
        cli.quote(emu.url), cli.quote(TOKEN), clarifai_line(argv))
      local p = io.popen("sh -c " .. cli.quote(script))
      local out = p:read("*a")
      p:close()
      local what = table.concat(argv, " ")
      assert.matches("rc=74\n$", out, nil, what .. ": " .. out)
      assert.equal(2, #lines(out), what .. ": " .. out)
      assert.matches("^Error: cannot write to standard output %(No space left on device%)\n", out)
    end
  end)

  it("every command that only reads exits quietly with 141 when the reader of its stdout has gone", function()
    emu:put_run({ id = "m1", state = "JOB_COMPLETED" })
    local cases = {
      args("pr", "status", "run-train-01", IDS), args("pr", "list", IDS), args("pr", "list", "--all", IDS),
      args("pr", "history", "run-train-01", IDS), { "pr", "transitions" }, { "pr", "transitions", "-o", "json" },
      { "--help" }, { "pr", "pause", "--help" }, { "completion", "bash" }, { "--version" },
      args("pr", "monitor", "m1", IDS), args("pr", "monitor", "m1", "-o", "jsonl", IDS),
      args("pr", "status", "run-train-01", "-o", "json", IDS), args("pr", "pause", "run-train-01", "--dry-run", IDS),
      args("pr", "pause", "--all", "--dry-run", IDS), args("pr", "cancel", "--all", "--dry-run", "-o", "ids", IDS),
    }
    local dir = cli.tmpdir()
    for _, argv in ipairs(cases) do
      -- a pipe whose reader has gone before the command starts: the FIFO is
      -- opened read-write (so the write end's open does not wait), then
      -- that last reader is closed
      local script = string.format("mkfifo %s/p && exec 4<>%s/p 5>%s/p 4<&- && TMPDIR=%s CLARIFAI_API_BASE=%s "
        .. "CLARIFAI_PAT=%s %s >&5 5>&- 2>%s/err; echo \"rc=$?\"; rm -f %s/p", dir, dir, dir, cli.quote(dir),
        cli.quote(emu.url), cli.quote(TOKEN), clarifai_line(argv), dir, dir)
      local p = io.popen("bash -c " .. cli.quote(script))
      local out = p:read("*a")
      p:close()
      local what = table.concat(argv, " ")
      assert.equal("rc=141\n", out, what)
      assert.equal("", cli.slurp(dir .. "/err"), what)
    end
    assert.equal("err\n", io.popen("ls " .. dir):read("*a"), "a command that only reads saves nothing")
  end)

  it("takes a duration with units wherever a time is given; a bare number is seconds", function()
    local r = run(args("pr", "pause", "run-train-01", "--wait", "--timeout", "5m", "--interval", "500ms",
      "--connect-timeout", "10s", "--request-timeout", "1m", "--deadline", "2m", IDS))
    assert.equal(0, r.code, r.err)
    local m = run(args("pr", "monitor", "run-etl-05", "--timeout", "1h", "--monitor_interval", "200ms", IDS))
    assert.equal(0, m.code, m.err)
    local s = run(args("pr", "resume", "--all", "--older-than", "90", "--dry-run", IDS))
    assert.equal(0, s.code, s.err)
    local e = run(args("pr", "status", "run-train-01", IDS), { env = { CLARIFAI_REQUEST_TIMEOUT = "20s" } })
    assert.equal(0, e.code, e.err)
    local bad = run(args("pr", "status", "run-train-01", IDS), { env = { CLARIFAI_DEADLINE = "2 minutes" } })
    assert.equal(3, bad.code)
    assert.matches("CLARIFAI_DEADLINE=2 minutes is not valid: it must be a duration like 90s", bad.err, 1, true)
  end)

  describe("limits are checked at the boundary", function()
    it("the command refuses an out-of-range value naming the range (exit 2), nothing sent", function()
      local cases = {
        { { "--parallel", "5000" }, "--parallel must be a whole number 1..1024 (got 5000)" },
        { { "--parallel", "1025" }, "--parallel must be a whole number 1..1024 (got 1025)" },
        { { "--request-timeout", "1e300" }, "--request-timeout must be a duration like 90s, 500ms, 45m, 2h or 3d (a "
          .. "bare number is seconds), more than 0 and at most 86400 seconds" },
        { { "--deadline", "86401" }, "--deadline must be more than 0 and at most 86400 seconds" },
        { { "--deadline", "25h" }, "--deadline must be more than 0 and at most 86400 seconds" },
        -- whole numbers are decimal digits only, named by their flag
        { { "--parallel", "0x10" }, "--parallel must be a whole number 1..1024 (got 0x10)" },
        { { "--parallel", "1e3" }, "--parallel must be a whole number 1..1024 (got 1e3)" },
        { { "--parallel=-5" }, "--parallel must be a whole number 1..1024 (got -5)" },
        { { "--timeout", "700000", "--wait" }, "--timeout must be 0..604800 seconds" },
        { { "--interval", "0", "--wait" }, "--interval must be more than 0 and at most 3600 seconds" },
      }
      for _, case in ipairs(cases) do
        local r = run(args("pr", "pause", "run-train-01", case[1], IDS))
        assert.equal(2, r.code, r.err)
        assert.matches(case[2], r.err, 1, true)
      end
      local j = run(args("pr", "pause", "run-train-01", "--parallel", "5000", "-o", "json", IDS))
      assert.equal(2, j.code)
      assert.equal(2, cjson.decode(j.err).error.exit_code)
      local l = run(args("pr", "list", "--per_page", "129", IDS))
      assert.equal(2, l.code)
      assert.matches("--per_page must be a whole number 1..128", l.err, 1, true)
      assert.equal(0, #requests())
    end)

    it("the C module takes any double in every numeric field without undefined behaviour", function()
      -- under the sanitizer stage a conversion out of range aborts the process
      local http = require "clarifai.http.core"
      local s = assert(http.new())
      for _, field in ipairs({ "connect_timeout", "timeout", "max_size", "low_speed_limit", "low_speed_time" }) do
        for _, v in ipairs({ 1e300, -1, 0 / 0, math.huge, -math.huge, 2 ^ 63, 0 }) do
          local r = { url = "http://127.0.0.1:1/", connect_timeout = 1, timeout = 1, max_size = 1024 }
          r[field] = v
          local ok, key = pcall(s.submit, s, r)
          if v ~= v or v < 0 then
            assert.is_false(ok, field .. "=" .. tostring(v))
            assert.matches("must be a non%-negative number", key)
          else
            assert.is_true(ok, key)
            s:abort(key)
          end
        end
      end
      assert.is_true(http.limits.seconds >= 86400 and http.limits.parallel == 1024)
      s:close()
      local sys = require "clarifai.sys.core"
      for _, v in ipairs({ -1, 0 / 0, -math.huge }) do assert.is_true(sys.sleep(v)) end -- no sleep at all
    end)
  end)

  it("declining the confirmation exits 8 having sent nothing; without a terminal cancel proceeds", function()
    local out = cli.on_tty(clarifai_line(args("pr", "cancel", "run-train-01", "run-train-02", IDS)), "n",
      { CLARIFAI_PAT = TOKEN, CLARIFAI_API_BASE = emu.url })
    assert.matches("Error: declined at the prompt; nothing was sent", out, 1, true)
    assert.matches("rc=8", out, 1, true)
    assert.equal(0, #requests("PATCH"))
    assert.matches("  8    declined at the confirmation prompt; nothing was sent", run({ "--help" }).out, 1, true)
  end)

  describe("a Python CLI that is this tool", function()
    it("is refused (exit 3) instead of handing the command to itself", function()
      local r = run({ "login" }, { env = { CLARIFAI_PYTHON_CLI = cli.bin } })
      assert.equal(3, r.code)
      assert.matches("is this tool, which would hand the command to itself", r.err, 1, true)
    end)

    it("is refused when a script hands the command back (exit 3, no loop)", function()
      local dir = cli.tmpdir()
      cli.write(dir .. "/py", "#!/bin/sh\nexec " .. cli.lua .. " " .. cli.quote(cli.bin) .. " \"$@\"\n")
      os.execute("chmod +x " .. cli.quote(dir .. "/py"))
      local r = run({ "model", "list" }, { env = { CLARIFAI_PYTHON_CLI = dir .. "/py" } })
      assert.equal(3, r.code)
      assert.matches("'model' came back from the CLI it was handed to", r.err, 1, true)
    end)
  end)

  describe("ids", function()
    it("list -o ids prints only ids that `pause -` reads back as the same id; the rest are named (exit 7)", function()
      emu:reset(false)
      for _, id in ipairs({ "good-1", "has space", "tab\there", "..", "a/b", "bidi\226\128\174x", "good-2" }) do
        emu:put_run({ id = id, state = "JOB_RUNNING" })
      end
      local r = run(args("pr", "list", "-o", "ids", IDS))
      assert.equal(7, r.code, r.err)
      local got = lines(r.out)
      table.sort(got)
      assert.same({ "good-1", "good-2" }, got)
      assert.matches("warning: left out run id 'has space'", r.err, 1, true)
      assert.matches("warning: left out run id 'tab\\there'", r.err, 1, true)
      assert.matches("warning: left out run id 'bidi\\u202ex'", r.err, 1, true)
      assert.equal(5, select(2, r.err:gsub("warning: left out", "")))
      -- the table escapes the tab rather than let it break the columns
      local t = run(args("pr", "list", IDS))
      assert.matches("tab\\there", t.out, 1, true)
      assert.is_nil(t.out:find("\t", 1, true))
    end)

    it("refuses bidi controls and other invisible format characters; escapes them in server text", function()
      for _, id in ipairs({ "ab\226\128\174c", "zero\226\128\139width", "soft\194\173hyphen", "tag\243\160\129\129" }) do
        local r = run(args("pr", "pause", id, IDS))
        assert.equal(2, r.code, id)
        assert.matches("invisible format character", r.err, 1, true)
      end
      emu:put_run({ id = "rtl", state = "JOB_RUNNING",
        script = { { after = 0, state = "JOB_FAILED", message = "evil\226\128\174txt.exe" } } })
      local h = run(args("pr", "history", "rtl", IDS))
      assert.matches("evil\\u202etxt.exe", h.out, 1, true)
      assert.equal(0, #requests("PATCH"))
    end)

    it("on standard input, # starts a comment to the end of the line", function()
      emu:put_runs("c", 2)
      local r = run(args("pr", "pause", "-", IDS), { stdin = "c1 # the first\n# c9\nc2#x\n" })
      assert.equal(0, r.code, r.err)
      assert.same({ c1 = 1, c2 = 1 }, emu:patched_ids())
    end)

    it("a closed stdin is a usage error, not an empty batch", function()
      local script = string.format("CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s %s <&- 2>&1; echo \"rc=$?\"",
        cli.quote(emu.url), cli.quote(TOKEN), clarifai_line(args("pr", "pause", "-", IDS)))
      local p = io.popen("sh -c " .. cli.quote(script))
      local out = p:read("*a")
      p:close()
      assert.matches("Error: cannot read run ids from standard input", out, 1, true)
      assert.matches("rc=2\n$", out)
    end)
  end)

  describe("the progress line", function()
    local function batch(env, cols)
      emu:reset()
      emu:put_runs("p", 8)
      emu:fault({ kind = "delay", seconds = 0.1, method = "PATCH", times = 100 })
      return on_pty(clarifai_line(args("pr", "pause", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8",
        "--parallel", "2", IDS)), env, cols)
    end

    it("NO_COLOR counts only when it is not empty", function()
      assert.matches("in flight", batch({ NO_COLOR = "" }), 1, true)
      assert.is_nil(batch({ NO_COLOR = "1" }):find("in flight", 1, true))
    end)

    it("is cut to the terminal's width", function()
      local out = batch({}, 24)
      local drawn = 0
      for piece in out:gmatch("\r\27%[K([^\r\n]*)") do
        if piece:find("in flight", 1, true) or piece:find("…", 1, true) then
          drawn = drawn + 1
          assert.is_true(#piece < 24 + 3, "too wide: " .. piece) -- "…" is 3 bytes
        end
      end
      assert.is_true(drawn > 0, out)
    end)
  end)

  describe("a stop reads the same in every format", function()
    it("-o json with --wait: each result says how its wait ended", function()
      emu:put_runs("j", 3)
      emu:config({ transition_delay = 30 })
      local p = cli.spawn(args("pr", "pause", "j1", "j2", "j3", "--wait", "--interval", "0.2", "-o", "json", IDS),
        { env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN } })
      -- every PATCH answered and the wait begun, however long that takes
      emu:await_requests("GET", 1)
      p:kill("TERM")
      local code = p:wait(10)
      local doc = cjson.decode(p:out())
      p:close()
      assert.equal(143, code)
      for _, r in ipairs(doc.results) do
        assert.equal("ok", r.outcome)
        assert.equal("stopped", r.wait.outcome, cjson.encode(r))
        assert.equal("interrupted", r.wait.error.kind)
      end
      emu:config({ transition_delay = 0 })
      local done = run(args("pr", "pause", "run-train-01", "--wait", "--interval", "0.1", "-o", "json", IDS))
      assert.equal("reached", cjson.decode(done.out).results[1].wait.outcome)
    end)

    it("monitor -o jsonl ends with a result event after a signal; control characters stay exact", function()
      emu:put_run({ id = "mj", state = "JOB_RUNNING", lines = { "\27[31mred\27[0m and a bell\7" } })
      local p = cli.spawn(args("pr", "monitor", "mj", "-o", "jsonl", "--monitor_interval", "0.2", IDS),
        { env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN } })
      emu:await_requests("GET", 4) -- the run and its logs read twice
      p:kill("TERM")
      local code = p:wait(10)
      local out = p:out()
      p:close()
      assert.equal(143, code)
      assert.matches('"message":"\\u001b[31mred\\u001b[0m and a bell\\u0007"', out, 1, true)
      local all = lines(out)
      local last = cjson.decode(all[#all])
      assert.same({ "result", "stopped", "SIGTERM", 143, "JOB_RUNNING" },
        { last.event, last.status, last.signal, last.exit_code, last.state })
    end)

    it("on a terminal, the re-run hint names a file that holds the ids", function()
      emu:put_runs("t", 400)
      emu:fault({ kind = "delay", seconds = 0.2, method = "PATCH", times = 1000 })
      local dir = cli.tmpdir()
      local ids = {}
      for i = 1, 400 do ids[i] = "t" .. i end
      cli.write(dir .. "/ids", table.concat(ids, "\n") .. "\n")
      -- interrupted once the server has seen PATCHes, however long start-up takes
      local command = string.format("TMPDIR=%s %s < %s & p=$!; n=0; until env -u LD_PRELOAD curl -s %s"
        .. " | grep -q '\"method\":\"PATCH\"' || [ $n -ge %d ]; do sleep 0.05; n=$((n+1)); done;"
        .. " sleep 0.3; kill -INT $p; wait $p",
        cli.quote(dir), clarifai_line(args("pr", "pause", "-", IDS)), cli.quote(dir .. "/ids"),
        cli.quote(emu.url .. "/_emulator/requests"), math.ceil(bounds.limit("watchdog") / 0.05))
      local out = on_pty(command)
      local path = out:match("clarifai pr pause %- %-%-user_id=demo%-user[^\r\n]* < (%S+)")
      assert.is_string(path, out)
      local listed = lines(cli.slurp(path))
      assert.is_true(#listed > 300, #listed .. " ids")
      local sent = emu:patched_ids()
      for _, id in ipairs(listed) do assert.is_nil(sent[id], id .. " was sent") end
      assert.equal("600", io.popen("stat -c %a " .. cli.quote(path)):read("*l"))
    end)
  end)

  it("library argument errors name the function, the argument, what it must be and what it got", function()
    local clarifai = require "clarifai"
    local c = assert(clarifai.client.new({ pat = TOKEN, api_base = emu.url }))
    local cases = {
      { function() return clarifai.runs.status(REF, nil) end,
        "clarifai.runs.status: argument #2 (run_ids) must be a list of run ids, got nil" },
      { function() return clarifai.runs.history(REF, nil) end,
        "clarifai.runs.history: argument #2 (run_id) must be a string, got nil" },
      { function() return clarifai.client.new({ pat = 1 }) end, "clarifai.client.new: opts.pat must be a string, got 1" },
      { function() return clarifai.runs.pause({ user_id = "u", run_id = 12 }) end,
        "clarifai.runs.pause: ref.run_id must be a string, got 12" },
      { function() return clarifai.runs.apply("pause", REF, { "r" }, { client = c, parallel = 0 }) end,
        "clarifai.runs.apply: opts.parallel must be a whole number 1..1024, got 0" },
      { function() return clarifai.runs.to_json(nil) end,
        "clarifai.runs.to_json: argument #1 (report) must be a table, got nil" },
      { function() return clarifai.watch.wait("pause", REF, { "r" }, { interval = 0 }) end,
        "clarifai.watch.wait: opts.interval must be more than 0 and at most 3600 seconds, got 0" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok)
      assert.is_string(err)
      assert.matches(case[2], err, 1, true)
      assert.is_nil(err:find("attempt to", 1, true))
    end
    c:close()
  end)

  describe("requests", function()
    it("a PATCH refused as 'does not exist' is not followed by a read of the run", function()
      local r = run(args("pr", "pause", "gone-1", "gone-2", "gone-3", IDS))
      assert.equal(1, r.code)
      assert.equal(3, #requests("PATCH"))
      assert.equal(0, #requests("GET"))
    end)

    it("list --all reads pages of 128; --page with --all is a usage error", function()
      emu:put_runs("a", 130)
      local r = run(args("pr", "list", "--all", "-o", "ids", IDS))
      assert.equal(0, r.code, r.err)
      local gets = requests("GET")
      assert.equal(2, #gets)
      assert.matches("per_page=128", gets[1].query, 1, true)
      local bad = run(args("pr", "list", "--all", "--page", "2", IDS))
      assert.equal(2, bad.code)
      assert.matches("--page and --all cannot be used together", bad.err, 1, true)
    end)

    it("--timeout or --interval without --wait warns", function()
      local r = run(args("pr", "pause", "run-train-01", "--timeout", "5", IDS))
      assert.equal(0, r.code)
      assert.matches("warning: --timeout and --interval apply only with --wait; ignored", r.err, 1, true)
    end)

    it("a config-lock.yaml id of the wrong type says so", function()
      local dir = cli.tmpdir()
      cli.write(dir .. "/config-lock.yaml", "pipeline:\n  id: p\n  user_id: u\n  app_id: a\n  version_id: [1, 2]\n")
      local r = run({ "pr", "pause", "r1" }, { cwd = dir })
      assert.equal(2, r.code)
      assert.matches("config-lock.yaml pipeline.version_id is a list, not an id", r.err, 1, true)
    end)

    it("completion's error lists the shells, not the hidden value", function()
      local r = run({ "completion", "tcsh" })
      assert.equal(2, r.code)
      assert.matches("must be one of bash, zsh, fish (got tcsh)", r.err, 1, true)
      assert.is_nil(r.err:find("contexts", 1, true))
    end)

    it("an unknown --context lists at most 20 names", function()
      local home = cli.tmpdir()
      local t = { "contexts:" }
      for i = 1, 45 do t[#t + 1] = string.format("  ctx%02d:\n    CLARIFAI_PAT: x", i) end
      os.execute("mkdir -p " .. cli.quote(home .. "/.config/clarifai"))
      cli.write(home .. "/.config/clarifai/config", table.concat(t, "\n") .. "\n")
      os.execute("chmod 600 " .. cli.quote(home .. "/.config/clarifai/config"))
      local r = run(args("--context", "nope", "pr", "pause", "r1", IDS), { home = home, unset = { "CLARIFAI_PAT" } })
      assert.equal(2, r.code)
      assert.matches("Available contexts: ctx01, ctx02,", r.err, 1, true)
      assert.matches("ctx20, …, and 25 more", r.err, 1, true)
      assert.is_nil(r.err:find("ctx21", 1, true))
    end)

    it("an API base without a scheme is https, never http", function()
      local r = run(args("pr", "pause", "r1", "--dry-run", IDS), { env = { CLARIFAI_API_BASE = "api.clarifai.com" } })
      assert.equal(0, r.code, r.err)
      assert.matches("PATCH https://api.clarifai.com/v2/users/", r.out, 1, true)
    end)
  end)
end)
