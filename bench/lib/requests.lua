-- What the contenders send: a HOME whose config points at a server, the
-- requests the command would send (from its own --dry-run), the same
-- requests as curl arguments, a curl -K config or a shell loop of curl
-- calls, and the check that curl and the command send identical requests.

local socket = require "socket"
local ctx = require "lib.ctx"
local proc = require "lib.proc"
local servers = require "lib.servers"

local M = {}

M.CHECKOUT = nil -- set by init()
M.LAUNCHERS = {}

function M.init()
  M.CHECKOUT = ctx.root .. "/bin/clarifai"
  M.LAUNCHERS = {
    { key = "checkout", path = M.CHECKOUT, label = "./bin/clarifai" },
    { key = "rock", path = ctx.root .. "/build/bench-tree/bin/clarifai", label = "clarifai (rock)" },
  }
  -- BENCH_COMPARE=DIR: another checkout's launcher (built there) as one more
  -- contender, for a before/after comparison within one interleaved run
  local other = os.getenv("BENCH_COMPARE")
  if other and other ~= "" then
    M.LAUNCHERS[#M.LAUNCHERS + 1] = { key = "compare", path = other .. "/bin/clarifai", label = "clarifai (compared)" }
  end
end

-- A HOME with ~/.config/clarifai/config whose current context points at base.
function M.make_home(name, base)
  local home = ctx.work .. "/" .. name
  proc.mkdir(home .. "/.config/clarifai")
  proc.write_file(home .. "/.config/clarifai/config", table.concat({
    "contexts:",
    "  default:",
    "    name: default",
    "    CLARIFAI_API_BASE: https://api.clarifai.com",
    "    CLARIFAI_PAT: ENVVAR",
    "    CLARIFAI_USER_ID: demo-user",
    "  bench:",
    "    name: bench",
    "    CLARIFAI_API_BASE: " .. base,
    "    CLARIFAI_PAT: " .. ctx.token,
    "    CLARIFAI_USER_ID: demo-user",
    "    CLARIFAI_UI: https://clarifai.com",
    "current_context: bench",
    "",
  }, "\n"), "600")
  return home
end

-- Run ids bench-0001 ... (n of them).
function M.batch_ids(n)
  local ids = {}
  for i = 1, n do ids[i] = string.format("bench-%04d", i) end
  return ids
end

-- Writes ids one per line to path (for `clarifai pr pause -`).
function M.ids_file(ids, path)
  proc.write_file(path, table.concat(ids, "\n") .. "\n")
  return path
end

-- Requests the command would send, from its own --dry-run output (the
-- token it masks is put back). Each: {method, url, headers = {...}, body}.
-- opts.stdin: pass the ids on stdin (`-`) instead of as arguments;
-- opts.flags: more arguments (e.g. the ids of another version).
function M.dry_run(launcher, home, cwd, ids, opts)
  opts = opts or {}
  local argv = { launcher, "pr", "pause" }
  local stdin
  if opts.stdin then
    argv[#argv + 1] = "-"
    stdin = M.ids_file(ids, ctx.work .. "/dry.ids")
  else
    for _, id in ipairs(ids) do argv[#argv + 1] = id end
  end
  for _, f in ipairs(opts.flags or {}) do argv[#argv + 1] = f end
  argv[#argv + 1] = "--dry-run"
  local out = ctx.work .. "/dry.out"
  proc.run_once({ label = "--dry-run", argv = argv, env = proc.env_for(home, opts.env), cwd = cwd, stdin = stdin }, out)
  local reqs, cur, phase = {}, nil, nil
  for line in (proc.read_file(out) .. "\n"):gmatch("([^\n]*)\n") do
    local method, url = line:match("^(%u+) (https?://%S+)$")
    if method and phase ~= "headers" then
      cur = { method = method, url = url, headers = {} }
      reqs[#reqs + 1] = cur
      phase = "headers"
    elseif phase == "headers" then
      if line == "" then phase = "body"
      else
        if line:lower():match("^authorization:") then line = "Authorization: Key " .. ctx.token end
        cur.headers[#cur.headers + 1] = line
      end
    elseif phase == "body" and line ~= "" then
      cur.body = line
      phase = nil
    end
  end
  if #reqs ~= #ids then error(string.format("--dry-run printed %d requests for %d ids", #reqs, #ids), 0) end
  for _, q in ipairs(reqs) do
    if not q.body then error("--dry-run printed a request without a body", 0) end
  end
  return reqs
end

-- One request as curl arguments; extra: more arguments before the URL.
function M.curl_argv(req, extra)
  local argv = { "curl", "-q", "-sS", "-f", "-X", req.method }
  for _, h in ipairs(req.headers) do argv[#argv + 1] = "-H"; argv[#argv + 1] = h end
  argv[#argv + 1] = "--data-raw"
  argv[#argv + 1] = req.body
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = req.url
  return argv
end

local function cfg_quote(s) return '"' .. s:gsub('[\\"]', "\\%0") .. '"' end
M.cfg_quote = cfg_quote

-- A curl -K file: one entry per request (url, request, headers, data-raw,
-- fail) separated by `next`. extra: more lines for every entry (options are
-- per transfer in a -K file); first: more lines for the first entry only.
function M.curl_config(reqs, path, extra, first)
  local out = {}
  for i, req in ipairs(reqs) do
    if i > 1 then out[#out + 1] = "next" end
    out[#out + 1] = "url = " .. cfg_quote(req.url)
    out[#out + 1] = "request = " .. cfg_quote(req.method)
    for _, h in ipairs(req.headers) do out[#out + 1] = "header = " .. cfg_quote(h) end
    out[#out + 1] = "data-raw = " .. cfg_quote(req.body)
    out[#out + 1] = "fail"
    for _, l in ipairs(extra or {}) do out[#out + 1] = l end
    if i == 1 then
      for _, l in ipairs(first or {}) do out[#out + 1] = l end
    end
  end
  proc.write_file(path, table.concat(out, "\n") .. "\n")
  return path
end

-- A shell loop running one curl per request (bodies read from a file).
function M.curl_loop(reqs, dir)
  local bodies = {}
  for i, req in ipairs(reqs) do bodies[i] = req.body end
  proc.write_file(dir .. "/bodies.txt", table.concat(bodies, "\n") .. "\n")
  local first = reqs[1]
  local args = { "curl -q -sS -f -X " .. first.method }
  for _, h in ipairs(first.headers) do args[#args + 1] = "-H " .. proc.sh_quote(h) end
  args[#args + 1] = '--data-raw "$body"'
  args[#args + 1] = proc.sh_quote(first.url)
  proc.write_file(dir .. "/loop.sh", table.concat({
    "while IFS= read -r body; do",
    "  " .. table.concat(args, " ") .. " || exit 1",
    "done < " .. proc.sh_quote(dir .. "/bodies.txt"),
    "",
  }, "\n"))
  return dir .. "/loop.sh"
end

-- The request a program sends, captured by a one-shot listener:
-- {line, headers = {"name: value", ...} sorted, body}.
local function capture(port_to_spec)
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(10)
  local _, port = srv:getsockname()
  local spec = port_to_spec(tonumber(port))
  spec.stdout, spec.stderr = ctx.work .. "/capture.out", ctx.work .. "/capture.err"
  local pid = proc.start(spec)
  local c = srv:accept()
  srv:close()
  if not c then proc.stop(pid) error("no request arrived from " .. spec.argv[1], 0) end
  c:settimeout(10)
  local req = { headers = {} }
  req.line = c:receive("*l")
  local length = 0
  while true do
    local h = c:receive("*l")
    if not h or h == "" then break end
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    req.headers[#req.headers + 1] = k:lower() .. ": " .. v
    if k:lower() == "content-length" then length = tonumber(v) end
  end
  req.body = length > 0 and c:receive(length) or ""
  c:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #servers.PATCH_BODY
    .. "\r\nConnection: close\r\n\r\n" .. servers.PATCH_BODY)
  c:close()
  local r = proc.wait_exit(pid, 10)
  if not r or r.status ~= 0 then error(spec.argv[1] .. " failed against the capture listener: "
    .. proc.tail(proc.read_file(spec.stderr)), 0) end
  table.sort(req.headers)
  return req
end

-- curl must send what the command sends; sets ctx.info.request (the
-- request as text, token masked).
function M.check_same_request(cwd)
  for _, l in ipairs(M.LAUNCHERS) do
    local home, reqs
    local a = capture(function(port)
      home = M.make_home("home-capture", "http://127.0.0.1:" .. port)
      reqs = M.dry_run(l.path, home, cwd, { "bench-one" })
      return { argv = { l.path, "pr", "pause", "bench-one" }, env = proc.env_for(home), cwd = cwd }
    end)
    local b = capture(function(port)
      home = M.make_home("home-capture", "http://127.0.0.1:" .. port)
      reqs = M.dry_run(l.path, home, cwd, { "bench-one" })
      return { argv = M.curl_argv(reqs[1]), env = proc.env_for(home), cwd = cwd }
    end)
    -- the two listeners had different ports
    local sa = (a.line .. "\n" .. table.concat(a.headers, "\n") .. "\n\n" .. a.body)
      :gsub("127%.0%.0%.1:%d+", "127.0.0.1:PORT")
    local sb = (b.line .. "\n" .. table.concat(b.headers, "\n") .. "\n\n" .. b.body)
      :gsub("127%.0%.0%.1:%d+", "127.0.0.1:PORT")
    if sa ~= sb then
      error("curl does not send the request " .. l.label .. " sends:\n--- " .. l.label .. "\n" .. sa
        .. "\n--- curl\n" .. sb, 0)
    end
    if not ctx.info.request then
      local i, j = sa:find("Key " .. ctx.token, 1, true)
      if i then sa = sa:sub(1, i - 1) .. "Key <token>" .. sa:sub(j + 1) end
      ctx.info.request = sa
    end
  end
end

-- Contenders of `pr pause` for every launcher (default: both), checked for
-- one "has been paused." line per id. o: {home, cwd, ids, parallel, before,
-- launchers, env}.
function M.pause_contenders(o)
  local list = {}
  for _, l in ipairs(o.launchers or M.LAUNCHERS) do
    local argv = { l.path, "pr", "pause" }
    for _, id in ipairs(o.ids) do argv[#argv + 1] = id end
    if o.parallel then argv[#argv + 1] = "--parallel"; argv[#argv + 1] = tostring(o.parallel) end
    list[#list + 1] = { key = l.key, label = l.label, argv = argv, env = proc.env_for(o.home, o.env), cwd = o.cwd,
      before = o.before, check = proc.expect_lines("Pipeline version run [^\n]* has been paused%.", #o.ids) }
  end
  return list
end

return M
