-- The library inside event loops (luv, cqueues, a scheduler of one's own):
-- slow requests, retries and polls yield to the loop, which keeps serving a
-- ticker; workflows overlap; errors and cancels reach on_done; a cancelled
-- workflow holds nothing. Blocking use is covered by every other spec.

local bounds = require "support.bounds"
local emulator = require "support.emulator"
local cli = require "support.cli"

local TOKEN = "pat_CANARY_a51c9e2f0d"
local REF = { user_id = "demo-user", app_id = "demo-app", pipeline_id = "hello-world-pipeline",
  pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" }

local optional = require "support.optional"
local has = optional.module
-- Plain Lua 5.1 cannot yield across pcall: the schedulers refuse there.
local can_yield = _VERSION ~= "Lua 5.1" or rawget(_G, "jit") ~= nil

local function run_ref(id)
  local r = {}
  for k, v in pairs(REF) do r[k] = v end
  r.run_id = id
  return r
end

describe("the library in an event loop #portable", function()
  local emu = emulator.fixture({ tick = 0, token = TOKEN })

  -- Two PATCHes the server held `held` seconds each overlapped: the second
  -- reached it before the first was answered (a blocked loop would send it
  -- only after), whatever the machine's speed.
  local function assert_overlapped(held)
    local patches = emu:requests_of("PATCH")
    assert.equal(2, #patches)
    local gap = math.abs(patches[2].time - patches[1].time)
    assert.is_true(gap < held, string.format("the second PATCH arrived %.2f s after the first", gap))
  end
  local clarifai

  setup(function()
    clarifai = require "clarifai"
  end)
  local function new_client() return assert(clarifai.client.new({ pat = TOKEN, api_base = emu.url })) end

  if not can_yield then
    pending("Lua 5.1: no event-loop workflows (see the last spec)")
  elseif not has("luv") then
    optional.skip("luv", "Debian lua-luv")
  else
    describe("luv", function()
      local uv, async
      setup(function()
        uv = require "luv"
        async = require "clarifai.async.luv"
      end)

      -- Runs the loop with a 100 ms ticker until the workflows end; returns
      -- the tick count. on_tick (optional) runs at each tick.
      local function loop_with_ticker(start, on_tick)
        local ticks = 0
        local ticker = uv.new_timer()
        ticker:start(100, 100, function()
          ticks = ticks + 1
          if on_tick then on_tick() end
        end)
        local stop = start(function() ticker:stop() if not ticker:is_closing() then ticker:close() end end)
        uv.run()
        if stop then stop() end
        return ticks
      end

      it("keeps the loop ticking while two workflows each wait 2 s on a PATCH; they overlap", function()
        emu:fault({ kind = "delay", seconds = 2, method = "PATCH", times = 2 })
        local got, t0 = {}, uv.hrtime()
        local ticks = loop_with_ticker(function(stop)
          for _, id in ipairs({ "run-train-01", "run-train-02" }) do
            async.spawn(function()
              local c = new_client()
              local r = assert(clarifai.runs.pause(run_ref(id), { client = c }))
              c:close()
              return r
            end, function(ok, r)
              got[#got + 1] = { ok = ok, r = r, at = (uv.hrtime() - t0) / 1e9 }
              if #got == 2 then stop() end
            end)
          end
        end)
        assert.equal(2, #got)
        for _, g in ipairs(got) do
          assert.is_true(g.ok, tostring(g.r))
          assert.equal("JOB_PAUSED", g.r.state)
          bounds.check("overlap", g.at, "two 2 s waits")
        end
        assert_overlapped(2)
        -- a loop blocked for the 2 s would tick at most once or twice
        assert.is_true(ticks >= 5, ticks .. " ticks")
        assert.equal(64008, emu:get_run("run-train-01").orchestration_status.status.code)
      end)

      it("waits for 5 runs and monitors another beside the ticker", function()
        emu:config({ transition_delay = 10 })
        local ids = {}
        for i = 1, 5 do
          emu:put_run({ id = "lw" .. i, state = "JOB_RUNNING" })
          ids[i] = "lw" .. i
        end
        emu:put_run({ id = "lm", state = "JOB_RUNNING", script = { { after = 10, state = "JOB_COMPLETED" } } })
        local waited, monitored, moved
        -- the runs change once both workflows have polled them (the
        -- emulator's clock moves only when told)
        local function move_when_polled()
          if moved then return end
          local list, one = false, false
          for _, req in ipairs(emu:requests_of("GET")) do
            if req.path:match("/runs$") then list = true elseif req.path:match("/runs/lm$") then one = true end
          end
          if list and one then
            moved = true
            emu:advance(10)
          end
        end
        local ticks = loop_with_ticker(function(stop)
          local function maybe_stop() if waited and monitored then stop() end end
          async.spawn(function()
            local c = new_client()
            assert(clarifai.runs.apply("pause", REF, ids, { client = c }))
            local w = assert(clarifai.watch.wait("pause", REF, ids, { client = c, interval = 0.2, timeout = 10 }))
            c:close()
            return w
          end, function(ok, w) waited = ok and w or false; maybe_stop() end)
          async.spawn(function()
            local c = new_client()
            local res = assert(clarifai.monitor.monitor(REF, "lm", { client = c, interval = 0.2, timeout = 10 }))
            c:close()
            return res
          end, function(ok, res) monitored = ok and res or false; maybe_stop() end)
        end, move_when_polled)
        assert.is_table(waited)
        for _, r in ipairs(waited.results) do assert.equal("reached", r.outcome) end
        assert.equal("success", monitored.status)
        assert.is_true(moved, "the runs changed only after both workflows polled them")
        assert.is_true(ticks >= 2, ticks .. " ticks: one moved the clock while both waited, more while they polled again")
      end)

      it("selects an app's running runs and pauses them in groups from a workflow, ticking", function()
        local scope = { user_id = "demo-user", app_id = "wf-app" }
        for p = 1, 2 do
          for v = 1, 2 do
            local at = { user_id = "demo-user", app_id = "wf-app", pipeline_id = "wp" .. p,
              pipeline_version_id = "wv" .. v }
            emu:put_runs(string.format("wf%d%d-", p, v), 30, "JOB_RUNNING", at)
            emu:put_runs(string.format("wq%d%d-", p, v), 5, "JOB_QUEUED", at)
          end
        end
        emu:fault({ kind = "delay", seconds = 1, method = "PATCH", times = 4 })
        local got
        local ticks = loop_with_ticker(function(stop)
          async.spawn(function()
            local c = new_client()
            local refs = assert(clarifai.runs.select({ user_id = scope.user_id, app_id = scope.app_id,
              all_pipelines = true }, { states = { "JOB_RUNNING" } }, { client = c }))
            local report = assert(clarifai.runs.apply("pause", refs, { client = c }))
            c:close()
            return { refs = refs, report = report }
          end, function(ok, r) got = ok and r or tostring(r); stop() end)
        end)
        assert.is_table(got, tostring(got))
        assert.equal(120, #got.refs)
        assert.same({ ok = 120, noop = 0, failed = 0, unknown = 0, not_sent = 0 }, got.report.summary)
        for _, r in ipairs(got.report.results) do
          assert.matches("^wf%d%d%-%d+$", r.run_id)
          assert.equal(64008, emu:get_run(r.run_id).orchestration_status.status.code)
          assert.equal("wp" .. r.run_id:sub(3, 3), r.pipeline_id)
        end
        assert.equal(64000, emu:get_run("wq11-1").orchestration_status.status.code)
        assert.equal(4, emu:count("PATCH")) -- one per version
        assert.is_true(ticks >= 3, ticks .. " ticks during four 1 s PATCHes")
      end)

      it("yields during a Retry-After wait instead of sleeping", function()
        emu:fault({ kind = "http", method = "PATCH", status = 429, times = 1, headers = { ["Retry-After"] = "1" },
          body = '{"status":{"code":11005,"description":"throttled"}}' })
        local result
        local ticks = loop_with_ticker(function(stop)
          async.spawn(function()
            local c = new_client()
            local r = assert(clarifai.runs.pause(run_ref("run-train-01"), { client = c }))
            c:close()
            return r
          end, function(ok, r) result = ok and r or tostring(r); stop() end)
        end)
        assert.equal("ok", result.outcome)
        assert.equal(2, emu:count("PATCH"))
        assert.is_true(ticks >= 3, ticks .. " ticks during a 1 s Retry-After")
      end)

      it("hands an error inside a workflow to on_done", function()
        local results = {}
        loop_with_ticker(function(stop)
          async.spawn(function() error("boom") end, function(ok, err)
            results[#results + 1] = { ok, err }
          end)
          async.spawn(function()
            -- a library error raised as it is keeps its table and message (busted's own
            -- assert would turn it into a string: plain Lua's keeps the table)
            local r, _, err = clarifai.runs.pause(run_ref("no-such-run"), { client = new_client() })
            if not r then error(err) end
            return r
          end, function(ok, err)
            results[#results + 1] = { ok, err }
            stop()
          end)
        end)
        assert.equal(2, #results)
        assert.is_false(results[1][1])
        assert.matches("boom", tostring(results[1][2]))
        assert.is_false(results[2][1])
        assert.equal("api", results[2][2].kind, tostring(results[2][2]))
        assert.matches("Resource does not exist", tostring(results[2][2]), 1, true)
      end)

      it("cancels a workflow at once: on_done hears of it, its transfer and watchers are released", function()
        emu:fault({ kind = "hang", method = "PATCH", apply = false })
        local outcome, handle
        local weak = setmetatable({}, { __mode = "k" })
        local t0 = uv.hrtime()
        local ticks = loop_with_ticker(function(stop)
          handle = async.spawn(function()
            local c = clarifai.client.new({ pat = TOKEN, api_base = emu.url })
            weak[c] = true
            return clarifai.runs.pause(run_ref("run-train-01"), { client = c })
          end, function(ok, err) outcome = { ok, err } end)
          local later = uv.new_timer()
          later:start(300, 0, function()
            later:close()
            handle:cancel("enough")
            stop()
          end)
        end)
        local took = (uv.hrtime() - t0) / 1e9
        assert.is_false(outcome[1])
        assert.equal("cancelled", outcome[2].kind)
        assert.matches("enough", tostring(outcome[2]), 1, true)
        assert.is_true(handle:done())
        assert.is_true(ticks >= 2)
        bounds.check("cancel", took, "the loop's end after the cancel")
        handle = nil
        collectgarbage()
        collectgarbage()
        assert.is_nil(next(weak), "the cancelled workflow's client was not collected")
      end)
    end)
  end

  if not can_yield then
    pending("Lua 5.1: no event-loop workflows")
  elseif not has("cqueues") then
    optional.skip("cqueues", "Debian lua-cqueues")
  else
    describe("cqueues", function()
      local cqueues, async
      setup(function()
        cqueues = require "cqueues"
        async = require "clarifai.async.cqueues"
      end)

      it("keeps a ticking coroutine running while two workflows each wait 2 s; they overlap", function()
        emu:fault({ kind = "delay", seconds = 2, method = "PATCH", times = 2 })
        local cq = cqueues.new()
        local ticks, got = 0, {}
        cq:wrap(function()
          while #got < 2 do
            cqueues.sleep(0.1)
            ticks = ticks + 1
          end
        end)
        local t0 = cqueues.monotime()
        for _, id in ipairs({ "run-train-01", "run-train-02" }) do
          async.wrap(cq, function()
            local c = new_client()
            local r = assert(clarifai.runs.pause(run_ref(id), { client = c }))
            c:close()
            return r
          end, function(ok, r) got[#got + 1] = { ok = ok, r = r, at = cqueues.monotime() - t0 } end)
        end
        assert(cq:loop())
        for _, g in ipairs(got) do
          assert.is_true(g.ok, tostring(g.r))
          assert.equal("JOB_PAUSED", g.r.state)
          bounds.check("overlap", g.at, "two 2 s waits")
        end
        assert_overlapped(2)
        assert.is_true(ticks >= 5, ticks .. " ticks")
      end)

      it("cancels a workflow blocked on a hanging request", function()
        emu:fault({ kind = "hang", method = "PATCH", apply = false })
        local cq = cqueues.new()
        local outcome
        local handle = async.wrap(cq, function()
          return clarifai.runs.pause(run_ref("run-train-01"), { client = new_client() })
        end, function(ok, err) outcome = { ok, err } end)
        cq:wrap(function()
          cqueues.sleep(0.3)
          handle:cancel()
        end)
        local t0 = cqueues.monotime()
        assert(cq:loop())
        assert.is_false(outcome[1])
        assert.equal("cancelled", outcome[2].kind)
        bounds.check("cancel", cqueues.monotime() - t0, "the loop's end after the cancel")
      end)
    end)
  end

  describe("a scheduler of one's own", function()
    it("drives workflows through wait_fd and sleep alone", function()
      if not can_yield then return pending("Lua 5.1") end
      local socket = require "socket"
      local async = require "clarifai.async"
      emu:fault({ kind = "delay", seconds = 0.5, method = "PATCH", times = 1 })
      -- a tiny loop: parked workflows wait on fds (socket.select) or timers
      local parked = {}
      local function fdobj(fd) return { getfd = function() return fd end } end
      local sched = async.new({
        wait_fd = function(fd, timeout)
          parked[#parked + 1] = { co = coroutine.running(), fd = fd, at = socket.gettime() + (timeout or 1) }
          coroutine.yield()
        end,
        sleep = function(s)
          parked[#parked + 1] = { co = coroutine.running(), at = socket.gettime() + s }
          coroutine.yield()
        end,
      })
      local result, waits = nil, 0
      sched:spawn(function()
        local c = new_client()
        local r = assert(clarifai.runs.pause(run_ref("run-train-02"), { client = c }))
        c:close()
        return r
      end, function(ok, r) result = ok and r or tostring(r) end)
      while #parked > 0 do
        local p = table.remove(parked, 1)
        waits = waits + 1
        if p.fd then socket.select({ fdobj(p.fd) }, nil, math.max(0, p.at - socket.gettime()))
        else socket.sleep(math.max(0, p.at - socket.gettime())) end
        async.resume(p.co)
      end
      assert.equal("ok", result.outcome)
      assert.is_true(waits >= 1, "the workflow never waited through the scheduler")
    end)

    it("installs no signal handler in embedded use", function()
      if not has("luv") then return pending(optional.missing("luv", "Debian lua-luv")) end
      local dir = cli.tmpdir()
      cli.write(dir .. "/sig.lua", table.concat({
        'package.path = "' .. cli.root .. '/lua/?.lua;' .. cli.root .. '/lua/?/init.lua;" .. package.path',
        'package.cpath = "' .. cli.root .. '/build/?.so;" .. package.cpath',
        'local uv, clarifai = require "luv", require "clarifai"',
        'local async = require "clarifai.async.luv"',
        'async.spawn(function()',
        '  local c = assert(clarifai.client.new({ pat = "' .. TOKEN .. '", api_base = "' .. emu.url .. '" }))',
        '  return clarifai.runs.status({ user_id = "demo-user", app_id = "demo-app",',
        '    pipeline_id = "hello-world-pipeline", pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" },',
        '    { "run-train-01" }, { client = c })',
        'end, function(ok) print(ok) end)',
        'uv.run()',
        -- SIGTERM (bit 14) and SIGHUP (bit 0) of the caught-signal mask (lua5.4 itself
        -- catches SIGINT while it runs a script)
        'for line in io.lines("/proc/self/status") do',
        '  local mask = line:match("^SigCgt:%s*(%x+)")',
        '  if mask then',
        '    local m = tonumber(mask, 16)',
        '    print((math.floor(m / 2 ^ 14) % 2 == 1 or m % 2 == 1) and "caught" or "default")',
        '  end',
        'end',
      }, "\n") .. "\n")
      local p = io.popen("env -u LD_PRELOAD lua5.4 " .. cli.quote(dir .. "/sig.lua") .. " 2>&1")
      local out = p:read("*a")
      p:close()
      assert.equal("true\ndefault\n", out)
    end)
  end)

  it("is refused on Lua 5.1, where a coroutine cannot yield across pcall", function()
    if _VERSION ~= "Lua 5.1" or rawget(_G, "jit") then
      assert.has_no.errors(function()
        require("clarifai.async").new({ wait_fd = function() end, sleep = function() end })
      end)
      return
    end
    assert.has_error(function()
      require("clarifai.async").new({ wait_fd = function() end, sleep = function() end })
    end)
  end)
end)
