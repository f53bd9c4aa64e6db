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
      "SPEC_FILES=%s RESULTS=%s LOG_DIR=%s sh tools/stage.sh fixture bash spec/run-busted.sh fixture lua5.4 %s",
      q(dir .. "/fixture_spec.lua"), q(results), q(dir), "$(command -v busted)"))
    assert.is_true(code ~= 0, out)
    assert.matches("fixture: 1 passed, 1 failed", out, 1, true)
    assert.matches("^fixture 1 1 %d+%.%d\n$", cli.slurp(results))
  end)

  it("the runner finds specs in every folder; a pure-Lua spec that loads a C module fails", function()
    local root = dir .. "/tree"
    os.execute("mkdir -p " .. q(root .. "/deep/er"))
    cli.write(root .. "/top_spec.lua", 'it("top", function() end)\n')
    cli.write(root .. "/deep/er/low_spec.lua", 'it("low", function() end)\n')
    cli.write(root .. "/deep/pure_spec.lua", 'it("pure", function() require "clarifai.sys.core" end)\n')
    local cmd = "SPEC_ROOT=%s SLOW_SPECS= SPEC_JOBS=2 PURE_SPECS=%s LOG_DIR=%s bash spec/run-busted.sh tree lua5.4 %s"
    local out, code = sh(string.format(cmd, q(root), q(root .. "/deep/pure_spec.lua"), q(dir), "$(command -v busted)"))
    assert.is_true(code ~= 0, out)
    assert.matches("tree: 2 passed, 1 failed", out, 1, true)
    assert.matches("clarifai.sys.core", out, 1, true)
    local _, clean = sh(string.format("CLARIFAI_BUILD_DIR=%s " .. cmd, q(cli.root .. "/build"), q(root), "", q(dir),
      "$(command -v busted)"))
    assert.equal(0, clean, "with the C build visible it loads")
  end)

  it("the scheduler runs every stage, never more at once than it is given", function()
    local events = dir .. "/events"
    cli.write(dir .. "/fake-make", "#!/bin/sh\n" .. 'echo "+ $2" >> ' .. q(events) .. "; sleep 0.2; "
      .. 'echo "- $2" >> ' .. q(events) .. '; echo "ran $2"\n')
    os.execute("chmod +x " .. q(dir .. "/fake-make"))
    local out, code = sh("MAKE=" .. q(dir .. "/fake-make") .. " bash tools/schedule.sh 2 s1 s2 s3 s4 s5")
    assert.equal(0, code, out)
    local running, most, ran = 0, 0, {}
    for sign, stage in cli.slurp(events):gmatch("([+-]) (%S+)") do
      running = running + (sign == "+" and 1 or -1)
      most = math.max(most, running)
      ran[stage] = true
    end
    assert.equal(2, most, "two at once, never three")
    assert.same({ s1 = true, s2 = true, s3 = true, s4 = true, s5 = true }, ran)
    for i = 1, 5 do assert.matches("ran s" .. i .. "\n== s" .. i .. " ended at", out, 1, true) end
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
