-- Hooks: a user's command split like a shell splits it (no expansion), and
-- run once per event by clarifai.hooks' runner on clarifai.sys.core's spawn,
-- reap and kill. Real processes throughout; nothing is timed except the
-- stop, through support.bounds. Hooks are small sh scripts that record what
-- they got and wait for release files, so "X before Y" is shown by what
-- exists when, never by how long something took.

local bounds = require "support.bounds"
local cli = require "support.cli"
local fake_clock = require "support.fake_clock"

local sys = require "clarifai.sys.core"
local hooks = require "clarifai.hooks"
local transport = require "clarifai.transport"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local write = cli.write
local function exists(path) return read(path) ~= nil end

-- A process's state letter and process group, from /proc (nil once reaped).
local function stat(pid)
  local s = read("/proc/" .. pid .. "/stat")
  if not s then return nil end
  local state, pgrp = s:match("%) (%S+) %d+ (%d+)")
  return state, tonumber(pgrp)
end

local function running(pid)
  local st = stat(pid)
  return st ~= nil and st ~= "Z"
end

local function reaped(pid) return stat(pid) == nil end

-- The signal masks of /proc/<pid>/status, as numbers of the standard
-- signals 1..31 (glibc's posix_spawn leaves its own two internal real-time
-- signals ignored in a child, as system() does).
local function masks(status)
  local out = {}
  for _, k in ipairs({ "SigIgn", "SigCgt", "SigBlk" }) do
    local hex = assert(status:match(k .. ":%s*(%x+)"), k)
    out[k] = tonumber(hex:sub(-8), 16) % 0x80000000
  end
  return out
end

local function has_signal(mask, num) return math.floor(mask / 2 ^ (num - 1)) % 2 == 1 end

-- Reaps pid (a child of this process) within the watchdog: how, code.
local function wait_child(pid)
  local how, code
  bounds.await("process " .. pid .. " to end", function()
    local p
    p, how, code = sys.reap(pid)
    return p
  end)
  return how, code
end

-- The hook every runner case uses: what it does comes from its environment
-- (HOOK_MODE, HOOK_N); it records in HOOK_DIR.
local HOOK = [[
d=$HOOK_DIR n=$HOOK_N
echo "start $n" >> "$d/log"
case "$HOOK_MODE" in
  ok) ;;
  fail) exit 3 ;;
  usr1) kill -USR1 $$; sleep 5 ;;
  record) env > "$d/env.$n"; cat > "$d/stdin.$n" ;;
  wait)
    echo up > "$d/up.$n"
    while [ ! -e "$d/go.$n" ]; do sleep 0.02; done ;;
  trap_term)
    trap 'echo term > "$d/term.$n"; exit 3' TERM
    echo up > "$d/up.$n"
    while :; do sleep 0.02; done ;;
  ignore_term)
    trap '' TERM
    (sleep 1000) & echo $! > "$d/child.$n"
    echo up > "$d/up.$n"
    while :; do sleep 0.02; done ;;
esac
echo "end $n" >> "$d/log"
]]

describe("hooks.split #portable", function()
  local split = hooks.split

  it("splits on blanks", function()
    assert.same({ "notify", "a", "b", "c" }, split("  notify  a\tb\n c  "))
  end)

  it("keeps single-quoted text as it is", function()
    assert.same({ "a b", "it's", "$HOME", [[\n]], '"' }, split([['a b' 'it'\''s' '$HOME' '\n' '"']]))
  end)

  it("honours POSIX's backslashes inside double quotes", function()
    assert.same({ 'say "hi"', "$HOME", "`id`", [[a\b]], [[\q]], "ab", "it's" },
      split([["say \"hi\"" "\$HOME" "\`id\`" "a\\b" "\q" "a\
b" "it's"]]))
  end)

  it("makes the next character literal after a backslash outside quotes", function()
    assert.same({ "a b", "'", '"', "$HOME", "ab", "x\\" }, split([[a\ b \' \" \$HOME a\
b x\]]))
  end)

  it("expands nothing: variables, tildes, globs, substitutions and operators stay literal", function()
    assert.same({ "echo", "$HOME", "${HOME}", "~", "~/x", "*", "*.lua", "$(id)", "`id`", ";", "|", ">", "&&", "a;b" },
      split([[echo $HOME ${HOME} ~ ~/x * *.lua $(id) `id` ; | > && a;b]]))
    assert.same({ "$HOME" }, split("'$HOME'"))
    assert.same({ "$HOME" }, split("$HOME"))
  end)

  it("joins adjacent parts into one word and keeps empty quoted words", function()
    assert.same({ "abc", "" , "x" }, split([[a'b'"c" '' x]]))
    assert.same({ "sh", "-c", 'echo "$1" | wc -c', "sh", "two words" },
      split([[sh -c 'echo "$1" | wc -c' sh "two words"]]))
  end)

  it("rejects unterminated quotes and empty commands", function()
    local words, err = split("notify 'oops")
    assert.is_nil(words)
    assert.matches("unterminated single quote", err)
    words, err = split('notify "oops\\"')
    assert.is_nil(words)
    assert.matches("unterminated double quote", err)
    for _, s in ipairs({ "", "   ", "\t\n" }) do
      words, err = split(s)
      assert.is_nil(words)
      assert.equal("empty command", err)
    end
    words, err = split("'' arg")
    assert.is_nil(words)
    assert.matches("empty", err)
    assert.has_error(function() split(nil) end)
  end)
end)

-- A Lua script run as a process of its own, as the CLI runs: it traps
-- SIGINT, SIGTERM and SIGHUP and ignores SIGPIPE (the spec's own process
-- keeps its dispositions), unless opts.plain. It is started by spawn, so
-- with default dispositions (this process ignores SIGPIPE: LuaSocket does
-- that when loaded). Its out(k, v) lines are returned as a table.
local function run_script(dir, body, opts)
  local build = os.getenv("CLARIFAI_BUILD_DIR") or "build"
  local path, out = dir .. "/script.lua", dir .. "/script.out"
  write(path, string.format("package.path = %q .. package.path\npackage.cpath = %q .. package.cpath\n"
    .. "local PLAIN, OUT = %s, %q\n", cli.root .. "/lua/?.lua;" .. cli.root .. "/lua/?/init.lua;", build .. "/?.so;",
    tostring(opts and opts.plain or false), out) .. [[
local sys = require "clarifai.sys.core"
if not PLAIN then
  sys.trap_signals()
  sys.ignore_sigpipe()
end
local function out(k, v)
  local f = assert(io.open(OUT, "a"))
  f:write(k, "=", tostring(v), "\n")
  f:close()
end
]] .. body)
  local argv = { path }
  for i = #cli.lua_argv, 1, -1 do table.insert(argv, 1, cli.lua_argv[i]) end
  local pid = assert(sys.spawn({ argv = argv }))
  local how, code = wait_child(pid)
  local text = read(out) or ""
  local res = { text = how .. " " .. code .. "\n" .. text }
  for k, v in text:gmatch("([%w_]+)=([^\n]*)") do res[k] = v end
  return res
end

describe("clarifai.sys.core child processes #portable", function()
  local dir
  before_each(function() dir = cli.tmpdir() end)
  after_each(function() cli.rmtree(dir) end)

  it("gives a child exactly the environment and the stdin text it is given", function()
    local text = '{"event":"new","run_id":"run-1"}\n' .. string.rep("x", 1000) .. "\n"
    local pid, written = sys.spawn({
      argv = { "/bin/sh", "-c", 'env > "$1"; cat > "$2"', "sh", dir .. "/env", dir .. "/stdin" },
      env = { "ALPHA=1", "BETA=two words", "PATH=/usr/bin:/bin" },
      stdin = text })
    assert.is_number(pid)
    assert.equal(#text, written)
    assert.same({ "exit", 0 }, { wait_child(pid) })
    local env = {}
    for line in read(dir .. "/env"):gmatch("[^\n]+") do env[line:match("^[^=]*")] = line:match("=(.*)$") end
    assert.equal("1", env.ALPHA)
    assert.equal("two words", env.BETA)
    assert.is_nil(env.HOME) -- the environment given is the whole environment
    assert.equal(text, read(dir .. "/stdin"))
  end)

  it("gives /dev/null as stdin when there is no text, and can silence output", function()
    local pid = sys.spawn({ argv = { "/bin/sh", "-c", 'cat > "$1"; echo out; echo err >&2', "sh", dir .. "/in" },
      stdout = "null", stderr = "null" })
    assert.same({ "exit", 0 }, { wait_child(pid) })
    assert.equal("", read(dir .. "/in"))
  end)

  it("starts a child in a process group of its own when asked", function()
    local _, own = stat("self")
    local pid = assert(sys.spawn({ argv = { "sleep", "30" }, new_pgroup = true }))
    local other = assert(sys.spawn({ argv = { "sleep", "30" } }))
    bounds.await("the children to exist", function() return stat(pid) and stat(other) end)
    local _, pg = stat(pid)
    assert.equal(pid, pg)
    assert.are_not.equal(own, pg)
    local _, pg2 = stat(other)
    assert.equal(own, pg2)
    assert.is_true(sys.kill(-pid, "TERM"))
    assert.is_true(sys.kill(other, sys.signals.KILL))
    assert.same({ "signal", sys.signals.TERM }, { wait_child(pid) })
    assert.same({ "signal", 9 }, { wait_child(other) })
  end)

  it("gives a child descriptors 0, 1 and 2 only", function()
    local held = assert(io.open(dir .. "/held", "w")) -- no FD_CLOEXEC (and LuaSocket's sockets are open)
    local env = {}
    for _, kv in ipairs(sys.environ()) do -- the sanitizer's runtime may hold files of its own
      if not kv:match("^LD_PRELOAD=") then env[#env + 1] = kv end
    end
    local pid = assert(sys.spawn({ argv = { "sleep", "30" }, env = env, stdin = "x" }))
    -- asleep in sleep itself: its start-up may hold a locale file open for a moment
    bounds.await("the child asleep in sleep", function()
      return (read("/proc/" .. pid .. "/cmdline") or ""):match("^sleep") and stat(pid) == "S"
    end)
    local p = assert(io.popen("ls /proc/" .. pid .. "/fd"))
    local fds = {}
    for fd in p:lines() do fds[#fds + 1] = tonumber(fd) end
    p:close()
    held:close()
    table.sort(fds)
    assert.same({ 0, 1, 2 }, fds)
    sys.kill(pid, "KILL")
    wait_child(pid)
  end)

  it("reports what ended and how, and nothing while it runs", function()
    local pid = assert(sys.spawn({ argv = { "/bin/sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done; exit 7',
      "sh", dir .. "/go" } }))
    assert.is_nil(sys.reap(pid))
    write(dir .. "/go", "")
    assert.same({ "exit", 7 }, { wait_child(pid) })
    local p, msg, code = sys.reap(pid) -- already collected
    assert.is_nil(p)
    assert.is_string(msg)
    assert.equal("ECHILD", code)
    assert.equal("ECHILD", select(3, sys.reap(1)))
  end)

  it("fails at run time with a message and a code, and raises on wrong arguments", function()
    local pid, msg, code = sys.spawn({ argv = { "clarifai-no-such-hook-command" } })
    assert.is_nil(pid)
    assert.matches("clarifai%-no%-such%-hook%-command", msg)
    assert.equal("ENOENT", code)
    pid, msg, code = sys.spawn({ argv = { dir } }) -- a directory
    assert.is_nil(pid)
    assert.is_string(msg)
    assert.equal("EACCES", code)
    local ok, err = sys.kill(2 ^ 22 + 12345, "TERM")
    assert.is_nil(ok)
    assert.equal("ESRCH", select(3, sys.kill(2 ^ 22 + 12345, "TERM")))
    assert.is_string(err)
    for _, bad in ipairs({
      function() sys.spawn() end,
      function() sys.spawn({}) end,
      function() sys.spawn({ argv = {} }) end,
      function() sys.spawn({ argv = { "true", 1 } }) end,
      function() sys.spawn({ argv = { "tr\0ue" } }) end,
      function() sys.spawn({ argv = { "true" }, env = { "NOEQUALS" } }) end,
      function() sys.spawn({ argv = { "true" }, env = { "=x" } }) end,
      function() sys.spawn({ argv = { "true" }, env = "A=1" }) end,
      function() sys.spawn({ argv = { "true" }, stdin = {} }) end,
      function() sys.spawn({ argv = { "true" }, stdout = "file" }) end,
      function() sys.kill(0, "TERM") end,
      function() sys.kill(-1, "TERM") end,
      function() sys.kill(-select(2, stat("self")), "TERM") end,
      function() sys.kill(12345, "NOSUCH") end,
      function() sys.reap(0) end,
      function() sys.reap(-5) end,
    }) do
      assert.has_error(bad)
    end
  end)

  it("never blocks on a child that does not read its stdin", function()
    local mb = string.rep("j", 1024 * 1024)
    local pid, written = sys.spawn({ argv = { "/bin/sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.02; done',
      "sh", dir .. "/go" }, stdin = mb })
    assert.is_number(pid)
    assert.is_true(written < #mb, "the pipe took the whole megabyte")
    assert.is_true(running(pid)) -- spawn returned while the child still runs
    write(dir .. "/go", "")
    assert.same({ "exit", 0 }, { wait_child(pid) })
  end)

  it("takes back the SIGPIPE of a child gone before reading, in a process that does not ignore it", function()
    -- (LuaSocket, loaded here, ignores SIGPIPE: this runs in a plain process)
    local r = run_script(dir, [[
local mine = io.open("/proc/self/status"):read("*a")
out("ignored", mine:match("SigIgn:%s*(%x+)"))
local mb = string.rep("j", 1024 * 1024)
for _ = 1, 50 do
  local p = assert(sys.spawn({ argv = { "true" }, stdin = mb }))
  while not sys.reap(p) do sys.nap(0.001) end
end
local after = io.open("/proc/self/status"):read("*a")
out("blocked", after:match("SigBlk:%s*(%x+)"))
out("pending", after:match("ShdPnd:%s*(%x+)") .. after:match("SigPnd:%s*(%x+)"))
out("done", true)
]], { plain = true })
    assert.equal("true", r.done, r.text)
    assert.is_false(has_signal(tonumber(r.ignored:sub(-8), 16), sys.signals.PIPE))
    assert.is_false(has_signal(tonumber(r.blocked:sub(-8), 16), sys.signals.PIPE))
    assert.equal(string.rep("0", 32), r.pending)
  end)

  it("signals by name or number and lists the environment", function()
    assert.equal(15, sys.signals.TERM)
    local pid = assert(sys.spawn({ argv = { "sleep", "30" }, new_pgroup = true }))
    assert.is_true(sys.kill(pid, 0))
    assert.is_true(sys.kill(-pid, "SIGKILL"))
    assert.same({ "signal", 9 }, { wait_child(pid) })
    local env = sys.environ()
    assert.is_true(#env > 0)
    for _, kv in ipairs(env) do assert.matches("=", kv) end
  end)
end)

describe("hooks in a process that traps signals #portable", function()
  local dir
  before_each(function() dir = cli.tmpdir() end)
  after_each(function() cli.rmtree(dir) end)

  it("start with default signal dispositions and an empty mask", function()
    local r = run_script(dir, [[
-- without the sanitizer's runtime, which catches SIGSEGV, SIGBUS and SIGFPE
-- in whatever it is preloaded into (the sanitizer stage preloads it)
local env = {}
for _, kv in ipairs(sys.environ()) do
  if not kv:match("^LD_PRELOAD=") then env[#env + 1] = kv end
end
local pid = assert(sys.spawn({ argv = { "sleep", "30" }, env = env, new_pgroup = true }))
local function status(p)
  for _ = 1, 5000 do
    local f = io.open("/proc/" .. p .. "/status")
    local s = f and f:read("*a")
    if f then f:close() end
    if s and s:match("Name:%s*sleep") then return s end
    sys.nap(0.01)
  end
end
local mine = io.open("/proc/self/status"):read("*a")
local child = status(pid)
for _, k in ipairs({ "SigIgn", "SigCgt", "SigBlk" }) do
  out("parent_" .. k, mine:match(k .. ":%s*(%x+)"))
  out("child_" .. k, child:match(k .. ":%s*(%x+)"))
end
sys.kill(-pid, "KILL")
while not sys.reap(pid) do sys.nap(0.01) end
-- a child writing to a pipe whose reader is gone dies of SIGPIPE
local p = assert(sys.spawn({ argv = { "/bin/sh", "-c", '{ yes; echo $? > "$1"; } | head -c 1 > /dev/null', "sh",
  "]] .. dir .. [[/yes" }, env = env }))
while not sys.reap(p) do sys.nap(0.01) end
out("done", true)
]])
    assert.equal("true", r.done, r.text)
    local parent = masks("SigIgn: " .. r.parent_SigIgn .. " SigCgt: " .. r.parent_SigCgt .. " SigBlk: " .. r.parent_SigBlk)
    local child = masks("SigIgn: " .. r.child_SigIgn .. " SigCgt: " .. r.child_SigCgt .. " SigBlk: " .. r.child_SigBlk)
    -- the parent really ignores PIPE and catches INT, TERM, HUP ...
    assert.is_true(has_signal(parent.SigIgn, sys.signals.PIPE))
    for _, s in ipairs({ "INT", "TERM", "HUP" }) do assert.is_true(has_signal(parent.SigCgt, sys.signals[s]), s) end
    -- ... and the child ignores, catches and blocks nothing
    assert.same({ SigIgn = 0, SigCgt = 0, SigBlk = 0 }, child)
    assert.equal("141", read(dir .. "/yes"):match("%d+")) -- 128 + SIGPIPE
  end)

  it("are stopped within the bound after a caught signal, without spinning", function()
    write(dir .. "/hook.sh", HOOK)
    local r = run_script(dir, [[
local hooks = require "clarifai.hooks"
local transport = require "clarifai.transport"
local d = "]] .. dir .. [["
local runner = hooks.runner({ argv = { "/bin/sh", d .. "/hook.sh" }, on_exit = function(i)
  out("how", i.how) out("signal", i.signal) out("signalled", i.signalled) end })
runner:submit({ HOOK_MODE = "ignore_term", HOOK_DIR = d, HOOK_N = 1 })
runner:step()
while not io.open(d .. "/up.1") do sys.nap(0.01) end
local f = io.open("/proc/self/stat")
local me = tonumber(f:read("*l"):match("^%d+"))
f:close()
sys.kill(me, "TERM") -- trapped: only the flag is set
while not transport.signal() do sys.nap(0.001) end
local _, at = transport.signal()
local cpu = os.clock()
local done = runner:stop()
out("took", transport.now() - at)
out("cpu", os.clock() - cpu)
out("done", done)
out("busy", runner:busy())
]])
    assert.equal("true", r.done, r.text)
    assert.same({ "signal", "KILL", "KILL", "false" }, { r.how, r.signal, r.signalled, r.busy })
    bounds.check("hook_stop", tonumber(r.took), "the stop after the signal")
    -- once a signal is caught a plain sleep returns at once; the stop naps instead
    assert.is_true(tonumber(r.cpu) < tonumber(r.took) / 2, "the stop kept a core busy: " .. r.cpu .. " s")
  end)
end)

describe("hooks.runner #portable", function()
  local dir, starts, exits, started_pids

  before_each(function()
    dir = cli.tmpdir()
    write(dir .. "/hook.sh", HOOK)
    starts, exits, started_pids = {}, {}, {}
  end)
  after_each(function()
    -- every hook started was collected: none is left, not even a zombie
    for _, pid in ipairs(started_pids) do assert.is_true(reaped(pid), "process " .. pid .. " was left behind") end
    cli.rmtree(dir)
  end)

  local function new_runner(opts)
    opts = opts or {}
    opts.argv = opts.argv or { "/bin/sh", dir .. "/hook.sh" }
    opts.on_start = function(info)
      starts[#starts + 1] = info.seq
      started_pids[#started_pids + 1] = info.pid
    end
    opts.on_exit = function(info) exits[#exits + 1] = info end
    return hooks.runner(opts)
  end

  local function event(mode, n, extra)
    local env = { HOOK_MODE = mode, HOOK_DIR = dir, HOOK_N = n }
    for k, v in pairs(extra or {}) do env[k] = v end
    return env
  end

  local function log_lines()
    local out = {}
    for line in (read(dir .. "/log") or ""):gmatch("[^\n]+") do out[#out + 1] = line end
    return out
  end

  local function exit_of(n)
    for _, info in ipairs(exits) do
      if info.seq == n then return info end
    end
  end

  -- Steps until pred() holds (within the watchdog).
  local function step_until(r, what, pred)
    return bounds.await(what, function()
      r:step()
      return pred()
    end)
  end

  it("gives each hook the event in its environment, less the stripped names, and on its stdin", function()
    assert(sys.setenv("CLARIFAI_PAT", "pat-must-not-leak"))
    assert(sys.setenv("HOOKS_SPEC_SECRET", "also-stripped"))
    assert(sys.setenv("HOOKS_SPEC_KEPT", "kept"))
    local r = new_runner({ strip_env = { "CLARIFAI_PAT", "HOOKS_SPEC_SECRET" } })
    local line = '{"event":"changed","run_id":"run-1","state":"JOB_RUNNING"}\n'
    assert.is_true(r:submit(event("record", 1, { CLARIFAI_EVENT = "changed", CLARIFAI_RUN_ID = "run-1",
      HOOKS_SPEC_KEPT = "overridden" }), line))
    assert.is_true(r:submit(event("record", 2, { CLARIFAI_EVENT = "left", CLARIFAI_RUN_ID = 42 })))
    step_until(r, "both hooks to end", function() return #exits == 2 end)
    local env = {}
    for l in read(dir .. "/env.1"):gmatch("[^\n]+") do env[l:match("^[^=]*")] = l:match("=(.*)$") end
    assert.equal("changed", env.CLARIFAI_EVENT)
    assert.equal("run-1", env.CLARIFAI_RUN_ID)
    assert.equal("overridden", env.HOOKS_SPEC_KEPT)
    assert.is_nil(env.CLARIFAI_PAT)
    assert.is_nil(env.HOOKS_SPEC_SECRET)
    assert.equal(os.getenv("PATH"), env.PATH)
    assert.equal(line, read(dir .. "/stdin.1"))
    assert.equal("", read(dir .. "/stdin.2")) -- no text: /dev/null
    assert.matches("CLARIFAI_RUN_ID=42\n", read(dir .. "/env.2"))
    assert.matches("HOOKS_SPEC_KEPT=kept\n", read(dir .. "/env.2"))
    assert.same({ started = 2, ok = 2, failed = 0, dropped = 0, queued = 0, running = 0 }, r:counts())
  end)

  it("runs at most `parallel` hooks at once and starts them in the order submitted", function()
    local r = new_runner({ parallel = 3 })
    for n = 1, 8 do assert.is_true(r:submit(event("wait", n))) end
    assert.same({ started = 0, ok = 0, failed = 0, dropped = 0, queued = 8, running = 0 }, r:counts())
    step_until(r, "three hooks up", function()
      return exists(dir .. "/up.1") and exists(dir .. "/up.2") and exists(dir .. "/up.3")
    end)
    r:step()
    assert.same({ 1, 2, 3 }, starts)
    assert.equal(3, r:counts().running)
    assert.equal(5, r:counts().queued)
    -- each hook released frees one slot, taken by the next event in order
    for _, n in ipairs({ 2, 1, 5, 3, 4, 8, 7, 6 }) do
      local before = #starts
      write(dir .. "/go." .. n, "")
      step_until(r, "hook " .. n .. " to end", function() return exit_of(n) ~= nil end)
      assert.equal(math.min(8, before + 1), #starts)
    end
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, starts)
    assert.is_false(r:step())
    -- by the hooks' own log: never more than three between a start and its end
    local now, most = 0, 0
    for _, l in ipairs(log_lines()) do
      now = now + (l:match("^start") and 1 or -1)
      most = math.max(most, now)
    end
    assert.equal(3, most)
    assert.same({ started = 8, ok = 8, failed = 0, dropped = 0, queued = 0, running = 0 }, r:counts())
  end)

  it("never waits for a slow hook: submit and step return, other hooks run and end", function()
    local r = new_runner({ parallel = 2 })
    r:submit(event("wait", 1))
    r:submit(event("ok", 2))
    r:submit(event("ok", 3))
    step_until(r, "the quick hooks to end", function() return exit_of(2) and exit_of(3) end)
    assert.is_nil(exit_of(1))
    assert.is_true(running(started_pids[1])) -- it cannot end before its release
    assert.is_true(r:submit(event("ok", 4)))
    step_until(r, "hook 4 to end", function() return exit_of(4) end)
    assert.is_true(r:busy())
    write(dir .. "/go.1", "")
    assert.is_true(r:drain())
    assert.same({ 2, 3, 4, 1 }, { exits[1].seq, exits[2].seq, exits[3].seq, exits[4].seq })
  end)

  it("does not block on a hook that never reads a megabyte of stdin", function()
    local r = new_runner()
    r:submit(event("wait", 1), string.rep("m", 1024 * 1024))
    step_until(r, "the hook up", function() return exists(dir .. "/up.1") end)
    assert.is_true(running(started_pids[1]))
    write(dir .. "/go.1", "")
    assert.is_true(r:drain())
    assert.is_true(exits[1].ok)
  end)

  it("reports and counts non-zero exits, deaths by a signal and commands that cannot start", function()
    local r = new_runner({ parallel = 1 })
    r:submit(event("fail", 1))
    r:submit(event("usr1", 2))
    r:submit(event("ok", 3))
    assert.is_true(r:drain())
    assert.same({ how = "exit", code = 3, ok = false }, { how = exits[1].how, code = exits[1].code, ok = exits[1].ok })
    assert.matches("status 3", exits[1].message)
    assert.same({ "signal", "USR1", false }, { exits[2].how, exits[2].signal, exits[2].ok })
    assert.matches("signal USR1", exits[2].message)
    assert.is_true(exits[3].ok)
    assert.same({ started = 3, ok = 1, failed = 2, dropped = 0, queued = 0, running = 0 }, r:counts())

    local missing = new_runner({ argv = { dir .. "/no-such-hook" } })
    missing:submit(event("ok", 1))
    missing:submit(event("ok", 2))
    missing:step()
    assert.equal("spawn", exits[4].how)
    assert.equal("ENOENT", exits[4].error_code)
    assert.matches("could not start", exits[4].message)
    assert.equal(2, exits[5].seq)
    assert.same({ started = 0, ok = 0, failed = 2, dropped = 0, queued = 0, running = 0 }, missing:counts())
  end)

  it("raises on malformed options and events", function()
    for _, bad in ipairs({
      function() hooks.runner() end,
      function() hooks.runner({}) end,
      function() hooks.runner({ argv = {} }) end,
      function() hooks.runner({ argv = { "x", 1 } }) end,
      function() hooks.runner({ argv = { "x" }, parallel = 0 }) end,
      function() hooks.runner({ argv = { "x" }, parallel = 1.5 }) end,
      function() hooks.runner({ argv = { "x" }, grace = -1 }) end,
      function() hooks.runner({ argv = { "x" }, stdout = "file" }) end,
      function() hooks.runner({ argv = { "x" }, on_exit = "print" }) end,
      function() hooks.runner({ argv = { "x" }, strip_env = { 1 } }) end,
      function() new_runner():submit("A=1") end,
      function() new_runner():submit({ ["A=B"] = "1" }) end,
      function() new_runner():submit({ A = { 1 } }) end,
      function() new_runner():submit({ A = "a\0b" }) end,
      function() new_runner():submit({ A = "1" }, 42) end,
    }) do
      assert.has_error(bad)
    end
  end)

  it("waits no longer than asked in drain", function()
    local r = new_runner()
    r:submit(event("wait", 1))
    local done, why = r:drain(0)
    assert.is_false(done)
    assert.equal("timeout", why)
    write(dir .. "/go.1", "")
    assert.is_true(r:drain())
  end)

  describe("stop", function()
    it("starts nothing more and lets hooks that end within the grace end", function()
      local clock = fake_clock.install()
      finally(clock.remove)
      local r = new_runner({ parallel = 1, grace = 1 })
      r:submit(event("wait", 1))
      r:submit(event("ok", 2))
      step_until(r, "the hook up", function() return exists(dir .. "/up.1") end)
      -- half-way through the grace the hook is released and ends
      clock.at(clock.now() + 0.5, function()
        write(dir .. "/go.1", "")
        bounds.await("the hook to end", function() return not running(started_pids[1]) end)
      end)
      assert.is_true(r:stop())
      assert.is_true(exit_of(1).ok)
      assert.is_nil(exit_of(1).signalled)
      assert.is_false(r:submit(event("ok", 3)))
      assert.is_false(r:step())
      assert.same({ 1 }, starts)
      assert.same({ started = 1, ok = 1, failed = 0, dropped = 2, queued = 0, running = 0 }, r:counts())
    end)

    it("sends SIGTERM to a hook still running when the grace after the signal is over", function()
      local clock = fake_clock.install()
      finally(clock.remove)
      local r = new_runner({ grace = 1, kill_after = 5, stderr = "null" })
      r:submit(event("trap_term", 1))
      step_until(r, "the hook up", function() return exists(dir .. "/up.1") end)
      local at = clock.now()
      clock.raise(sys.signals.TERM)
      clock.advance(0.5) -- the stop begins half-way through the grace
      local early
      clock.at(at + 0.99, function() early = exists(dir .. "/term.1") or not running(started_pids[1]) end)
      clock.at(at + 1.01, function()
        bounds.await("the hook to end on SIGTERM", function() return not running(started_pids[1]) end)
      end)
      assert.is_true(r:stop())
      assert.is_false(early)
      assert.is_true(exists(dir .. "/term.1"))
      assert.same({ "exit", 3, "TERM" }, { exits[1].how, exits[1].code, exits[1].signalled })
      assert.is_true(clock.now() < at + 1.5)
    end)

    it("counts the grace from `since`", function()
      local far = 2 * bounds.limit("watchdog")
      local r = new_runner({ grace = far, kill_after = far, stderr = "null" })
      r:submit(event("trap_term", 1))
      step_until(r, "the hook up", function() return exists(dir .. "/up.1") end)
      local t = transport.now()
      assert.is_true(r:stop(t - far))
      bounds.check("watchdog", transport.now() - t, "a stop whose grace was over")
      assert.same({ "exit", 3, "TERM" }, { exits[1].how, exits[1].code, exits[1].signalled })
    end)

    it("kills the group of a hook that ignores SIGTERM and returns within the bound", function()
      local r = new_runner({ parallel = 1, stderr = "null" })
      r:submit(event("ignore_term", 1))
      r:submit(event("ok", 2))
      step_until(r, "the hook up", function() return exists(dir .. "/up.1") end)
      local child = tonumber(bounds.await("the hook's child", function() return read(dir .. "/child.1") end))
      local t = transport.now()
      local done = r:stop()
      local took = transport.now() - t
      bounds.check("hook_stop", took, "the stop")
      assert.is_true(took >= 1, "SIGTERM came before the grace was over")
      assert.is_true(done)
      assert.same({ "signal", "KILL", "KILL" }, { exit_of(1).how, exit_of(1).signal, exit_of(1).signalled })
      -- the hook's child (in its group, ignoring SIGTERM too) was killed with it
      bounds.await("the hook's child to be gone", function() return not running(child) end)
      assert.same({ started = 1, ok = 0, failed = 1, dropped = 1, queued = 0, running = 0 }, r:counts())
      assert.is_false(r:busy())
    end)
  end)
end)

describe("hooks in an event loop #portable", function()
  local optional = require "support.optional"
  -- Plain Lua 5.1 cannot yield across pcall: the schedulers refuse there.
  local can_yield = _VERSION ~= "Lua 5.1" or rawget(_G, "jit") ~= nil
  if not can_yield then
    pending("Lua 5.1: no event-loop workflows")
  elseif not optional.module("luv") then
    optional.skip("luv", "Debian lua-luv")
  else
    it("drain yields to the loop while a hook runs", function()
      local uv = require "luv"
      local async = require "clarifai.async.luv"
      local dir = cli.tmpdir()
      write(dir .. "/hook.sh", HOOK)
      local r = hooks.runner({ argv = { "/bin/sh", dir .. "/hook.sh" } })
      r:submit({ HOOK_MODE = "wait", HOOK_DIR = dir, HOOK_N = 1 })
      -- the hook is released only after the loop has ticked three times
      -- while the workflow drains: a drain that blocked would never end
      local ticks, result = 0, nil
      local ticker = uv.new_timer()
      ticker:start(20, 20, function()
        if exists(dir .. "/up.1") then ticks = ticks + 1 end
        if ticks == 3 then write(dir .. "/go.1", "") end
      end)
      async.spawn(function() return r:drain(bounds.limit("watchdog")) end, function(ok, done, why)
        result = { ok, done, why }
        ticker:stop()
        ticker:close()
      end)
      uv.run()
      assert.same({ true, true }, result)
      assert.is_true(ticks >= 3)
      assert.same({ started = 1, ok = 1, failed = 0, dropped = 0, queued = 0, running = 0 }, r:counts())
      cli.rmtree(dir)
    end)
  end
end)
