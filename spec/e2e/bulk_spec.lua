-- Bulk run control, end to end against the emulator: selections (--all,
-- --status, --older-than, --limit) over every scope (one version, all
-- versions, all pipelines, a nodepool), grouped PATCHes under each answer
-- mode the service might have (atomic, mixed, single, partial), with runs
-- turning terminal under them, a transient fault and a signal mid-way.
-- Every outcome is checked against the emulator's state and request log.

local cli = require "support.cli"
local emulator = require "support.emulator"
local cjson = require "cjson"

local TOKEN = "pat_CANARY_b0c3d7e1a9"
local args = cli.args
local lines = cli.lines
local emu
local run, _, start = cli.runner(function() return emu.url end, TOKEN)

local V = { "--user_id", "u1", "--app_id", "app1", "--pipeline_id", "pipe1", "--pipeline_version_id", "v1" }
local PAUSED, RUNNING, COMPLETED = 64008, 64001, 64002

-- id -> state code of every run of a version, through the API itself.
local function states_of(u, a, p, v)
  local _, doc = emu:api("GET", emulator.runs_path("?per_page=100000", { user = u, app = a, pipeline = p,
    version = v }))
  local out = {}
  for _, r in ipairs(doc.pipeline_version_runs) do out[r.id] = r.orchestration_status.status.code end
  return out
end

-- run id -> how many PATCHes named it.
local function patched() return emu:patched_ids() end

local function jsonl(out)
  local results, summary = {}, nil
  for _, l in ipairs(lines(out)) do
    local d = cjson.decode(l)
    if d.summary then summary = d.summary elseif d.run_id and d.outcome then results[#results + 1] = d end
  end
  return results, summary
end

-- Every outcome true: ok is Paused on the server; failed and not_sent (not
-- changed: never sent, or sent, read back unchanged and stopped before it
-- went again) are not; unknown was PATCHed; no run PATCHed more than 3 times.
local function check_truth(results, now, sent)
  for _, r in ipairs(results) do
    local code = now[r.run_id]
    if r.outcome == "ok" or r.outcome == "noop" then
      assert.equal(PAUSED, code, r.run_id .. " " .. r.outcome)
    elseif r.outcome == "failed" then
      assert.are_not.equal(PAUSED, code, r.run_id .. " failed but is Paused")
    elseif r.outcome == "not_sent" then
      assert.are_not.equal(PAUSED, code, r.run_id .. " not sent but Paused")
    else
      assert.is_not_nil(sent[r.run_id], r.run_id .. " unknown but never PATCHed")
    end
    assert.equal("pipe1", r.pipeline_id)
    assert.equal("v1", r.pipeline_version_id)
  end
  for id, n in pairs(sent) do assert.is_true(n <= 3, id .. " PATCHed " .. n .. " times") end
end

describe("bulk run control", function()
  emu = emulator.fixture({ tick = 0, token = TOKEN, seed = false })

  local function world(n, state)
    emu:put_runs("r", n, state or "JOB_RUNNING", { user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
      pipeline_version_id = "v1" })
  end

  for _, mode in ipairs({ "atomic", "mixed", "single", "partial" }) do
    describe("a service answering groups as '" .. mode .. "'", function()
      before_each(function() emu:config({ patch_mode = mode }) end)

      it("pauses every run of a selection when all are allowed", function()
        world(250)
        local r = run(args("pr", "pause", "--all", "--yes", "-o", "jsonl", V))
        assert.equal(0, r.code, r.err)
        local results, summary = jsonl(r.out)
        assert.equal(250, #results)
        assert.same({ ok = 250, noop = 0, failed = 0, unknown = 0, not_sent = 0 }, summary)
        check_truth(results, states_of("u1", "app1", "pipe1", "v1"), patched())
        if mode == "atomic" or mode == "mixed" then
          assert.equal(3, emu:count("PATCH"), "groups of 100")
        end
      end)

      it("is right about runs that turn terminal under it", function()
        world(250)
        emu:fault({ kind = "terminal_on_patch", fraction = 0.2 })
        local r = run(args("pr", "pause", "--all", "--yes", "-o", "jsonl", V))
        assert.equal(7, r.code, r.err)
        local results, summary = jsonl(r.out)
        local now = states_of("u1", "app1", "pipe1", "v1")
        check_truth(results, now, patched())
        local completed = 0
        for _, code in pairs(now) do if code == COMPLETED then completed = completed + 1 end end
        assert.equal(completed, summary.failed)
        assert.equal(250 - completed, summary.ok)
        for _, res in ipairs(results) do
          if res.outcome == "failed" then assert.equal("JOB_COMPLETED", res.state) end
        end
        if mode == "mixed" then
          -- the mixed reply gives each run's state: nothing is read back, nothing sent twice
          for _, q in ipairs(emu:requests_of("GET")) do assert.is_nil(q.path:match("/runs/[^/]+$"), q.path) end
          assert.equal(3, emu:count("PATCH"))
        end
      end)

      it("retries a group the service turned away, and ends every run", function()
        world(150)
        emu:fault({ kind = "http", method = "PATCH", status = 503, times = 1,
          body = '{"status":{"code":10030,"description":"try again"}}' })
        local r = run(args("pr", "pause", "--all", "--yes", "-o", "jsonl", V))
        assert.equal(0, r.code, r.err)
        local results, summary = jsonl(r.out)
        assert.equal(150, summary.ok)
        check_truth(results, states_of("u1", "app1", "pipe1", "v1"), patched())
        -- the group (100 or 50 runs) or, once groups are refused, the run the fault hit
        assert.is_truthy(r.err:match("Retrying %d+ runs of pipe1/v1 in") or r.err:match("Retrying run r%d+ in"), r.err)
      end)

      it("stopped by a signal mid-way: every run once, each outcome true", function()
        world(400)
        emu:fault({ kind = "delay", seconds = 0.3, method = "PATCH", times = 1000 })
        local tmp = cli.tmpdir()
        local p = cli.spawn(args("pr", "pause", "--all", "--yes", "--group-size", "10", "--parallel", "2", "-o",
          "jsonl", V), { env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN, TMPDIR = tmp } })
        emu:await_requests("PATCH", 2)
        os.execute("sleep 0.4")
        p:kill("TERM")
        local code = p:wait(20)
        local out, err = p:out(), p:err()
        p:close()
        assert.equal(143, code, err)
        local results, summary = jsonl(out)
        assert.equal(400, #results)
        local seen = {}
        for _, res in ipairs(results) do
          assert.is_nil(seen[res.run_id], res.run_id .. " twice")
          seen[res.run_id] = true
        end
        assert.is_true(summary.not_sent > 0)
        emu:await_handled("PATCH") -- delayed PATCHes in flight land
        check_truth(results, states_of("u1", "app1", "pipe1", "v1"), patched())
        assert.matches("clarifai pr pause %- %-%-user_id=u1 %-%-app_id=app1 %-%-pipeline_id=pipe1 "
          .. "%-%-pipeline_version_id=v1", err)
        -- no terminal: no file of ids; the command picks them from the output, by version
        assert.matches([[jq -r 'select(.outcome == "not_sent" and .pipeline_version_id == "v1") | .run_id' ]]
          .. "OUTPUT_FILE | clarifai pr pause -", err, 1, true)
        assert.equal("", io.popen("ls -A " .. cli.quote(tmp)):read("*a"), "no file written without a terminal")
      end)
    end)
  end

  describe("scopes", function()
    -- u1/app1: pipe1 (v1, v2), pipe2 (v1); u1/app2: pipe3 (v1); some runs on
    -- nodepool np1 of cluster cc1 (owned by ops), across apps
    local function scopes_world()
      local function put(prefix, n, state, p, v, extra)
        local scope = { user_id = "u1", app_id = extra and extra.app_id or "app1", pipeline_id = p,
          pipeline_version_id = v }
        for k, x in pairs(extra or {}) do scope[k] = x end
        emu:put_runs(prefix, n, state, scope)
      end
      put("a", 130, "JOB_RUNNING", "pipe1", "v1")
      put("b", 5, "JOB_QUEUED", "pipe1", "v1")
      put("c", 7, "JOB_PAUSED", "pipe1", "v1")
      put("d", 20, "JOB_RUNNING", "pipe1", "v2")
      put("e", 3, "JOB_COMPLETED", "pipe1", "v2")
      put("f", 11, "JOB_RUNNING", "pipe2", "v1", { nodepool_id = "np1", compute_cluster_id = "cc1",
        compute_cluster_user_id = "ops" })
      put("g", 9, "JOB_RUNNING", "pipe3", "v1", { app_id = "app2", nodepool_id = "np1", compute_cluster_id = "cc1",
        compute_cluster_user_id = "ops" })
      put("h", 4, "JOB_RUNNING", "pipe3", "v1", { app_id = "app2", nodepool_id = "np2", compute_cluster_id = "cc1",
        compute_cluster_user_id = "ops" })
    end

    local function selected(...)
      local r = run(args("pr", "pause", args(...), "--dry-run", "-o", "json"))
      assert.equal(0, r.code, r.err)
      local doc = cjson.decode(r.out)
      assert.is_true(doc.dry_run)
      local ids = {}
      for _, s in ipairs(doc.selected) do ids[#ids + 1] = s.run_id end
      table.sort(ids)
      return ids, doc
    end

    local function names(prefix, n)
      local out = {}
      for i = 1, n do out[#out + 1] = prefix .. i end
      return out
    end

    local function sorted(...)
      local out = {}
      for _, list in ipairs({ ... }) do for _, x in ipairs(list) do out[#out + 1] = x end end
      table.sort(out)
      return out
    end

    before_each(scopes_world)

    it("select exactly the runs the emulator holds in that scope and state; --dry-run sends no PATCH", function()
      local one = selected("--all", V)
      assert.same(sorted(names("a", 130), names("b", 5)), one)
      local all_versions = selected("--all", "--all-versions", "--user_id", "u1", "--app_id", "app1",
        "--pipeline_id", "pipe1")
      assert.same(sorted(names("a", 130), names("b", 5), names("d", 20)), all_versions)
      local all_pipelines, doc = selected("--status", "running", "--all-pipelines", "--user_id", "u1",
        "--app_id", "app1")
      assert.same(sorted(names("a", 130), names("d", 20), names("f", 11)), all_pipelines)
      assert.equal(3, #doc.counts)
      local nodepool = selected("--all", "--nodepool_id", "np1", "--compute-cluster-id", "cc1",
        "--compute_cluster_user_id", "ops")
      assert.same(sorted(names("f", 11), names("g", 9)), nodepool)
      local narrowed = selected("--all", "--nodepool-id", "np1", "--compute_cluster_id", "cc1",
        "--compute_cluster_user_id", "ops", "--app_id", "app2")
      assert.same(sorted(names("g", 9)), narrowed)
      assert.equal(0, emu:count("PATCH"))
    end)

    it("a nodepool whose route the server refuses: its runs found through the app's versions, exactly those changed",
      function()
        emu:config({ nodepool_route = "refuse" })
        local before = states_of("u1", "app2", "pipe3", "v1")
        local r = run(args("pr", "pause", "--all", "--nodepool_id", "np1", "--compute_cluster_id", "cc1",
          "--compute_cluster_user_id", "ops", "--user_id", "u1", "--app_id", "app2", "--yes", "--verbose"))
        assert.equal(0, r.code, r.err)
        assert.matches("* the nodepool route was refused (HTTP 400): listing the runs of app app2's versions with "
          .. "the compute_cluster_id and nodepool_id filters instead", r.err, 1, true)
        assert.same(sorted(names("g", 9)), (function()
          local ids = {}
          for id in pairs(emu:patched_ids()) do ids[#ids + 1] = id end
          table.sort(ids)
          return ids
        end)())
        local after = states_of("u1", "app2", "pipe3", "v1")
        for id, code in pairs(after) do
          if id:match("^g") then assert.equal(PAUSED, code, id) else assert.equal(before[id], code, id) end
        end
        assert.equal(RUNNING, states_of("u1", "app1", "pipe2", "v1").f1, "another app's run on the nodepool")
        local listed = 0
        for _, q in ipairs(emu:requests_of("GET")) do
          if q.path:match("/versions/[^/]+/runs$") and q.query:find("status_codes", 1, true) then -- the command's
            assert.matches("compute_cluster_id=cc1&nodepool_id=np1", q.query, 1, true)
            listed = listed + 1
          end
        end
        assert.equal(1, listed, "app2 has one version")
        -- without the app there is nothing to walk: the error names the flag
        emu:reset(false)
        scopes_world()
        emu:config({ nodepool_route = "refuse" })
        local no_app = run(args("pr", "pause", "--all", "--nodepool_id", "np1", "--compute_cluster_id", "cc1",
          "--compute_cluster_user_id", "ops", "--yes"))
        assert.equal(2, no_app.code, no_app.err)
        assert.matches("the server refused to list the nodepool's runs", no_app.err, 1, true)
        assert.matches("name the app (--app_id)", no_app.err, 1, true)
        assert.equal(0, emu:count("PATCH"))
      end)

    it("--dry-run -o json plans the grouped PATCHes; text counts per version; -o ids for one version", function()
      local _, doc = selected("--all", "--all-versions", "--user_id", "u1", "--app_id", "app1", "--pipeline_id",
        "pipe1", "--group-size", "50")
      local patches = 0
      for _, req in ipairs(doc.requests) do
        assert.equal("PATCH", req.method)
        assert.is_true(#req.body.pipeline_version_runs <= 50)
        patches = patches + 1
      end
      assert.equal(4, patches) -- v1: 135 runs in 3; v2: 20 in 1
      local _, plain = selected("--all", "--all-versions", "--user_id", "u1", "--app_id", "app1", "--pipeline_id",
        "pipe1")
      local sizes = {}
      for k, req in ipairs(plain.requests) do sizes[k] = #req.body.pipeline_version_runs end
      assert.same({ 100, 35, 20 }, sizes) -- the default group size
      local t = run(args("pr", "pause", "--all", "--all-versions", "--user_id", "u1", "--app_id", "app1",
        "--pipeline_id", "pipe1", "--dry-run"))
      assert.matches("Would pause 155 runs in 2 versions:\n  pipe1/v1  135\n  pipe1/v2  20\n", t.out, 1, true)
      local ids = run(args("pr", "pause", "--status", "queued", "--dry-run", "-o", "ids", V))
      assert.same(names("b", 5), (function() local l = lines(ids.out); table.sort(l); return l end)())
      local wide = run(args("pr", "pause", "--all", "--all-versions", "--user_id", "u1", "--app_id", "app1",
        "--pipeline_id", "pipe1", "--dry-run", "-o", "ids"))
      assert.equal(2, wide.code)
      assert.matches("use -o jsonl", wide.err, 1, true)
      assert.equal(0, emu:count("PATCH"))
    end)

    it("without consent and without a terminal: exit 2 naming the count, no PATCH", function()
      local r = run(args("pr", "cancel", "--all", "--all-pipelines", "--user_id", "u1", "--app_id", "app1"))
      assert.equal(2, r.code)
      assert.matches("this would cancel 173 runs in 3 versions; give -y/--yes to go ahead", r.err, 1, true)
      assert.equal(0, emu:count("PATCH"))
      assert.is_true(emu:count("GET") > 0, "it listed first")
    end)

    it("asks on the terminal with the count per version; no exits 8 having sent nothing", function()
      local cmd = cli.command_line(args("pr", "resume", "--all", V))
      local out = cli.on_tty(cmd, "n", { CLARIFAI_PAT = TOKEN, CLARIFAI_API_BASE = emu.url })
      assert.matches("Resume 7 runs in 1 version?\n  pipe1/v1  7", out:gsub("\r", ""), 1, true)
      assert.matches("rc=8", out, 1, true)
      assert.equal(0, emu:count("PATCH"))
      local yes = cli.on_tty(cmd, "y", { CLARIFAI_PAT = TOKEN, CLARIFAI_API_BASE = emu.url })
      assert.matches("rc=0", yes, 1, true)
      assert.equal(1, emu:count("PATCH"), "7 runs of one version, one PATCH")
    end)

    it("--older-than and --limit pick by created_at; results name each run's version", function()
      emu:put_runs("old", 6, "JOB_RUNNING", { user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
        pipeline_version_id = "v2", created_at = os.time() - 3 * 3600 })
      local _, doc = selected("--all", "--all-versions", "--user_id", "u1", "--app_id", "app1", "--pipeline_id",
        "pipe1", "--older-than", "2h")
      assert.equal(6, #doc.selected)
      local limited = selected("--all", "--all-versions", "--user_id", "u1", "--app_id", "app1", "--pipeline_id",
        "pipe1", "--limit", "4")
      assert.equal(4, #limited)
      for _, id in ipairs(limited) do assert.matches("^old%d$", id) end
      local r = run(args("pr", "pause", "--all", "--yes", "--older-than", "2h", "--all-versions", "--user_id", "u1",
        "--app_id", "app1", "--pipeline_id", "pipe1", "-o", "json"))
      assert.equal(0, r.code, r.err)
      local res = cjson.decode(r.out)
      assert.equal(6, res.summary.ok)
      assert.equal("v2", res.results[1].pipeline_version_id)
      assert.equal("pipe1", res.results[1].pipeline_id)
      assert.equal("u1", res.results[1].user_id)
      assert.equal(1, emu:count("PATCH"))
    end)

    it("--wait works on a selection across versions", function()
      emu:config({ transition_delay = 5 })
      local p = start(args("pr", "pause", "--status", "queued", "--all-pipelines", "--user_id", "u1", "--app_id",
        "app1", "--yes", "--wait", "--interval", "0.1"))
      emu:await("a poll after the PATCHes", function()
        local sent = false
        for _, q in ipairs(emu:requests()) do
          if q.method == "PATCH" then sent = true elseif sent and q.method == "GET" then return true end
        end
      end)
      emu:advance(5)
      local r = p:finish()
      assert.equal(0, r.code, r.err)
      local now = states_of("u1", "app1", "pipe1", "v1")
      for i = 1, 5 do assert.equal(PAUSED, now["b" .. i]) end
      assert.equal(RUNNING, now.a1, "a running run was not selected")
      assert.is_nil(r.err:find("Retrying", 1, true), "a success lists its runs: none is read back")
    end)

    it("pr list spans the same scopes: a PIPELINE_ID column; -o ids over several versions is refused", function()
      local t = run(args("pr", "list", "--all-versions", "--user_id", "u1", "--app_id", "app1", "--pipeline_id",
        "pipe1", "--status", "completed"))
      assert.equal(0, t.code, t.err)
      -- one user and one app throughout: their columns are left out (-o wide shows them)
      assert.matches("^ID%s+PIPELINE_ID%s+PIPELINE_VERSION_ID%s+STATE%s+CREATED_AT%s+AGE\n", t.out)
      assert.equal(4, #lines(t.out))
      local w = run(args("pr", "list", "--all-versions", "--user_id", "u1", "--app_id", "app1", "--pipeline_id",
        "pipe1", "--status", "completed", "-o", "wide"))
      assert.matches("^ID%s+USER_ID%s+APP_ID%s+PIPELINE_ID%s+PIPELINE_VERSION_ID%s+STATE%s+CREATED_AT%s+AGE\n", w.out)
      assert.equal(4, #lines(w.out))
      -- a nodepool's runs of two apps: APP_ID stays, USER_ID (one user) goes
      local np = run(args("pr", "list", "--nodepool_id", "np1", "--compute_cluster_id", "cc1",
        "--compute_cluster_user_id", "ops"))
      assert.equal(0, np.code, np.err)
      assert.matches("^ID%s+APP_ID%s+PIPELINE_ID%s+PIPELINE_VERSION_ID%s+STATE%s+CREATED_AT%s+AGE\n", np.out)
      assert.equal(21, #lines(np.out))
      local n = run(args("pr", "list", "--nodepool_id", "np2", "--compute_cluster_id", "cc1",
        "--compute_cluster_user_id", "ops", "-o", "jsonl"))
      assert.equal(4, #lines(n.out))
      local ids = run(args("pr", "list", "--all-pipelines", "--user_id", "u1", "--app_id", "app1", "-o", "ids"))
      assert.equal(2, ids.code)
      assert.matches("use -o jsonl", ids.err, 1, true)
    end)
  end)

  describe("a server that ignores paging", function()
    it("a selection it cannot list in full is refused: exit 5, no PATCH", function()
      world(300)
      emu:config({ ignore_paging = true })
      local r = run(args("pr", "pause", "--all", "--yes", V))
      assert.equal(5, r.code, r.err)
      assert.matches("could not be listed in full: the server ignored paging (page 2 brought nothing new); nothing "
        .. "was selected", r.err, 1, true)
      assert.equal(0, emu:count("PATCH"))
    end)

    it("a grouped read-back ends, within 2 requests a run, every outcome true", function()
      world(300)
      -- every group is applied and answered with no runs listed: each group is read back
      emu:config({ ignore_paging = true })
      emu:fault({ kind = "apply_then_http", method = "PATCH", status = 200, times = 3,
        headers = { ["Content-Type"] = "application/json" }, body = '{"status":{"code":10000,"description":"Ok"}}' })
      local ids = {}
      for i = 1, 300 do ids[i] = "r" .. i end
      local r = run(args("pr", "pause", "-", "--group-size", "100", "-o", "jsonl", V),
        { stdin = table.concat(ids, "\n") .. "\n" })
      local results = jsonl(r.out)
      assert.equal(300, #results)
      local now, sent = states_of("u1", "app1", "pipe1", "v1"), patched()
      for _, res in ipairs(results) do
        if res.outcome == "ok" or res.outcome == "noop" then
          assert.equal(PAUSED, now[res.run_id], res.run_id)
        else
          assert.are_not.equal(PAUSED, now[res.run_id], res.run_id .. " " .. res.outcome)
        end
      end
      assert.equal(0, r.code, r.err)
      for id, n in pairs(sent) do assert.equal(1, n, id .. " PATCHed " .. n .. " times") end
      local reads = 0
      for _, q in ipairs(emu:requests_of("GET")) do
        if not q.query:find("per_page=100000", 1, true) then reads = reads + 1 end -- (not the spec's own)
      end
      assert.is_true(reads <= 600, reads .. " reads for 300 runs")
    end)
  end)

  it("SIGTERM while a selection is listed: the Stopped line, exit 143, nothing changed", function()
    world(300)
    emu:fault({ kind = "delay", seconds = 5, method = "GET", times = 0 })
    local p = cli.spawn(args("pr", "pause", "--all", "--yes", V), { env = { CLARIFAI_API_BASE = emu.url,
      CLARIFAI_PAT = TOKEN } })
    emu:await_requests("GET", 1)
    p:kill("TERM")
    local code = p:wait(30)
    local err = p:err()
    p:close()
    assert.equal(143, code, err)
    assert.matches("Stopped by SIGTERM while listing the selection; nothing was changed.", err, 1, true)
    assert.equal(0, emu:count("PATCH"))
  end)

  describe("usage", function()
    it("refuses what cannot be meant, before anything is sent (exit 2)", function()
      local cases = {
        { args("pr", "pause", "r1", "--all", V), "name the runs (ids or -) or select them" },
        { args("pr", "pause", "-", "--status", "running", V), "name the runs (ids or -) or select them" },
        { args("pr", "pause", "r1", "--older-than", "2h", V), "--older-than selects runs: use it with --all" },
        { args("pr", "pause", "r1", "--limit", "3", V), "--limit selects runs" },
        { args("pr", "pause", "r1", "--all-versions", V), "--all-versions widens a selection" },
        -- flags named as help names them
        { args("pr", "pause", "--all", "--nodepool-id", "np1", V), "--nodepool_id and --compute_cluster_id go together" },
        { args("pr", "pause", "r1", "--compute-cluster-id", "cc1", V), "--compute_cluster_id widens a selection" },
        { args("pr", "pause", "--all", "--nodepool_id", "np1", "--compute_cluster_id", "cc1", "--all-versions", V),
          "a nodepool scope already spans versions and pipelines: drop --all-versions and --all-pipelines" },
        { args("pr", "pause", "--status", "paused", V), "pause applies only to runs in these states: queued, running" },
        { args("pr", "resume", "--all", "--older-than", "2 hours", V), "must be a duration like 90s" },
        { args("pr", "pause", "--all", "-o", "ids", V), "-o ids lists what a selection would change" },
        { args("pr", "pause", "--all", "--group-size", "1001", V), "--group-size must be a whole number 1..1000" },
      }
      for _, case in ipairs(cases) do
        local r = run(case[1], { stdin = "" })
        assert.equal(2, r.code, table.concat(case[1], " ") .. "\n" .. r.err)
        assert.matches(case[2], r.err, 1, true)
      end
      assert.equal(0, #emu:requests())
    end)

    it("refuses a selection larger than the limit instead of cutting it", function()
      local limits = require "clarifai.limits"
      local saved = limits.defaults.selection_max
      assert.equal(100000, saved)
      world(130)
      -- the library's own cap, lowered for the spec (100,000 runs would take a while)
      limits.defaults.selection_max = 100
      local c = assert(require("clarifai.client").new({ pat = TOKEN, api_base = emu.url }))
      local refs, _, err = require("clarifai.runs").select({ user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
        pipeline_version_id = "v1" }, { states = { "running" } }, { client = c })
      limits.defaults.selection_max = saved
      c:close()
      assert.is_nil(refs)
      assert.equal("usage", err.kind)
      assert.matches("more than 100 runs", err.message, 1, true)
    end)
  end)

  it("tells on_progress(runs, requests) after each page: select counts runs only, list its pages", function()
    for v = 1, 3 do
      emu:put_runs("p" .. v .. "-", 200, "JOB_RUNNING", { user_id = "u1", app_id = "app1", pipeline_id = "pipe1",
        pipeline_version_id = "v" .. v })
    end
    local runs = require "clarifai.runs"
    local c = assert(require("clarifai.client").new({ pat = TOKEN, api_base = emu.url }))
    local seen = {}
    local gets_before = emu:count("GET")
    local refs, info = runs.select({ user_id = "u1", app_id = "app1", pipeline_id = "pipe1", all_versions = true },
      { states = { "running" } }, { client = c, on_progress = function(n, requests) seen[#seen + 1] = { n, requests } end })
    assert.equal(600, #refs)
    assert.same({ 0, 1 }, seen[1], "the version list's page: no run yet")
    assert.same({ 600, info.requests }, seen[#seen])
    assert.equal(info.requests, #seen, "once a page")
    assert.equal(emu:count("GET") - gets_before, info.requests, "the requests that reached the server")
    for k = 2, #seen do assert.is_true(seen[k][1] >= seen[k - 1][1] and seen[k][2] == seen[k - 1][2] + 1) end
    local pages = {}
    local res = assert(runs.list({ user_id = "u1", app_id = "app1", pipeline_id = "pipe1", pipeline_version_id = "v1" },
      { all = true }, { client = c, on_progress = function(n, requests) pages[#pages + 1] = { n, requests } end }))
    c:close()
    assert.equal(200, #res.runs)
    assert.same({ { 128, 1 }, { 200, 2 } }, pages)
  end)
end)
