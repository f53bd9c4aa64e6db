-- Specs for clarifai.sys.core's file reads (csrc/sys.c): read_file, which
-- every YAML file goes through, and digest, which the launcher checks
-- precompiled chunks with.

local cli = require "support.cli"
local sys = require "clarifai.sys.core"

describe("clarifai.sys.core files #portable", function()
  local dir = cli.tmpdir()

  local function file(name, text)
    cli.write(dir .. "/" .. name, text)
    return dir .. "/" .. name
  end

  it("read_file gives the exact bytes and the mode, at every size", function()
    for _, n in ipairs({ 0, 1, 7, 8, 1023, 1024, 1025, 16384, 100000 }) do
      local text = {}
      for i = 1, n do text[i] = string.char((i * 7) % 256) end
      text = table.concat(text)
      local path = file("f" .. n, text)
      os.execute("chmod 640 " .. cli.quote(path))
      local got, mode = sys.read_file(path, 1024 * 1024)
      assert.equal(n, #got)
      assert.equal(text, got)
      assert.equal(tonumber("640", 8), mode)
    end
  end)

  it("read_file refuses a file over the limit, and reads one the size does not tell (/proc)", function()
    local path = file("big", ("x"):rep(2000))
    local none, msg, code = sys.read_file(path, 1999)
    assert.is_nil(none)
    assert.equal("file is 2000 bytes; the limit is 1999 bytes", msg)
    assert.equal("TOO_LARGE", code)
    assert.equal(2000, #sys.read_file(path, 2000))
    local status = io.open("/proc/self/status")
    if status then
      status:close()
      local text = sys.read_file("/proc/self/status", 1024 * 1024)
      assert.matches("\nPid:", text, 1, true)
      local _, _, small = sys.read_file("/proc/self/status", 10)
      assert.equal("TOO_LARGE", small)
    end
  end)

  it("digest fingerprints size and bytes, eight at a time", function()
    local fingerprint = dofile("tools/fingerprint.lua")
    for _, text in ipairs({ "", "a", "abcdefg", "abcdefgh", "abcdefghi", ("0123456789"):rep(3000) }) do
      local path = file("d" .. #text, text)
      assert.equal(fingerprint.of(path, os.getenv("CLARIFAI_BUILD_DIR") or "build"), sys.digest(path))
      assert.matches("^" .. #text .. ":%x+$", sys.digest(path))
    end
    assert.are_not.equal(sys.digest(file("x1", "abcdefgh")), sys.digest(file("x2", "abcdefgi")))
    -- FNV-1a (64 bits) as published, whichever side computed the rest
    assert.equal("0:cbf29ce484222325", sys.digest(file("f0", "")))
    assert.equal("1:af63dc4c8601ec8c", sys.digest(file("f1", "a")))
  end)

  it("guard_std_fds keeps a closed stdin and stdout closed to use, and their numbers from later files", function()
    -- a child started with 0 and 1 closed opens two files after the guard:
    -- without it they would become stdin and stdout
    file("src.txt", "not-a-run-id\n")
    local probe = file("probe.lua", [[
      package.cpath = arg[1] .. "/?.so;" .. package.cpath
      local sys = require "clarifai.sys.core"
      if arg[3] == "guard" then sys.guard_std_fds() end
      local input = assert(io.open(arg[2] .. "/src.txt", "rb"))
      local sink = assert(io.open(arg[2] .. "/sink.txt", "wb"))
      local got, rerr = io.stdin:read("*a")
      local wrote, werr = io.stdout:write("results\n")
      if wrote then wrote, werr = io.stdout:flush() end
      io.stderr:write(tostring(got), " | ", tostring(rerr), " | ", tostring(wrote and true), " | ",
        tostring(werr), "\n")
      input:close()
      sink:close()
    ]])
    local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
    local function run(mode)
      os.remove(dir .. "/sink.txt")
      local p = io.popen(string.format("%s %s %s %s %s 2>&1 <&- >&-", cli.lua or "lua5.4", cli.quote(probe),
        cli.quote(build), cli.quote(dir), mode))
      local said = p:read("*a")
      p:close()
      return said, cli.slurp(dir .. "/sink.txt")
    end
    local said, sunk = run("guard")
    assert.matches("^nil | Bad file descriptor | nil | Bad file descriptor", said)
    assert.equal("", sunk)
    -- the same child without the guard: the files take the numbers
    said, sunk = run("none")
    assert.matches("^not%-a%-run%-id\n | nil | true", said)
    assert.equal("results\n", sunk)
  end)
end)
