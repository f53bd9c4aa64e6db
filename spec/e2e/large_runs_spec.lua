-- Runs of any size in bounded memory (doc/topics/large-runs.md): the
-- emulator gives every run an Argo spec and status of 256 KB, as real runs
-- carry; list --all, a selection paused with --wait, and status read them
-- with their long strings dropped as they arrive, each command peaking at
-- or below 64 MiB of RSS (GNU time's %M), and still say what users need:
-- id, state, times, version, nodepools. The memory is measured on the
-- lua5.4 build only (not under the sanitizer, not under the other Luas);
-- the behaviour is checked everywhere.

local cli = require "support.cli"
local emulator = require "support.emulator"
local optional = require "support.optional"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_large_9d41b2"
local SIZE = 256 * 1024
local N = 300
local MAX_RSS = 64 * 1024 -- kB
local IDS = cli.IDS
local NP = { nodepool_id = "np-big", compute_cluster_id = "cc-big" }
local PAUSED, RUNNING = 64008, 64001
local MEASURE = os.getenv("CLARIFAI_SANITIZE") == nil and cli.lua == "lua5.4"

local emu = emulator.fixture({ tick = 0, token = TOKEN, seed = false, args = { "--run-size", tostring(SIZE) } })
local run = cli.runner(function() return emu.url end, TOKEN)

-- Runs the command, under GNU time when memory is measured: the result and
-- the peak RSS in kB (nil when not measured).
local function measured(argv, opts)
  if not MEASURE then return run(argv, opts), nil end
  if not optional.command("/usr/bin/time") then
    optional.missing("GNU time", "Debian time") -- outside CI: the runs are checked, their memory not
    return run(argv, opts), nil
  end
  local out = os.tmpname()
  local o = { wrap = { "/usr/bin/time", "-f", "%M", "-o", out } }
  for k, v in pairs(opts or {}) do o[k] = v end
  local r = run(argv, o)
  local kb = tonumber(cli.slurp(out):match("(%d+)%s*$"))
  os.remove(out)
  assert(kb, "GNU time gave no peak RSS")
  return r, kb
end

local function check_rss(kb, what)
  if not kb then return end
  assert.is_true(kb <= MAX_RSS, string.format("%s peaked at %.1f MiB of RSS (at most %d MiB)", what, kb / 1024,
    MAX_RSS / 1024))
end

-- What users need of a run is there; the long texts are null.
local function check_run(r, state)
  assert.is_string(r.id)
  assert.equal(state, r.orchestration_status.status.code, r.id)
  for _, k in ipairs({ "created_at", "modified_at", "started_at" }) do assert.matches("^%d+%-", r[k], 1, false) end
  assert.equal(emulator.DEMO.version, r.pipeline_version.id)
  assert.equal(emulator.DEMO.pipeline, r.pipeline_version.pipeline_id)
  assert.equal("np-big", r.nodepools[1].id)
  assert.equal("cc-big", r.nodepools[1].compute_cluster.id)
  assert.equal(cjson.null, r.orchestration_spec.argo_orchestration_spec.spec_json)
  assert.equal(cjson.null, r.pipeline_version.orchestration_spec.argo_orchestration_spec.spec_json)
  assert.equal(cjson.null, r.orchestration_status.argo_status.status)
end

-- The state of every run, read small (run_size 0) so the spec reads fast.
local function states_now()
  emu:config({ run_size = 0 })
  local out = {}
  for page = 1, math.ceil(N / 128) do
    local _, doc = emu:api("GET", emulator.runs_path() .. "?per_page=128&page=" .. page, nil, TOKEN)
    for _, r in ipairs(doc.pipeline_version_runs) do out[r.id] = r.orchestration_status.status.code end
  end
  return out
end

describe("runs of any size #portable", function()
  before_each(function() emu:put_runs("big", N, "JOB_RUNNING", NP) end)

  it("list --all reads 300 runs of 256 KB each in bounded memory, every run with what users need", function()
    local r, kb = measured(cli.args("pr", "list", "--all", "-o", "json", IDS))
    assert.equal(0, r.code, r.err)
    local doc = cjson.decode(r.out)
    assert.equal(N, #doc.runs)
    local seen = {}
    for _, run_ in ipairs(doc.runs) do
      check_run(run_, RUNNING)
      seen[run_.id] = true
    end
    for i = 1, N do assert.is_true(seen["big" .. i], "big" .. i) end
    -- three pages of some 32 MB each came over the wire
    local gets = emu:requests_of("GET")
    assert.equal(math.ceil(N / 128), #gets)
    check_rss(kb, "list --all")
  end)

  it("pause --all --yes --wait pauses every run, each read in bounded memory", function()
    local r, kb = measured(cli.args("pr", "pause", "--all", "--yes", "--wait", "--timeout", "60", "-o", "json", IDS))
    assert.equal(0, r.code, r.err)
    local doc = cjson.decode(r.out)
    assert.same({ ok = N, noop = 0, failed = 0, unknown = 0, not_sent = 0 }, doc.summary)
    for _, res in ipairs(doc.results) do
      assert.equal("ok", res.outcome, res.run_id)
      assert.equal("reached", res.wait.outcome, res.run_id)
    end
    for id, code in pairs(states_now()) do assert.equal(PAUSED, code, id) end
    check_rss(kb, "pause --all --yes --wait")
  end)

  it("status reads runs whose workflow status is 256 KB, and one of 4 MB, saying what was dropped", function()
    local r, kb = measured(cli.args("pr", "status", "big1", "big2", "big300", "-o", "json", "--verbose", IDS))
    assert.equal(0, r.code, r.err)
    local doc = cjson.decode(r.out)
    assert.equal(3, #doc.runs)
    for _, run_ in ipairs(doc.runs) do check_run(run_, RUNNING) end
    assert.same({}, doc.errors)
    assert.matches("3 strings over 16384 bytes dropped)", r.err, 1, true)
    check_rss(kb, "status")
    -- a run four times the old 1 MiB cap
    emu:config({ run_size = 4 * 1024 * 1024 })
    local big, kb2 = measured(cli.args("pr", "status", "big7", IDS))
    assert.equal(0, big.code, big.err)
    assert.matches("big7%s+RUNNING", big.out)
    check_rss(kb2, "status of a 4 MB run")
  end)

  it("--max-response-size caps the bytes kept, from the flag or the environment", function()
    local r = run(cli.args("pr", "list", "--all", "--max-response-size", "65536", IDS))
    assert.equal(5, r.code)
    assert.matches("the response exceeded the size limit (65536 bytes)", r.err, 1, true)
    local e = run(cli.args("pr", "list", "--all", IDS), { env = { CLARIFAI_MAX_RESPONSE_SIZE = "65536" } })
    assert.equal(5, e.code)
    assert.matches("(65536 bytes)", e.err, 1, true)
    local bad = run(cli.args("pr", "list", "--max-response-size", "10", IDS))
    assert.equal(2, bad.code)
    assert.matches("--max-response-size", bad.err, 1, true)
    local env_bad = run(cli.args("pr", "list", IDS), { env = { CLARIFAI_MAX_RESPONSE_SIZE = "lots" } })
    assert.equal(3, env_bad.code)
    assert.matches("CLARIFAI_MAX_RESPONSE_SIZE=lots is not valid", env_bad.err, 1, true)
  end)
end)
