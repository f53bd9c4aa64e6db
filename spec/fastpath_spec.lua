-- The CLI's fast paths must agree with argparse: the argv fast parser builds
-- the very table argparse builds (or declines), and the stored help texts
-- are argparse's.

local fastargs = require "clarifai.cli.fastargs"
local helpcache = require "clarifai.cli.helpcache"
local parser_mod = require "clarifai.cli.parser"

-- argparse's table without false/nil noise, for comparison.
local function slow(argv)
  local ok, args = parser_mod.build():pparse(argv)
  if not ok then return nil end
  local out = {}
  for k, v in pairs(args) do
    if v ~= false and not (type(v) == "table" and #v == 0 and k == "ids") then out[k] = v end
  end
  return out
end

local function fast(argv)
  local args = fastargs.parse(argv)
  if not args then return nil end
  local out = {}
  for k, v in pairs(args) do
    if v ~= false and not (type(v) == "table" and #v == 0 and k == "ids") then out[k] = v end
  end
  return out
end

local IDS = { "--user_id", "u", "--app_id", "a", "--pipeline_id", "p", "--pipeline_version_id", "v" }

local function cat(...)
  local t = {}
  for _, part in ipairs({ ... }) do
    if type(part) == "table" then for _, x in ipairs(part) do t[#t + 1] = x end else t[#t + 1] = part end
  end
  return t
end

describe("the argv fast path", function()
  local accepted = {
    { "pr", "pause", "r1" },
    cat("pr", "pause", "r1", IDS),
    cat("pipelinerun", "cancel", "r1", "r2", "-y", "--parallel", "3", IDS),
    cat("--config", "/x", "--context=c", "-v", "pr", "resume", "--pipeline_version_run_id=r9", "--wait",
      "--timeout", "5", "--interval=0.5", IDS),
    { "pr", "pause", "-", "--user-id=u", "--app-id", "a", "--pipeline-id", "p", "--pipeline-version-id", "v" },
    { "pr", "pause", "r", "--dry-run", "-o", "json", "--connect-timeout", "1", "--request_timeout", "2",
      "--deadline", "3", "--debug" },
    { "--debug", "pr", "cancel", "r", "--config", "x", "--context", "y", "--verbose" },
  }
  for _, argv in ipairs(accepted) do
    it("builds argparse's table for: " .. table.concat(argv, " "), function()
      local f = fast(argv)
      assert.is_table(f, "the fast path declined")
      assert.same(slow(argv), f)
    end)
  end

  local declined = {
    { "pr", "pause", "--help" }, { "pr", "pause", "-h" }, { "pr", "pause", "--bogus" },
    { "pr", "pause", "r", "--parallel", "0" }, { "pr", "pause", "r", "--parallel" },
    { "pr", "pause", "r", "-y" }, { "pr", "status", "r" }, { "pr" }, { "login" },
    { "pr", "pause", "r", "--wait", "--wait" }, { "pr", "pause", "r", "--user_id", "a", "--user_id", "b" },
    { "pr", "pause", "r", "-o", "yaml" }, { "pr", "pause", "r", "--timeout", "-1" },
    { "--wait", "pr", "pause", "r" }, { "pr", "pause", "r", "--", "x" }, { "pr", "pause", "r", "--user_id", "-x" },
    { "pr", "pause", "r", "-ojson" }, { "help" }, {}, { "pr", "pause", "r", "-o", "json", "--output=text" },
  }
  for _, argv in ipairs(declined) do
    it("leaves to argparse: " .. table.concat(argv, " "), function()
      assert.is_nil(fastargs.parse(argv))
    end)
  end
end)

describe("stored help texts", function()
  it("are argparse's, for every command and alias", function()
    local texts = load(helpcache.generate())()
    local parser = parser_mod.build()
    assert.equal(parser:get_help(), texts[""])
    local n = 0
    for key, text in pairs(texts) do
      n = n + 1
      assert.is_string(text, key)
    end
    assert.is_true(n >= 15, "commands: " .. n)
    assert.equal(texts["pr pause"], texts["pipelinerun pause"])
    assert.equal(texts["pr ls"], texts["pipelinerun list"])
    assert.matches("Pausing is allowed only when", texts["pr pause"], 1, true)
  end)

  it("the built copy matches the parser (no drift)", function()
    local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
    local f = assert(io.open(build .. "/lua/clarifai/cli/helptext.lua"))
    local stored = f:read("a")
    f:close()
    assert.equal(helpcache.generate(), stored)
  end)

  it("are used only for a bare help request", function()
    package.loaded["clarifai.cli.helptext"] = load(helpcache.generate())()
    assert.is_string(helpcache.lookup({ "pr", "pause", "--help" }))
    assert.is_string(helpcache.lookup({ "--config", "x", "-h" }))
    assert.is_string(helpcache.lookup({ "--help" }))
    assert.is_nil(helpcache.lookup({ "pr", "pause", "r1", "--help" }))
    assert.is_nil(helpcache.lookup({ "pr", "pause", "--bogus", "--help" }))
    assert.is_nil(helpcache.lookup({ "pr", "nope", "--help" }))
    assert.is_nil(helpcache.lookup({ "pr", "pause" }))
    package.loaded["clarifai.cli.helptext"] = nil
  end)
end)
