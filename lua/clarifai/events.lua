-- Following a selection of runs over time (`clarifai.watch.events`, and the
-- `watch` command): each poll lists the selection (every version once,
-- through the paging cursor, with the server's status filter when the
-- selection names states) and compares what it sees with what it saw:
--   new     a run seen for the first time (on the first poll: every run,
--           unless quiet_start)
--   change  a run seen in another state than last time (from -> to)
--   left    a run no longer listed: it left the listed states. It is read
--           once with a GET (its new state) and no longer followed.
-- Polls see states, not transitions: a run that passes through a state
-- between two polls is reported from the state seen before to the state
-- seen now. A run whose version could not be listed in full (a server that
-- ignores paging) is not taken to have left. A few runs named in one
-- version are read with a GET each instead of listing it (Events:poll).

local api = require "clarifai.api"
local args = require "clarifai.args"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local json = require "clarifai.json"
local reads = require "clarifai.reads"
local retry = require "clarifai.retry"
local select_mod = require "clarifai.select"
local states = require "clarifai.states"
local timefmt = require "clarifai.timefmt"
local transport = require "clarifai.transport"

local M = {}

M.FILTER = args.spec(select_mod.FILTER, { run_ids = "list" })
M.OPTS = args.spec(args.CALL, args.POLL, { interval = "wait_interval", timeout = "watch_timeout",
  ["until"] = "list", quiet_start = "boolean", parallel = "parallel", on_error = "function", now = "function" })

local Events = {}
Events.__index = Events

local function short(code) return code and states.short(code) or nil end

-- An event as the command's -o jsonl shows it (and a ref apply takes).
function Events:event(kind, ref, from, to)
  local q = self.queue
  q[#q + 1] = { time = (timefmt.format(math.floor(self.now())):gsub("%.%d+Z$", "Z")), event = kind,
    run_id = ref.run_id, user_id = ref.user_id, app_id = ref.app_id, pipeline_id = ref.pipeline_id,
    pipeline_version_id = ref.pipeline_version_id, from = short(from) or json.null, to = short(to) or json.null }
  self.counts[kind] = self.counts[kind] + 1
end

local function key_of(ref) return api.version_key(ref) .. "/" .. ref.run_id end

-- The runs a poll listed: new and changed ones reported; returns the keys seen.
function Events:take(refs)
  local seen = {}
  for _, ref in ipairs(refs) do
    local key = key_of(ref)
    if not self.ids or self.ids[ref.run_id] then
      seen[key] = true
      local f = self.followed[key]
      if not f then
        f = { ref = ref, code = ref.state_code }
        self.followed[key], self.all[key] = f, f
        if not (self.polls == 1 and self.quiet_start) then self:event("new", ref, nil, ref.state_code) end
      elseif f.code ~= ref.state_code then
        self:event("change", ref, f.code, ref.state_code)
        f.code = ref.state_code
      end
    end
  end
  return seen
end

-- Is a state one the listing shows (the selection's states, or any)?
function Events:listed(code)
  return not self.codes_set or self.codes_set[code] == true
end

-- The followed runs the poll did not show (their version listed in full):
-- each read once; the ones that left the listed states reported and dropped.
function Events:gone(seen, incomplete)
  local away = {}
  for key, f in pairs(self.followed) do
    if not seen[key] and not incomplete[api.version_key(f.ref)] and not incomplete.nodepool then
      away[#away + 1] = key
    end
  end
  if #away == 0 then return true end
  table.sort(away)
  local paths, labels = {}, {}
  for k, key in ipairs(away) do
    local ref = self.followed[key].ref
    paths[k], labels[k] = api.run_path(ref, ref.run_id), "read of run " .. ref.run_id
  end
  local got, res = reads.fetch(self.c, paths, { what = "get pipeline version run", labels = labels,
    parallel = self.opts.parallel, on_retry = self.opts.on_retry, should_stop = self.opts.should_stop })
  if res.stopped then return false end
  for k, key in ipairs(away) do
    local f, doc, err = self.followed[key], got[k][1], got[k][2]
    local run
    if doc then run, err = api.run_of(doc) end
    local code = run and api.run_state(run)
    if run and code and self:listed(code) then
      -- still in a listed state (a listing that missed it, or the selection's age or count cut): followed still
      if code ~= f.code then self:event("change", f.ref, f.code, code) f.code = code end
    elseif run or (err and err.http_status == 404) then
      self:event("left", f.ref, f.code, code)
      f.code, self.followed[key] = code, nil
    elseif self.opts.on_error then
      self.opts.on_error(err) -- read again next poll
    end
  end
  return true
end

-- Named runs of one version, each read with a GET (see Events:poll): the
-- listed ones taken as a listing would show them, the followed ones that
-- left the listed states (or are gone) reported and dropped. false on a
-- stop; nil, err when the watch cannot go on.
function Events:read_named()
  local ids, version = self.filter.run_ids, self.version
  local paths, labels = {}, {}
  for k, id in ipairs(ids) do paths[k], labels[k] = api.run_path(version, id), "read of run " .. id end
  local got, res = reads.fetch(self.c, paths, { what = "get pipeline version run", labels = labels,
    parallel = self.opts.parallel, on_retry = self.opts.on_retry, should_stop = self.opts.should_stop })
  if res.stopped then return false end
  local refs = {}
  for k, id in ipairs(ids) do
    local doc, err = got[k][1], got[k][2]
    local run
    if doc then run, err = api.run_of(doc) end
    local code = run and api.run_state(run)
    local key = api.version_key(version) .. "/" .. id
    local f = self.followed[key]
    if run and code and self:listed(code) then
      refs[#refs + 1] = select_mod.ref_of(run, version)
    elseif run or (err and err.http_status == 404) then
      if f then
        self:event("left", f.ref, f.code, code)
        f.code, self.followed[key] = code, nil
      end
    elseif not retry.passing(err) then
      return nil, err
    elseif self.opts.on_error then
      self.opts.on_error(err) -- read again next poll
    end
  end
  self:take(select_mod.shape(refs, self.filter, self.now()))
  return true
end

-- One poll: the listing, then the runs that left. Named runs of one version
-- are read with a GET each instead while that takes fewer requests than
-- listing the version (reads.by_list, the read-back policy: never a list
-- for one or two runs). false on a stop; nil, err when the watch cannot go on.
function Events:poll()
  self.polls = self.polls + 1
  local ids = self.version and self.filter.run_ids
  if ids and not reads.by_list(self.pages or math.ceil(#ids / defaults.api_per_page), #ids) then
    return self:read_named()
  end
  local info = { requests = 0, versions = 0, listed = 0 }
  local refs, incomplete = self.listing:list(info)
  self.pages = info.requests
  if not refs then
    local err = incomplete
    if err.kind == "interrupted" then return false end
    if not retry.passing(err) then return nil, err end
    if self.opts.on_error then self.opts.on_error(err) end
    return true
  end
  refs = select_mod.shape(refs, self.filter, self.now())
  return self:gone(self:take(refs), incomplete)
end

-- Does --until hold: every followed run in an until state or a terminal one?
function Events:done()
  if not self.until_set then return false end
  for _, f in pairs(self.followed) do
    if not (self.until_set[f.code] or states.is_terminal(f.code)) then return false end
  end
  return true
end

-- How the watch ended, once it has: 0 when every run ended in an until
-- state (or none ended), 1 when one ended in another terminal state.
function Events:outcome()
  for _, f in pairs(self.all) do
    if f.code and states.is_terminal(f.code) and not (self.until_set and self.until_set[f.code]) then return 1 end
  end
  return 0
end

function Events:finish(how, err)
  self.ended, self.error = how, err
  if how == "until" then self.exit_code = self:outcome()
  elseif how == "timeout" then self.exit_code = errors.exit_codes.timeout
  elseif how == "stopped" then
    self.signal = transport.signal()
    self.exit_code = errors.signal_exit(self.signal) or errors.exit_codes.interrupted
  else self.exit_code = err and err.exit_code or 1 end
  return nil
end

-- The iterator: the next event, polling (and sleeping between polls) while
-- there is none; nil once the watch has ended (events.ended says how).
function Events:__call()
  while true do
    if self.head <= #self.queue then
      local ev = self.queue[self.head]
      self.queue[self.head], self.head = nil, self.head + 1
      return ev
    end
    self.queue, self.head = {}, 1
    if self.ended then return nil end
    if self.polls > 0 then
      if self:done() then return self:finish("until") end
      local left = self.deadline and (self.deadline - self.clock()) or math.huge
      if left <= 0 then return self:finish("timeout") end
      if not self.sleep(math.min(self.interval, left)) or (self.opts.should_stop and self.opts.should_stop()) then
        return self:finish("stopped")
      end
    end
    local ok, err = self:poll()
    if ok == false then return self:finish("stopped") end
    if ok == nil then return self:finish("error", err) end
  end
end

--[[
events(scope, filter, opts) -> events | nil, err
scope and filter as runs.select takes them (filter may also name run_ids:
only those runs); opts: interval (default --wait's), timeout (seconds, 0 or
nil: none), until (state names or codes), quiet_start, parallel, on_error,
and the client/config options. The result is the iterator, and after the
loop says how it ended: ended ("until", "timeout", "stopped", "error"),
error, exit_code, signal, counts {polls, new, change, left}.
]]
function M.events(scope, filter, opts)
  local fn = "clarifai.watch.events"
  local sc, serr = select_mod.checked_scope(fn, scope)
  filter = args.opts(fn, filter, M.FILTER, "filter")
  opts = args.opts(fn, opts, M.OPTS)
  if not sc then return nil, serr end
  local status_codes = require("clarifai.runs").status_codes
  local codes, _, cerr = status_codes(filter.states)
  if not codes then return nil, cerr end
  local until_codes, _, uerr = status_codes(opts["until"])
  if not until_codes then return nil, uerr end
  local c, clerr = transport.client(opts)
  if not c then return nil, clerr end
  local self = setmetatable({ c = c, filter = filter, opts = opts, followed = {}, all = {}, queue = {}, head = 1,
    polls = 0, quiet_start = opts.quiet_start, counts = { new = 0, change = 0, left = 0 },
    clock = opts.clock or transport.now, sleep = opts.sleep or transport.sleep, now = opts.now or os.time,
    interval = opts.interval or defaults.wait_interval }, Events)
  if #codes > 0 then
    self.codes_set = {}
    for _, code in ipairs(codes) do self.codes_set[code] = true end
  end
  if opts["until"] then
    self.until_set = {}
    for _, code in ipairs(until_codes) do self.until_set[code] = true end
  end
  if filter.run_ids then
    self.ids = {}
    for _, id in ipairs(filter.run_ids) do self.ids[id] = true end
    -- runs named in one version can be read one by one (Events:poll)
    if not (select_mod.is_nodepool(sc) or sc.all_versions or sc.all_pipelines) then self.version = sc end
  end
  if opts.timeout and opts.timeout > 0 then self.deadline = self.clock() + opts.timeout end
  self.listing = select_mod.listing(c, sc, #codes > 0 and codes or nil,
    { parallel = opts.parallel, on_retry = opts.on_retry, should_stop = opts.should_stop })
  return self
end

return M
