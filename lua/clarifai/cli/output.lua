-- Where the CLI writes: results to stdout, diagnostics to stderr, and on a
-- terminal a live progress line on stderr. Every line passes through here,
-- so the token is scrubbed in one place, the progress line is erased before
-- normal output, and a failed write to stdout is noticed (M.broken).

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
-- stops sending and exits 74.
M.broken = false

-- The progress line: shown only on a terminal, redrawn at most ten times a
-- second, erased before any other output.
local progress = { enabled = false, shown = false, last = -1, text = nil }

local function erase()
  if progress.shown then
    io.stderr:write("\r\27[K")
    progress.shown = false
  end
end

-- progress_enabled(no_progress_flag) -> whether a live line may be drawn.
function M.enable_progress(no_progress)
  local sys = require "clarifai.sys.core"
  local term = os.getenv("TERM")
  progress.enabled = not no_progress and sys.isatty(2) and term ~= nil and term ~= "dumb" and term ~= ""
    and os.getenv("NO_COLOR") == nil
  return progress.enabled
end

-- progress(line [, force]): redraw the live line (throttled).
function M.progress(line, force)
  if not progress.enabled then return end
  local now = require("clarifai.sys.core").monotime()
  progress.text = line
  if not force and now - progress.last < 0.1 then return end
  progress.last = now
  io.stderr:write("\r\27[K", text.sanitize(line))
  io.stderr:flush()
  progress.shown = true
end

function M.end_progress()
  erase()
  progress.enabled = false
end

-- Streaming: lines reach stdout (a pipe, a file) before the process next
-- waits. A batch calls M.flush() after each round of finished runs, so the
-- runs a round finished cost one write, not one each. The flush is explicit
-- because it, unlike a line-buffered write, reliably reports a failure (a
-- full disk, a reader that went away).
function M.out(line)
  erase()
  local ok = io.stdout:write(clean(line), "\n")
  if not ok then M.broken = true end
  return ok ~= nil
end

-- A piece of stdout (no newline added), for large documents.
function M.write(piece)
  erase()
  if not io.stdout:write(clean(piece)) then M.broken = true end
end

function M.err(line)
  erase()
  return io.stderr:write(clean(line), "\n") ~= nil
end

-- Hands buffered stdout lines on (see M.out); the progress line stays.
function M.flush_out()
  if not io.stdout:flush() then M.broken = true end
end

function M.flush()
  erase()
  if not io.stdout:flush() then M.broken = true end
  io.stderr:flush()
end

return M
