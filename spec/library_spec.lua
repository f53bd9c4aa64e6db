-- The library's pure parts: state table, config and id resolution, reply
-- decoding, text hygiene and JSON.

local api = require "clarifai.api"
local config = require "clarifai.config"
local ids = require "clarifai.ids"
local json = require "clarifai.json"
local states = require "clarifai.states"
local text = require "clarifai.text"
local cli = require "support.cli"

local function env(t)
  return function(k) return t[k] end
end

local function write_config(body, mode)
  local dir = cli.tmpdir()
  local path = dir .. "/config"
  cli.write(path, body)
  os.execute("chmod " .. (mode or "600") .. " " .. cli.quote(path))
  return path
end

describe("the library's failures #portable", function()
  local clarifai = require "clarifai"

  it("are nil, message, err: assert() shows the message on this Lua (" .. _VERSION .. ")", function()
    local ref = { run_id = "r1" }
    local none, message, err = clarifai.runs.pause(ref, { pat = "p", api_base = "http://127.0.0.1:9",
      lockfile = false })
    assert.is_nil(none)
    assert.is_string(message)
    assert.equal("usage", err.kind)
    assert.equal(err.message, message)
    assert.equal(message, tostring(err))
    -- the plain Lua assert of this interpreter, not busted's
    local ok, raised = pcall(function() return _G.assert(clarifai.runs.pause(ref, { lockfile = false })) end)
    assert.is_false(ok)
    assert.equal("string", type(raised))
    assert.matches("missing user_id, app_id, pipeline_id, pipeline_version_id: config-lock.yaml was not found", raised, 1,
      true)
    assert.is_nil(raised:find("bad argument", 1, true))
    -- every public function fails the same way
    local fails = {
      function() return clarifai.runs.apply("pause", ref, { "a/b" }, { pat = "p", api_base = "http://127.0.0.1:9" }) end,
      function() return clarifai.runs.status(ref, { "x" }, { lockfile = false }) end,
      function() return clarifai.runs.list(ref, nil, { lockfile = false }) end,
      function() return clarifai.runs.history(ref, "x", { lockfile = false }) end,
      function() return clarifai.runs.select({ user_id = "u", app_id = "a", all_pipelines = true },
        { states = { "sleeping" } },
        { pat = "p", api_base = "http://127.0.0.1:9" }) end,
      function() return clarifai.runs.status_codes({ "sleeping" }) end,
      function() return clarifai.watch.wait("pause", ref, { "x" }, { lockfile = false }) end,
      function() return clarifai.monitor.monitor(ref, "x", { lockfile = false }) end,
      function() return clarifai.client.new({ api_base = "ftp://x" }) end,
      function() return clarifai.client.from_config({ config_path = "/nonexistent/config", getenv = env({}) }) end,
    }
    for k, f in ipairs(fails) do
      local v, msg, e = f()
      assert.is_nil(v, "case " .. k)
      assert.is_string(msg, "case " .. k)
      assert.equal(msg, e.message, "case " .. k)
      assert.is_number(e.exit_code, "case " .. k)
    end
  end)

  it("names its version as peers do", function()
    assert.matches("^%d+%.%d+%.%d+$", clarifai.VERSION)
    assert.equal("clarifai " .. clarifai.VERSION, clarifai._VERSION)
  end)
end)

describe("states #portable", function()
  it("has the documented transitions", function()
    assert.same({ 64000, 64001 }, states.actions.pause.from)
    assert.same({ 64000, 64001, 64008 }, states.actions.cancel.from)
    assert.same({ 64008 }, states.actions.resume.from)
    assert.equal(64008, states.actions.pause.target)
    assert.equal(64004, states.actions.cancel.target)
    assert.equal(64001, states.actions.resume.target)
  end)

  it("never allows leaving a terminal state", function()
    for _, s in ipairs(states.list) do
      if s.terminal then
        for action in pairs(states.actions) do
          assert.is_false(states.can(action, s.code), action .. " from " .. s.name)
        end
      end
    end
  end)

  it("maps names, numbers and numeric strings to codes", function()
    assert.equal(64008, states.code_of("JOB_PAUSED"))
    assert.equal(64008, states.code_of(64008))
    assert.equal(64008, states.code_of(64008.0))
    assert.equal(64008, states.code_of("64008"))
    assert.is_nil(states.code_of("paused"))
    assert.is_nil(states.code_of({}))
  end)
end)

describe("watch.reached #portable", function()
  local watch = require "clarifai.watch"
  it("knows when each action has happened, and when it never will", function()
    assert.is_true(watch.reached("pause", 64008))
    assert.is_false(watch.reached("pause", 64001))
    local ok, why = watch.reached("pause", 64002)
    assert.is_false(ok)
    assert.equal("run is Completed (JOB_COMPLETED)", why)
    assert.is_true(watch.reached("cancel", 64004))
    assert.is_false((watch.reached("cancel", 64003)))
    assert.is_true(watch.reached("resume", 64001))
    assert.is_true(watch.reached("resume", 64002))
    assert.is_false(watch.reached("resume", 64008))
    assert.is_false(watch.reached("resume", nil), "a reply without a state is not proof")
  end)
end)

describe("config.resolve #portable", function()
  local flat = table.concat({
    "contexts:",
    "  a:",
    "    CLARIFAI_API_BASE: https://api-a.example",
    "    CLARIFAI_PAT: pat-a",
    "  b:",
    "    env:",
    "      CLARIFAI_PAT: pat-b",
    "  e:",
    "    CLARIFAI_PAT: ENVVAR",
    "current_context: a",
    "",
  }, "\n")

  it("uses the current context in the flat form", function()
    local s = assert(config.resolve({ config_path = write_config(flat), getenv = env({}) }))
    assert.equal("pat-a", s.pat)
    assert.equal("https://api-a.example", s.api_base)
    assert.equal("a", s.context)
    assert.equal("config", s.pat_source)
  end)

  it("reads the nested env: form and the default base", function()
    local s = assert(config.resolve({ config_path = write_config(flat), context = "b", getenv = env({}) }))
    assert.equal("pat-b", s.pat)
    assert.equal("https://api.clarifai.com", s.api_base)
  end)

  it("prefers the environment", function()
    local s = assert(config.resolve({ config_path = write_config(flat),
      getenv = env({ CLARIFAI_PAT = "pat-env", CLARIFAI_API_BASE = "http://127.0.0.1:9/" }) }))
    assert.equal("pat-env", s.pat)
    assert.equal("env", s.pat_source)
    assert.equal("http://127.0.0.1:9", s.api_base)
  end)

  it("resolves ENVVAR from the environment, and fails when it is unset", function()
    local path = write_config(flat)
    local s = assert(config.resolve({ config_path = path, context = "e", getenv = env({ CLARIFAI_PAT = "x1234" }) }))
    assert.equal("x1234", s.pat)
    local none, err = config.resolve({ config_path = path, context = "e", getenv = env({}) })
    assert.is_nil(none)
    assert.equal("config", err.kind)
    assert.matches("ENVVAR", err.message, 1, true)
  end)

  it("names the available contexts for an unknown one", function()
    local none, err = config.resolve({ config_path = write_config(flat), context = "zz", getenv = env({}) })
    assert.is_nil(none)
    assert.equal("usage", err.kind)
    assert.equal("Context 'zz' not found. Available contexts: a, b, e", err.message)
  end)

  it("treats a missing default file as no token, a missing explicit one as an error", function()
    local _, err = config.resolve({ getenv = env({ HOME = "/nonexistent-home" }) })
    assert.equal("config", err.kind)
    assert.matches("Authentication Required", err.message, 1, true)
    local s = assert(config.resolve({ getenv = env({ HOME = "/nonexistent-home" }), need_pat = false }))
    assert.is_nil(s.pat)
    local _, err2 = config.resolve({ config_path = "/nonexistent/config", getenv = env({}) })
    assert.matches("does not exist", err2.message, 1, true)
    assert.equal(3, err2.exit_code)
  end)

  it("refuses a directory or FIFO as the config without blocking", function()
    local dir = cli.tmpdir()
    local _, err = config.resolve({ config_path = dir, getenv = env({}) })
    assert.equal("config", err.kind)
    assert.matches("directory", err.message, 1, true)
    os.execute("mkfifo " .. cli.quote(dir .. "/fifo"))
    local _, err2 = config.resolve({ config_path = dir .. "/fifo", getenv = env({}) })
    assert.matches("FIFO", err2.message, 1, true)
  end)

  it("warns when a token file is readable by others", function()
    local s = assert(config.resolve({ config_path = write_config(flat, "644"), getenv = env({}) }))
    assert.equal(1, #s.warnings)
    assert.matches("chmod 600", s.warnings[1], 1, true)
    local s2 = assert(config.resolve({ config_path = write_config(flat, "600"), getenv = env({}) }))
    assert.equal(0, #s2.warnings)
  end)

  it("checks API bases", function()
    assert.equal("https://api.clarifai.com", config.check_base("https://api.clarifai.com/"))
    assert.equal("http://localhost:8080", config.check_base("http://localhost:8080"))
    assert.equal("http://[::1]:80", config.check_base("http://[::1]:80"))
    assert.is_nil(config.check_base("http://api.clarifai.com"))
    assert.is_nil(config.check_base("ftp://x"))
    assert.is_nil(config.check_base("https://user:pw@host"))
    assert.equal("https://api.clarifai.com", config.check_base("api.clarifai.com")) -- no scheme: https, never http
  end)

  it("refuses tokens with whitespace or control characters", function()
    assert.is_nil(config.check_pat("a\r\nb"))
    assert.is_nil(config.check_pat("a b"))
    assert.equal("abc", config.check_pat("abc"))
  end)
end)

describe("ids.resolve #portable", function()
  it("keeps given ids and never reads the lockfile when all are given", function()
    local dir = cli.tmpdir()
    cli.write(dir .. "/config-lock.yaml", "pipeline: [broken\n")
    local r = assert(ids.resolve({ user_id = "u", app_id = "a", pipeline_id = "p", pipeline_version_id = "v",
      run_id = "r" }, { dir = dir }))
    assert.equal("u", r.user_id)
    assert.is_nil(r.lockfile_used)
  end)

  it("fills only the missing ids from the lockfile", function()
    local dir = cli.tmpdir()
    cli.write(dir .. "/config-lock.yaml", "pipeline:\n  id: p1\n  user_id: u1\n  app_id: a1\n  version_id: 0123\n")
    local r = assert(ids.resolve({ app_id = "mine" }, { dir = dir }))
    assert.same({ "u1", "mine", "p1", "0123" }, { r.user_id, r.app_id, r.pipeline_id, r.pipeline_version_id })
    assert.is_true(r.lockfile_used)
  end)

  it("explains what is missing and why, without CLI wording; the CLI adds the flags", function()
    local common = require "clarifai.cli.common"
    local dir = cli.tmpdir()
    local _, err = ids.resolve({ user_id = "u" }, { dir = dir })
    assert.equal("usage", err.kind)
    assert.same({ "app_id", "pipeline_id", "pipeline_version_id" }, err.missing)
    assert.equal("absent", err.lockfile.status)
    assert.is_nil(err.message:find("--", 1, true), "no flag names in a library message")
    assert.matches("config-lock.yaml was not found", err.message, 1, true)
    local shown = common.describe(err)
    assert.matches(common.MISSING_LINE, shown, 1, true)
    assert.matches("--app_id, --pipeline_id, --pipeline_version_id", shown, 1, true)
    assert.matches("not found", shown, 1, true)
    cli.write(dir .. "/config-lock.yaml", "pipeline:\n  id: p1\n")
    _, err = ids.resolve({ user_id = "u" }, { dir = dir })
    assert.matches("has no pipeline.app_id, pipeline.version_id", err.message, 1, true)
    assert.matches("has no pipeline.app_id, pipeline.version_id", common.describe(err), 1, true)
    cli.write(dir .. "/config-lock.yaml", "pipeline:\n  id: p1\n  id: p2\n")
    _, err = ids.resolve({ user_id = "u" }, { dir = dir })
    assert.matches("config%-lock%.yaml:3:%d+: .*duplicate key", err.message)
    cli.rmtree(dir)
  end)
end)

describe("api.decode #portable", function()
  local function resp(status, body, headers)
    return { status = status, body = body, headers = headers or { ["content-type"] = "application/json" }, sent = true }
  end
  local ctx = { what = "patch pipeline version run", secrets = { "sekrit-token" } }

  it("accepts status.code 10000 on 2xx only", function()
    assert.is_table(api.decode(resp(200, '{"status":{"code":10000}}'), ctx))
    -- proto3 JSON may give an enum by name: replies are taken either way
    assert.is_table(api.decode(resp(200, '{"status":{"code":"SUCCESS"}}'), ctx))
    assert.equal(64008, api.run_state({ orchestration_status = { status = { code = "JOB_PAUSED" } } }))
    local _, named = api.decode(resp(400, '{"status":{"code":"PIPELINE_INVALID_REQUEST"}}'), ctx)
    assert.equal(26302, named.api_code)
    local _, err = api.decode(resp(400, '{"status":{"code":10000}}'), ctx)
    assert.equal("protocol", err.kind)
  end)

  it("builds the Python CLI's message from description, details and code name", function()
    local _, err = api.decode(resp(400, '{"status":{"code":26302,"description":"Invalid pipeline request",'
      .. '"details":"cannot pause","req_id":"abc"},"pipeline_version_runs":[]}'), ctx)
    assert.equal("Failed to patch pipeline version run: Invalid pipeline request. Details: cannot pause. "
      .. "Code: PIPELINE_INVALID_REQUEST. (req_id: abc)", err.message)
    assert.equal("api", err.kind)
    assert.equal(1, err.exit_code)
    assert.equal(26302, err.api_code)
    assert.equal("PIPELINE_INVALID_REQUEST", err.api_name)
    assert.equal(400, err.http_status)
    assert.equal("abc", err.req_id)
  end)

  it("classifies by status code and HTTP status", function()
    local cases = {
      { 401, 11009, "auth", 4 }, { 403, 11007, "auth", 4 }, { 404, 11101, "api", 1 },
      { 429, 11005, "transient", 6 }, { 503, 10020, "transient", 6 }, { 500, 98004, "unknown", 6 },
      { 200, 11005, "transient", 6 },
    }
    for _, c in ipairs(cases) do
      local _, err = api.decode(resp(c[1], '{"status":{"code":' .. c[2] .. '}}'), ctx)
      assert.equal(c[3], err.kind, c[1] .. "/" .. c[2])
      assert.equal(c[4], err.exit_code)
    end
  end)

  it("never raises on malformed shapes", function()
    local bodies = { "", "null", "[]", '"x"', "{}", '{"status":null}', '{"status":"ok"}',
      '{"status":{"code":"10000"}}', '{"status":{"code":1.5}}', "NaN", '{"status":{"code":0x10}}',
      "\239\187\191{}", '{"status":{"code":10000}} trailing', string.rep("[", 100000) }
    for _, b in ipairs(bodies) do
      local doc, err = api.decode(resp(200, b), ctx)
      assert.is_nil(doc, b:sub(1, 20))
      assert.equal("protocol", err.kind)
      assert.equal(5, err.exit_code)
    end
  end)

  it("reports non-JSON bodies by content type with a short sanitised excerpt", function()
    local _, err = api.decode(resp(502, "<html>" .. string.rep("x", 500) .. "\27]0;pwned\7</html>",
      { ["content-type"] = "text/html" }), ctx)
    assert.equal("unknown", err.kind)
    assert.matches("HTTP 502, text/html", err.message, 1, true)
    assert.is_true(#err.message < 400)
    assert.is_nil(err.message:find("\27", 1, true))
  end)

  it("scrubs secrets echoed by the server", function()
    local _, err = api.decode(resp(400, '{"status":{"code":11102,"description":"bad Key sekrit-token"}}'), ctx)
    assert.is_nil(err.message:find("sekrit-token", 1, true))
    assert.matches("[REDACTED]", err.message, 1, true)
  end)

  it("maps transport failures by phase", function()
    local _, e1 = api.decode({ error_code = "COULDNT_CONNECT", error = "refused", sent = false }, ctx)
    assert.equal("transport", e1.kind)
    local _, e2 = api.decode({ error_code = "OPERATION_TIMEDOUT", error = "timeout", sent = true }, ctx)
    assert.equal("unknown", e2.kind)
    local _, e3 = api.decode({ error_code = "GOT_NOTHING", error = "empty", sent = true }, ctx)
    assert.equal("unknown", e3.kind)
    local _, e4 = api.decode({ error_code = "TOO_LARGE", error = "big", sent = true }, ctx)
    assert.equal("protocol", e4.kind)
    local _, e5 = api.decode({ error_code = "ABORTED", error = "aborted", sent = true }, ctx)
    assert.equal("unknown", e5.kind)
    local _, e6 = api.decode({ error_code = "ABORTED", error = "aborted", sent = false }, ctx)
    assert.equal("not_sent", e6.kind)
  end)

  it("names the cap a reply went over, and says a change left unanswered was not sent again", function()
    local c = { max_size = 8388608, max_received = 268435456 }
    local _, kept = api.decode({ error_code = "TOO_LARGE", error = "big", sent = true, cap = "kept" }, c)
    assert.matches("exceeded the size limit (8388608 bytes)", kept.message, 1, true)
    local _, got = api.decode({ error_code = "TOO_LARGE", error = "big", sent = true, cap = "received" }, c)
    assert.matches("exceeded the limit on bytes received (268435456 bytes", got.message, 1, true)
    local _, na = api.decode({ error_code = "NO_ANSWER", error = "closed", sent = true }, c)
    assert.equal("unknown", na.kind)
    assert.matches("it was not sent again", na.message, 1, true)
  end)

  it("skims the replies that carry runs or pipeline versions, never logs; the client asks for it", function()
    local ref = { user_id = "u", app_id = "a", pipeline_id = "p", pipeline_version_id = "v" }
    local run = api.run_path(ref, "r1")
    for _, path in ipairs({ api.runs_path(ref), api.runs_path(ref) .. "?page=2&per_page=128&status_codes=64001",
      run, api.nodepool_runs_path({ compute_cluster_user_id = "me", compute_cluster_id = "c", nodepool_id = "n" })
        .. "?page=1", api.pipelines_path(ref), api.versions_path(ref) .. "?per_page=128" }) do
      assert.is_true(api.skimmed(path), path)
    end
    for _, path in ipairs({ run .. "/status_logs?page=1", run .. "/pipeline.version.run/logs?page=1&per_page=50",
      "/v2/users/u" }) do
      assert.is_false(api.skimmed(path), path)
    end
    local client = require "clarifai.client"
    local c = assert(client.new({ pat = "t", api_base = "http://127.0.0.1:1" }))
    local get = c:build("GET", run)
    assert.equal(require("clarifai.defaults").skim, get.skim)
    assert.equal(require("clarifai.defaults").max_received, get.max_received)
    assert.is_nil(c:build("GET", run .. "/status_logs").skim)
    assert.is_number(c:build("PATCH", api.runs_path(ref), "{}").skim)
    local whole = assert(client.new({ pat = "t", api_base = "http://127.0.0.1:1", skim = 0,
      max_size = 512 * 1024 * 1024 }))
    assert.is_nil(whole:build("GET", run).skim)
    local big = assert(client.new({ pat = "t", api_base = "http://127.0.0.1:1", max_size = 512 * 1024 * 1024 }))
    assert.equal(512 * 1024 * 1024, big:build("GET", run).max_received)
  end)

  it("refuses redirects, naming the sanitised Location", function()
    local _, err = api.decode({ status = 308, headers = { location = "https://user:pw@evil.example/x" }, body = "" }, ctx)
    assert.equal("transport", err.kind)
    assert.matches("https://evil.example/x", err.message, 1, true)
    assert.is_nil(err.message:find("pw@", 1, true))
  end)

  it("builds the PATCH body of the official client: enum values by name", function()
    local body = json.decode(api.patch_body({ "r1" }, 64008))
    assert.same({ action = "overwrite", pipeline_version_runs = { { id = "r1",
      orchestration_status = { status = { code = "JOB_PAUSED" } } } } }, body)
    assert.equal("page=2&per_page=128&status_codes=JOB_RUNNING&status_codes=JOB_PAUSED",
      api.list_query(2, 128, { 64001, 64008 }))
    assert.equal("/v2/users/u%2Fx/apps/a/pipelines/p/versions/v/runs",
      api.runs_path({ user_id = "u/x", app_id = "a", pipeline_id = "p", pipeline_version_id = "v" }))
  end)
end)

describe("text #portable", function()
  it("escapes terminal control characters and invalid UTF-8", function()
    assert.equal("a\\x1b]0;x\\x07b", text.sanitize("a\27]0;x\7b"))
    assert.equal("\\u009b31m", text.sanitize("\194\155" .. "31m"))
    assert.equal("caf\\xe9", text.sanitize("caf\233"))
    assert.equal("héllo ✓", text.sanitize("héllo ✓"))
    assert.equal("a\\x0ab", text.sanitize("a\nb"))
    assert.equal("a\nb", text.sanitize("a\nb", true))
  end)

  it("scrubs every occurrence of a secret", function()
    assert.equal("x [REDACTED] y [REDACTED]", text.scrub("x tok-123 y tok-123", { "tok-123" }))
  end)
end)

describe("json #portable", function()
  it("keeps empty lists as [] and rejects NaN, Infinity and hex", function()
    assert.equal('{"a":[],"b":{},"c":null}', json.encode({ a = json.array(), b = {}, c = json.null }))
    for _, s in ipairs({ "NaN", "Infinity", "-Infinity", "0x10", "[1,]" }) do
      assert.is_nil(json.decode(s), s)
    end
    assert.is_nil(json.decode(string.rep("[", 200) .. string.rep("]", 200)))
  end)
end)
