-- Every code block of the README runs, as a reader would run it, against
-- the emulator's seed world: each ```sh block command by command (a `\`
-- joins lines), in a directory holding the demo version's config-lock.yaml,
-- with `clarifai` on PATH and the token and API base in the environment;
-- each ```lua block under `clarifai script`. Each block starts from the seed
-- world; its commands share it, in order. Every command must exit 0 with
-- no error, warning or traceback on stderr and the token nowhere.
--
-- A block of any other kind fails: what cannot run here is no README code
-- block. So the install commands (from a rocks server, from the release's
-- .src.rock, Homebrew's) and `make demo` / `make test` are written as text
-- lines in the README, not as blocks, and are not run here: installing
-- needs a rocks server and a build (the rock stage of `make test` installs
-- from the server `make rock` lays out), and `make test` runs this spec.
--
-- Placeholders are the reader's own values; here each stands for a run of
-- the seed world (PLACEHOLDERS). `monitor` follows its run until the run
-- ends, so it gets one that has ended (it prints the run's logs and its
-- end at once).
--
-- Time: the emulator's clock is frozen, so runs change only when this spec
-- says. A command that follows runs until they end (`pr watch`, or a block
-- using `watch.events`) gets the clock moved a minute on after each of its
-- requests has been handled, so the runs it follows move on between its
-- polls and end; what it reports never depends on the machine's speed, and
-- a hang fails only at the watchdog (support.bounds).

local bounds = require "support.bounds"
local cli = require "support.cli"
local emulator = require "support.emulator"

local TOKEN = "pat_CANARY_readme_3c9d51"
local D = emulator.DEMO

-- What the README's placeholders stand for here.
local PLACEHOLDERS = { RUN_ID = "run-train-01", OTHER_RUN_ID = "run-train-02" }
-- The run a `monitor` command gets: one that has ended (Completed).
local ENDED_RUN = "run-etl-05"
-- How far the clock moves after each request of a command that follows runs.
local STEP = 60

local LOCK = table.concat({ "pipeline:", "  id: " .. D.pipeline, "  user_id: " .. D.user, "  app_id: " .. D.app,
  "  version_id: " .. D.version, "" }, "\n")

-- The README's fenced blocks: { lang, text, line }.
local function blocks(text)
  local out, current = {}, nil
  local n = 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    local fence = line:match("^```(.*)$")
    if fence and not current then
      current = { lang = fence, lines = {}, line = n }
    elseif fence then
      current.text = table.concat(current.lines, "\n") .. "\n"
      out[#out + 1] = current
      current = nil
    elseif current then
      current.lines[#current.lines + 1] = line
    end
  end
  assert(not current, "README.md: the block at line " .. tostring(current and current.line) .. " is never closed")
  return out
end

-- The commands of a sh block: continuation lines joined, comments and
-- blank lines left out.
local function commands(text)
  local out, pending = {}, ""
  for line in text:gmatch("(.-)\n") do
    local joined = pending .. line
    if joined:match("\\$") then
      pending = joined:sub(1, -2)
    else
      pending = ""
      if not joined:match("^%s*#") and joined:match("%S") then out[#out + 1] = joined end
    end
  end
  assert(pending == "", "a block ends with a continued line")
  return out
end

-- The README's placeholders in a command (shell variables such as
-- $CLARIFAI_RUN_ID are not).
local PLACEHOLDER = "%f[%w_$]([A-Z][A-Z_]*_ID)%f[^%w_]"

local function substitute(command)
  local ended = command:match("%f[%w]pr%s+monitor%f[%W]") ~= nil
  return (command:gsub(PLACEHOLDER, function(name)
    if name == "RUN_ID" and ended then return ENDED_RUN end
    return PLACEHOLDERS[name]
  end))
end

-- Does this command (or Lua block) follow runs until they end?
local function follows(text)
  return text:match("%f[%w]pr%s+watch%f[%W]") ~= nil or text:find("watch.events", 1, true) ~= nil
end

describe("the README's code blocks", function()
  local emu = emulator.fixture({ tick = 2, token = TOKEN })
  local readme = cli.slurp(cli.root .. "/README.md")
  local list = blocks(readme)

  -- A working directory with config-lock.yaml and `clarifai` on PATH.
  local function workdir()
    local dir = cli.tmpdir()
    cli.write(dir .. "/config-lock.yaml", LOCK)
    os.execute("mkdir -p " .. cli.quote(dir .. "/bin"))
    cli.write(dir .. "/bin/clarifai", "#!/bin/sh\nexec " .. cli.lua .. " " .. cli.quote(cli.bin) .. ' "$@"\n')
    os.execute("chmod +x " .. cli.quote(dir .. "/bin/clarifai"))
    return dir
  end

  -- Runs one shell command line in dir; moves the clock along when it
  -- follows runs. Returns what it did (the runner's checks are below).
  local function run(dir, command, following)
    local seen = #emu:requests()
    local p = cli.spawn({}, { shell = "sh -c " .. cli.quote(command), cwd = dir, home = dir,
      env = { CLARIFAI_API_BASE = emu.url, CLARIFAI_PAT = TOKEN, PATH = dir .. "/bin:" .. os.getenv("PATH") } })
    local code = bounds.await("the README command ends: " .. command, function()
      local rc = tonumber(cli.slurp(p.dir .. "/rc"):match("%d+"))
      if rc then return rc end
      if following then
        local handled = false
        for _, q in ipairs(emu:requests(seen)) do -- the log after the seen-th entry
          if not q.handled then break end
          seen, handled = seen + 1, true
        end
        if handled then emu:advance(STEP) end
      end
      return false
    end)
    local r = { code = code, out = p:out(), err = p:err() }
    p:close()
    return r
  end

  local function check(what, r)
    local where = what .. "\nstdout:\n" .. r.out .. "\nstderr:\n" .. r.err
    assert.equal(0, r.code, where)
    assert.is_nil(r.out:find(TOKEN, 1, true), "the token on stdout: " .. where)
    assert.is_nil(r.err:find(TOKEN, 1, true), "the token on stderr: " .. where)
    for _, bad in ipairs({ "Error:", "warning", "traceback", "hook failed", "attempt to" }) do
      assert.is_nil(r.err:find(bad, 1, true), "'" .. bad .. "' on stderr: " .. where)
    end
  end

  it("are shell or Lua blocks, each of which runs here", function()
    assert.is_true(#list > 0, "the README has code blocks")
    local kinds = {}
    for _, b in ipairs(list) do
      assert(b.lang == "sh" or b.lang == "lua", "README.md line " .. b.line .. ": a ```" .. b.lang
        .. " block, which this spec cannot run: make it a sh or lua block that runs, or move it to a topic page")
      kinds[b.lang] = true
    end
    assert.is_true(kinds.sh and kinds.lua, "the README shows the command and the library")
  end)

  for _, b in ipairs(list) do
    if b.lang == "sh" then
      it("runs the sh block at README line " .. b.line, function()
        local dir = workdir()
        local cmds = commands(b.text)
        assert.is_true(#cmds > 0, "the block has commands")
        for _, command in ipairs(cmds) do
          local real = substitute(command)
          assert.is_nil(real:match(PLACEHOLDER), "a placeholder this spec does not know: " .. real)
          local r = run(dir, real, follows(real))
          check("README line " .. b.line .. ": " .. real, r)
          assert.is_true(r.out ~= "" or r.err ~= "", "the command said something: " .. real)
        end
        if b.text:find("changes.log", 1, true) then
          assert(cli.slurp(dir .. "/changes.log"):find("run-", 1, true), "the hook ran for the events")
        end
      end)
    elseif b.lang == "lua" then
      it("runs the lua block at README line " .. b.line .. " under clarifai script", function()
        local dir = workdir()
        cli.write(dir .. "/block.lua", b.text)
        local r = run(dir, "clarifai script block.lua", follows(b.text))
        check("README line " .. b.line, r)
        assert.is_true(r.out ~= "", "the block printed what it found")
      end)
    end
  end
end)
