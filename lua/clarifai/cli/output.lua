-- Where the CLI writes: results to stdout, diagnostics to stderr, and on a
-- terminal a live progress line on stderr. Every line passes through here,
-- so the token is scrubbed in one place, the progress line is erased before
-- normal output, and a failed write to stdout is noticed (M.broken).
--
-- Writes go through clarifai.sys.core's write(), never blocking in write(2):
-- a reader that holds the pipe full cannot hold a stop back. After a signal,
-- output goes on only until the grace after it is over; what is left then is
-- saved to a file (M.finish names it) and the process ends without waiting.
--
-- A reader that went away (EPIPE) is told apart from other write errors
-- (M.gone): a command exits quietly with 141, as one SIGPIPE ended would. A
-- command that changes runs keeps what its reader did not take
-- (M.keep_unwritten: what was left in the pipe, then the rest) for the
-- same saved-output file (M.save_unwritten).

local defaults = require "clarifai.defaults"
local sys = require "clarifai.sys.core"
local text = require "clarifai.text"

local M = {}

local secrets = {}

-- Registers a secret (the PAT) that must never be printed.
function M.add_secret(s)
  if type(s) == "string" and s ~= "" then secrets[#secrets + 1] = s end
end

local function clean(s)
  if secrets[1] then s = text.scrub(s, secrets) end
  if s:find("://", 1, true) then s = text.mask_userinfo(s) end
  return s
end

-- Proxy passwords from the environment are secrets too.
for _, name in ipairs({ "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" }) do
  local v = os.getenv(name)
  local pw = v and v:match("^%a[%w+.-]*://[^/@:]*:([^/@]+)@")
  if pw and #pw >= 4 then secrets[#secrets + 1] = pw end
end
M.clean = clean

-- true once a write to stdout failed (closed pipe, full disk): the caller
-- stops sending and exits 74 (141 when the reader went away: M.gone). M.problem
-- says why; M.told is set by a caller that said so itself (else the
-- command's last step does).
M.broken, M.told, M.gone = false, false, false

-- fd -> what could not be written: within the grace after a signal, or (kept
-- for a command that changes runs) after stdout's reader went away
local lost = {}

-- What a command that changes runs wrote last to a stdout pipe (at most
-- TAIL_MAX bytes, in pieces): after EPIPE, the part the reader left unread
-- in the pipe is taken from here.
local TAIL_MAX = 1048576 -- Linux's largest pipe by default (pipe-max-size)
local tail -- nil: not kept; else pieces tail[first..last]
local first, last, tail_bytes = 1, 0, 0

local function remember(s)
  last = last + 1
  tail[last] = s
  tail_bytes = tail_bytes + #s
  while tail_bytes - #tail[first] >= TAIL_MAX do
    tail_bytes = tail_bytes - #tail[first]
    tail[first], first = nil, first + 1
  end
end

-- What the reader of stdout never read, from the start of its line (a line
-- it took only part of is given whole), then the rest of s.
local function unwritten(s, n)
  local all = table.concat(tail, "", first, last) .. s:sub(1, n)
  local left = math.min(sys.unread(1) or 0, #all)
  local from = #all - left + 1
  while from > 1 and all:sub(from - 1, from - 1) ~= "\n" do from = from - 1 end
  return all:sub(from) .. s:sub(n + 1)
end

-- Writes s to fd; false when it could not all be written.
local function put(fd, s)
  if lost[fd] then
    lost[fd][#lost[fd] + 1] = s
    return false
  end
  local n, msg, code = sys.write(fd, s, defaults.grace)
  if n == #s then
    if fd == 1 and tail then remember(s) end
    return true
  end
  if code == "TIMEOUT" then
    lost[fd] = { s:sub(n + 1) }
  elseif fd == 1 and not M.broken then
    M.broken, M.problem, M.gone = true, msg, code == "EPIPE"
    if M.gone and M.keeping then lost[1] = { tail and unwritten(s, n) or s:sub(n + 1) } end
    tail = nil
  end
  return false
end

--[[
keep_unwritten(): a command that changes runs calls it before its first
result: should stdout's reader go away, what it did not take is kept for
M.save_unwritten (on a pipe, what was left in it is counted back).
]]
function M.keep_unwritten()
  M.keeping = true
  if sys.unread(1) then tail, first, last, tail_bytes = {}, 1, 0, 0 end
end

-- Stdout is written in rounds (see M.flush_out), or line by line on a terminal.
local pending, npending, pending_bytes = {}, 0, 0
local out_is_tty

local function flush_pending()
  if npending == 0 then return true end
  local s = table.concat(pending, "", 1, npending)
  pending, npending, pending_bytes = {}, 0, 0
  if M.broken and not lost[1] then return false end
  return put(1, s)
end

-- The progress line: shown only on a terminal, redrawn at most ten times a
-- second, erased before any other output, cut to the terminal's width.
local progress = { enabled = false, shown = false, last = -1, text = nil }

local function erase()
  if progress.shown then
    put(2, "\r\27[K")
    progress.shown = false
  end
end

-- enable_progress(no_progress_flag) -> whether a live line may be drawn
-- (NO_COLOR counts when set to anything but the empty string).
function M.enable_progress(no_progress)
  local term, no_color = os.getenv("TERM"), os.getenv("NO_COLOR")
  progress.enabled = not no_progress and sys.isatty(2) and term ~= nil and term ~= "dumb" and term ~= ""
    and (no_color == nil or no_color == "")
  return progress.enabled
end

-- progress(line [, force]): redraw the live line (throttled).
function M.progress(line, force)
  if not progress.enabled then return end
  local now = sys.monotime()
  progress.text = line
  if not force and now - progress.last < 0.1 then return end
  progress.last = now
  line = text.sanitize(line)
  local width = sys.columns(2)
  if width and #line >= width then line = text.truncate(line, math.max(1, width - 2)) end
  put(2, "\r\27[K" .. line)
  progress.shown = true
end

function M.end_progress()
  erase()
  progress.enabled = false
end

-- Streaming: lines reach stdout (a pipe, a file) before the process next
-- waits. A batch calls M.flush_out() after each round of finished runs, so
-- the runs a round finished cost one write, not one each.
function M.out(line)
  erase()
  M.write(line)
  M.write("\n")
  if out_is_tty == nil then out_is_tty = sys.isatty(1) end
  if out_is_tty then flush_pending() end
  return not M.broken
end

-- A piece of stdout (no newline added), for large documents.
function M.write(piece)
  piece = clean(piece)
  npending = npending + 1
  pending[npending] = piece
  pending_bytes = pending_bytes + #piece
  if pending_bytes >= 65536 then flush_pending() end
end

function M.err(line)
  erase()
  return put(2, clean(line) .. "\n")
end

-- Hands buffered stdout lines on (see M.out); the progress line stays.
function M.flush_out()
  flush_pending()
end

function M.flush()
  erase()
  flush_pending()
end

--[[
save_unwritten() -> path | nil, message | nil (nothing kept)
After stdout's reader went away (M.gone) with M.keep_unwritten on: what it
did not take, and whatever stdout got since, goes to the saved-output file
(mode 0600, in $TMPDIR); later stdout output is dropped.
]]
function M.save_unwritten()
  flush_pending()
  if not (M.gone and lost[1]) then return nil end
  local data = table.concat(lost[1])
  lost[1] = nil
  local path, err = sys.save("stdout", data)
  if not path then return nil, err end
  return path
end

--[[
finish() -> true when everything was written. The command's last step:
output that could not be written within the grace after a signal (or that
a reader that went away did not take) goes to a file (mode 0600, in
$TMPDIR) whose path is tried on stderr; then the caller ends the process
without flushing anything more.
]]
function M.finish()
  M.flush()
  if not next(lost) then return true end
  local notes = {}
  for fd, parts in pairs(lost) do
    local name = fd == 1 and "stdout" or "stderr"
    local path = sys.save(name, table.concat(parts))
    if path and fd == 1 and M.gone then
      notes[#notes + 1] = "clarifai: the reader of standard output went away; what it did not take is in " .. path
    elseif path then
      notes[#notes + 1] = "clarifai: what could not be written to " .. name .. " within the grace is in " .. path
    end
  end
  -- one short try (the grace is over: a blocked stderr gets nothing)
  if #notes > 0 and not lost[2] then sys.write(2, table.concat(notes, "\n") .. "\n", 0) end
  return false
end

return M
