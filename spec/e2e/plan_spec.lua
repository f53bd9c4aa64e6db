-- The one request planner (runs.plan): what --dry-run shows is exactly what
-- the real run then sends first, for ids and for selections, grouped or one
-- run per request; and a run a server listed with an id the API cannot take
-- fails on its own, in the plan and in the real run, while the others go
-- ahead.

local cli = require "support.cli"
local emulator = require "support.emulator"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_5e7a1c0d3b"
local args = cli.args
local emu
local run = cli.runner(function() return emu.url end, TOKEN)

local V = { "--user_id", "u1", "--app_id", "app1", "--pipeline_id", "pipe1", "--pipeline_version_id", "v1" }

local function put(prefix, n, version)
  emu:put_runs(prefix, n, "JOB_RUNNING", { user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
    pipeline_version_id = version or "v1" })
end

-- "PATH BODY" of each request, sorted (the real run sends them concurrently).
local function sorted_requests(list)
  table.sort(list)
  return list
end

local function planned(argv)
  local r = run(args(argv, "--dry-run", "-o", "json"))
  assert.equal(0, r.code, r.err)
  local doc = cjson.decode(r.out)
  local out = {}
  for _, q in ipairs(doc.requests) do
    assert.equal("PATCH", q.method)
    out[#out + 1] = q.url:sub(#emu.url + 1) .. " " .. cjson.encode(q.body)
  end
  return sorted_requests(out), doc
end

local function sent()
  local out = {}
  for _, q in ipairs(emu:requests_of("PATCH")) do out[#out + 1] = q.path .. " " .. cjson.encode(cjson.decode(q.body)) end
  return sorted_requests(out)
end

describe("the request planner", function()
  emu = emulator.fixture({ tick = 0, token = TOKEN, seed = false })

  local CASES = {
    { "ids, one run per request", function() put("r", 3) end, args("pr", "pause", "r1", "r2", "r3", V), 3 },
    { "ids in one group", function() put("r", 3) end, args("pr", "pause", "r1", "r2", "r3", "--group-size", "3", V), 1 },
    { "a selection in groups of 100", function() put("s", 250) end, args("pr", "pause", "--all", "--yes", V), 3 },
    { "a selection across versions, groups of 40", function() put("a", 90, "v1") put("b", 30, "v2") end,
      args("pr", "pause", "--all", "--all-versions", "--yes", "--user_id", "u1", "--app_id", "app1", "--pipeline_id",
        "pipe1", "--group-size", "40"), 4 },
    { "a selection, one run per request", function() put("g", 7) end,
      args("pr", "cancel", "--all", "--yes", "--group-size", "1", V), 7 },
  }
  for _, case in ipairs(CASES) do
    it("--dry-run shows exactly what the real run sends: " .. case[1], function()
      case[2]()
      local plan = planned(case[3])
      assert.equal(case[4], #plan)
      assert.equal(0, emu:count("PATCH"), "a dry run sends nothing")
      local r = run(case[3])
      assert.equal(0, r.code, r.err)
      assert.same(plan, sent())
    end)
  end

  it("a listed run whose id the API cannot take fails on its own; the others go ahead", function()
    put("ok", 3)
    emu:put_run({ id = "bad/run", state = "JOB_RUNNING", user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
      pipeline_version_id = "v1" })
    local plan, doc = planned(args("pr", "pause", "--all", V))
    assert.equal(1, #plan)
    assert.is_nil(plan[1]:find("bad/run", 1, true))
    assert.equal(1, #doc.failed)
    assert.equal("bad/run", doc.failed[1].run_id)
    assert.equal("failed", doc.failed[1].outcome)
    assert.matches("it contains '/'", doc.failed[1].error.message, 1, true)
    local text = run(args("pr", "pause", "--all", "--dry-run", V))
    assert.matches("would fail: bad/run: invalid pipeline_version_run_id 'bad/run'", text.err, 1, true)
    local r = run(args("pr", "pause", "--all", "--yes", "-o", "json", V))
    assert.equal(7, r.code, r.err) -- some runs failed
    local report = cjson.decode(r.out)
    assert.same({ ok = 3, noop = 0, failed = 1, unknown = 0, not_sent = 0 }, report.summary)
    assert.same(plan, sent())
    for i = 1, 3 do assert.equal(64008, emu:get_run("ok" .. i).orchestration_status.status.code) end
    assert.is_nil(r.err:find("Usage:", 1, true), "no usage banner: the command was right")
  end)
end)
