-- End-to-end: bin/clarifai as a subprocess against the emulator. Each case
-- asserts stdout, stderr, the exit code and what reached the server.

local cli = require "support.cli"
local emulator = require "support.emulator"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_7f3a9c21e5"
local IDS = cli.IDS
local RUNS_PATH = "/v2/users/demo-user/apps/demo-app/pipelines/hello-world-pipeline"
  .. "/versions/8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19/runs"

local LOCKFILE = [[
pipeline:
  id: hello-world-pipeline
  user_id: demo-user
  app_id: demo-app
  version_id: 8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19
  orchestration_spec:
    argo_orchestration_spec: |
      apiVersion: argoproj.io/v1alpha1
      kind: Workflow
      spec:
        entrypoint: sequence
        templates:
        - name: sequence
          steps:
          - - name: step-0
              templateRef:
                name: users/demo-user/apps/demo-app/pipeline_steps/stepA/versions/3f2a
                template: users/demo-user/apps/demo-app/pipeline_steps/stepA/versions/3f2a
]]

local emu

local args = cli.args

local run = cli.runner(function() return emu.url end, TOKEN)

local function patches()
  local out = {}
  for _, req in ipairs(emu:requests()) do
    if req.method == "PATCH" then out[#out + 1] = req end
  end
  return out
end

local function lockdir(text)
  local dir = cli.tmpdir()
  cli.write(dir .. "/config-lock.yaml", text or LOCKFILE)
  return dir
end

describe("clarifai CLI", function()
  emu = emulator.fixture({ tick = 0, token = TOKEN })

  describe("help", function()
    it("documents the exit codes and the environment at the top level", function()
      local r = run({ "--help" })
      assert.equal(0, r.code)
      assert.matches("pipelinerun, pr", r.out, 1, true)
      assert.matches("Exit codes:", r.out, 1, true)
      for _, code in ipairs({ "0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "70 ", "130 " }) do
        assert.matches("\n  " .. code, r.out, 1, true)
      end
      assert.matches("CLARIFAI_PAT", r.out, 1, true)
    end)

    it("shows the transition table under pr --help", function()
      for _, group in ipairs({ "pr", "pipelinerun" }) do
        local r = run({ group, "--help" })
        assert.equal(0, r.code)
        assert.matches("pause%s+Queued, Running%s+Paused", r.out)
        assert.matches("cancel%s+Queued, Running, Paused%s+Cancelled", r.out)
        assert.matches("resume%s+Paused%s+Running", r.out)
        assert.matches("Terminal states", r.out, 1, true)
      end
    end)

    it("says when each action is allowed, with examples", function()
      local expect = {
        pause = "Pausing is allowed only when the pipeline run is in Queued or Running state.",
        cancel = "Cancelling is allowed when the pipeline run is not already in a terminal state",
        resume = "Resuming is allowed only when the pipeline run is in Paused state.",
      }
      for action, sentence in pairs(expect) do
        local r = run({ "pr", action, "--help" })
        assert.equal(0, r.code)
        assert.matches(sentence, r.out, 1, true)
        assert.matches("clarifai pr " .. action .. " RUN_ID", r.out, 1, true)
        assert.matches("clarifai pipelinerun " .. action .. " --pipeline_version_run_id=RUN_ID", r.out, 1, true)
        assert.matches("--pipeline_version_id=VERSION", r.out, 1, true)
        assert.equal("", r.err)
      end
    end)

    it("prints the version", function()
      local r = run({ "--version" })
      assert.equal(0, r.code)
      assert.matches("^clarifai %d+%.%d+%.%d+\n$", r.out)
    end)
  end)

  describe("the seed examples", function()
    it("pauses with a positional run id and the four flags", function()
      local r = run(args("pr", "pause", "run-train-01", IDS))
      assert.equal("Pipeline version run run-train-01 has been paused.\n", r.out)
      assert.equal("", r.err)
      assert.equal(0, r.code)
      local p = patches()
      assert.equal(1, #p)
      assert.equal(RUNS_PATH, p[1].path)
      local body = cjson.decode(p[1].body)
      assert.equal("overwrite", body.action)
      assert.equal(1, #body.pipeline_version_runs)
      assert.equal("run-train-01", body.pipeline_version_runs[1].id)
      assert.equal("JOB_PAUSED", body.pipeline_version_runs[1].orchestration_status.status.code)
      assert.equal("Key " .. TOKEN, p[1].headers.authorization)
      assert.equal("application/json", p[1].headers["content-type"])
      assert.matches("^clarifai%-lua/%d+%.%d+%.%d+", p[1].headers["user-agent"])
      assert.equal(1, #emu:requests(), "exactly one request")
    end)

    it("cancels and resumes with the matching codes and messages", function()
      local r = run(args("pr", "cancel", "run-eval-03", IDS))
      assert.equal(0, r.code)
      assert.equal("Pipeline version run run-eval-03 has been cancelled.\n", r.out)
      r = run(args("pr", "resume", "run-etl-04", IDS))
      assert.equal(0, r.code)
      assert.equal("Pipeline version run run-etl-04 has been resumed.\n", r.out)
      local p = patches()
      -- enum values by name, as Clarifai's own JSON client sends them
      assert.equal("JOB_CANCELLED", cjson.decode(p[1].body).pipeline_version_runs[1].orchestration_status.status.code)
      assert.equal("JOB_RUNNING", cjson.decode(p[2].body).pipeline_version_runs[1].orchestration_status.status.code)
    end)

    it("takes the run id from --pipeline_version_run_id= under the long group name", function()
      local r = run(args("pipelinerun", "pause", "--pipeline_version_run_id=run-train-02", IDS))
      assert.equal(0, r.code)
      assert.equal("Pipeline version run run-train-02 has been paused.\n", r.out)
    end)

    it("lets the positional run id win over the flag", function()
      local r = run(args("pr", "pause", "run-train-01", "--pipeline_version_run_id", "run-train-02", IDS))
      assert.equal(0, r.code)
      assert.equal("run-train-01", cjson.decode(patches()[1].body).pipeline_version_runs[1].id)
    end)

    it("accepts --x=v, --x v and dashed spellings", function()
      local r = run({ "pr", "pause", "run-train-01", "--user-id=demo-user", "--app-id", "demo-app",
        "--pipeline-id=hello-world-pipeline", "--pipeline_version_id", "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19" })
      assert.equal(0, r.code)
      assert.equal(RUNS_PATH, patches()[1].path)
    end)

    it("requires a run id, worded as the Python CLI", function()
      local r = run(args("pr", "resume", IDS))
      assert.equal(2, r.code)
      assert.equal("", r.out)
      assert.matches("Usage: clarifai pr resume [OPTIONS] [PIPELINE_VERSION_RUN_ID]", r.err, 1, true)
      assert.matches("Error: pipeline_version_run_id is required. Provide it as a positional argument "
        .. "or use --pipeline_version_run_id flag.", r.err, 1, true)
      assert.equal(0, #emu:requests())
    end)

    it("treats an unknown flag as a usage error", function()
      local r = run(args("pr", "pause", "run-train-01", "--bogus", IDS))
      assert.equal(2, r.code)
      assert.matches("Error: unknown option '--bogus'", r.err, 1, true)
      assert.equal(0, #emu:requests())
    end)
  end)

  describe("config-lock.yaml", function()
    it("fills every id from the lockfile", function()
      local r = run({ "pr", "pause", "run-train-01" }, { cwd = lockdir() })
      assert.equal(0, r.code, r.err)
      assert.equal("Pipeline version run run-train-01 has been paused.\n", r.out)
      assert.equal(RUNS_PATH, patches()[1].path)
    end)

    it("uses values exactly as written (no YAML typing)", function()
      emu:put_run({ user_id = "0123", app_id = "yes", pipeline_id = "1e3", pipeline_version_id = "007",
        id = "run-typed", state = "JOB_RUNNING" })
      local dir = lockdir("pipeline:\n  id: 1e3\n  user_id: 0123\n  app_id: yes\n  version_id: 007\n")
      local r = run({ "pr", "pause", "run-typed" }, { cwd = dir })
      assert.equal(0, r.code, r.err)
      assert.equal("/v2/users/0123/apps/yes/pipelines/1e3/versions/007/runs", patches()[1].path)
    end)

    it("lets flags override lockfile values", function()
      emu:put_run({ app_id = "other-app", id = "run-other", state = "JOB_RUNNING" })
      local r = run({ "pr", "pause", "run-other", "--app_id", "other-app" }, { cwd = lockdir() })
      assert.equal(0, r.code, r.err)
      assert.equal((RUNS_PATH:gsub("demo%-app", "other-app")), patches()[1].path)
    end)

    it("is a usage error, naming what is missing, when there is none", function()
      local r = run({ "pr", "pause", "run-train-01", "--user_id", "demo-user", "--app_id", "demo-app" })
      assert.equal(2, r.code)
      assert.equal("", r.out)
      assert.matches("Error: Missing required parameters. Either provide --user_id, --app_id, --pipeline_id, "
        .. "and --pipeline_version_id, or ensure config-lock.yaml exists.", r.err, 1, true)
      assert.matches("missing: --pipeline_id, --pipeline_version_id", r.err, 1, true)
      assert.matches("config-lock.yaml: not found", r.err, 1, true)
      assert.equal(0, #emu:requests())
    end)

    it("is a usage error with line:col when the lockfile is invalid", function()
      local r = run({ "pr", "pause", "run-train-01" }, { cwd = lockdir("pipeline:\n  id: [unclosed\n") })
      assert.equal(2, r.code)
      assert.matches("Missing required parameters", r.err, 1, true)
      assert.matches("config%-lock%.yaml:%d+:%d+: ", r.err)
      assert.equal(0, #emu:requests())
    end)

    it("is not read at all when all four flags are given", function()
      local r = run(args("pr", "pause", "run-train-01", IDS), { cwd = lockdir("pipeline: [oops\n") })
      assert.equal(0, r.code, r.err)
    end)
  end)

  describe("refusals and failures", function()
    it("exits 1 with the API's description when a transition is refused", function()
      local r = run(args("pr", "cancel", "run-etl-05", IDS))
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.matches("^Error: Failed to patch pipeline version run: Invalid pipeline request%.", r.err)
      assert.matches("Details: cannot cancel pipeline version run run-etl-05 in state JOB_COMPLETED", r.err, 1, true)
      assert.matches("Code: PIPELINE_INVALID_REQUEST.", r.err, 1, true)
      assert.matches("req_id: ", r.err, 1, true)
      assert.equal(1, #patches())
    end)

    it("exits 6 when the outcome stays unknown (HTTP 500 on every attempt)", function()
      emu:fault({ kind = "http", status = 500, body = '{"status":{"code":98004,"description":"Internal"}}',
        method = "PATCH", times = 0 })
      local r = run(args("pr", "pause", "run-train-01", IDS))
      assert.equal(6, r.code)
      assert.matches("outcome unknown for run run-train-01", r.err, 1, true)
      assert.matches("check with `clarifai pr status run-train-01", r.err, 1, true)
    end)

  end)

  describe("credentials and contexts", function()
    local function home_with(config)
      local home = cli.tmpdir()
      os.execute("mkdir -p " .. cli.quote(home .. "/.config/clarifai"))
      cli.write(home .. "/.config/clarifai/config", config)
      os.execute("chmod 600 " .. cli.quote(home .. "/.config/clarifai/config"))
      return home
    end

    local function config_text(base)
      return table.concat({
        "contexts:",
        "  a:",
        "    CLARIFAI_API_BASE: " .. base,
        "    CLARIFAI_PAT: " .. TOKEN,
        "  b:",
        "    env:",
        "      CLARIFAI_API_BASE: " .. base,
        "      CLARIFAI_PAT: wrong-b-token",
        "  c:",
        "    CLARIFAI_PAT: ENVVAR",
        "current_context: a",
        "",
      }, "\n")
    end

    it("reads the token and base from the current context (flat form)", function()
      local r = run(args("pr", "pause", "run-train-01", IDS),
        { home = home_with(config_text(emu.url)), unset = { "CLARIFAI_PAT", "CLARIFAI_API_BASE" } })
      assert.equal(0, r.code, r.err)
      assert.equal("Key " .. TOKEN, patches()[1].headers.authorization)
    end)

    it("honours --context before the group and after the subcommand (nested env: form)", function()
      local home = home_with(config_text(emu.url))
      local r1 = run(args("--context", "b", "pr", "pause", "run-train-01", IDS),
        { home = home, unset = { "CLARIFAI_PAT", "CLARIFAI_API_BASE" } })
      local r2 = run(args("pr", "pause", "run-train-01", IDS, "--context=b"),
        { home = home, unset = { "CLARIFAI_PAT", "CLARIFAI_API_BASE" } })
      assert.equal(4, r1.code)
      assert.equal(4, r2.code)
      local reqs = emu:requests()
      assert.equal("Key wrong-b-token", reqs[1].headers.authorization)
      assert.equal("Key wrong-b-token", reqs[2].headers.authorization)
    end)

    it("reads ENVVAR values from the environment", function()
      local home = home_with(config_text(emu.url))
      local r = run(args("--context", "c", "pr", "pause", "run-train-01", IDS), { home = home })
      assert.equal(0, r.code, r.err)
    end)

    it("takes --config PATH anywhere", function()
      local home = home_with(config_text(emu.url))
      local cfg = home .. "/.config/clarifai/config"
      local r = run(args("pr", "pause", "run-train-01", IDS, "--config", cfg),
        { unset = { "CLARIFAI_PAT", "CLARIFAI_API_BASE" } })
      assert.equal(0, r.code, r.err)
    end)

    it("rejects an unknown context as the Python CLI does", function()
      local home = home_with(config_text(emu.url))
      local r = run(args("--context", "zzz", "pr", "pause", "run-train-01", IDS), { home = home })
      assert.equal(2, r.code)
      assert.matches("Error: Context 'zzz' not found. Available contexts: a, b, c", r.err, 1, true)
      assert.equal(0, #emu:requests())
    end)
  end)
end)

-- The sanitizer stage clears its preload for what specs start and gives it
-- back to the CLI's interpreter (spec/support/cli.lua): the CLI must really
-- run under it there, and the helpers (shells, tools) must not.
describe("the CLI under the sanitizer stage", function()
  it("has the sanitizer runtime loaded exactly when the stage preloads it", function()
    local dir = cli.tmpdir()
    local probe = dir .. "/maps.lua"
    cli.write(probe, [[
local f = io.open("/proc/self/maps")
local maps = f and f:read("*a") or ""
io.write(maps:find("libclang_rt.asan", 1, true) and "asan" or "plain", "\n")
]])
    local r = cli.run({}, { bin = probe })
    assert.equal(0, r.code, r.err)
    local helper = assert(io.popen("cat /proc/self/maps"))
    local helper_maps = helper:read("*a")
    helper:close()
    local sanitized = os.getenv("CLARIFAI_SANITIZE") ~= nil and (os.getenv("ASAN_LIB") or "") ~= ""
    assert.equal(sanitized and "asan\n" or "plain\n", r.out)
    assert.is_nil(helper_maps:find("libclang_rt.asan", 1, true))
    cli.rmtree(dir)
  end)
end)
