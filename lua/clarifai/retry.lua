-- The failure policy: the one place that says what a reply or a transport
-- failure means and what to do next. Every failure is sorted by phase:
--   not_sent   the request never left (connection refused, connect timeout)
--   rejected   the API turned it away before processing (429, 503, throttling codes)
--   ambiguous  it may have been applied (timeout or close after sending, 500/502/504,
--              a 2xx whose body is not a valid API response; NO_ANSWER: a reused
--              connection closed before any answer, where libcurl would have
--              sent a change again by itself and clarifai.http.core stopped it)
--   definite   the API answered and meant it (400/401/403/404/409, validation or
--              state codes), or retrying cannot help (DNS, TLS, redirects, size cap)
-- Reads, safe to repeat, are tried again after not_sent, rejected and
-- ambiguous failures; a change only after not_sent and rejected ones (an
-- ambiguous one is reconciled by reading the run first: clarifai.batch).
-- api.decode asks it for the kind of error a reply is; batches, reads,
-- --wait and monitor ask it what to do, and never decide themselves.

local errors = require "clarifai.errors"
local limits = require "clarifai.limits"

local M = {}

M.MAX_ATTEMPTS = limits.defaults.max_attempts

-- API status codes meaning "rejected before processing, try later".
local THROTTLE_CODES = { [11003] = true, [11005] = true, [10030] = true }
-- API status codes meaning the credentials were refused.
local AUTH_CODES = {
  [11000] = true, [11001] = true, [11002] = true, [11007] = true, [11008] = true,
  [11009] = true, [11102] = true, [11200] = true,
}
-- HTTP statuses that say more than the API's code: the phase of such a reply.
local STATUS_PHASE = { [429] = "rejected", [503] = "rejected", [500] = "ambiguous", [502] = "ambiguous",
  [504] = "ambiguous" }
-- The API's "does not exist": reading the run again could only say so again.
local DOES_NOT_EXIST = 11101

-- Transport failures (clarifai.http.core codes) whose request never left.
local NOT_SENT = {
  COULDNT_RESOLVE_HOST = true, COULDNT_RESOLVE_PROXY = true, COULDNT_CONNECT = true,
  SSL_CONNECT_ERROR = true, PEER_FAILED_VERIFICATION = true, SSL_CACERT_BADFILE = true,
  SSL_CERTPROBLEM = true, SSL_CIPHER = true, UNSUPPORTED_PROTOCOL = true, URL_MALFORMAT = true,
  PROXY = true, SSL_ISSUER_ERROR = true,
}
-- ... and of those, the ones worth trying again (the rest will fail the same way).
local RETRY_NOT_SENT = { COULDNT_CONNECT = true, OPERATION_TIMEDOUT = true }

--[[
reply_phase(status, api_code) -> "rejected" | "ambiguous" | nil
What an HTTP status (and the API's code, when the body had one) says about
a reply that is not a success: nil means it is definite.
]]
function M.reply_phase(status, api_code)
  if THROTTLE_CODES[api_code] then return "rejected" end
  return STATUS_PHASE[status]
end

-- reply_kind(status, api_code) -> the error kind of a reply that is not a
-- success (its exit code: clarifai.errors).
function M.reply_kind(status, api_code)
  if AUTH_CODES[api_code] or status == 401 or status == 403 then return "auth" end
  local phase = M.reply_phase(status, api_code)
  if phase == "rejected" then return "transient" end
  if phase == "ambiguous" then return "unknown" end
  if api_code == 10000 or api_code == nil then return "protocol" end
  return "api"
end

-- malformed_kind(status) -> the error kind of a reply whose body is not an
-- API reply at all (not JSON, no status code): what its HTTP status says.
function M.malformed_kind(status)
  local phase = M.reply_phase(status)
  if phase == "rejected" then return "transient" end
  if phase == "ambiguous" then return "unknown" end
  return "protocol"
end

--[[
transport_kind(resp) -> kind of a transport failure: "not_sent" (stopped
before it left), "unknown" (it may have reached the server), "transport"
(never reached it), "protocol" (the reply was refused: size cap, headers).
]]
function M.transport_kind(resp)
  local code = resp.error_code
  if code == "ABORTED" then return resp.sent and "unknown" or "not_sent" end
  if code == "TOO_LARGE" or (code == "OUT_OF_MEMORY" and resp.responded) then return "protocol" end
  if NOT_SENT[code] or not resp.sent then return "transport" end
  return "unknown"
end

--[[
classify(resp, err [, what]) -> phase
resp: the raw result from clarifai.http.core; err: the error from api.decode
(nil on success). Returns "ok", "not_sent", "rejected", "ambiguous" or
"definite". An aborted transfer is ambiguous once its request has left.
what = "group": the reply to a PATCH of several runs, where a reply over the
size cap is ambiguous too (the runs are read back, not failed).
]]
function M.classify(resp, err, what)
  if not err then return "ok" end
  local code = resp.error_code
  if code then
    if code == "ABORTED" then return resp.sent and "ambiguous" or "not_sent" end
    if code == "TOO_LARGE" and what == "group" then return "ambiguous" end
    if err.kind == "protocol" then return "definite" end
    if not resp.sent then return RETRY_NOT_SENT[code] and "not_sent" or "definite" end
    return "ambiguous"
  end
  local st = resp.status or 0
  local phase = M.reply_phase(st, err.api_code)
  if phase then return phase end
  if st >= 200 and st < 300 and err.kind == "protocol" then return "ambiguous" end
  return "definite"
end

-- A refusal of a change after which reading the run may show it already in
-- the target state ("already paused"); not when the run does not exist.
function M.read_after_refusal(err)
  return err.kind == "api" and err.http_status ~= 404 and err.api_code ~= DOES_NOT_EXIST
end

-- Failures of a read that a later poll may not meet again (wait and
-- monitor poll on through them).
local PASSING = { transient = true, unknown = true, transport = true }
function M.passing(err) return PASSING[err.kind] == true end

-- Full-jitter exponential backoff before attempt n+1 (n = attempts so far).
function M.backoff(n, random)
  random = random or math.random
  local ceiling = math.min(limits.defaults.backoff_cap, limits.defaults.backoff_base * 2 ^ (n - 1))
  return random() * ceiling
end

-- Phases after which each kind of request is tried again.
local AGAIN = {
  read = { not_sent = true, rejected = true, ambiguous = true },
  write = { not_sent = true, rejected = true },
}

local function after_attempts(err, n, kind)
  return errors.derive(err, { kind = kind, message = string.format("%s (after %d attempt%s)", err.message, n,
    n == 1 and "" or "s") })
end

--[[
again(resp, err, o) -> delay | nil, final_err
Whether a failed request is worth another attempt: the delay before it
(Retry-After, else full-jitter backoff), or nil and the error to report.
o = { attempts = made so far, left = seconds of the deadline left, op =
"read" (safe to repeat) or "write" (a change: only what was not sent or was
rejected before processing) }. A write gives up at once when Retry-After
asks for more than is left.
]]
function M.again(resp, err, o)
  local attempts, left, op = o.attempts, o.left, o.op
  local again = AGAIN[op]
  if not again then error("retry.again: op must be read or write, got " .. tostring(op), 2) end
  local phase = M.classify(resp, err)
  if not again[phase] then return nil end
  local write = op == "write"
  if write and resp.retry_after and resp.retry_after > left then
    return nil, errors.derive(err, { kind = "transient", message = string.format(
      "%s; the API asked to retry after %ds, beyond the deadline (%.0fs left)", err.message, resp.retry_after,
      math.max(0, left)) })
  end
  local delay = resp.retry_after or M.backoff(attempts)
  if attempts >= M.MAX_ATTEMPTS or delay >= left then
    if write then return nil, after_attempts(err, attempts, phase == "not_sent" and "transport" or "transient") end
    if attempts > 1 then return nil, after_attempts(err, attempts) end
    return nil
  end
  return delay
end

-- The payload of on_retry: what is retried (label, run_id), when and why.
function M.notice(label, attempt, delay, resp, err, run_id)
  return { run_id = run_id, label = label, attempt = attempt, max = M.MAX_ATTEMPTS, delay = delay,
    reason = M.reason(resp, err) }
end

-- A short description of why an attempt failed, for retry notes.
function M.reason(resp, err)
  if resp.error_code == "NO_ANSWER" then return "NO_ANSWER: the connection closed after sending, before any answer" end
  if resp.error_code then return resp.error_code end
  local s = "HTTP " .. tostring(resp.status)
  if err and err.api_name and err.api_code ~= 10000 then s = s .. " " .. err.api_name end
  -- a 2xx is retried only when its body was not a valid reply: say so
  if err and err.kind == "protocol" and not err.api_name then s = s .. ", not a valid API reply" end
  return s
end

return M
