-- Processes, files and timing for the benchmarks: spawning (through the C
-- helper bench/benchcore.c: posix_spawn, no shell, timed from spawn to
-- reap), the pid file bench/run.sh uses to clean up, interleaved
-- measurement and medians.

local bc = require "benchcore"
local ctx = require "lib.ctx"

local M = {}

M.now, M.sleep = bc.now, bc.sleep

M.PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

-- Files and text --------------------------------------------------------------------

function M.say(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
  io.stderr:flush()
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.write_file(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then assert(os.execute(string.format("chmod %s '%s'", mode, path))) end
end

function M.sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function M.mkdir(path)
  assert(os.execute("mkdir -p " .. M.sh_quote(path)))
end

function M.file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

-- The last n lines of text.
function M.tail(text, n)
  local lines = {}
  for line in (text or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  local from = math.max(1, #lines - (n or 8) + 1)
  return table.concat(lines, "\n", from)
end

function M.median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

-- Output of a shell command (stdout and stderr), trailing space removed.
-- Only for set-up and facts about the machine, never for anything timed.
function M.command_output(cmd)
  local p = io.popen(cmd .. " 2>&1")
  if not p then return "" end
  local s = p:read("a") or ""
  p:close()
  return (s:gsub("%s+$", ""))
end

-- The whole environment of a benchmarked command; extra: more "K=V".
function M.env_for(home, extra)
  local env = { M.PATH_ENV, "HOME=" .. home, "LANG=C.UTF-8" }
  for _, kv in ipairs(extra or {}) do env[#env + 1] = kv end
  return env
end

function M.loadavg()
  return ((M.read_file("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)"))
end

-- Background processes -----------------------------------------------------------
-- Every process started and not yet reaped is listed in ctx.pids, so that
-- bench/run.sh can stop it if this driver dies.

local live = {}

local function save_pids()
  local list = {}
  for pid in pairs(live) do list[#list + 1] = tostring(pid) end
  M.write_file(ctx.pids, table.concat(list, "\n") .. "\n")
end

-- True once pid has ended (a zombie counts as ended).
function M.exited(pid)
  local stat = M.read_file("/proc/" .. pid .. "/stat")
  return not stat or stat:match("^%d+ %b() (%a)") == "Z"
end

-- Starts spec (see benchcore.start) in the background and tracks it.
function M.start(spec)
  local pid = bc.start(spec)
  live[pid] = true
  save_pids()
  return pid
end

-- SIGTERM, up to `grace` seconds to end, then SIGKILL; reaps it.
function M.stop(pid, grace)
  if not live[pid] then return end
  bc.kill(pid, 15)
  local deadline = bc.now() + (grace or 3)
  while bc.now() < deadline and not M.exited(pid) do bc.sleep(0.01) end
  bc.kill(pid, 9)
  bc.wait(pid)
  live[pid] = nil
  save_pids()
end

-- Reaps pid once it has exited by itself (within secs): its wait result;
-- else stops it and returns nil.
function M.wait_exit(pid, secs)
  local deadline = bc.now() + secs
  while bc.now() < deadline do
    if M.exited(pid) then
      local r = bc.wait(pid)
      live[pid] = nil
      save_pids()
      return r
    end
    bc.sleep(0.01)
  end
  M.stop(pid)
  return nil
end

function M.stop_all()
  for pid in pairs(live) do M.stop(pid) end
end

-- user + system clock ticks of a running process (nil once it has ended).
function M.cpu_ticks(pid)
  local stat = M.read_file("/proc/" .. pid .. "/stat")
  if not stat then return nil end
  local f = {}
  for w in stat:match("^%d+ %b() (.*)$"):gmatch("%S+") do f[#f + 1] = w end
  if f[1] == "Z" then return nil end
  -- fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name
  return tonumber(f[12]) + tonumber(f[13])
end

M.clk_tck, M.getpid = bc.clk_tck, bc.getpid

-- Timed runs -----------------------------------------------------------------------
-- A contender: {label, argv, env, cwd, stdin = path, before = fn(),
-- after = fn(result), check = fn(stdout_text), capture = bool, allow =
-- {[status] = true} (exit statuses besides 0 that are not a failure)}.

-- One run, timed from spawn to reap; raises when it exits non-zero. `out`
-- captures stdout (else /dev/null). The result: benchcore's {wall, utime,
-- stime, maxrss_kb, status}.
function M.run_once(c, out)
  if c.before then c.before() end
  local err = ctx.work .. "/run.err"
  local r = bc.run({ argv = c.argv, env = c.env, cwd = c.cwd, stdin = c.stdin, stdout = out or "/dev/null",
                     stderr = err })
  if r.status ~= 0 and not (c.allow and c.allow[r.status]) then
    error(string.format("%s: exited %s%s\n%s", c.label, tostring(r.status),
      r.signal and (" (signal " .. r.signal .. ")") or "", M.tail(M.read_file(err))), 0)
  end
  if c.after then c.after(r) end
  return r
end

-- Interleaved measurement: one untimed, checked warm-up run of each
-- contender, then `reps` rounds, each starting one contender later (A B C,
-- B C A, C A B ...): no contender always runs right after the same one (a
-- shell loop of a thousand curls leaves the machine otherwise than a
-- 10 ms command does for whatever follows). Each contender gets c.runs,
-- the list of its timed results (with r.stdout when c.capture is set).
-- opts.warmup = false: no warm-up run; instead the output of every timed
-- run is checked (for figures whose runs last seconds).
function M.measure(list, reps, opts)
  local warmup = not (opts and opts.warmup == false)
  for _, c in ipairs(list) do
    if warmup then
      local out = ctx.work .. "/warm.out"
      local after = c.after
      c.after = nil
      M.run_once(c, out)
      c.after = after
      if c.check then c.check(M.read_file(out) or "") end
    end
    c.runs = {}
  end
  for round = 1, reps do
    for k = 1, #list do
      local c = list[(round + k - 2) % #list + 1]
      local keep = c.capture or (not warmup and c.check)
      local out = keep and (ctx.work .. "/timed.out") or nil
      local r = M.run_once(c, out)
      if keep then
        r.stdout = M.read_file(out) or ""
        if not warmup and c.check then c.check(r.stdout) end
        if not c.capture then r.stdout = nil end
      end
      c.runs[#c.runs + 1] = r
    end
  end
  return list
end

-- Median of field `key` (default wall, in ms) over a contender's runs.
function M.median_of(c, key, scale)
  local xs = {}
  for i, r in ipairs(c.runs) do xs[i] = r[key or "wall"] * (scale or 1) end
  return M.median(xs)
end

function M.wall_ms(c) return M.median_of(c, "wall", 1000) end

-- expect(what, got, want, text): a contender's output check; fails showing
-- the output's end when a count is not the one expected.
function M.expect(what, got, want, text)
  if got ~= want then error(string.format("%s: expected %d, got %d:\n%s", what, want, got, M.tail(text, 3)), 0) end
end

-- A check: exactly n lines of stdout match pattern.
function M.expect_lines(pattern, n)
  return function(text)
    local k = 0
    for _ in text:gmatch(pattern) do k = k + 1 end
    if k ~= n then
      error(string.format("expected %d lines matching %q, got %d:\n%s", n, pattern, k, M.tail(text)), 0)
    end
  end
end

-- Peak RSS through /usr/bin/time -f %M, which writes it (KiB) to `file`:
-- the wrapped argv, and the reading of that file.
local function timed_argv(argv, file)
  local timed = { "/usr/bin/time", "-f", "%M", "-o", file }
  for _, a in ipairs(argv) do timed[#timed + 1] = a end
  return timed
end

local function peak_kb(file, label)
  local kb = tonumber((M.read_file(file) or ""):match("(%d+)%s*$"))
  if not kb then error("no peak RSS from /usr/bin/time for " .. label, 0) end
  return kb
end

-- Peak RSS, one sample per rep, in KiB.
function M.rss_kb(c, reps)
  local file = ctx.work .. "/time.out"
  local timed = {}
  for k, v in pairs(c) do timed[k] = v end
  timed.argv = timed_argv(c.argv, file)
  local xs = {}
  for i = 1, reps do
    os.remove(file)
    M.run_once(timed)
    xs[i] = peak_kb(file, c.label)
  end
  return xs
end

-- Makes contender c run under /usr/bin/time in M.measure: each result's
-- r.rss_kb is the command's peak RSS. (ru_maxrss of a process posix_spawn'ed
-- by this driver would include the driver's own high-water mark, which exec
-- inherits from the shared mm.)
function M.with_peak_rss(c, dir)
  local file = dir .. "/time-" .. c.key .. ".out"
  c.argv = timed_argv(c.argv, file)
  c.before = function() os.remove(file) end
  c.after = function(r) r.rss_kb = peak_kb(file, c.label) end
end

return M
