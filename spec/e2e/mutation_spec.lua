-- A seeded mutation loop over recorded API responses, driven through the
-- library's real response path (runs.apply, status, list, history, monitor)
-- with a client whose transport replays the mutated bytes. Every input must
-- end in a result or a documented error table: never a Lua error.

local cjson = require "cjson"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local runs = require "clarifai.runs"
local watch = require "clarifai.watch"

local TOKEN = "pat_CANARY_mut_91c2e7"

-- Responses as the API sends them.
local RECORDED = {
  '{"status":{"code":10000,"description":"Ok","req_id":"a1"},"pipeline_version_runs":[{"id":"r1",'
    .. '"orchestration_status":{"status":{"code":64008,"description":"Paused"}},"created_at":"2026-01-01T00:00:00Z"}]}',
  '{"status":{"code":10000,"description":"Ok","req_id":"a2"},"pipeline_version_run":{"id":"r1","user_id":"u",'
    .. '"app_id":"a","pipeline_version":{"id":"v","pipeline_id":"p"},"orchestration_status":{"status":{"code":64001}},'
    .. '"created_at":"2026-01-01T00:00:00.123456Z","started_at":"2026-01-01T00:00:01Z","total_run_duration":"12.5s"}}',
  '{"status":{"code":26302,"description":"Invalid pipeline request","details":"cannot pause","req_id":"a3"},'
    .. '"pipeline_version_runs":[]}',
  '{"status":{"code":11009,"description":"API key not found","details":"invalid key"},"pipeline_version_runs":[]}',
  '{"status":{"code":10000},"pipeline_version_run_status_logs":[{"id":"s1","pipeline_version_run_id":"r1",'
    .. '"status":{"code":64008},"message":"Paused","triggered_by_user_id":"u","created_at":"2026-01-01T00:00:00Z"}]}',
  '{"status":{"code":10000},"log_entries":[{"message":"step-0: ok","log_type":"pipeline.version.run","url":"x1"},'
    .. '{"message":"{\\"msg\\":\\"json line\\"}\\nsecond","url":"x2"}],"page":1,"per_page":50}',
  '<html><body>502 Bad Gateway</body></html>',
  '',
}

local TOKENS = { "null", "true", "false", "0", "-1", "1e400", "10000", "64008", '"10000"', '"x"', "[]", "{}",
  '{"code":10000}', '"\\u001b[31m"', '"' .. TOKEN .. '"', "[[[[[[", "}}}}", ",", ":", '"', "\\", "NaN", "0x10" }

-- Seeded PRNG (Park-Miller, exact in doubles: runs on every Lua) so a
-- failure can be replayed from its case number.
local function prng(seed)
  local x = seed % 2147483646 + 1
  return function(n)
    x = (16807 * x) % 2147483647
    return x % n + 1
  end
end

-- Valid JSON with one node replaced by a value of another type.
local REPLACEMENTS = { cjson.null, true, 0, -1, 1.5, 64008, "x", "64008", {}, { 1, 2 }, { code = "10000" } }
local function retype(s, rnd)
  local ok, doc = pcall(cjson.decode, s)
  if not ok or type(doc) ~= "table" then return s end
  local nodes = {}
  local function walk(t, depth)
    for k, v in pairs(t) do
      nodes[#nodes + 1] = { t, k }
      if type(v) == "table" and depth < 8 then walk(v, depth + 1) end
    end
  end
  walk(doc, 0)
  if #nodes == 0 then return s end
  local pick = nodes[rnd(#nodes)]
  pick[1][pick[2]] = REPLACEMENTS[rnd(#REPLACEMENTS)]
  return cjson.encode(doc)
end

local function mutate(s, rnd)
  if rnd(3) == 1 then return retype(s, rnd) end
  for _ = 1, rnd(4) do
    local op = rnd(6)
    local pos = #s > 0 and rnd(#s) or 1
    if op == 1 and #s > 0 then
      s = s:sub(1, pos - 1) .. string.char(rnd(256) - 1) .. s:sub(pos + 1)
    elseif op == 2 then
      s = s:sub(1, pos)
    elseif op == 3 then
      s = s:sub(1, pos - 1) .. TOKENS[rnd(#TOKENS)] .. s:sub(pos)
    elseif op == 4 and #s > 0 then
      local len = rnd(math.min(16, #s))
      s = s:sub(1, pos - 1) .. s:sub(pos + len)
    elseif op == 5 then
      -- swap a value after a key for a token of another type
      s = s:gsub('("%w+":)([^,}%]]+)', function(k, v)
        if rnd(5) == 1 then return k .. TOKENS[rnd(#TOKENS)] end
        return k .. v
      end)
    else
      s = s:sub(1, pos - 1) .. s:sub(pos, pos):rep(rnd(8)) .. s:sub(pos + 1)
    end
  end
  return s
end

-- A client whose session answers with the next mutated response.
local function fake_client(next_response, clock)
  local c = require("support.fake_session").client(function() return next_response() end,
    { pat = TOKEN, deadline = 5, request_timeout = 1, connect_timeout = 1 }, clock)
  return c
end

local DOCUMENTED = {}
for kind in pairs(errors.exit_codes) do DOCUMENTED[kind] = true end

local seen = { errors = 0, kinds = {} }

local function check_error(e, where)
  assert.is_table(e, where)
  seen.errors = seen.errors + 1
  seen.kinds[e.kind] = true
  assert.is_true(DOCUMENTED[e.kind] == true, where .. ": undocumented kind " .. tostring(e.kind))
  assert.equal(errors.exit_codes[e.kind], e.exit_code, where)
  assert.is_string(e.message, where)
  assert.is_nil(e.message:find(TOKEN, 1, true), where .. ": token in message")
  assert.is_nil(e.message:find("[%z\1-\8\11-\31\127]"), where .. ": control character in message")
  json.encode({ error = e.kind, message = e.message })
end

describe("response mutation loop #portable", function()
  local clock
  -- backoff and polls sleep on a fake clock: thousands of cases in a second
  setup(function() clock = require("support.fake_clock").install() end)
  teardown(function() clock.remove() end)

  it("ends every mutated response in a result or a documented error", function()
    local ref = { user_id = "u", app_id = "a", pipeline_id = "p", pipeline_version_id = "v" }
    local cases = tonumber(os.getenv("CLARIFAI_MUTATIONS") or "") or 5000
    local statuses = { 200, 200, 200, 400, 401, 404, 429, 500, 502, 503, 307 }
    local types = { "application/json", "application/json", "text/html", "text/plain" }
    for n = 1, cases do
      local rnd = prng(n * 2654435761 % 2147483647 + 1)
      local function next_response()
        local r = rnd(10)
        if r == 1 then
          return { error_code = ({ "COULDNT_CONNECT", "OPERATION_TIMEDOUT", "GOT_NOTHING", "TOO_LARGE",
            "PARTIAL_FILE", "RECV_ERROR" })[rnd(6)], error = "transport failure", sent = rnd(2) == 1,
            responded = false }
        end
        local body = RECORDED[rnd(#RECORDED)]
        if rnd(4) > 1 then body = mutate(body, rnd) end
        return { status = statuses[rnd(#statuses)], body = body, sent = true,
          headers = { ["content-type"] = types[rnd(#types)], location = rnd(3) == 1 and "http://x/\27]" or nil } }
      end
      local opts = { client = fake_client(next_response, clock), lockfile = false }
      local where = "case " .. n
      local ok, err = pcall(function()
        local op = n % 5
        if op == 0 then
          local report, _, e = runs.apply(({ "pause", "cancel", "resume" })[rnd(3)], ref, { "r1", "r2" }, opts)
          if not report then return check_error(e, where) end
          for _, r in ipairs(report.results) do
            if r.error then check_error(r.error, where) else assert.is_string(r.state or "", where) end
          end
          assert.is_string(cjson.encode(report.summary))
        elseif op == 1 then
          local report, _, e = runs.status(ref, { "r1" }, opts)
          if not report then return check_error(e, where) end
          for _, r in ipairs(report.results) do
            if r.error then check_error(r.error, where) else assert.is_table(r.run, where) end
          end
        elseif op == 2 then
          local res, _, e = runs.list(ref, { status = { "running" } }, opts)
          if not res then return check_error(e, where) end
          assert.is_table(res.runs)
        elseif op == 3 then
          local res, _, e = runs.history(ref, "r1", opts)
          if not res then return check_error(e, where) end
          assert.is_table(res.status_logs)
        else
          local res, _, e = watch.monitor(ref, "r1", { client = opts.client, lockfile = false, timeout = 0, interval = 0.001,
            on_state = function() end, on_log = function(ev) assert.is_string(ev.message) end,
            on_error = function(x) check_error(x, where) end })
          if not res then return check_error(e, where) end
          assert.is_string(res.status)
        end
      end)
      assert.is_true(ok, where .. ": " .. tostring(err))
    end
    -- the loop must really reach both outcomes and many kinds of error
    assert.is_true(seen.errors > cases / 4, "errors seen: " .. seen.errors)
    for _, kind in ipairs({ "api", "auth", "protocol", "transport", "unknown", "transient" }) do
      assert.is_true(seen.kinds[kind], "no error of kind " .. kind)
    end
  end)
end)
