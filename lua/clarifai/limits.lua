-- Every default and every allowed range of the library and the command, in
-- one table. The CLI's flags (their checks, defaults and help), the
-- library's argument checks and the values C receives all read it, so none
-- of them can disagree. clarifai.defaults is the defaults alone.

local M = {}

-- name = { default, min, max, integer (whole numbers only), above (min itself
-- excluded: "more than min"), unit, what }
local T = {
  parallel = { default = 8, min = 1, max = 1024, integer = true, what = "requests in flight at once" },
  connect_timeout = { default = 10, min = 0, above = true, max = 86400, unit = "seconds",
    what = "seconds to establish a connection" },
  request_timeout = { default = 30, min = 0, above = true, max = 86400, unit = "seconds",
    what = "seconds for one HTTP attempt" },
  deadline = { default = 60, min = 0, above = true, max = 86400, unit = "seconds",
    what = "seconds for one run's change: attempts, backoff, reconciliation" },
  max_size = { default = 8 * 1024 * 1024, min = 1024, max = 1024 * 1024 * 1024, integer = true, unit = "bytes",
    what = "largest response body accepted (bytes kept: long strings dropped from runs do not count)" },
  skim = { default = 16384, min = 0, max = 1024 * 1024 * 1024, integer = true, unit = "bytes",
    what = "string values longer than this are dropped (null) from replies that carry runs as they arrive "
      .. "(0: every string kept)" },
  wait_timeout = { default = 300, min = 0, max = 604800, unit = "seconds", what = "--wait: seconds before giving up" },
  wait_interval = { default = 2, min = 0, above = true, max = 3600, unit = "seconds",
    what = "--wait and watch: seconds between polls" },
  watch_timeout = { default = 0, min = 0, max = 10 * 366 * 86400, unit = "seconds",
    what = "watch: seconds before giving up (0: never)" },
  exec_parallel = { default = 4, min = 1, max = 256, integer = true, what = "watch --exec: hooks running at once" },
  monitor_timeout = { default = 3600, min = 0, max = 604800, unit = "seconds",
    what = "monitor: seconds before giving up (the Python CLI's)" },
  monitor_interval = { default = 10, min = 0, above = true, max = 3600, unit = "seconds",
    what = "monitor: seconds between polls (the Python CLI's)" },
  page = { default = 1, min = 1, max = 1000000, integer = true, what = "list: page number" },
  group_size = { default = 100, min = 1, max = 1000, integer = true,
    what = "runs of one version per PATCH in a selection (explicit ids: 1 unless given)" },
  selection_max = { default = 100000, what = "runs a selection may hold; a larger one is refused, never cut" },
  selection_limit = { default = 100000, min = 1, max = 100000, integer = true,
    what = "--limit: the N oldest runs of a selection" },
  older_than = { default = 0, min = 0, max = 10 * 366 * 86400, unit = "seconds",
    what = "--older-than: runs created at least this long ago" },
  per_page = { default = 16, min = 1, max = 128, integer = true, what = "list: runs per page" },
  list_max = { default = 100000, min = 1, max = 100000, integer = true, what = "list --all: runs at most" },
  -- fixed (no flag)
  api_per_page = { default = 128, what = "list --all, the polls of --wait, selections: the API's own page size" },
  history_per_page = { default = 100, what = "status logs per page" },
  log_per_page = { default = 50, what = "monitor: log entries per page (the Python CLI's)" },
  log_pages = { default = 100, what = "monitor: full log pages read per poll, at most" },
  history_pages = { default = 1000, what = "history: pages read, at most" },
  grace = { default = 1, what = "seconds in-flight requests (and output) get after a stop" },
  max_attempts = { default = 3, what = "attempts of one request, at most (reads and changes alike)" },
  backoff_base = { default = 0.5, what = "seconds: the first backoff's ceiling (full jitter below it)" },
  backoff_cap = { default = 20, what = "seconds: the largest backoff ceiling" },
  first_streams = { default = 100,
    what = "transfers started before an HTTP/2 server's stream limit is known (libcurl assumes 100)" },
  low_speed_limit = { default = 1, what = "bytes per second below which a transfer counts as stalled" },
  max_received = { default = 256 * 1024 * 1024,
    what = "bytes: the most a skimmed reply may send, dropped strings included (the API documents replies "
      .. "up to 128 MB; never below max_size)" },
  connection_cache = { default = 64, what = "idle connections a session keeps for reuse, at least" },
  config_max = { default = 1024 * 1024, what = "bytes: the largest config file read" },
  lockfile_max = { default = 16 * 1024 * 1024,
    what = "bytes: the largest config-lock.yaml read (it carries the Argo spec)" },
  lockfile_skim = { default = 4096,
    what = "bytes: config-lock.yaml values longer than this are checked but not kept (the ids are short; "
      .. "the Argo spec is not)" },
  yaml_depth = { default = 64, what = "YAML nesting levels, at most" },
  json_depth = { default = 128, what = "JSON nesting levels of a reply, at most" },
}
M.table = T

-- clarifai.defaults: name -> default
M.defaults = {}
for name, l in pairs(T) do M.defaults[name] = l.default end

local function num(n)
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then return string.format("%d", n) end
  return tostring(n)
end

-- range(name [, short]) -> "1..1024", "more than 0 and at most 86400
-- seconds", ...; short (for help): "1..1024", ">0..86400".
function M.range(name, short)
  local l = assert(T[name], name)
  if short then return (l.above and ">" or "") .. num(l.min) .. ".." .. num(l.max) end
  local unit = l.unit and (" " .. l.unit) or ""
  if l.above then return "more than " .. num(l.min) .. " and at most " .. num(l.max) .. unit end
  return num(l.min) .. ".." .. num(l.max) .. unit
end

--[[
check(name, value) -> value | nil, problem
problem: "must be a whole number 1..1024", "must be more than 0 and at most
86400 seconds", ... (for a message that names the flag or argument).
]]
function M.check(name, v)
  local l = assert(T[name], name)
  local ok = type(v) == "number" and v == v
  if ok and l.integer then ok = v == math.floor(v) end
  if ok then
    if l.above then ok = v > l.min else ok = v >= l.min end
    ok = ok and v <= l.max
  end
  if ok then return v end
  return nil, "must be " .. (l.integer and "a whole number " or "") .. M.range(name)
end

--[[
arg(fn, label, name, value [, level]) -> value
For the library's argument checks: nil stays nil (the default applies);
anything else out of range raises "fn: label must be ..., got value" at
`level` (default 3: the caller of the function that called arg).
]]
function M.arg(fn, label, name, v, level)
  if v == nil then return nil end
  local ok, problem = M.check(name, v)
  if ok then return ok end
  error(string.format("%s: %s %s, got %s", fn, label, problem, type(v) == "string" and string.format("%q", v)
    or tostring(v)), level or 3)
end

return M
