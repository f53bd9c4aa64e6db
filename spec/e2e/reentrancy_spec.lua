-- Library calls made from inside other library calls: from on_result,
-- on_retry, monitor's callbacks and a workflow's on_done, with the same
-- client or another one, blocking and under the luv and cqueues adapters.
-- The outer call goes on and reports every result; the inner one works.
-- Coroutines of one's own inside a workflow: clarifai.async.coroutine hands
-- the library's waits up to the loop; a plain coroutine raises.

local emulator = require "support.emulator"

local TOKEN = "pat_CANARY_5e0f7a11c3"
local REF = { user_id = "demo-user", app_id = "demo-app", pipeline_id = "hello-world-pipeline",
  pipeline_version_id = "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" }
local IDS = { "s-1", "s-2", "s-3" }
local can_yield = _VERSION ~= "Lua 5.1" or rawget(_G, "jit") ~= nil
local optional = require "support.optional"
local has = optional.module

local function pack(...) return { n = select("#", ...), ... } end

-- A watchdog for blocking code: a call that spins raises instead of hanging
-- the suite (the hook runs in this coroutine's Lua code).
local function bounded(fn)
  local sys = require "clarifai.sys.core"
  local seconds = require("support.bounds").limit("nested")
  local deadline = sys.monotime() + seconds
  debug.sethook(function()
    if sys.monotime() > deadline then
      debug.sethook()
      error("still running after " .. seconds .. " s", 2)
    end
  end, "", 1000)
  local res = pack(pcall(fn))
  debug.sethook()
  if not res[1] then error(res[2], 0) end
  return require("clarifai.compat").unpack(res, 2, res.n)
end

describe("library calls from inside library calls #portable", function()
  local emu = emulator.fixture({ tick = 0, token = TOKEN })
  local clarifai

  setup(function() clarifai = require "clarifai" end)
  before_each(function()
    for _, id in ipairs(IDS) do emu:put_run({ id = id, state = "JOB_RUNNING" }) end
    -- one PATCH is slower than the others, so the others finish while it is in flight
    emu:fault({ kind = "delay", seconds = 0.6, method = "PATCH", contains = '"s-1"' })
  end)
  local function new_client() return assert(clarifai.client.new({ pat = TOKEN, api_base = emu.url })) end

  -- apply() whose on_result reads each run back with `inner` (a client).
  local function nested_apply(outer, inner)
    local seen, inner_states = {}, {}
    local report = assert(clarifai.runs.apply("pause", REF, IDS, { client = outer,
      on_result = function(r)
        seen[#seen + 1] = r.run_id
        local st = assert(clarifai.runs.status(REF, { r.run_id }, { client = inner }))
        inner_states[r.run_id] = st.results[1].run.orchestration_status.status.code
      end }))
    return report, seen, inner_states
  end

  local function check(report, seen, inner_states)
    assert.same({ ok = 3, noop = 0, failed = 0, unknown = 0, not_sent = 0 }, report.summary)
    table.sort(seen)
    assert.same(IDS, seen)
    for _, id in ipairs(IDS) do
      assert.equal(64008, inner_states[id], id)
      assert.equal(64008, emu:get_run(id).orchestration_status.status.code)
    end
  end

  it("status inside on_result of a 3-run apply, same client, blocking", function()
    local c = new_client()
    check(bounded(function() return nested_apply(c, c) end))
    c:close()
  end)

  it("status inside on_result of a 3-run apply, another client, blocking", function()
    local a, b = new_client(), new_client()
    check(bounded(function() return nested_apply(a, b) end))
    a:close()
    b:close()
  end)

  it("status inside on_retry: the retried run and the read both succeed", function()
    emu:clear_faults()
    emu:fault({ kind = "http", method = "PATCH", status = 503, contains = '"s-2"',
      body = '{"status":{"code":10030,"description":"try again"}}' })
    local c, notes = new_client(), {}
    local report = bounded(function()
      return assert(clarifai.runs.apply("pause", REF, IDS, { client = c,
        on_retry = function(info)
          local st = assert(clarifai.runs.status(REF, { info.run_id }, { client = c }))
          notes[#notes + 1] = st.results[1].run.orchestration_status.status.code
        end }))
    end)
    assert.equal(3, report.summary.ok)
    assert.same({ 64001 }, notes) -- read while still Running, before the second attempt
    c:close()
  end)

  it("status inside monitor's on_state and on_log", function()
    emu:clear_faults()
    emu:put_run({ id = "m-1", state = "JOB_RUNNING", lines = { "step one", "step two" },
      script = { { after = 10, state = "JOB_COMPLETED" } } })
    local c, reads = new_client(), 0
    local function read()
      reads = reads + #assert(clarifai.runs.status(REF, { "s-2" }, { client = c })).runs
      -- the run completes once the callbacks have run for its state and both lines
      if reads == 3 then emu:advance(10) end
    end
    local res = bounded(function()
      return assert(clarifai.monitor.monitor(REF, "m-1", { client = c, interval = 0.1, timeout = 4,
        on_state = read, on_log = read }))
    end)
    assert.equal("success", res.status)
    assert.is_true(reads >= 3, reads .. " reads")
    c:close()
  end)

  it("a call whose transfers another caller aborted raises instead of spinning", function()
    -- runs of their own: a request aborted here may still land on the server later
    for i = 1, 3 do emu:put_run({ id = "x-" .. i, state = "JOB_RUNNING" }) end
    emu:fault({ { kind = "delay", seconds = 0.3, method = "PATCH", contains = '"x-2"' },
      { kind = "delay", seconds = 0.3, method = "PATCH", contains = '"x-3"' } })
    local c = new_client()
    local ok, err = pcall(bounded, function()
      return clarifai.runs.apply("pause", REF, { "x-1", "x-2", "x-3" }, { client = c,
        on_result = function()
          c:session():abort_all() -- not ours: the outer call's transfers vanish
        end })
    end)
    assert.is_false(ok)
    assert.matches("no longer on the HTTP session", tostring(err), 1, true)
    c:close()
  end)

  if not can_yield then
    pending("Lua 5.1: no event-loop workflows")
    return
  end

  describe("in workflows", function()
    if not has("luv") then
      optional.skip("luv", "Debian lua-luv")
    else
      it("luv: status inside on_result, same client; on_done calls the library inside the workflow", function()
        local uv, async = require "luv", require "clarifai.async.luv"
        local c = new_client()
        local outcome, after
        local guard = uv.new_timer()
        uv.update_time()
        guard:start(math.floor(require("support.bounds").limit("nested") * 1000), 0, function() uv.stop() end)
        async.spawn(function() return nested_apply(c, c) end, function(ok, report, seen, states)
          outcome = { ok, report, seen, states }
          after = assert(clarifai.runs.status(REF, { "s-3" }, { client = c }))
          guard:stop()
          guard:close()
        end)
        uv.run()
        assert.is_true(outcome[1], tostring(outcome[2]))
        check(outcome[2], outcome[3], outcome[4])
        assert.equal(1, #after.runs)
        c:close()
      end)
    end

    if not has("cqueues") then
      optional.skip("cqueues", "Debian lua-cqueues")
    else
      it("cqueues: status inside on_result, another client", function()
        local cqueues, async = require "cqueues", require "clarifai.async.cqueues"
        local cq, a, b = cqueues.new(), new_client(), new_client()
        local outcome
        async.wrap(cq, function() return nested_apply(a, b) end, function(ok, report, seen, states)
          outcome = { ok, report, seen, states }
        end)
        assert(cq:loop(require("support.bounds").limit("nested")))
        assert.is_table(outcome, "the workflow did not end within the bound")
        assert.is_true(outcome[1], tostring(outcome[2]))
        check(outcome[2], outcome[3], outcome[4])
        a:close()
        b:close()
      end)
    end

    if has("luv") then
      local uv, async, co
      setup(function()
        uv, async, co = require "luv", require "clarifai.async.luv", require "clarifai.async.coroutine"
      end)

      -- Runs start(stop) with a 50 ms ticker until stop(); returns the tick count.
      local function ticking(start)
        local ticks = 0
        local ticker, guard = uv.new_timer(), uv.new_timer()
        local function stop()
          for _, t in ipairs({ ticker, guard }) do
            if not t:is_closing() then t:stop() t:close() end
          end
        end
        uv.update_time()
        ticker:start(50, 50, function() ticks = ticks + 1 end)
        guard:start(math.floor(require("support.bounds").limit("nested") * 1000), 0, stop)
        start(stop)
        uv.run()
        return ticks
      end

      it("a library wait inside clarifai.async.coroutine.wrap yields to the loop", function()
        emu:clear_faults()
        emu:fault({ kind = "delay", seconds = 0.6, method = "GET" })
        local got
        local ticks = ticking(function(stop)
          async.spawn(function()
            local c = new_client()
            -- a generator of one's own: each step reads a run (a library wait inside it)
            local gen = co.wrap(function()
              for _, id in ipairs({ "s-1", "s-2" }) do
                co.yield(assert(clarifai.runs.status(REF, { id }, { client = c })).runs[1].id)
              end
              return "end"
            end)
            local out = { gen(), gen(), gen() }
            c:close()
            return out
          end, function(ok, out) got = { ok, out } stop() end)
        end)
        assert.is_true(got[1], tostring(got[2]))
        assert.same({ "s-1", "s-2", "end" }, got[2])
        assert.is_true(ticks >= 8, ticks .. " ticks during a 0.6 s read")
      end)

      it("a library call inside a plain coroutine.wrap raises the documented error", function()
        local got
        ticking(function(stop)
          async.spawn(function()
            local c = new_client()
            local ok, err = pcall(coroutine.wrap(function() return clarifai.runs.status(REF, { "s-1" }, { client = c }) end))
            c:close()
            return ok, err
          end, function(ok, inner_ok, err) got = { ok, inner_ok, err } stop() end)
        end)
        assert.is_true(got[1])
        assert.is_false(got[2])
        assert.equal("clarifai: called from a coroutine the scheduler does not run; "
          .. "use clarifai.async.coroutine.wrap", got[3])
      end)

      it("cancelling one workflow aborts only its transfers, on a shared client", function()
        -- luv allows one poll handle per fd, so two workflows on one client
        -- need a loop that does not mind: a select() loop of one's own
        local socket = require "socket"
        emu:clear_faults()
        emu:fault({ kind = "delay", seconds = 0.8, method = "PATCH", contains = '"s-1"' })
        emu:fault({ kind = "delay", seconds = 0.4, method = "PATCH", contains = '"s-2"' })
        local parked = {}
        local sched = require("clarifai.async").new({
          wait_fd = function(fd, timeout)
            parked[#parked + 1] = { co = coroutine.running(), fd = fd, at = socket.gettime() + (timeout or 1) }
            coroutine.yield()
          end,
          sleep = function(sec)
            parked[#parked + 1] = { co = coroutine.running(), at = socket.gettime() + sec }
            coroutine.yield()
          end,
        })
        local c = new_client()
        local function pause(id)
          return function()
            local r = {}
            for k, v in pairs(REF) do r[k] = v end
            r.run_id = id
            return clarifai.runs.pause(r, { client = c })
          end
        end
        local results = {}
        local a = sched:spawn(pause("s-1"), function(ok, r) results.a = { ok, r } end)
        sched:spawn(pause("s-2"), function(ok, r) results.b = { ok, r } end)
        local t0 = socket.gettime()
        while #parked > 0 and socket.gettime() - t0 < 5 do
          if socket.gettime() - t0 > 0.1 and not a:done() then a:cancel() end
          local p = table.remove(parked, 1)
          if not p.fd or coroutine.status(p.co) ~= "suspended" then
            if coroutine.status(p.co) == "suspended" then require("clarifai.async").resume(p.co) end
          else
            local left = math.max(0, p.at - socket.gettime())
            socket.select({ { getfd = function() return p.fd end } }, nil, math.min(0.05, left))
            require("clarifai.async").resume(p.co)
          end
        end
        assert.is_false(results.a[1])
        assert.equal("cancelled", results.a[2].kind)
        assert.is_true(results.b[1], tostring(results.b[2]))
        assert.equal("ok", results.b[2].outcome)
        c:close()
      end)
    else
      optional.skip("luv", "Debian lua-luv")
    end
  end)
end)
