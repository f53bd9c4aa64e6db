-- The test harness itself must not pass by accident: a failing spec, a
-- luacheck warning, a function too long or too branched and a stage that
-- cannot build each make their stage (and the summary) fail. Fixtures are
-- written to a temporary directory, so the real suite never runs them.

local cli = require "support.cli"

local q = cli.quote

-- sh command -> output, exit code
local function sh(cmd)
  local p = assert(io.popen("cd " .. q(cli.root) .. " && (" .. cmd .. ") 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

describe("the test harness", function()
  local dir
  setup(function() dir = cli.tmpdir() end)

  describe("the summary", function()
    local function summary(lines, stages)
      local results = dir .. "/results.txt"
      cli.write(results, lines)
      return sh("sh tools/summary.sh " .. q(results) .. " " .. stages)
    end

    it("passes when every expected stage reported and nothing failed, with each stage's time", function()
      local out, code = summary("unit 10 0 12.5\nluacheck 1 0 2.0\n", "unit luacheck")
      assert.equal(0, code)
      assert.matches("\n11 passed, 0 failed\n", out, 1, true)
      assert.matches("unit%s+10 passed, 0 failed%s+12.5 s", out)
    end)

    it("fails when a stage failed", function()
      local out, code = summary("unit 10 1 1.0\nluacheck 1 0 1.0\n", "unit luacheck")
      assert.equal(1, code)
      assert.matches("11 passed, 1 failed", out, 1, true)
    end)

    it("fails when an expected stage never reported, and names it", function()
      local out, code = summary("unit 10 0 1.0\n", "unit asan luacheck")
      assert.equal(1, code)
      assert.matches("asan%s+did not report", out)
      assert.matches("luacheck%s+did not report", out)
      assert.matches("10 passed, 2 failed", out, 1, true)
    end)

    it("fails when nothing ran at all", function()
      local _, code = summary("", "")
      assert.equal(1, code)
    end)
  end)

  it("a failing spec fails its stage and is counted (one script writes every results line)", function()
    cli.write(dir .. "/fixture_spec.lua", 'describe("fixture", function()\n'
      .. '  it("passes", function() assert.is_true(true) end)\n'
      .. '  it("fails", function() assert.equal(1, 2) end)\nend)\n')
    local results = dir .. "/busted-results.txt"
    local out, code = sh(string.format(
      "SPEC_GROUPS= RESULTS=%s LOG_DIR=%s sh tools/stage.sh fixture sh spec/run-busted.sh fixture lua5.4 %s %s",
      q(results), q(dir), "$(command -v busted)", q(dir .. "/fixture_spec.lua")))
    assert.is_true(code ~= 0, out)
    assert.matches("fixture: 1 passed, 1 failed", out, 1, true)
    assert.matches("^fixture 1 1 %d+%.%d\n$", cli.slurp(results))
  end)

  it("a luacheck warning fails `make lint`", function()
    cli.write(dir .. "/warned.lua", "local unused = 1\n")
    local results = dir .. "/lint-results.txt"
    local out, code = sh(string.format("make --no-print-directory lint LINT_FILES=%s LINT_LUA=%s RESULTS=%s",
      q(dir .. "/warned.lua"), q(dir .. "/warned.lua"), q(results)))
    assert.is_true(code ~= 0, out)
    assert.matches("unused variable", out, 1, true)
    assert.matches("^test%-lint 0 1 ", cli.slurp(results))
    local _, clean = sh(string.format("make --no-print-directory lint LINT_FILES=%s LINT_LUA=%s RESULTS=%s",
      q("lua/clarifai/version.lua"), q("lua/clarifai/version.lua"), q(results)))
    assert.equal(0, clean)
  end)

  it("`make lint` fails on a function longer than 80 lines or more branched than 25", function()
    local long = { "local M = {}", "function M.long(x)" }
    for i = 1, 80 do long[#long + 1] = "  x = x + " .. i end
    long[#long + 1] = "  return x"
    long[#long + 1] = "end"
    long[#long + 1] = "return M"
    local branchy = { "local M = {}", "function M.branchy(x)" }
    for i = 1, 26 do branchy[#branchy + 1] = "  if x == " .. i .. " then return " .. i .. " end" end
    branchy[#branchy + 1] = "  return 0"
    branchy[#branchy + 1] = "end"
    branchy[#branchy + 1] = "return M"
    for name, body in pairs({ long = long, branchy = branchy }) do
      local path = dir .. "/" .. name .. ".lua"
      cli.write(path, table.concat(body, "\n") .. "\n")
      local out, code = sh(string.format("make --no-print-directory lint LINT_FILES=%s LINT_LUA=%s RESULTS=%s",
        q(path), q(path), q(dir .. "/" .. name .. "-results.txt")))
      assert.is_true(code ~= 0, name .. ": " .. out)
      if name == "long" then
        assert.matches(path .. ":2: function is 83 lines long (limit 80)", out, 1, true)
      else
        assert.matches("cyclomatic complexity of function 'M.branchy' is too high (27 > 25)", out, 1, true)
      end
    end
    local out, code = sh("make --no-print-directory lint RESULTS=" .. q(dir .. "/tree-results.txt"))
    assert.equal(0, code, out)
    assert.matches("none over 80 lines", out, 1, true)
  end)

  it("a stage that cannot build fails and never reports, so the summary fails", function()
    local results = dir .. "/build-results.txt"
    local out, code = sh(string.format("make --no-print-directory test-unit BUILD=%s CC=false RESULTS=%s",
      q(dir .. "/broken-build"), q(results)))
    assert.is_true(code ~= 0, out)
    assert.equal("", cli.slurp(results), "the broken stage must not report a pass")
    local sout, scode = sh("sh tools/summary.sh " .. q(results) .. " test-unit")
    assert.equal(1, scode)
    assert.matches("test%-unit%s+did not report", sout)
  end)
end)
