-- Ids in request paths, and completing a run reference.
--
-- Every id (run, user, app, pipeline, version) is checked before anything is
-- sent: it must stay inside its own path segment. Empty, ".", "..", and ids
-- with "/", "?", "#", "%", whitespace, control characters or invalid UTF-8
-- are refused; clarifai.api percent-encodes every other byte outside RFC
-- 3986's unreserved set. Missing scope ids come from ./config-lock.yaml when
-- it exists (read only if something is missing).

local compat = require "clarifai.compat"
local errors = require "clarifai.errors"
local lockfile = require "clarifai.lockfile"
local text = require "clarifai.text"

local M = {}

M.FIELDS = { "user_id", "app_id", "pipeline_id", "pipeline_version_id" }

-- Unicode whitespace and controls beyond ASCII (C1, NBSP, the U+2000 block,
-- line/paragraph separators, ideographic space) and invisible format
-- characters (Cf: BOM, zero-width and bidi controls).
local function bad_codepoint(cp)
  return (cp >= 0x80 and cp <= 0xa0) or cp == 0x1680 or (cp >= 0x2000 and cp <= 0x200b)
    or cp == 0x2028 or cp == 0x2029 or cp == 0x202f or cp == 0x205f or cp == 0x3000 or text.is_format(cp)
end

-- Why v cannot be an id, or nil when it can.
local function problem(v)
  if type(v) ~= "string" then return "is not a string" end
  if v == "" then return "is empty" end
  if v == "." or v == ".." then return "is a dot segment" end
  -- the usual id: letters, digits and "-_.~" only (one scan; runs per id of a batch)
  if not v:find("[^%w%-_.~]") then return nil end
  local c = v:match("[/?#%%]")
  if c then return "contains '" .. c .. "'" end
  if v:find("[%s]") then return "contains whitespace" end
  if v:find("[%z\1-\31\127]") then return "contains a control character" end
  if not v:find("[\128-\255]") then return nil end -- plain ASCII: the usual id
  local i, n = 1, #v
  while i <= n do
    local cp, nxt = compat.utf8_decode(v, i)
    if not cp then return "is not valid UTF-8" end
    if bad_codepoint(cp) then return "contains whitespace, a control or an invisible format character" end
    i = nxt
  end
  return nil
end

--[[
check(value, name [, source]) -> value | nil, err (kind "usage")
name: the id's field ("pipeline_version_run_id", "user_id", ...); source:
where the value came from, for the message ("--user_id", "standard input
line 3", "config-lock.yaml pipeline.user_id").
]]
function M.check(v, name, source)
  local why = problem(v)
  if not why then return v end
  local shown = type(v) == "string" and ("'" .. text.sanitize(text.truncate(v, 80)) .. "'") or tostring(v)
  return nil, errors.new("usage", string.format("invalid %s %s%s: it %s", name, shown,
    source and (" (from " .. source .. ")") or "", why), { field = name, value = v, source = source })
end

-- Lists of ids or refs already checked on the way in: a call checks each id
-- once, and what it hands on (the CLI to the library, apply to wait) is
-- this checked value, not checked again.
local checked = setmetatable({}, { __mode = "k" })
function M.mark(t)
  checked[t] = true
  return t
end
function M.is_checked(t) return checked[t] == true end

-- unique(list, name [, source]) -> the ids in order without repeats | nil, err
-- source(i) (or source[i]) says where the i-th id came from. A list that
-- unique() made is taken as it is.
function M.unique(list, name, source)
  if checked[list] then return list end
  local out, seen = {}, {}
  for i, id in ipairs(list) do
    if problem(id) then
      local where = type(source) == "function" and source(i) or (type(source) == "table" and source[i]) or nil
      return M.check(id, name, where)
    end
    if not seen[id] then
      seen[id] = true
      out[#out + 1] = id
    end
  end
  return M.mark(out)
end

--[[
resolve(ref [, opts]) -> complete copy of ref | nil, err (kind "usage")
opts.dir: where to look for config-lock.yaml (default: the current directory);
opts.lockfile = false: never read it; opts.sources: field -> where the
caller's value came from (for messages); opts.fields: the ids needed (a
selection's scope may need fewer than all four).
The result's `lockfile_used` is true when any id came from the file. A
missing id's error carries `missing` (the fields) and `lockfile` (what was
found: {status, path, message}).
]]
function M.resolve(ref, opts)
  opts = opts or {}
  local sources = opts.sources or {}
  local out = {}
  for k, v in pairs(ref) do out[k] = v end
  local missing = {}
  for _, f in ipairs(opts.fields or M.FIELDS) do
    if out[f] == nil or out[f] == "" then
      out[f] = nil
      missing[#missing + 1] = f
    else
      local ok, err = M.check(out[f], f, sources[f])
      if not ok then return nil, err end
    end
  end
  if #missing == 0 then return out end

  local lock = { status = "absent", path = lockfile.NAME }
  if opts.lockfile ~= false then lock = lockfile.read(opts.dir) end
  if lock.status == "ok" then
    local still = {}
    for _, f in ipairs(missing) do
      local v = lock.ids[f]
      local wrong = lock.wrong and lock.wrong[f]
      if wrong then
        return nil, errors.new("usage", string.format("%s pipeline.%s is %s, not an id (give --%s)", lockfile.NAME,
          lockfile.key_of(f), wrong, f), { field = f, source = lockfile.NAME })
      end
      if v then
        local ok, err = M.check(v, f, lockfile.NAME .. " pipeline." .. lockfile.key_of(f))
        if not ok then return nil, err end
        out[f] = v
        out.lockfile_used = true
      else
        still[#still + 1] = f
      end
    end
    if #still == 0 then return out end
    missing = still
  end

  local why
  if lock.status == "absent" then
    why = lockfile.NAME .. " was not found in the current directory"
  elseif lock.status == "invalid" then
    why = lockfile.NAME .. " is invalid: " .. lock.message
  else
    local keys = {}
    for i, f in ipairs(missing) do keys[i] = "pipeline." .. lockfile.key_of(f) end
    why = lockfile.NAME .. " has no " .. table.concat(keys, ", ")
  end
  return nil, errors.new("usage", "missing " .. table.concat(missing, ", ") .. ": " .. why,
    { missing = missing, lockfile = { status = lock.status, path = lock.path, message = lock.message } })
end

return M
