-- `pause|cancel|resume --all | --status S`: selecting the runs a change
-- applies to instead of naming them. Checks the flags, builds the scope
-- (one version by default; --all-versions, --all-pipelines, a nodepool),
-- lists the runs (runs.select), and either previews them (--dry-run) or asks
-- for consent before anything is changed.

local common = require "clarifai.cli.common"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local SCOPE_FLAGS = { "all_versions", "all_pipelines", "nodepool_id", "compute_cluster_id", "compute_cluster_user_id" }
local SELECT_FLAGS = { "older_than", "limit" }

local function flag(name) return require("clarifai.cli.flags").name_of(name) end
local function usage(msg) return nil, errors.new("usage", msg) end

-- Does the command select runs (rather than name them)?
function M.is(args) return args.all or args.status ~= nil end

-- The states a selection asks for: the action's own, or --status's (each
-- one the action applies to) | nil, err.
local function codes_of(action, args)
  local from = states.actions[action].from
  if not args.status then return from end
  local allowed, names = {}, {}
  for _, code in ipairs(from) do
    allowed[code] = true
    names[#names + 1] = states.short(code):lower()
  end
  local codes = {}
  local status_codes = require("clarifai.runs").status_codes
  for part in args.status:gmatch("[^,%s]+") do
    local code = (status_codes({ part }) or {})[1]
    if not code or not allowed[code] then
      return usage(string.format("--status %s: %s applies only to runs in these states: %s",
        text.sanitize(part), action, table.concat(names, ", ")))
    end
    codes[#codes + 1] = code
  end
  if #codes == 0 then return usage("--status needs at least one state") end
  return codes
end

--[[
check_flags(args) -> selecting | nil, err
The rules every command that names or selects runs shares: ids or `-`
never with --all/--status; --older-than, --limit and the scope flags only
with them. selecting: whether --all or --status was given.
]]
function M.check_flags(args)
  if not M.is(args) then
    for _, f in ipairs(SELECT_FLAGS) do
      if args[f] ~= nil then return usage(flag(f) .. " selects runs: use it with --all or --status") end
    end
    for _, f in ipairs(SCOPE_FLAGS) do
      if args[f] ~= nil then return usage(flag(f) .. " widens a selection: use it with --all or --status") end
    end
    return false
  end
  if #(args.ids or {}) > 0 or args.pipeline_version_run_id then
    return usage("name the runs (ids or -) or select them (--all, --status), not both")
  end
  return true
end

--[[
check(action, args) -> codes | false (no selection) | nil, err
check_flags' rules and -o ids only for --dry-run of a selection; the
states the selection asks for.
]]
function M.check(action, args)
  local selecting, err = M.check_flags(args)
  if selecting == nil then return nil, err end
  if not selecting then
    if args.output == "ids" then return usage("-o ids lists the runs a selection would change: use it with "
      .. "--all or --status and --dry-run") end
    return false
  end
  if args.output == "ids" and not args.dry_run then
    return usage("-o ids lists what a selection would change: use it with --dry-run")
  end
  return codes_of(action, args)
end

-- The scope the flags (and config-lock.yaml) give | nil, err. The nodepool
-- rule (both ids, the cluster's owner) is clarifai.select's.
function M.scope(args)
  local ids = require "clarifai.ids"
  if args.nodepool_id or args.compute_cluster_id then
    local lock = require("clarifai.lockfile").read()
    local ids_there = lock.status == "ok" and lock.ids or {}
    if ids_there.app_id or ids_there.pipeline_id or ids_there.pipeline_version_id then
      output.err("warning: config-lock.yaml's app, pipeline and version ids are ignored for a nodepool scope "
        .. "(give --app_id, --pipeline_id or --pipeline_version_id to narrow it)")
    end
    local scope = { nodepool_id = args.nodepool_id, compute_cluster_id = args.compute_cluster_id,
      compute_cluster_user_id = args.compute_cluster_user_id, user_id = args.user_id or ids_there.user_id,
      app_id = args.app_id, pipeline_id = args.pipeline_id, pipeline_version_id = args.pipeline_version_id }
    for f, v in pairs(scope) do
      local ok, err = ids.check(v, f, "--" .. f)
      if not ok then return nil, err end
    end
    scope.all_versions, scope.all_pipelines = args.all_versions, args.all_pipelines
    return require("clarifai.select").checked_scope("clarifai pr", scope)
  end
  local fields = args.all_pipelines and { "user_id", "app_id" }
    or args.all_versions and { "user_id", "app_id", "pipeline_id" } or nil
  local ref, sources = common.ref_from(args)
  local full, err = ids.resolve(ref, { sources = sources, fields = fields })
  if not full then return nil, err end
  full.all_versions, full.all_pipelines = args.all_versions, args.all_pipelines
  return full
end

-- "p/v: 120" lines of a selection's counts.
local function count_lines(counts, nodepool)
  local rows = {}
  for k, c in ipairs(counts) do
    local where = c.pipeline_id .. "/" .. c.pipeline_version_id
    if nodepool then where = c.user_id .. "/" .. c.app_id .. "/" .. where end
    rows[k] = { where, tostring(c.n) }
  end
  local out = common.table_lines(nil, rows)
  for k, l in ipairs(out) do out[k] = "  " .. l end
  return out
end

--[[
consent(action, refs, counts, args) -> true | nil, err
A selection changes nothing without consent: -y/--yes, or yes at the
terminal's prompt (which shows the count per version). No terminal to ask
on: a usage error naming the count (exit 2); no: declined (exit 8).
]]
function M.consent(action, refs, counts, args)
  if args.yes then return true end
  local past = states.actions[action].past
  local what = string.format("%s %d run%s in %d version%s", action, #refs, #refs == 1 and "" or "s", #counts,
    #counts == 1 and "" or "s")
  local lines = count_lines(counts, args.nodepool_id ~= nil)
  if #lines > 20 then
    lines = { table.concat(lines, "\n", 1, 20), string.format("  … and %d more versions", #lines - 20) }
  end
  local answer = common.ask(string.format("%s%s?\n%s\n%s[y/N] ", what:sub(1, 1):upper(), what:sub(2),
    table.concat(lines, "\n"), action == "cancel" and "Cancelled runs cannot be resumed. " or ""))
  if answer == nil then
    return nil, errors.new("usage", string.format("this would %s; give -y/--yes to go ahead (there is no terminal "
      .. "to ask on)", what))
  end
  if not answer then
    return nil, errors.new("declined", "declined at the prompt; nothing was sent (no run was " .. past .. ")")
  end
  return true
end

--[[
preview(action, refs, info, args, c) -> exit code
--dry-run of a selection: what it selected, per version (text), its ids
(-o ids, one version), or {"dry_run":true,"selected","counts","requests"}
(-o json; -o jsonl: a line per run, then the counts). No PATCH is sent.
]]
function M.preview(action, refs, info, args, c)
  local mode = args.output
  if mode == "ids" then
    if #info.counts > 1 then
      return usage("the selection spans " .. #info.counts .. " versions: -o ids would lose which; use -o jsonl")
    end
    for _, r in ipairs(refs) do output.out(r.run_id) end
    return 0
  end
  local selected = json.array()
  for k, r in ipairs(refs) do
    selected[k] = { user_id = r.user_id, app_id = r.app_id, pipeline_id = r.pipeline_id,
      pipeline_version_id = r.pipeline_version_id, run_id = r.run_id }
  end
  local runs = require "clarifai.runs"
  -- the one planner: the requests the real run sends first
  local plan, _, perr = runs.plan(action, refs, { client = c, group_size = args.group_size })
  if not plan then return nil, perr end
  local dryrun = require "clarifai.cli.dryrun"
  if mode == "jsonl" then
    for _, s in ipairs(selected) do common.print_json(s) end
    common.print_json({ counts = info.counts })
    dryrun.failures(plan)
  elseif mode == "json" then
    local views, failed = json.array(), json.array()
    for k, req in ipairs(plan.requests) do views[k] = dryrun.view(req) end
    for k, r in ipairs(plan.failed) do failed[k] = runs.result_view(r) end
    common.print_json({ dry_run = true, selected = selected, counts = info.counts, requests = views, failed = failed })
  elseif #refs == 0 then
    output.out("Would " .. action .. " no run: none matches the selection.")
  else
    output.out(string.format("Would %s %d run%s in %d version%s:", action, #refs, #refs == 1 and "" or "s",
      #info.counts, #info.counts == 1 and "" or "s"))
    for _, line in ipairs(count_lines(info.counts, args.nodepool_id ~= nil)) do output.out(line) end
    dryrun.failures(plan)
  end
  output.flush_out()
  if output.gone then return 0 end -- its reader went away: nothing more to say (exit 141)
  output.err(string.format("Nothing was sent: %d listing request%s, no PATCH.", info.requests,
    info.requests == 1 and "" or "s"))
  return 0
end

--[[
prepare(action, args, codes) -> { refs }, client | exit code | nil, err
The selection's runs, previewed or consented to.
]]
function M.prepare(action, args, codes)
  local scope, serr = M.scope(args)
  if not scope then return nil, serr end
  local c, cerr = common.make_client(args)
  if not c then return nil, cerr end
  local refs, info, lerr = require("clarifai.runs").select(scope, { states = codes, older_than = args.older_than,
    limit = args.limit }, { client = c, parallel = args.parallel, on_retry = common.retry_note,
    should_stop = function() return output.broken end, on_progress = common.listing_progress(args) })
  output.end_progress()
  if not refs then
    if lerr.kind == "interrupted" then
      return common.stopped_reading(lerr.signal, "listing the selection; nothing was changed")
    end
    return nil, lerr
  end
  if args.dry_run then return M.preview(action, refs, info, args, c) end
  if #refs == 0 then
    output.err("no runs match the selection: nothing to do")
    return 0
  end
  local ok, err = M.consent(action, refs, info.counts, args)
  if not ok then return nil, err end
  return { refs = refs }, c
end

return M
