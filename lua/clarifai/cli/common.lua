-- What the run commands share: reading ids and flags, the client for this
-- invocation, the wording the CLI adds to library errors, tables, exit codes.

local compat = require "clarifai.compat"
local errors = require "clarifai.errors"
local flags = require "clarifai.cli.flags"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

-- The Python CLI's words for a missing run id and missing scope ids.
M.RUN_ID_REQUIRED = "pipeline_version_run_id is required. Provide it as a positional "
  .. "argument or use --pipeline_version_run_id flag."
M.MISSING_LINE = "Missing required parameters. Either provide --user_id, --app_id, --pipeline_id, "
  .. "and --pipeline_version_id, or ensure config-lock.yaml exists."

function M.usage(msg, fields) return nil, errors.new("usage", msg, fields) end

--[[
run_ids(args) -> ids, source(i), from_stdin | nil, message (stdin unreadable)
Run ids from the positional list (which wins) or the flag; "-" reads them
from stdin: one or more per line, blank lines skipped, "#" starting a
comment to the end of the line. source(i) says where the i-th id came from
(for messages).
]]
function M.run_ids(args)
  local list, flag = args.ids or {}, false
  if #list == 0 and args.pipeline_version_run_id then list, flag = { args.pipeline_version_run_id }, true end
  local out, lines, stdin_used = {}, {}, false
  for k, id in ipairs(list) do
    if id == "-" then
      if not stdin_used then
        stdin_used = true
        local n = 0
        local data, rerr = io.stdin:read("*a")
        if not data then return nil, rerr end
        for line in (data .. "\n"):gmatch("([^\n]*)\n") do
          n = n + 1
          -- "#" starts a comment to the end of the line (no valid id has one)
          for word in line:gsub("#.*$", ""):gmatch("%S+") do
            out[#out + 1] = word
            lines[#out] = n
          end
        end
      end
    else
      out[#out + 1] = id
      lines[#out] = -k
    end
  end
  local function source(i)
    local l = lines[i]
    if flag then return "--pipeline_version_run_id" end
    if l and l > 0 then return "standard input line " .. l end
    return "argument " .. tostring(l and -l or i)
  end
  return out, source, stdin_used
end

--[[
checked_ids(args) -> unique checked ids | nil, err | false (stdin held no
ids: the note is printed; nothing to do, exit 0)
]]
function M.checked_ids(args)
  local raw, source, from_stdin = M.run_ids(args)
  if not raw then return M.usage("cannot read run ids from standard input: " .. tostring(source)) end
  if #raw == 0 then
    if from_stdin then
      output.err("no run ids on standard input: nothing to do")
      return false
    end
    return M.usage(M.RUN_ID_REQUIRED, { missing = { "pipeline_version_run_id" } })
  end
  return require("clarifai.ids").unique(raw, "pipeline_version_run_id", source)
end

-- The one run id of monitor/history (positional wins over the flag),
-- checked | nil, err.
function M.one_id(args)
  local id = args.id or args.pipeline_version_run_id
  if not id then return M.usage(M.RUN_ID_REQUIRED, { missing = { "pipeline_version_run_id" } }) end
  return require("clarifai.ids").check(id, "pipeline_version_run_id",
    args.id and "argument 1" or "--pipeline_version_run_id")
end

-- one_run(args) -> the run id, the complete reference and the client of a
-- command about one run (monitor, history) | nil, err.
function M.one_run(args)
  local id, ierr = M.one_id(args)
  if not id then return nil, ierr end
  local full, err = M.resolve(args)
  if not full then return nil, err end
  local c, cerr = M.make_client(args)
  if not c then return nil, cerr end
  return id, full, c
end

local SCOPE = { "user_id", "app_id", "pipeline_id", "pipeline_version_id" }

-- The run reference the flags give, and where each value came from.
function M.ref_from(args)
  local ref, sources = {}, {}
  for _, f in ipairs(SCOPE) do
    ref[f] = args[f]
    sources[f] = "--" .. f
  end
  return ref, sources
end

-- resolve(args) -> the complete reference | nil, err (the CLI's wording)
function M.resolve(args)
  local ref, sources = M.ref_from(args)
  return require("clarifai.ids").resolve(ref, { sources = sources })
end

-- A timeout from its flag, else its environment variable (checked: a bad
-- value there is a configuration error, exit 3), else nil (the default).
local function setting(args, o)
  if args[o.target] ~= nil then return args[o.target] end
  local raw = os.getenv(o.env)
  if raw == nil or raw == "" then return nil end
  local v, problem = flags.convert(o, raw)
  if v == nil then
    return nil, errors.new("config", string.format("%s=%s is not valid: it %s", o.env,
      text.sanitize(text.truncate(raw, 40)), problem))
  end
  return v
end

--[[
make_client(args [, need_pat]) -> client | nil, err
--config/--context, the environment, the timeouts; warnings (e.g. config
permissions) go to stderr. The client traps SIGINT, SIGTERM and SIGHUP.
]]
function M.make_client(args, need_pat)
  local copts = { config_path = args.config, context = args.context, need_pat = need_pat,
    trace = args.verbose and output.err or nil, trap_signals = true }
  for _, o in ipairs(flags.find({ "pr", "pause" }).options) do
    if o.env then
      local v, err = setting(args, o)
      if err then return nil, err end
      copts[o.target] = v
    end
  end
  local c, settings, err = require("clarifai.client").from_config(copts)
  if not c then return nil, err end
  output.add_secret(c.pat)
  for _, w in ipairs(settings.warnings) do output.err(w) end
  return c
end

-- "1,536" for 1536.
function M.thousands(n)
  local s = tostring(math.floor(n)):reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (s:gsub("^,", ""))
end

-- The live line while runs are listed ("listing: 1,536 runs, 12 pages"),
-- on a terminal only (output.enable_progress): an on_progress(runs,
-- requests) for runs.list and runs.select, or nil when none may be drawn.
function M.listing_progress(args)
  if not output.enable_progress(args.no_progress) then return nil end
  return function(runs, requests)
    output.progress(string.format("listing: %s run%s, %s page%s", M.thousands(runs), runs == 1 and "" or "s",
      M.thousands(requests), requests == 1 and "" or "s"))
  end
end

function M.print_json(v)
  output.out(json.encode(v))
end

-- "Retrying run R in 0.4s: HTTP 503 (attempt 2 of 3)" for writes and reads alike.
function M.retry_note(r)
  output.err(string.format("Retrying %s in %.1fs: %s (attempt %d of %d)", text.sanitize(r.label), r.delay,
    text.sanitize(r.reason), r.attempt, r.max))
end

-- The lines of a table (header first, when given): columns sized to their
-- widest cell, cells made safe to print.
function M.table_lines(header, rows)
  local widths = {}
  local function width(s) return compat.utf8_len(s) or #s end
  for i, h in ipairs(header or {}) do widths[i] = #h end
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      row[i] = text.cell(cell)
      if width(row[i]) > (widths[i] or 0) then widths[i] = width(row[i]) end
    end
  end
  local function line(cells)
    local parts = {}
    for i, cell in ipairs(cells) do
      parts[i] = i < #cells and (cell .. string.rep(" ", widths[i] - width(cell))) or cell
    end
    return table.concat(parts, "  ")
  end
  local out = {}
  if header then out[1] = line(header) end
  for _, row in ipairs(rows) do out[#out + 1] = line(row) end
  return out
end

function M.print_table(header, rows)
  for _, l in ipairs(M.table_lines(header, rows)) do output.out(l) end
end

function M.str(v) return type(v) == "string" and v ~= "" and v or "-" end

-- A time as tables show it: the API's text to the second
-- ("2026-01-02T03:04:05.123456Z" -> "2026-01-02T03:04:05Z"); JSON keeps
-- the API's own text.
function M.table_time(v)
  return (M.str(v):gsub("^(%d%d%d%d%-%d%d%-%d%d[Tt ]%d%d:%d%d:%d%d)%.%d+", "%1"))
end

-- How long ago a time was, against this machine's clock, in its largest
-- whole unit: "45s", "3m", "3h", "2d" ("-" when it cannot be read; a time
-- ahead of the clock is "0s").
function M.age(v, now)
  local t = require("clarifai.timefmt").parse(v)
  if not t then return "-" end
  local s = math.max(0, math.floor((now or os.time()) - t))
  if s < 60 then return s .. "s" end
  if s < 3600 then return math.floor(s / 60) .. "m" end
  if s < 86400 then return math.floor(s / 3600) .. "h" end
  return math.floor(s / 86400) .. "d"
end

-- A comma (or space) separated flag value as a list: "running,paused".
function M.split_list(s)
  local out = {}
  for part in (s or ""):gmatch("[^,%s]+") do out[#out + 1] = part end
  return out
end

-- An id as the default table shows it: the first 8 characters of a longer
-- one, as git shortens hashes (-o wide and JSON give it whole).
function M.short_id(v)
  local s = M.str(v)
  if #s <= 8 then return s end
  local n = 8 -- not inside a UTF-8 character
  while n > 1 and (s:byte(n + 1) or 0) >= 0x80 and s:byte(n + 1) < 0xC0 do n = n - 1 end
  return s:sub(1, n)
end

function M.state_label(run)
  local code = require("clarifai.api").run_state(run)
  return code and states.short(code) or "-"
end

-- The one prompt: asks on the controlling terminal (whatever stdin is: a
-- pipe of ids cannot answer it), only when this process is in the
-- terminal's foreground and stderr is a terminal. true (yes), false (no),
-- or nil when there is no terminal to ask on.
function M.ask(question)
  local sys = require "clarifai.sys.core"
  if not (sys.isatty(2) and sys.tty_foreground()) then return nil end
  local tty = io.open("/dev/tty", "r+")
  if not tty then return nil end
  tty:write(question)
  tty:flush()
  local answer = tty:read("*l") or ""
  tty:close()
  return answer:match("^%s*[yY]") ~= nil
end

-- A read a stop cut short: the "Stopped by SIGTERM while <doing>." line a
-- batch's stop also starts with (a signal's, not a broken stdout's), and
-- the exit code.
function M.stopped_reading(signal, doing)
  local code = M.stop_code(signal)
  if code and signal then
    output.err("Stopped by " .. M.signal_name(signal) .. (doing and (" while " .. doing) or "") .. ".")
  end
  return code or errors.exit_codes.interrupted
end

-- Exit code of a stop: 128 + the signal, else 141 when stdout's reader
-- went away (as a process SIGPIPE ended), else 74 for a broken stdout.
function M.stop_code(signal)
  if signal then return errors.signal_exit(signal) end
  if output.gone then return M.READER_GONE end
  if output.broken then return errors.exit_codes.output end
  return nil
end

-- The exit code of a command whose stdout's reader went away: 141, as the
-- shell reports a process SIGPIPE ended (the command ignores SIGPIPE, so
-- that it can finish and say what it did).
M.READER_GONE = errors.signal_exit(require("clarifai.sys.core").SIGPIPE)

local SIGNAL_NAMES = { [1] = "SIGHUP", [2] = "SIGINT", [15] = "SIGTERM" }
function M.signal_name(sig) return SIGNAL_NAMES[sig] or ("signal " .. tostring(sig)) end

-- A word for the shell: quoted unless it is plainly safe.
function M.shell_word(s)
  if s:match("^[%w%-_.,:/=@+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The flags the user gave that pick the scope and credentials (for hints
-- that re-run a command exactly as the user would).
function M.scope_flags(args)
  local out = {}
  if args.config then out[#out + 1] = "--config=" .. M.shell_word(args.config) end
  if args.context then out[#out + 1] = "--context=" .. M.shell_word(args.context) end
  for _, f in ipairs(SCOPE) do
    if args[f] then out[#out + 1] = "--" .. f .. "=" .. M.shell_word(args[f]) end
  end
  return table.concat(out, " ")
end

--[[
describe(err) -> the message the CLI prints for a library error: the
library says what failed; the CLI adds flag names and commands to try.
]]
function M.describe(err)
  if err.missing and err.missing[1] == "pipeline_version_run_id" then return M.RUN_ID_REQUIRED end
  if err.missing then
    local names = {}
    for i, f in ipairs(err.missing) do names[i] = "--" .. f end
    local lines = { M.MISSING_LINE, "  missing: " .. table.concat(names, ", ") }
    local lock = err.lockfile or {}
    if lock.status == "absent" then
      lines[#lines + 1] = "  config-lock.yaml: not found in the current directory"
    elseif lock.status == "invalid" then
      lines[#lines + 1] = "  config-lock.yaml is invalid: " .. tostring(lock.message)
    else
      local keys = {}
      local lockfile = require "clarifai.lockfile"
      for i, f in ipairs(err.missing) do keys[i] = "pipeline." .. lockfile.key_of(f) end
      lines[#lines + 1] = "  config-lock.yaml has no " .. table.concat(keys, ", ")
    end
    return table.concat(lines, "\n")
  end
  if err.names then
    -- the library names fields; the command, its flags as help shows them
    local msg = err.message
    for _, name in ipairs(err.names) do msg = msg:gsub("%f[%w_]" .. name .. "%f[^%w_]", flags.name_of(name)) end
    return msg
  end
  if err.valid then
    local names = {}
    for i, n in ipairs(err.valid) do names[i] = states.short(states.code_of(n)):lower() end
    return err.message .. "; valid states: " .. table.concat(names, ", ")
  end
  return err.message
end

return M
