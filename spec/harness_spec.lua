-- The test harness itself must not pass by accident: a failing spec, a
-- luacheck warning and a stage that cannot build each make their stage (and
-- the summary) fail. Fixtures are written to a temporary directory, so the
-- real suite never runs them.

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

    it("passes when every expected stage reported and nothing failed", function()
      local out, code = summary("unit 10 0\nluacheck 1 0\n", "unit luacheck")
      assert.equal(0, code)
      assert.matches("\n11 passed, 0 failed\n", out, 1, true)
    end)

    it("fails when a stage failed", function()
      local out, code = summary("unit 10 1\nluacheck 1 0\n", "unit luacheck")
      assert.equal(1, code)
      assert.matches("11 passed, 1 failed", out, 1, true)
    end)

    it("fails when an expected stage never reported, and names it", function()
      local out, code = summary("unit 10 0\n", "unit asan luacheck")
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

  it("a failing spec fails its stage and is counted", function()
    cli.write(dir .. "/fixture_spec.lua", 'describe("fixture", function()\n'
      .. '  it("passes", function() assert.is_true(true) end)\n'
      .. '  it("fails", function() assert.equal(1, 2) end)\nend)\n')
    local results = dir .. "/busted-results.txt"
    local out, code = sh(string.format(
      "SPEC_SPLIT= RESULTS=%s LOG_DIR=%s sh spec/run-busted.sh fixture lua5.4 /usr/bin/busted %s",
      q(results), q(dir), q(dir .. "/fixture_spec.lua")))
    assert.is_true(code ~= 0, out)
    assert.matches("fixture: 1 passed, 1 failed", out, 1, true)
    assert.equal("fixture 1 1\n", cli.slurp(results))
  end)

  it("a luacheck warning fails `make lint`", function()
    cli.write(dir .. "/warned.lua", "local unused = 1\n")
    local results = dir .. "/lint-results.txt"
    local out, code = sh(string.format("make --no-print-directory lint LINT_FILES=%s RESULTS=%s", q(dir .. "/warned.lua"),
      q(results)))
    assert.is_true(code ~= 0, out)
    assert.matches("unused variable", out, 1, true)
    assert.equal("luacheck 0 1\n", cli.slurp(results))
    local _, clean = sh(string.format("make --no-print-directory lint LINT_FILES=%s RESULTS=%s",
      q("lua/clarifai/version.lua"), q(results)))
    assert.equal(0, clean)
  end)

  it("a stage that cannot build fails and never reports, so the summary fails", function()
    local results = dir .. "/build-results.txt"
    local out, code = sh(string.format("make --no-print-directory test-unit BUILD=%s CC=false RESULTS=%s",
      q(dir .. "/broken-build"), q(results)))
    assert.is_true(code ~= 0, out)
    assert.equal("", cli.slurp(results), "the broken stage must not report a pass")
    local sout, scode = sh("sh tools/summary.sh " .. q(results) .. " unit")
    assert.equal(1, scode)
    assert.matches("unit%s+did not report", sout)
  end)
end)
