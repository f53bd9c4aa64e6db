-- Retry policy for a state change. Every failure is sorted by phase:
--   not_sent   the request never left (connection refused, connect timeout)
--   rejected   the API turned it away before processing (429, 503, throttling codes)
--   ambiguous  it may have been applied (timeout or close after sending, 500/502/504,
--              a 2xx whose body is not a valid API response)
--   definite   the API answered and meant it (400/401/403/404/409, validation or
--              state codes), or retrying cannot help (DNS, TLS, redirects, size cap)
-- Only not_sent and rejected are retried blindly; ambiguous ones are
-- reconciled by reading the run first (see clarifai.runs).

local errors = require "clarifai.errors"

local M = {}

M.MAX_ATTEMPTS = 3
M.BASE = 0.5    -- seconds: first backoff ceiling
M.CAP = 20      -- seconds: largest backoff ceiling

-- Transport failures after which retrying the same request is safe and useful.
local RETRY_NOT_SENT = { COULDNT_CONNECT = true, OPERATION_TIMEDOUT = true }

-- Status codes meaning "rejected before processing, try later".
local THROTTLE = { [11003] = true, [11005] = true, [10030] = true }

--[[
classify(resp, err) -> phase
resp: the raw result from clarifai.http.core; err: the error from api.decode
(nil on success). Returns "ok", "not_sent", "rejected", "ambiguous" or
"definite". An aborted transfer is ambiguous once its request has left.
]]
function M.classify(resp, err)
  if not err then return "ok" end
  local code = resp.error_code
  if code then
    if code == "ABORTED" then return resp.sent and "ambiguous" or "not_sent" end
    if code == "TOO_LARGE" or err.kind == "protocol" then return "definite" end
    if not resp.sent then
      return RETRY_NOT_SENT[code] and "not_sent" or "definite"
    end
    return "ambiguous"
  end
  local st = resp.status or 0
  if st == 429 or st == 503 or THROTTLE[err.api_code] then return "rejected" end
  if st == 500 or st == 502 or st == 504 then return "ambiguous" end
  if st >= 200 and st < 300 and err.kind == "protocol" then return "ambiguous" end
  return "definite"
end

-- A refusal of a change after which reading the run may show it already in
-- the target state ("already paused"). Not when the run does not exist:
-- the read could only say so again.
function M.read_after_refusal(err)
  return err.kind == "api" and err.http_status ~= 404 and err.api_code ~= 11101
end

-- Failures of a read that a later poll may not meet again (wait and
-- monitor poll on through them).
local PASSING = { transient = true, unknown = true, transport = true }
function M.passing(err) return PASSING[err.kind] == true end

-- Full-jitter exponential backoff before attempt n+1 (n = attempts so far).
function M.backoff(n, random)
  random = random or math.random
  local ceiling = math.min(M.CAP, M.BASE * 2 ^ (n - 1))
  return random() * ceiling
end

-- Phases after which a read (safe to repeat) is tried again.
local READ_AGAIN = { not_sent = true, rejected = true, ambiguous = true }

--[[
again(resp, err, attempts, left, stopping) -> delay | nil, final_err
Whether a failed read is worth another attempt: the delay before it, or nil
(with the error to report when it gave up after several attempts). left:
seconds of the deadline left; stopping: the batch is stopping.
]]
function M.again(resp, err, attempts, left, stopping)
  if not READ_AGAIN[M.classify(resp, err)] then return nil end
  local delay = resp.retry_after or M.backoff(attempts)
  if stopping or attempts >= M.MAX_ATTEMPTS or delay >= left then
    if attempts > 1 then
      return nil, errors.derive(err, { message = string.format("%s (after %d attempts)", err.message, attempts) })
    end
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
  if resp.error_code then return resp.error_code end
  local s = "HTTP " .. tostring(resp.status)
  if err and err.api_name and err.api_code ~= 10000 then s = s .. " " .. err.api_name end
  -- a 2xx is retried only when its body was not a valid reply: say so
  if err and err.kind == "protocol" and not err.api_name then s = s .. ", not a valid API reply" end
  return s
end

return M
