-- Watch and react: `clarifai pr watch` follows a selection over time and
-- reports each state change once (new, change, left); --exec runs a hook
-- per event without holding up the polls; watch.events gives a workflow the
-- same events, inside an event loop too; the examples react as they say.
-- The emulator's clock is frozen: the spec moves it one poll interval at a
-- time, after the command's poll has reached the server.

local bounds = require "support.bounds"
local cli = require "support.cli"
local emulator = require "support.emulator"
local optional = require "support.optional"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_9d4f2b7e61"
local args = cli.args
local lines = cli.lines
local emu
local run, _, start = cli.runner(function() return emu.url end, TOKEN)

local function version(v) return { "--user_id", "u1", "--app_id", "app1", "--pipeline_id", "pipe1",
  "--pipeline_version_id", v } end
local V = version("v1")

local function jsonl(out)
  local t = {}
  for _, l in ipairs(lines(out)) do t[#t + 1] = cjson.decode(l) end
  return t
end

-- The watch's list requests (not the spec's own reads), counted as the log
-- grows: list_requests() -> how many so far, and how many per path.
local counted, per_path, read_up_to
local function list_requests()
  for _, q in ipairs(emu:requests(read_up_to)) do
    read_up_to = q.seq
    if q.method == "GET" and q.path:match("/runs$") and q.query:find("status_codes", 1, true) then
      counted = counted + 1
      per_path[q.path] = (per_path[q.path] or 0) + 1
    end
  end
  return counted, per_path
end

describe("watch", function()
  emu = emulator.fixture({ tick = 0, token = TOKEN, seed = false })

  it("a long watch: 1,000 runs in 10 versions, 200 transitions over 60 s, each reported once and in order", function()
    local versions, scripted = {}, {}
    for v = 1, 10 do
      versions[v] = "v" .. v
      emu:put_runs("w" .. v .. "-", 90, "JOB_RUNNING", { user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
        pipeline_version_id = "v" .. v })
      for k = 1, 10 do
        -- transitions 6 s apart (several poll intervals); half end by completing (they leave the listed states)
        local t = 2 + ((v * 10 + k) % 40)
        local last = k % 2 == 0 and "JOB_RUNNING" or "JOB_COMPLETED"
        local id = "s" .. v .. "-" .. k
        emu:put_run({ id = id, state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
          pipeline_version_id = "v" .. v, script = { { after = t, state = "JOB_PAUSED" },
            { after = t + 6, state = last } } })
        scripted[id] = { "RUNNING", "PAUSED", last:gsub("^JOB_", "") }
      end
    end
    counted, per_path, read_up_to = 0, {}, 0
    local p = start(args("pr", "watch", "--status", "running,paused", "--all-versions", "--user_id", "u1", "--app_id",
      "app1", "--pipeline_id", "pipe1", "--interval", "50ms", "-o", "jsonl"))
    for _ = 1, 61 do
      -- a poll has listed every version: the clock moves one interval (1 s)
      local polls = math.floor(list_requests() / 10)
      emu:await("a poll of every version", function() return math.floor(list_requests() / 10) > polls end)
      emu:advance(1)
    end
    -- the watch's peak RSS so far (the kernel's high-water mark)
    local kib = tonumber(cli.slurp("/proc/" .. p.pid .. "/status"):match("VmHWM:%s*(%d+)"))
    p:kill("TERM")
    local r = p:finish()
    assert.equal(143, r.code, r.err)
    local evs = jsonl(r.out)
    -- every transition once, in order for each run
    local by_run = {}
    for _, ev in ipairs(evs) do
      assert.same({ "app_id", "event", "from", "pipeline_id", "pipeline_version_id", "run_id", "time", "to",
        "user_id" }, (function() local k = {} for n in pairs(ev) do k[#k + 1] = n end table.sort(k) return k end)())
      by_run[ev.run_id] = by_run[ev.run_id] or {}
      table.insert(by_run[ev.run_id], ev)
    end
    local transitions, left = 0, 0
    for id, want in pairs(scripted) do
      local got = by_run[id]
      assert.equal(3, #got, id)
      assert.same({ "new", cjson.null, "RUNNING" }, { got[1].event, got[1].from, got[1].to }, id)
      assert.same({ "change", "RUNNING", "PAUSED" }, { got[2].event, got[2].from, got[2].to }, id)
      local kind = want[3] == "COMPLETED" and "left" or "change"
      assert.same({ kind, "PAUSED", want[3] }, { got[3].event, got[3].from, got[3].to }, id)
      transitions = transitions + 2
      if kind == "left" then left = left + 1 end
    end
    assert.equal(200, transitions)
    local news = 0
    for _, ev in ipairs(evs) do if ev.event == "new" then news = news + 1 end end
    assert.equal(1000, news, "every run new once")
    assert.equal(1000 + 200, #evs, "nothing else reported")
    -- cost: each poll lists each version once; a GET only for each run that left
    local total, per = list_requests()
    local polls = per[emulator.runs_path(nil, { user = "u1", app = "app1", pipeline = "pipe1", version = "v1" })]
    for _, v in ipairs(versions) do
      assert.equal(polls, per[emulator.runs_path(nil, { user = "u1", app = "app1", pipeline = "pipe1", version = v })])
    end
    assert.equal(10 * polls, total)
    local gets = 0
    for _, q in ipairs(emu:requests_of("GET")) do if q.path:match("/runs/[^/]+$") then gets = gets + 1 end end
    assert.equal(left, gets, "one GET per run that left")
    -- (the sanitizer's allocator and other interpreters measure differently: lua5.4's build only)
    if not os.getenv("CLARIFAI_SANITIZE") and cli.lua == "lua5.4" then
      assert.is_true(kib <= 32 * 1024, "peak RSS " .. tostring(kib) .. " KiB")
    end
  end)

  it("--exec: a hook per event, the event in its environment and on stdin, never delaying the polls; SIGINT "
    .. "stops new hooks, ends the running ones and exits 130 within 1.5 s", function()
    emu:put_runs("h", 40, "JOB_RUNNING", { user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
      pipeline_version_id = "v1" })
    local dir = cli.tmpdir()
    local hook = dir .. "/hook.sh"
    cli.write(hook, "#!/bin/sh\n"
      .. "echo x >> \"$HOOKS/$CLARIFAI_RUN_ID.count\"\n"
      .. "cat > \"$HOOKS/$CLARIFAI_RUN_ID.in\"\n"
      .. "env > \"$HOOKS/$CLARIFAI_RUN_ID.env\"\n"
      .. "sleep 2\n"
      .. "echo done > \"$HOOKS/$CLARIFAI_RUN_ID.done\"\n")
    local p = cli.spawn(args("pr", "watch", "--all", "--interval", "200ms", "--exec", "sh " .. cli.quote(hook),
      "--exec-parallel", "4", V), { env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN, HOOKS = dir } })
    local function started()
      local n = 0
      for _ in io.popen("ls " .. cli.quote(dir) .. " | grep '\\.env$'"):lines() do n = n + 1 end
      return n
    end
    emu:await("eight hooks started (two rounds of four)", function() return started() >= 8 end)
    -- the polls kept their interval while 2 s hooks ran
    local times = {}
    for _, q in ipairs(emu:requests_of("GET")) do times[#times + 1] = q.time end
    assert.is_true(#times >= 5, #times .. " polls")
    local gap = 0
    for k = 2, #times do gap = math.max(gap, times[k] - times[k - 1]) end
    bounds.check("poll_gap", gap, "the longest gap between polls while hooks ran")
    -- at most the --exec-parallel hooks being started as the signal lands
    -- may still show up; none may start after it
    local before = started()
    p:kill("INT")
    local code, took = p:wait(30)
    local err = p:err()
    os.execute("sleep 0.3")
    local n = started()
    p:close()
    assert.equal(130, code, err)
    bounds.check("signal_exit", took, "the exit after SIGINT")
    assert.matches("Stopped by SIGINT while watching.", err, 1, true)
    assert.is_true(n >= 8 and n <= 16, n .. " hooks started")
    assert.is_true(n <= before + 4, string.format("no hook starts after the signal (%d, then %d)", before, n))
    assert.equal(n, started(), "none after the exit either")
    local done = 0
    for i = 1, 40 do
      local id = "h" .. i
      local env = cli.slurp(dir .. "/" .. id .. ".env")
      if env ~= "" then
        assert.equal("x\n", cli.slurp(dir .. "/" .. id .. ".count"), id .. " ran once")
        assert.matches("CLARIFAI_EVENT=new\n", env, 1, true)
        assert.matches("CLARIFAI_RUN_ID=" .. id .. "\n", env, 1, true)
        assert.matches("CLARIFAI_TO=RUNNING\n", env, 1, true)
        assert.matches("CLARIFAI_PIPELINE_VERSION_ID=v1\n", env, 1, true)
        assert.is_nil(env:find("CLARIFAI_PAT", 1, true), "the token is not passed on")
        assert.is_nil(env:find(TOKEN, 1, true))
        local ev = cjson.decode(cli.slurp(dir .. "/" .. id .. ".in"))
        assert.same({ "new", id, "RUNNING" }, { ev.event, ev.run_id, ev.to })
        if cli.slurp(dir .. "/" .. id .. ".done") ~= "" then done = done + 1 end
      end
    end
    assert.is_true(done < n, "the running hooks were ended by the stop")
  end)

  it("--until, --timeout, usage and the text line", function()
    emu:put_run({ id = "u1r", state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
      pipeline_version_id = "v1", script = { { after = 5, state = "JOB_COMPLETED" } } })
    emu:put_run({ id = "u2r", state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
      pipeline_version_id = "v1", script = { { after = 10, state = "JOB_FAILED" } } })
    local p = start(args("pr", "watch", "--all", "--until", "completed", "--interval", "50ms", V))
    emu:await_requests("GET", 1)
    emu:advance(5)
    emu:await_requests("GET", 3)
    emu:advance(5)
    local r = p:finish()
    assert.equal(1, r.code, "a run ended in another terminal state\n" .. r.err)
    assert.matches("%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ  new     u1r  pipe1/v1  → RUNNING\n", r.out)
    assert.matches("change  u1r  pipe1/v1  RUNNING → COMPLETED\n", r.out, 1, true)
    assert.matches("change  u2r  pipe1/v1  RUNNING → FAILED\n", r.out, 1, true)
    assert.matches("watch: %d+ polls: 2 new, 2 changes, 0 left", r.err)
    -- a reader that goes away ends the watch quietly, as SIGPIPE would (at
    -- its next line: here once the reader has gone and a run has changed)
    emu:put_run({ id = "u3r", state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
      pipeline_version_id = "v1", script = { { after = 5, state = "JOB_PAUSED" } } })
    -- the reader's side closes before the clock moves (the subshell keeps the
    -- pipe open while curl runs otherwise: the change line would fit in it
    -- and the watch would wait for the next forever); `timeout` bounds a hang
    local script = string.format("CLARIFAI_API_BASE=%s CLARIFAI_PAT=%s %s | (head -1 >/dev/null; exec </dev/null; "
      .. "env -u LD_PRELOAD curl -s -X POST -d '{\"advance\":5}' %s >/dev/null); echo \"rc=${PIPESTATUS[0]}\"",
      cli.quote(emu.url), cli.quote(TOKEN), cli.command_line(args("pr", "watch", "--all", "--interval", "100ms", V)),
      cli.quote(emu.url .. "/_emulator/clock"))
    local pipe = io.popen(string.format("timeout %d bash -c %s 2>&1", bounds.limit("watchdog"), cli.quote(script)))
    assert.equal("rc=141\n", pipe:read("*a"))
    pipe:close()
    local t = run(args("pr", "watch", "--all", "--quiet-start", "--timeout", "300ms", "--interval", "100ms", V))
    assert.equal(124, t.code, t.err)
    assert.equal("", t.out, "--quiet-start: nothing for the runs the first poll found")
    for _, case in ipairs({
      { args("pr", "watch", V), "name the runs to watch (ids or -) or select them (--all, --status)" },
      { args("pr", "watch", "u1r", "--all", V), "name the runs (ids or -) or select them" },
      { args("pr", "watch", "u1r", "--all-versions", V), "--all-versions widens a selection: use it with --all" },
      { args("pr", "watch", "--all", "--exec", "'unterminated", V), "--exec:" },
      { args("pr", "watch", "--status", "sleeping", V), "unknown status 'sleeping'" },
    }) do
      local u = run(case[1])
      assert.equal(2, u.code, u.err)
      assert.matches(case[2], u.err, 1, true)
    end
  end)

  it("named runs are read with a GET each, never by listing their version", function()
    local scope = { user_id = "u1", app_id = "app1", pipeline_id = "pipe1", pipeline_version_id = "v1" }
    emu:put_runs("other", 250, "JOB_RUNNING", scope)
    for id, to in pairs({ n1 = "JOB_COMPLETED", n2 = "JOB_PAUSED" }) do
      emu:put_run({ id = id, state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
        pipeline_version_id = "v1", script = { { after = 5, state = to } } })
    end
    local p = start(args("pr", "watch", "n1", "n2", "--until", "completed,paused", "--interval", "50ms", V))
    emu:await_requests("GET", 2, "/runs/n%d$")
    emu:advance(5)
    local r = p:finish()
    assert.equal(0, r.code, r.err)
    assert.matches("new     n1  pipe1/v1  → RUNNING\n", r.out)
    assert.matches("change  n1  pipe1/v1  RUNNING → COMPLETED\n", r.out, 1, true)
    assert.matches("change  n2  pipe1/v1  RUNNING → PAUSED\n", r.out, 1, true)
    assert.matches("watch: %d+ polls: 2 new, 2 changes, 0 left", r.err)
    local gets, other = 0, {}
    for _, q in ipairs(emu:requests_of("GET")) do
      if q.path:match("/runs/n[12]$") then gets = gets + 1 else other[#other + 1] = q.path end
    end
    assert.same({}, other, "no list of the version's 252 runs")
    assert.is_true(gets >= 4 and gets % 2 == 0, "each poll reads both runs: " .. gets)
  end)

  it("the examples: a failure cancels its siblings; the shell example logs failures through --exec", function()
    for k = 1, 4 do
      emu:put_run({ id = "shard" .. k, state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
        pipeline_version_id = "v1", script = k == 2 and { { after = 5, state = "JOB_FAILED" } } or nil })
    end
    local p = start(args("script", cli.root .. "/examples/cancel_siblings_on_failure.lua", "u1", "app1", "pipe1",
      "v1", "0.05"))
    emu:await_requests("GET", 1)
    emu:advance(5)
    local r = p:finish()
    assert.equal(0, r.code, r.err)
    assert.matches("shard2 failed: cancelling its siblings", r.out, 1, true)
    assert.matches("every run has ended; 3 siblings cancelled", r.out, 1, true)
    for _, k in ipairs({ 1, 3, 4 }) do
      assert.equal(64004, emu:get_run("shard" .. k).orchestration_status.status.code)
    end
    -- the shell example, its hook a plain command
    emu:reset()
    emu:put_run({ id = "doomed", state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
      pipeline_version_id = "v1", script = { { after = 5, state = "JOB_FAILED" } } })
    local dir = cli.tmpdir()
    local s = cli.spawn({}, { env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN,
      CLARIFAI = cli.lua .. " " .. cli.bin }, shell = "sh " .. cli.quote(cli.root .. "/examples/watch_failures.sh") .. " "
      .. cli.quote(dir .. "/failed.txt") .. " 60 --interval 50ms " .. table.concat(V, " ") })
    emu:await_requests("GET", 1)
    emu:advance(5)
    emu:await("the failure logged", function() return cli.slurp(dir .. "/failed.txt"):find("doomed", 1, true) end)
    s:kill("TERM")
    s:wait(30)
    s:close()
    assert.matches("Z doomed failed %(was RUNNING%)\n$", cli.slurp(dir .. "/failed.txt"))
  end)

  if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
    pending("Lua 5.1: no event-loop workflows")
  elseif not optional.module("luv") then
    optional.skip("luv", "Debian lua-luv")
  else
    it("watch.events under luv: the ticker keeps ticking; keep_at_most_n_running pauses the newest, then resumes",
      function()
        local uv, async = require "luv", require "clarifai.async.luv"
        local clarifai = require "clarifai"
        local ref = { user_id = "u1", app_id = "app1", pipeline_id = "pipe1", pipeline_version_id = "v1" }
        for k = 1, 4 do
          emu:put_run({ id = "k" .. k, state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
            pipeline_version_id = "v1", created_at = 1700000000 + k,
            script = k == 1 and { { after = 5, state = "JOB_COMPLETED" } } or nil })
        end
        local keep = dofile(cli.root .. "/examples/keep_at_most_n_running.lua")
        local ticks, log, changes, moved = 0, nil, {}, false
        local ticker = uv.new_timer()
        ticker:start(50, 50, function()
          ticks = ticks + 1
          -- once k4 has been paused, k1 completes: there is room again
          if not moved and changes[1] then moved = true emu:advance(5) end
        end)
        async.spawn(function()
          local c = assert(clarifai.client.new({ pat = TOKEN, api_base = emu.url }))
          local events, l = keep(ref, 3, { interval = 0.05, timeout = 1.5, client = c,
            on_change = function(action, id) changes[#changes + 1] = action .. " " .. id end })
          log = { events = events, log = l }
          c:close()
        end, function(ok, e)
          assert(ok, tostring(e))
          ticker:stop()
          ticker:close()
        end)
        uv.run()
        assert.same({ "pause k4", "resume k4" }, changes)
        assert.equal("timeout", log.events.ended)
        assert.is_true(ticks >= 10, ticks .. " ticks")
        assert.equal(64001, emu:get_run("k4").orchestration_status.status.code)
      end)
  end
end)
