-- What a new user found trying the tool, each as what the user sees: JSON of
-- partial status reads, retried reads, bad timeout settings, a broken
-- stdout, endless paging, help, contexts, why a run failed, the progress
-- line, and library messages free of CLI wording.

local bounds = require "support.bounds"
local cli = require "support.cli"
local emulator = require "support.emulator"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_5e1d0a9b33"
local IDS = cli.IDS
local args = cli.args

local lines = cli.lines
local emu
local run, _, start = cli.runner(function() return emu.url end, TOKEN)
local function count(method) return emu:count(method) end

-- Runs the CLI on a pseudo-terminal; returns everything it wrote and the exit code.
local function on_pty(argv, env)
  local all = { CLARIFAI_PAT = TOKEN, CLARIFAI_API_BASE = emu.url }
  for k, v in pairs(env or {}) do all[k] = v end
  return cli.pty(cli.command_line(argv), all)
end

describe("what a new user found", function()
  emu = emulator.fixture({ tick = 0, token = TOKEN })

  describe("status -o json", function()
    it("never leaves a failing id out: runs and errors, exit 7 for a partial result", function()
      local r = run(args("pr", "status", "run-train-01", "nope", "-o", "json", IDS))
      assert.equal(7, r.code)
      local doc = cjson.decode(r.out)
      assert.equal(1, #doc.runs)
      assert.equal("run-train-01", doc.runs[1].id)
      assert.equal(1, #doc.errors)
      assert.equal("nope", doc.errors[1].run_id)
      assert.equal(11101, doc.errors[1].error.api_code)
      assert.equal(1, doc.errors[1].error.exit_code)
      local ok = cjson.decode(run(args("pr", "status", "run-train-01", "-o", "json", IDS)).out)
      assert.same({}, ok.errors)
    end)

    it("with every id failing: the usual error object on stderr and its exit code", function()
      local r = run(args("pr", "status", "nope", "gone", "-o", "json", IDS))
      assert.equal(1, r.code)
      assert.equal("", r.out)
      local e = cjson.decode(r.err).error
      assert.equal("api", e.kind)
      assert.matches("^nope: ", e.message)
    end)
  end)

  it("retried reads say so, like retried writes, and how many attempts it took", function()
    emu:fault({ kind = "http", method = "GET", status = 503, times = 3, body = "" })
    local r = run(args("pr", "status", "run-train-01", IDS), { env = { CLARIFAI_DEADLINE = "30" } })
    assert.equal(6, r.code)
    assert.matches("Retrying read of run run%-train%-01 in %d+%.%ds: HTTP 503 %(attempt 2 of 3%)", r.err)
    assert.matches("Retrying read of run run%-train%-01 in %d+%.%ds: HTTP 503 %(attempt 3 of 3%)", r.err)
    assert.matches("(after 3 attempts)", r.err, 1, true)
    assert.equal(3, count("GET"))
    emu:fault({ kind = "http", method = "GET", status = 503, times = 1, body = "" })
    local l = run(args("pr", "list", IDS))
    assert.equal(0, l.code, l.err)
    assert.matches("Retrying list pipeline version runs in", l.err, 1, true)
  end)

  it("a bad CLARIFAI_*_TIMEOUT or CLARIFAI_DEADLINE is a configuration error (exit 3), as the flags are usage errors",
    function()
      for _, case in ipairs({ { "CLARIFAI_CONNECT_TIMEOUT", "abc" }, { "CLARIFAI_REQUEST_TIMEOUT", "-1" },
        { "CLARIFAI_DEADLINE", "0" }, { "CLARIFAI_CONNECT_TIMEOUT", "0" } }) do
        local r = run(args("pr", "pause", "run-train-01", IDS), { env = { [case[1]] = case[2] } })
        assert.equal(3, r.code, case[1] .. "=" .. case[2])
        assert.matches(case[1] .. "=" .. case[2] .. " is not valid", r.err, 1, true)
      end
      assert.equal(0, #emu:requests())
      assert.equal(2, run(args("pr", "pause", "run-train-01", "--deadline", "0", IDS)).code)
      assert.equal(2, run(args("pr", "pause", "run-train-01", "--connect-timeout", "x", IDS)).code)
      assert.equal(0, run(args("pr", "pause", "run-train-01", IDS), { env = { CLARIFAI_DEADLINE = "" } }).code)
    end)

  describe("a stdout that cannot be written", function()
    local function batch(redirect)
      emu:put_runs("w", 200)
      emu:fault({ kind = "delay", seconds = 0.05, method = "PATCH", times = 1000 })
      local ids = {}
      for i = 1, 200 do ids[i] = "w" .. i end
      local script = string.format("TMPDIR=%s CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s setsid -w " .. cli.lua
        .. " %s pr pause %s --parallel 2 %s"
        .. " %s; echo \"rc=$?\" >&2", cli.quote(cli.tmpdir()), cli.quote(emu.url), cli.quote(TOKEN), cli.quote(cli.bin),
        table.concat(ids, " "), table.concat(IDS, " "), redirect)
      local p = io.popen("bash -c " .. cli.quote(script) .. " 2>&1")
      local out = p:read("*a")
      p:close()
      return out
    end

    it("stops sending new requests, says so and exits 74 (disk full)", function()
      local out = batch("> /dev/full")
      assert.matches("rc=74", out, 1, true)
      assert.matches("cannot write to standard output", out, 1, true)
      assert.is_true(count("PATCH") < 20, count("PATCH") .. " PATCHes after the write failed")
    end)

    it("stops sending new requests when the reader went away (exit 141)", function()
      local out = batch("2>/dev/null | head -n 1 >/dev/null; echo \"rc=${PIPESTATUS[0]}\"")
      assert.matches("rc=141", out, 1, true)
      assert.is_true(count("PATCH") < 30, count("PATCH") .. " PATCHes after the reader left")
    end)
  end)

  describe("list", function()
    it("--all stops, with a warning, on a server that ignores page", function()
      emu:put_runs("l", 40)
      emu:config({ ignore_paging = true })
      local r = run(args("pr", "list", "--all", "--per_page", "10", "-o", "ids", IDS))
      assert.equal(0, r.code, r.err)
      assert.equal(10, #lines(r.out))
      assert.matches("warning: the server ignored paging (page 2 brought nothing new)", r.err, 1, true)
      assert.equal(2, count("GET"))
    end)

    it("--all stops at its limit with a warning (library: max)", function()
      emu:put_runs("m", 30)
      local clarifai = require "clarifai"
      local c = assert(clarifai.client.new({ pat = TOKEN, api_base = emu.url }))
      local ref = { user_id = "demo-user", app_id = "demo-app", pipeline_id = "hello-world-pipeline",
        pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" }
      local res, info = clarifai.runs.list(ref, { all = true, per_page = 10, max = 25 }, { client = c })
      c:close()
      assert.equal(25, #res.runs)
      assert.matches("stopped after 25 runs", info.warnings[1], 1, true)
      assert.matches("at most 100000 runs", run({ "pr", "list", "--help" }).out, 1, true)
    end)

    it("says a full page may not be the last (table mode only)", function()
      emu:put_runs("f", 20)
      local r = run(args("pr", "list", "--per_page", "5", IDS))
      assert.equal(0, r.code)
      assert.matches("there may be more; see --page 2", r.err, 1, true)
      assert.equal("", run(args("pr", "list", "--per_page", "5", "-o", "ids", IDS)).err)
      local last = run(args("pr", "list", "--per_page", "100", IDS))
      assert.is_nil(last.err:find("may be more", 1, true))
    end)

    it("names the valid states when --status has an unknown one", function()
      local r = run(args("pr", "list", "--status", "runing", IDS))
      assert.equal(2, r.code)
      assert.matches("unknown status 'runing'; valid states: queued, running, completed, failed, cancelled", r.err,
        1, true)
    end)
  end)

  describe("help", function()
    it("`clarifai help pr pause` is pause's help; `pr` alone prints its help and exits 0", function()
      local h = run({ "help", "pr", "pause" })
      assert.equal(0, h.code)
      assert.equal(run({ "pr", "pause", "--help" }).out, h.out)
      assert.matches("Pausing is allowed only", h.out, 1, true)
      local pr = run({ "pr" })
      assert.equal(0, pr.code)
      assert.matches("Allowed state transitions", pr.out, 1, true)
      assert.equal(run({ "pr", "--help" }).out, pr.out)
    end)

    it("an unknown subcommand points to `clarifai pr --help`", function()
      local r = run({ "pr", "bogus" })
      assert.equal(2, r.code)
      assert.matches("Usage: clarifai pr [OPTIONS] COMMAND [ARGS]...", r.err, 1, true)
      assert.matches("see 'clarifai pr --help'", r.err, 1, true)
    end)

    it("usage errors show the command's own synopsis", function()
      local r = run(args("pr", "list", "--page", "0", IDS))
      assert.equal(2, r.code)
      assert.matches("Usage: clarifai pr list [OPTIONS]\n", r.err, 1, true)
    end)
  end)

  describe("contexts", function()
    it("--context with no config file says so, and where it looked", function()
      local r = run(args("--context", "prod", "pr", "pause", "run-train-01", IDS), { unset = { "CLARIFAI_PAT" } })
      assert.equal(3, r.code)
      assert.matches("Context 'prod' not found: there is no config file at ", r.err, 1, true)
      assert.matches("/.config/clarifai/config", r.err, 1, true)
    end)

    it("a current_context that names no context is reported as such", function()
      local home = cli.tmpdir()
      os.execute("mkdir -p " .. cli.quote(home .. "/.config/clarifai"))
      cli.write(home .. "/.config/clarifai/config", "current_context: prod\ncontexts:\n  dev:\n    CLARIFAI_PAT: x\n")
      local r = run(args("pr", "pause", "run-train-01", IDS), { home = home, unset = { "CLARIFAI_PAT" } })
      assert.equal(3, r.code)
      assert.matches("current_context 'prod' of ", r.err, 1, true)
      assert.matches("names no context (contexts: dev)", r.err, 1, true)
      assert.is_nil(r.err:find("Authentication Required", 1, true))
    end)
  end)

  it("monitor of a run that ends Failed shows the reason from the status log", function()
    emu:put_run({ id = "doomed", state = "JOB_RUNNING",
      script = { { after = 10, state = "JOB_FAILED", message = "step train exited 137 (out of memory)" } } })
    local p = start(args("pr", "monitor", "doomed", "--monitor_interval", "0.1", IDS))
    emu:await_requests("GET", 1) -- seen Running; then it fails
    emu:advance(10)
    local r = p:finish()
    assert.equal(1, r.code)
    assert.matches("ended Failed: step train exited 137 (out of memory)", r.err, 1, true)
    local j = run(args("pr", "monitor", "doomed", "-o", "jsonl", IDS))
    local last = cjson.decode(lines(j.out)[#lines(j.out)])
    assert.equal("step train exited 137 (out of memory)", last.reason)
  end)

  describe("the progress line", function()
    local function slow_batch(extra, env)
      emu:reset()
      emu:put_runs("p", 12)
      emu:fault({ kind = "delay", seconds = 0.15, method = "PATCH", times = 100 })
      local argv = args("pr", "pause", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12",
        "--parallel", "2", IDS, extra or {})
      return on_pty(argv, env)
    end

    it("is drawn on a terminal and erased before normal output", function()
      local out, code = slow_batch(nil, { TERM = "xterm" })
      assert.equal(0, code, out)
      assert.matches("/12 done · %d+ failed · %d+ in flight", out)
      assert.matches("\r\27[K", out, 1, true)
      -- every result line starts clean: the progress line is erased before it
      local results = 0
      for line in out:gmatch("[^\n]+") do
        local shown = line:match("([^\r]*)\r?$") -- what remains visible after the last carriage return
        if shown:find("Pipeline version run", 1, true) then
          results = results + 1
          assert.matches("^\27?%[?K?Pipeline version run", shown)
          assert.is_nil(shown:find("done ·", 1, true), "progress mixed into: " .. shown)
        end
      end
      assert.equal(12, results)
    end)

    -- Starts argv on a terminal with the listing's second page held until
    -- the clock moves (the first is answered at once): the listing cannot
    -- end before the spec says so. -> the running command (cli.pty_start).
    local function held_listing(argv, env)
      emu:reset(false)
      emu:put_runs("s", 1500)
      emu:fault({ { kind = "delay", seconds = 0, method = "GET", times = 1 },
        { kind = "delay", clock = true, seconds = 1, method = "GET", times = 1 } })
      local all = { CLARIFAI_PAT = TOKEN, CLARIFAI_API_BASE = emu.url, TERM = "xterm" }
      for k, v in pairs(env or {}) do all[k] = v end
      return cli.pty_start(cli.command_line(argv), all)
    end

    it("shows how far a listing got: a selection's preview draws it before the listing ends, within 0.5 s",
      function()
        local h = held_listing(args("pr", "pause", "--all", "--dry-run", IDS))
        local seen_at
        bounds.await("the progress line while the listing waits for page 2", function()
          if not h.shown():find("listing: 128 runs, 1 page", 1, true) then return false end
          seen_at = require("socket").gettime()
          return true
        end)
        -- the order of events: the line is on the terminal while the listing
        -- waits for page 2 (which only the clock releases), and no preview yet
        assert.is_nil(h.shown():find("Would pause", 1, true))
        emu:await_requests("GET", 2)
        local gets = emu:requests_of("GET")
        assert.is_false(gets[2].handled, "page 2 was answered before the spec moved the clock")
        bounds.check("progress", seen_at - gets[1].time, "the progress line after the first page")
        emu:advance(1)
        local out, code = h.finish()
        assert.equal(0, code, out)
        assert.equal(12, emu:count("GET"), "1,500 runs in pages of 128")
        -- erased before the preview is printed
        assert.matches("listing: 128 runs, 1 page\r\27%[K.-Would pause 1500 runs in 1 version:", out)
      end)

    it("shows how far list --all got, and never with --no-progress", function()
      local h = held_listing(args("pr", "list", "--all", IDS))
      bounds.await("list --all's progress line", function()
        return h.shown():find("listing: 128 runs, 1 page", 1, true)
      end)
      emu:await_requests("GET", 2)
      emu:advance(1)
      local out, code = h.finish()
      assert.equal(0, code, out)
      assert.equal(1501, #lines(out:gsub("\r\27%[K[^\r\n]*", "")), "the table after the erased line")
      local quiet = held_listing(args("pr", "list", "--all", "--no-progress", IDS))
      emu:await_requests("GET", 2)
      emu:advance(1)
      local q = quiet.finish()
      assert.is_nil(q:find("listing:", 1, true))
      assert.is_nil(q:find("\27", 1, true))
    end)

    it("is absent under TERM=dumb, NO_COLOR, --no-progress, or when stderr is not a terminal", function()
      for _, case in ipairs({ { nil, { TERM = "dumb" } }, { nil, { TERM = "xterm", NO_COLOR = "1" } },
        { { "--no-progress" }, { TERM = "xterm" } } }) do
        local out = slow_batch(case[1], case[2])
        assert.is_nil(out:find("\27[", 1, true), "escape sequence in output")
        assert.is_nil(out:find("in flight", 1, true))
      end
      emu:put_runs("q", 3)
      local r = run(args("pr", "pause", "q1", "q2", "q3", IDS), { env = { TERM = "xterm" } })
      assert.is_nil(r.err:find("\27", 1, true))
    end)
  end)

  it("make demo writes no escape codes with NO_COLOR or when its output is not a terminal", function()
    -- the demo runs the normal build, not the sanitizer one
    if os.getenv("CLARIFAI_SANITIZE") then return pending("not under the sanitizer build") end
    -- no sanitizer runtime in the demo's curl (it deadlocks there)
    local p = io.popen("cd " .. cli.quote(cli.root) .. " && env -u LD_PRELOAD sh examples/demo.sh 2>&1; echo \"rc=$?\"")
    local out = p:read("*a")
    p:close()
    assert.matches("rc=0", out, 1, true)
    assert.is_nil(out:find("\27", 1, true))
    local tty = on_pty({ "--version" }, { TERM = "dumb" })
    assert.is_nil(tty:find("\27", 1, true))
  end)

  it("the library's messages name no CLI flags; the CLI adds them", function()
    local clarifai = require "clarifai"
    local c = assert(clarifai.client.new({ pat = TOKEN, api_base = emu.url }))
    local dir = cli.tmpdir()
    local _, _, e1 = clarifai.runs.pause({ user_id = "u" }, { client = c, dir = dir })
    local _, _, e2 = clarifai.runs.pause({ run_id = "r", user_id = "u" }, { client = c, dir = dir })
    local _, _, e3 = clarifai.runs.apply("pause", { user_id = "u", app_id = "a", pipeline_id = "p",
      pipeline_version_id = "v" }, { ".." }, { client = c })
    c:close()
    for _, e in ipairs({ e1, e2, e3 }) do
      assert.equal("usage", e.kind)
      assert.is_nil(e.message:find("%-%-%a"), "flag in a library message: " .. e.message)
      assert.equal(e.message, tostring(e))
    end
    local r = run({ "pr", "pause", "r1" }, { cwd = dir })
    assert.matches("Either provide --user_id, --app_id, --pipeline_id, and --pipeline_version_id", r.err, 1, true)
  end)
end)
