-- The CLI's fast path must agree with argparse: the argv fast parser builds
-- the very table argparse builds (or declines). Both, the help texts and the
-- completion scripts come from one flag table (clarifai.cli.flags).

local fastargs = require "clarifai.cli.fastargs"
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
    cat("pr", "pause", "r1", "--yes", "--no-progress", "-o", "jsonl", IDS),
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
    { "pr", "status", "r" }, { "pr" }, { "login" },
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

-- Every option of every change command, spelled each way, with a valid
-- value: the fast path and argparse must build the same table (defaults
-- included), so a flag added to clarifai.cli.flags cannot drift.
describe("the flag table", function()
  local flags = require "clarifai.cli.flags"
  local SAMPLE = { text = "v1", number = "4", duration = "2h" }
  for _, action in ipairs({ "pause", "cancel", "resume" }) do
    local cmd = flags.find({ "pr", action })
    for _, o in ipairs(cmd.options) do
      for _, name in ipairs(o.names) do
        it("agrees with argparse on " .. action .. " " .. name, function()
          local argv = { "pr", action, "r1" }
          if o.argname then
            argv[#argv + 1] = name
            local sample = SAMPLE[o.kind]
            -- a number in the option's range (4, or its least value)
            if o.kind == "number" and not flags.convert(o, sample) then
              sample = tostring(require("clarifai.limits").table[o.limit].min)
            end
            argv[#argv + 1] = o.choices and o.choices[#o.choices] or sample
          else
            argv[#argv + 1] = name
          end
          local f = fast(argv)
          assert.is_table(f, "the fast path declined " .. name)
          assert.same(slow(argv), f)
        end)
      end
    end
    it("starts " .. action .. " from the same defaults as argparse", function()
      local f = fast({ "pr", action, "r1" })
      local sl = slow({ "pr", action, "r1" })
      assert.same(sl, f)
      assert.equal(require("clarifai.defaults").parallel, f.parallel)
      assert.is_nil(f.timeout) -- filled in by the library: the command must see whether it was given
    end)
  end
end)

describe("help texts", function()
  local help = require "clarifai.cli.help"
  local flags = require "clarifai.cli.flags"

  it("exist for every command and alias, with aligned option columns", function()
    local n = 0
    local function walk(cmd, words)
      local text = assert(help.render(words), table.concat(words, " "))
      n = n + 1
      assert.matches("^Usage: clarifai", text)
      -- every option row of the block starts its help text in the same column
      local block = text:match("\nOptions:\n(.-)\n\n") or text:match("\nOptions:\n(.*)$")
      local col
      for line in block:gmatch("[^\n]+") do
        local left, gap = line:match("^  (%-%S.-)(   +)%S")
        if left and not line:match("^      ") then
          local c = #left + #gap
          col = col or c
          assert.equal(col, c, "misaligned: " .. line)
        end
      end
      assert.is_nil(text:find("(default: %S+)%.? %(default", 1), "doubled default")
      assert.is_nil(text:find("%(default %d"), "old-style default")
      for _, sub in ipairs(cmd.commands or {}) do
        local names = { sub.name }
        for _, a in ipairs(sub.aliases or {}) do names[#names + 1] = a end
        for _, name in ipairs(names) do
          local w = { table.unpack(words) }
          w[#w + 1] = name
          walk(sub, w)
        end
      end
    end
    walk(flags.root, {})
    assert.is_true(n >= 15, "commands: " .. n)
    assert.equal(help.render({ "pr", "pause" }):match("\n.*"), help.render({ "pipelinerun", "pause" }):match("\n.*"))
  end)

  it("give every command a description and its own synopsis", function()
    assert.matches("Usage: clarifai pr list [OPTIONS]\n", help.render({ "pr", "list" }), 1, true)
    assert.is_nil(help.render({ "pr", "list" }):find("PIPELINE_VERSION_RUN_ID", 1, true))
    assert.matches("Usage: clarifai pr pause [OPTIONS] [PIPELINE_VERSION_RUN_ID]...", help.render({ "pr", "pause" }),
      1, true)
    assert.matches("Usage: clarifai pr monitor [OPTIONS] [PIPELINE_VERSION_RUN_ID]\n", help.render({ "pr", "monitor" }),
      1, true)
    for _, sub in ipairs(flags.find({ "pr" }).commands) do
      local text = help.render({ "pr", sub.name })
      local desc = text:match("^Usage: [^\n]*\n\n([^\n]+)")
      assert.is_string(desc, sub.name)
      assert.is_true(#desc > 10, sub.name)
    end
  end)

  it("is found for help requests anywhere on the line, not for option values", function()
    assert.same({ "pr", "pause" }, help.request({ "pr", "pause", "--help" }))
    assert.same({ "pr", "pause" }, help.request({ "pr", "pause", "r1", "-h" }))
    assert.same({}, help.request({ "--config", "x", "-h" }))
    assert.same({ "pr", "pause" }, help.request({ "help", "pr", "pause" }))
    assert.same({}, help.request({ "help" }))
    assert.is_nil(help.request({ "pr", "pause", "r1" }))
    assert.is_nil(help.request({ "pr", "pause", "--user_id", "-h" }))
  end)
end)

-- The launchers load modules from precompiled chunks, the hot ones from one
-- bundle; a chunk older than its source (a checkout being edited) is not used.
describe("precompiled chunks", function()
  local cli = require "support.cli"
  local loader = require "clarifai.loader"
  local sys = require "clarifai.sys.core"

  -- dir/bad.so: a module that names a function nobody defines, linked to
  -- bind at load (nil without a C compiler that takes -z now)
  local function bad_module(dir)
    cli.write(dir .. "/bad.c", "extern int clarifai_spec_nowhere(void);\n"
      .. "int luaopen_bad(void *L) { (void)L; return clarifai_spec_nowhere(); }\n")
    return os.execute("cc -shared -fPIC -Wl,-z,now -o " .. cli.quote(dir .. "/bad.so") .. " "
      .. cli.quote(dir .. "/bad.c") .. " 2>/dev/null")
  end

  it("come from one bundle for the modules every pause loads", function()
    local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
    local chunk = assert(loadfile(build .. "/luac/bundle.luac", "b"))
    local modules = chunk()
    for _, name in ipairs({ "clarifai.cli", "clarifai.cli.fastargs", "clarifai.runs", "clarifai.batch",
      "clarifai.transport", "clarifai.api", "clarifai.ids" }) do
      assert.is_table(modules[name], name)
    end
  end)

  it("are used only while their source has the fingerprint recorded at build time", function()
    local dir = cli.tmpdir()
    os.execute("mkdir -p " .. cli.quote(dir .. "/src/clarifai"))
    local src = dir .. "/src/clarifai/zz_probe.lua"
    cli.write(src, "return 'from the bundle'\n")
    local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
    assert(os.execute("lua5.4 tools/bundle.lua " .. cli.quote(dir .. "/bundle.luac") .. " " .. cli.quote(dir .. "/src")
      .. " " .. cli.quote(build) .. " " .. cli.quote(src)))
    package.preload["clarifai.zz_probe"] = nil
    loader.preload_bundle(dir .. "/bundle.luac", sys, { dir .. "/src" })
    local load = package.preload["clarifai.zz_probe"]
    assert.equal("from the bundle", load("clarifai.zz_probe"))
    -- edited to the same size, its time set back a day (as an install may):
    -- the fingerprint still tells, and the source is loaded
    cli.write(src, "return 'from the source'\n")
    os.execute("touch -d '-1 day' " .. cli.quote(src))
    local saved = package.path
    package.path = dir .. "/src/?.lua;" .. package.path
    local ok, got = pcall(load, "clarifai.zz_probe")
    package.path = saved
    package.preload["clarifai.zz_probe"] = nil
    assert.is_true(ok, tostring(got))
    assert.equal("from the source", got)
  end)

  it("are trusted without reading the source while stat says what it said at build time", function()
    local dir = cli.tmpdir()
    os.execute("mkdir -p " .. cli.quote(dir .. "/src/clarifai"))
    local src = dir .. "/src/clarifai/zz_sig.lua"
    cli.write(src, "return 'from the source'\n")
    -- a bundle whose fingerprint is wrong but whose signature is the file's
    local sig = assert(sys.stat_sig(src))
    local code = string.format("return { [%q] = { path = %q, sum = %q, sig = %q, "
      .. "load = function() return 'from the bundle' end } }", "clarifai.zz_sig", "clarifai/zz_sig.lua", "0:0", sig)
    cli.write(dir .. "/bundle.luac", string.dump(assert(load(code)), true))
    local saved = package.path
    package.path = dir .. "/src/?.lua;" .. package.path
    local function load_probe()
      package.preload["clarifai.zz_sig"] = nil
      loader.preload_bundle(dir .. "/bundle.luac", sys, { dir .. "/src" })
      local got = package.preload["clarifai.zz_sig"]("clarifai.zz_sig")
      package.preload["clarifai.zz_sig"] = nil
      return got
    end
    local ok, got = pcall(load_probe)
    assert.is_true(ok, tostring(got))
    assert.equal("from the bundle", got)
    -- rewritten in place to the same size, its modification time put back:
    -- the status-change time still moves, the fingerprint is checked, the
    -- source is loaded
    cli.write(dir .. "/ref", "")
    os.execute("touch -r " .. cli.quote(src) .. " " .. cli.quote(dir .. "/ref"))
    cli.write(src, "return 'from the SOURCE'\n")
    os.execute("touch -r " .. cli.quote(dir .. "/ref") .. " " .. cli.quote(src))
    ok, got = pcall(load_probe)
    package.path = saved
    assert.is_true(ok, tostring(got))
    assert.equal("from the SOURCE", got)
    -- a build records no signature for a file written in the last seconds
    assert.is_nil(sys.stat_sig(src, 2))
    assert.is_string(sys.stat_sig(src))
    assert.is_nil(sys.stat_sig(dir))
  end)

  it("open the HTTP module lazily: libcurl's libraries bind on use, its own symbols at load", function()
    local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
    assert.is_true(sys.open_lazy(build .. "/clarifai/http/core.so"))
    assert.is_table(require "clarifai.http.core")
    -- a module that names a function nobody defines still fails to open
    local dir = cli.tmpdir()
    if not bad_module(dir) then return pending("no C compiler taking -z now") end
    local ok, err, code = sys.open_lazy(dir .. "/bad.so")
    assert.is_nil(ok)
    assert.matches("clarifai_spec_nowhere", err, 1, true)
    assert.equal("EIO", code)
    local f, lerr = package.loadlib(dir .. "/bad.so", "luaopen_bad")
    assert.is_nil(f)
    assert.matches("clarifai_spec_nowhere", lerr, 1, true)
  end)

  it("load the HTTP module on a thread of its own, which opening it waits for", function()
    local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
    assert.is_true(sys.preload(build .. "/clarifai/http/core.so"))
    assert.is_true(sys.open_lazy(build .. "/clarifai/http/core.so"))
    assert.is_table(require "clarifai.http.core")
    -- a module that fails to open: the thread says nothing, open_lazy says why
    local dir = cli.tmpdir()
    if not bad_module(dir) then return pending("no C compiler taking -z now") end
    assert.is_true(sys.preload(dir .. "/bad.so"))
    local ok, err, code = sys.open_lazy(dir .. "/bad.so")
    assert.is_nil(ok)
    assert.matches("clarifai_spec_nowhere", err, 1, true)
    assert.equal("EIO", code)
    -- a second load waits for the first; a path no file can have is refused
    assert.is_true(sys.preload(dir .. "/missing.so"))
    assert.is_true(sys.preload(dir .. "/missing.so"))
    ok, err, code = sys.preload(string.rep("x", 70000))
    assert.is_nil(ok)
    assert.equal("path too long", err)
    assert.equal("ENAMETOOLONG", code)
    assert.is_nil((sys.open_lazy(dir .. "/missing.so")))
  end)

  it("start loading the HTTP module at once for a command that talks to the server, and only then", function()
    local warmup = require "clarifai.warmup"
    for _, case in ipairs({
      { { "pr", "pause", "r1" }, true }, { { "--context", "c", "pipelinerun", "list", "--all" }, true },
      { { "script", "x.lua" }, true }, { { "pr", "pause", "r1", "--dry-run" }, false }, { { "--help" }, false },
      { { "pr", "pause", "-h" }, false }, { { "help", "pr" }, false }, { { "--version" }, false },
      { { "completion", "bash" }, false }, { {}, false },
    }) do
      assert.equal(case[2], warmup.talks(case[1]), table.concat(case[1], " "))
    end
    -- seen from the process: libcurl is mapped with nobody asking for the
    -- module, and the C modules opened afterwards were already open
    local f = io.open("/proc/self/maps")
    if not f then return pending("no /proc/self/maps") end
    f:close()
    local root = assert(sys.realpath("."))
    local build = assert(sys.realpath(os.getenv("CLARIFAI_BUILD_DIR") or "build"))
    local probe = cli.tmpdir() .. "/probe.lua"
    cli.write(probe, [[
      local root, build = arg[1], arg[2]
      package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
      package.cpath = build .. "/?.so;" .. package.cpath
      local started = require("clarifai.warmup").start({ "pr", arg[3], "r1" })
      local sys = require "clarifai.sys.core"
      local function mapped()
        local maps = io.open("/proc/self/maps")
        local text = maps:read("*a")
        maps:close()
        return text:find("libcurl", 1, true) ~= nil
      end
      local deadline = sys.monotime() + 20
      while not mapped() and sys.monotime() < deadline and arg[3] == "pause" do sys.sleep(0.01) end
      print(started, mapped(), package.loaded["cjson"] ~= nil, package.loaded["clarifai.yaml.core"] ~= nil,
        package.loaded["clarifai.http.core"] ~= nil)
      os.exit(0, true)
    ]])
    for _, case in ipairs({ { "pause", "true\ttrue\ttrue\ttrue\tfalse\n" },
      { "--help", "false\tfalse\tfalse\tfalse\tfalse\n" } }) do
      local r = cli.run({ root, build, case[1] }, { bin = probe })
      assert.equal(0, r.code, r.err)
      assert.equal(case[2], r.out, case[1])
    end
  end)

  it("record the fingerprint the launcher computes (the build's Lua and C agree)", function()
    local fingerprint = dofile("tools/fingerprint.lua")
    local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
    local sums = cli.slurp(build .. "/luac/sums.txt")
    local n = 0
    for rel, sum in sums:gmatch("([^\n ]+) ([^\n ]+)[^\n]*") do
      assert.equal(sys.digest("lua/" .. rel), sum, rel)
      assert.equal(fingerprint.of("lua/" .. rel, build), sum, rel)
      n = n + 1
    end
    assert.is_true(n > 20, n .. " sums")
  end)
end)

-- The bundle holds what a pause loads before its request, so a module added
-- to that path is not opened, checked and loaded on its own every time.
describe("the bundle", function()
  local cli = require "support.cli"
  local emulator = require "support.emulator"
  local TOKEN = "pat_BUNDLE_2c9e"
  local emu = emulator.fixture({ tick = 0, token = TOKEN })
  local run = cli.runner(function() return emu.url end, TOKEN)

  it("holds every Lua module a pause loads", function()
    local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
    local modules = assert(loadfile(build .. "/luac/bundle.luac", "b"))()
    local dir = cli.tmpdir()
    local log = dir .. "/required"
    -- the interpreter runs LUA_INIT first: it notes each module as required
    cli.write(dir .. "/init.lua", "local log, req = " .. string.format("%q", log) .. ", require\n"
      .. "function require(name)\n"
      .. "  if not package.loaded[name] then local f = io.open(log, 'a') f:write(name, '\\n') f:close() end\n"
      .. "  return req(name)\nend\n")
    cli.write(dir .. "/config-lock.yaml", "pipeline:\n  id: hello-world-pipeline\n  user_id: demo-user\n"
      .. "  app_id: demo-app\n  version_id: 8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19\n")
    local r = run({ "pr", "pause", "run-train-01" }, { cwd = dir, env = { LUA_INIT = "@" .. dir .. "/init.lua" } })
    assert.equal(0, r.code, r.err)
    local missing = {}
    for name in cli.slurp(log):gmatch("[^\n]+") do
      local before_loader = name == "clarifai.loader" or name == "clarifai.warmup"
      if name:match("^clarifai") and not name:match("%.core$") and not before_loader and not modules[name] then
        missing[#missing + 1] = name
      end
    end
    assert.same({}, missing)
    for _, name in ipairs({ "clarifai.lockfile", "clarifai.config", "clarifai.http.core" }) do
      assert.matches(name, cli.slurp(log), 1, true)
    end
  end)
end)
