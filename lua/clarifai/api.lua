-- The Clarifai REST surface we use: paths, request bodies and the decoding
-- of every reply into either a document or an error table. Nothing here
-- sends or prints.

local compat = require "clarifai.compat"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local retry = require "clarifai.retry"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

M.SUCCESS = 10000
M.MIXED_STATUS = 10010

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

-- Percent-encodes one path segment (ids are user-chosen strings).
local function seg(s)
  return (s:gsub("[^%w%-._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- /v2/users/{u}/apps/{a}/pipelines
function M.pipelines_path(ref)
  return string.format("/v2/users/%s/apps/%s/pipelines", seg(ref.user_id), seg(ref.app_id))
end

-- /v2/users/{u}/apps/{a}/pipelines/{p}/versions
function M.versions_path(ref)
  return M.pipelines_path(ref) .. "/" .. seg(ref.pipeline_id) .. "/versions"
end

-- The runs on a nodepool, whatever their app, pipeline and version:
-- /v2/users/{cc user}/compute_clusters/{cc}/nodepools/{np}/pipeline_version_runs
function M.nodepool_runs_path(scope)
  return string.format("/v2/users/%s/compute_clusters/%s/nodepools/%s/pipeline_version_runs",
    seg(scope.compute_cluster_user_id), seg(scope.compute_cluster_id), seg(scope.nodepool_id))
end

-- A query value, percent-encoded as a path segment is (RFC 3986's unreserved set kept).
M.query_value = seg

-- The query of a list request: page, per_page and a status_codes filter.
-- Enum values go by name (JOB_RUNNING), as Clarifai's own JSON client sends
-- them (the canonical proto3 JSON mapping, query values included).
function M.list_query(page, per_page, codes)
  local q = { "page=" .. page, "per_page=" .. per_page }
  for _, code in ipairs(codes or {}) do q[#q + 1] = "status_codes=" .. states.name(code) end
  return table.concat(q, "&")
end

--[[
skimmed(path) -> whether a reply to this API path has its long string values
dropped as it arrives (the client's skim): the replies that carry runs (a
run, a version's runs, a nodepool's runs, a PATCH's echo) and pipeline
versions, whose Argo spec and status texts run to hundreds of KB; never log
entries or status logs, whose text is their content.
]]
local SKIMMED = { "/runs$", "/runs/[^/]+$", "/pipeline_version_runs$", "/pipelines$", "/versions$" }
function M.skimmed(path)
  path = path:match("^[^?]*")
  for _, pattern in ipairs(SKIMMED) do
    if path:find(pattern) then return true end
  end
  return false
end

-- A pipeline version's key: runs with the same key share a PATCH's path.
function M.version_key(ref)
  return ref.user_id .. "/" .. ref.app_id .. "/" .. ref.pipeline_id .. "/" .. ref.pipeline_version_id
end

-- The indices of refs by version, versions in the order they first appear:
-- { {i, ...}, ... } (runs of one version can share a PATCH).
function M.by_version(refs)
  local groups, list = {}, {}
  for i, r in ipairs(refs) do
    local key = M.version_key(r)
    local g = groups[key]
    if not g then
      g = {}
      groups[key], list[#list + 1] = g, g
    end
    g[#g + 1] = i
  end
  return list
end

-- /v2/users/{u}/apps/{a}/pipelines/{p}/versions/{v}/runs
function M.runs_path(ref)
  return string.format("/v2/users/%s/apps/%s/pipelines/%s/versions/%s/runs",
    seg(ref.user_id), seg(ref.app_id), seg(ref.pipeline_id), seg(ref.pipeline_version_id))
end

function M.run_path(ref, run_id)
  return M.runs_path(ref) .. "/" .. seg(run_id)
end

-- The PatchPipelineVersionRuns body for one or more runs (a template: this
-- runs once per run of a batch, so it avoids a generic encoder). The state
-- goes by name ("JOB_PAUSED"), as Clarifai's own JSON client sends enums.
local encode_string = require("cjson").encode
function M.patch_body(run_ids, code)
  assert(compat.isinteger(code) and states.by_code[code], "a state code of the table")
  local status = ',"orchestration_status":{"status":{"code":"' .. states.name(code) .. '"}}}'
  local runs = {}
  for i, id in ipairs(run_ids) do runs[i] = '{"id":' .. encode_string(id) .. status end
  return '{"action":"overwrite","pipeline_version_runs":[' .. table.concat(runs, ",") .. ']}'
end

local num = compat.tointeger -- an integral number, or nil

-- A reply's status code: an integer, or the code's name (proto3 JSON allows
-- either for an enum); nil for anything else.
local code_by_name = {}
for code, name in pairs(M.status_names) do code_by_name[name] = code end
local function status_code(v)
  if type(v) == "string" then return code_by_name[v] end
  return num(v)
end

-- Turns a transport failure (a result with error_code) into an error table
-- of the kind clarifai.retry gives it.
local function transport_error(resp, ctx)
  local msg = text.scrub(text.sanitize(resp.error or "transport failure"), ctx.secrets)
  local code = resp.error_code
  local kind = retry.transport_kind(resp)
  local fields = { curl_code = code, sent = resp.sent }
  if code == "ABORTED" then
    return errors.new(kind, resp.sent and "the request was stopped after it was sent"
      or "the request was stopped before it was sent", fields)
  elseif code == "TOO_LARGE" then
    if resp.cap == "received" then
      return errors.new(kind, "the response exceeded the limit on bytes received (" .. (ctx.max_received
        or defaults.max_received) .. " bytes, dropped strings included)", fields)
    end
    return errors.new(kind, "the response exceeded the size limit (" .. (ctx.max_size or defaults.max_size)
      .. " bytes)", fields)
  elseif code == "NO_ANSWER" then
    return errors.new(kind, "no answer from the API: the connection closed after the request was sent (it may "
      .. "have been applied; it was not sent again)", fields)
  elseif kind == "protocol" then
    -- libcurl's answer to a response header beyond its own limit
    return errors.new(kind, "the API sent a response libcurl refused (" .. msg .. "; oversized headers?)", fields)
  elseif kind == "transport" then
    local hint = ""
    if code == "PEER_FAILED_VERIFICATION" or code == "SSL_CACERT_BADFILE" then
      hint = " (set SSL_CERT_FILE or CURL_CA_BUNDLE to a CA bundle that trusts the server)"
    end
    return errors.new(kind, "cannot reach " .. (ctx.base or "the API") .. ": " .. msg .. hint, fields)
  end
  -- sent, then the connection failed: the server may have acted on it.
  return errors.new(kind, "no complete response from the API (" .. msg .. ")", fields)
end

-- A 3xx: redirects are never followed (the token must not travel).
local function redirect_error(resp, fields)
  local loc = (resp.headers or {}).location or resp.redirect_url or "(no Location)"
  loc = text.sanitize(loc:gsub("//[^/@]*@", "//"))
  return errors.new("transport", string.format(
    "the API answered HTTP %d redirecting to %s; redirects are not followed", resp.status, text.truncate(loc, 200)),
    fields)
end

-- A body that is not an API reply (not JSON, or no status.code).
local function malformed_error(resp, doc, jerr, ctx, fields)
  local why = doc == nil and ("a response that is not JSON (" .. text.sanitize(jerr or "") .. ")")
    or "a malformed response (no status.code)"
  local ctype = (resp.headers or {})["content-type"] or "no content type"
  local excerpt = text.scrub(text.sanitize(text.truncate(resp.body or "", 200)), ctx.secrets)
  return errors.new(retry.malformed_kind(resp.status), string.format("the API sent %s: HTTP %d, %s%s", why,
    resp.status, text.sanitize(ctype), excerpt ~= "" and (": " .. excerpt) or ""), fields)
end

local function str(v) return type(v) == "string" and v or nil end

-- A reply whose status.code says no: the API's description, details, code
-- name and req_id, as the Python CLI words them.
local function api_error(resp, st, code, ctx, fields)
  local desc, details, name, req_id = str(st.description) or "", str(st.details), M.status_name(code), str(st.req_id)
  local msg = string.format("Failed to %s: %s.", ctx.what or "call the API", desc:gsub("%.$", ""))
  if details and details ~= "" then msg = msg .. " Details: " .. details:gsub("%.$", "") .. "." end
  msg = msg .. " Code: " .. name .. "."
  if req_id then msg = msg .. " (req_id: " .. req_id .. ")" end
  local kind = retry.reply_kind(resp.status, code)
  -- a mixed answer says each run's state: the batch reads it
  if code == M.MIXED_STATUS and type(fields.reply_runs) == "table" then kind = "api" end
  fields.api_code, fields.api_name, fields.req_id = code, name, req_id
  fields.description = text.scrub(text.sanitize(desc), ctx.secrets)
  fields.details = details and text.scrub(text.sanitize(details), ctx.secrets) or nil
  return errors.new(kind, text.scrub(text.sanitize(msg), ctx.secrets), fields)
end

--[[
decode(resp, ctx) -> doc | nil, err
resp: a result from clarifai.http.core; ctx: { what = "patch pipeline
version run", secrets = {pat}, base = api base } (client:decode_context).
Success needs a JSON object whose status.code is 10000 on a 2xx; the body is
decoded on every HTTP status.
]]
function M.decode(resp, ctx)
  ctx = ctx or {}
  if resp.error_code then return nil, transport_error(resp, ctx) end
  local status = resp.status
  local fields = { http_status = status }
  if status >= 300 and status < 400 then return nil, redirect_error(resp, fields) end
  local doc, jerr = json.decode(resp.body or "")
  if type(doc) ~= "table" or type(doc.status) ~= "table" or not status_code(doc.status.code) then
    return nil, malformed_error(resp, doc, jerr, ctx, fields)
  end
  local code = status_code(doc.status.code)
  if code == M.SUCCESS and status >= 200 and status < 300 then return doc end
  if code == M.MIXED_STATUS then fields.reply_runs = doc.pipeline_version_runs end
  return nil, api_error(resp, doc.status, code, ctx, fields)
end

-- The run object of a decoded GetPipelineVersionRun reply, or nil and a
-- protocol error when the reply has none.
function M.run_of(doc)
  local run = doc.pipeline_version_run
  if type(run) ~= "table" then
    return nil, errors.new("protocol", "the API sent a malformed response: no pipeline_version_run")
  end
  return run
end

-- The run's state code from a PipelineVersionRun object, or nil.
function M.run_state(run)
  if type(run) ~= "table" then return nil end
  local os_ = run.orchestration_status
  if type(os_) ~= "table" or type(os_.status) ~= "table" then return nil end
  return states.code_of(num(os_.status.code) or os_.status.code)
end

return M
