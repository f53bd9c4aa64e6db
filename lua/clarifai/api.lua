-- The Clarifai REST surface we use: paths, request bodies and the decoding
-- of every reply into either a document or an error table. Nothing here
-- sends or prints.

local errors = require "clarifai.errors"
local json = require "clarifai.json"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

M.SUCCESS = 10000

-- Status code names (status_code.proto) for the codes this tool may meet.
M.status_names = {
  [0] = "ZERO", [10000] = "SUCCESS", [10010] = "MIXED_STATUS", [10020] = "FAILURE",
  [10030] = "TRY_AGAIN", [10040] = "NOT_IMPLEMENTED", [10050] = "MOVED", [10070] = "ACCEPTED",
  [11000] = "CONN_ACCOUNT_ISSUES", [11001] = "CONN_TOKEN_INVALID",
  [11002] = "CONN_CREDENTIALS_INVALID", [11003] = "CONN_EXCEED_HOURLY_LIMIT",
  [11004] = "CONN_EXCEED_MONTHLY_LIMIT", [11005] = "CONN_THROTTLED",
  [11006] = "CONN_EXCEEDS_LIMITS", [11007] = "CONN_INSUFFICIENT_SCOPES",
  [11008] = "CONN_KEY_INVALID", [11009] = "CONN_KEY_NOT_FOUND",
  [11100] = "CONN_BAD_REQUEST_FORMAT", [11101] = "CONN_DOES_NOT_EXIST",
  [11102] = "CONN_INVALID_REQUEST", [11103] = "CONN_METHOD_NOT_ALLOWED",
  [11104] = "CONN_NO_GDPR_CONSENT", [11105] = "CONN_INVALID_RANGE",
  [11200] = "CONN_AUTH_METHOD_DISABLED",
  [26200] = "PIPELINE_STEP_DOES_NOT_EXIST", [26201] = "PIPELINE_STEP_INVALID_ARGUMENT",
  [26202] = "PIPELINE_STEP_INVALID_REQUEST",
  [26300] = "PIPELINE_DOES_NOT_EXIST", [26301] = "PIPELINE_INVALID_ARGUMENT",
  [26302] = "PIPELINE_INVALID_REQUEST",
  [70000] = "LOG_ENTRIES_INVALID_REQUEST",
  [90400] = "BAD_REQUEST", [90500] = "SERVER_ERROR",
  [98004] = "INTERNAL_SERVER_ISSUE", [99001] = "CONN_UNCATEGORIZED",
  [99009] = "INTERNAL_UNCATEGORIZED",
}
for _, s in ipairs(states.list) do M.status_names[s.code] = s.name end

function M.status_name(code)
  return M.status_names[code] or tostring(code)
end

-- Codes meaning the credentials were refused.
local AUTH_CODES = {
  [11000] = true, [11001] = true, [11002] = true, [11007] = true, [11008] = true,
  [11009] = true, [11102] = true, [11200] = true,
}
-- Codes meaning "rejected before processing, try later".
local THROTTLE_CODES = { [11003] = true, [11005] = true, [10030] = true }

-- Percent-encodes one path segment (ids are user-chosen strings).
local function seg(s)
  return (s:gsub("[^%w%-._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
M.segment = seg

-- /v2/users/{u}/apps/{a}/pipelines/{p}/versions/{v}/runs
function M.runs_path(ref)
  return string.format("/v2/users/%s/apps/%s/pipelines/%s/versions/%s/runs",
    seg(ref.user_id), seg(ref.app_id), seg(ref.pipeline_id), seg(ref.pipeline_version_id))
end

function M.run_path(ref, run_id)
  return M.runs_path(ref) .. "/" .. seg(run_id)
end

-- The PatchPipelineVersionRuns body for one or more runs (a template: this
-- runs once per run of a batch, so it avoids a generic encoder).
local encode_string = require("cjson").encode
function M.patch_body(run_ids, code)
  assert(math.type(code) == "integer", "state code must be an integer")
  local runs = {}
  for i, id in ipairs(run_ids) do
    runs[i] = '{"id":' .. encode_string(id) .. ',"orchestration_status":{"status":{"code":' .. code .. '}}}'
  end
  return '{"action":"overwrite","pipeline_version_runs":[' .. table.concat(runs, ",") .. ']}'
end

local function num(v)
  if math.type(v) == "integer" then return v end
  if type(v) == "number" and v == math.floor(v) then return math.tointeger(v) end
  return nil
end

local NOT_SENT = {
  COULDNT_RESOLVE_HOST = true, COULDNT_RESOLVE_PROXY = true, COULDNT_CONNECT = true,
  SSL_CONNECT_ERROR = true, PEER_FAILED_VERIFICATION = true, SSL_CACERT_BADFILE = true,
  SSL_CERTPROBLEM = true, SSL_CIPHER = true, UNSUPPORTED_PROTOCOL = true, URL_MALFORMAT = true,
  PROXY = true, SSL_ISSUER_ERROR = true,
}

-- Turns a transport failure (a result with error_code) into an error table.
local function transport_error(resp, ctx)
  local msg = text.scrub(text.sanitize(resp.error or "transport failure"), ctx.secrets)
  local code = resp.error_code
  local fields = { curl_code = code, sent = resp.sent }
  if code == "ABORTED" then
    if resp.sent then
      return errors.new("unknown", "the request was stopped after it was sent", fields)
    end
    return errors.new("not_sent", "the request was stopped before it was sent", fields)
  elseif code == "TOO_LARGE" then
    return errors.new("protocol", "the response exceeded the size limit ("
      .. (ctx.max_size or 1048576) .. " bytes)", fields)
  elseif code == "OUT_OF_MEMORY" and resp.responded then
    -- libcurl's answer to a response header beyond its own limit
    return errors.new("protocol", "the API sent a response libcurl refused (" .. msg
      .. "; oversized headers?)", fields)
  elseif NOT_SENT[code] or not resp.sent then
    local hint = ""
    if code == "PEER_FAILED_VERIFICATION" or code == "SSL_CACERT_BADFILE" then
      hint = " (set SSL_CERT_FILE or CURL_CA_BUNDLE to a CA bundle that trusts the server)"
    end
    return errors.new("transport", "cannot reach " .. (ctx.base or "the API") .. ": " .. msg .. hint, fields)
  end
  -- sent, then the connection failed: the server may have acted on it.
  return errors.new("unknown", "no complete response from the API (" .. msg .. ")", fields)
end

--[[
decode(resp, ctx) -> doc | nil, err
resp: a result from clarifai.http; ctx: { what = "patch pipeline version run",
secrets = {pat}, base = api base }. Success needs a JSON object whose
status.code is 10000; the body is decoded on every HTTP status.
]]
function M.decode(resp, ctx)
  ctx = ctx or {}
  if resp.error_code then return nil, transport_error(resp, ctx) end
  local status = resp.status
  local headers = resp.headers or {}
  local fields = { http_status = status }
  if status >= 300 and status < 400 then
    local loc = headers.location or resp.redirect_url or "(no Location)"
    loc = text.sanitize(loc:gsub("//[^/@]*@", "//"))
    return nil, errors.new("transport", string.format(
      "the API answered HTTP %d redirecting to %s; redirects are not followed", status, text.truncate(loc, 200)),
      fields)
  end
  local body = resp.body or ""
  local doc, jerr = json.decode(body)
  if type(doc) ~= "table" or type(doc.status) ~= "table" or not num(doc.status.code) then
    local kind = "protocol"
    if status == 429 or status == 503 then kind = "transient"
    elseif status == 500 or status == 502 or status == 504 then kind = "unknown" end
    local ctype = headers["content-type"] or "no content type"
    local why
    if doc == nil then
      why = "a response that is not JSON (" .. text.sanitize(jerr or "") .. ")"
    else
      why = "a malformed response (no integer status.code)"
    end
    local excerpt = text.scrub(text.sanitize(text.truncate(body, 200)), ctx.secrets)
    return nil, errors.new(kind, string.format("the API sent %s: HTTP %d, %s%s", why, status,
      text.sanitize(ctype), excerpt ~= "" and (": " .. excerpt) or ""), fields)
  end

  local st = doc.status
  local code = num(st.code)
  if code == M.SUCCESS and status >= 200 and status < 300 then return doc end

  local function str(v) return type(v) == "string" and v or nil end
  local desc = str(st.description) or ""
  local details = str(st.details)
  local name = M.status_name(code)
  local req_id = str(st.req_id)
  local msg = string.format("Failed to %s: %s.", ctx.what or "call the API", desc:gsub("%.$", ""))
  if details and details ~= "" then msg = msg .. " Details: " .. details:gsub("%.$", "") .. "." end
  msg = msg .. " Code: " .. name .. "."
  if req_id then msg = msg .. " (req_id: " .. req_id .. ")" end
  msg = text.scrub(text.sanitize(msg), ctx.secrets)

  local kind = "api"
  if AUTH_CODES[code] or status == 401 or status == 403 then kind = "auth"
  elseif THROTTLE_CODES[code] or status == 429 or status == 503 then kind = "transient"
  elseif status == 500 or status == 502 or status == 504 then kind = "unknown"
  elseif code == M.SUCCESS then kind = "protocol" end
  fields.api_code, fields.api_name, fields.req_id = code, name, req_id
  fields.description = text.scrub(text.sanitize(desc), ctx.secrets)
  fields.details = details and text.scrub(text.sanitize(details), ctx.secrets) or nil
  return nil, errors.new(kind, msg, fields)
end

-- The run's state code from a PipelineVersionRun object, or nil.
function M.run_state(run)
  if type(run) ~= "table" then return nil end
  local os_ = run.orchestration_status
  if type(os_) ~= "table" or type(os_.status) ~= "table" then return nil end
  return states.code_of(num(os_.status.code) or os_.status.code)
end

return M
