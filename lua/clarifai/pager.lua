-- The one paging cursor. Every listing goes through it: the runs of a
-- version, pipelines, versions, the runs on a nodepool, status logs (forward:
-- page 1, 2, ... until a short page) and log entries (tail: the last page
-- first, as ListLogEntries pages them). A cursor owns its query, its page
-- size and its stop rules, and says why it stopped; it never sends a request
-- itself (whoever drives it does: reads.fetch round by round, or a batch's
-- exchange), so the same cursor serves blocking calls, workflows and batches.
--
-- Forward stop rules, in order:
--   "end"       a short page: the list is complete (the only complete end)
--   "repeated"  a full page that brings no item not seen before: the
--               server ignores `page` (it answers the first page again)
--   "items"     more items than max_items
--   "pages"     max_pages pages read
--   "deadline"  the deadline passed
-- Anything that acts on a list checks complete() first: a list that could
-- not be complete is never taken for the whole.

local api = require "clarifai.api"
local defaults = require "clarifai.defaults"
local errors = require "clarifai.errors"
local transport = require "clarifai.transport"

local M = {}

M.WHY = {
  ["end"] = "the list ended",
  repeated = "the server ignored paging (page %d brought nothing new)",
  items = "the list has more than %d items",
  pages = "stopped after %d pages",
  deadline = "the deadline passed while listing",
}

local Cursor = {}
Cursor.__index = Cursor

local function id_of(item) return type(item) == "table" and type(item.id) == "string" and item.id or nil end

--[[
forward{ path, field, codes?, query?, per_page?, key?, max_items?, max_pages?, deadline? } -> cursor
path: the list endpoint; field: the reply's list field; codes: a status
filter (sent by name); query: more of the query ("a=b&c=d", encoded);
per_page: default the API's own size; key(item) ->
an id that recognises an item seen before (default item.id); max_items: the
most items wanted (more ends it, reason "items"); max_pages (default: as
many as max_items needs, plus one); deadline: a time on transport.now()'s
clock.
]]
function M.forward(o)
  local per_page = o.per_page or defaults.api_per_page
  local max_items = o.max_items or defaults.list_max
  return setmetatable({
    path = o.path, field = o.field, codes = o.codes, query = o.query, per_page = per_page, key = o.key or id_of,
    max_items = max_items, max_pages = o.max_pages or (math.ceil(max_items / per_page) + 1),
    deadline = o.deadline, page = o.page or 1, seen = {}, count = 0, pages = 0, done = false, reason = nil,
  }, Cursor)
end

-- The request for the next page, or nil when the cursor is done.
function Cursor:next_path()
  if self.done then return nil end
  if self.deadline and transport.now() >= self.deadline then return self:stop("deadline") end
  local q = api.list_query(self.page, self.per_page, self.codes)
  return self.path .. "?" .. (self.query and (q .. "&" .. self.query) or q)
end

function Cursor:stop(reason)
  self.done, self.reason = true, reason
  return nil
end

-- The reply's list, or nil and a protocol error.
local function list_of(doc, field)
  local items = doc[field]
  if items == nil then return {} end
  if type(items) ~= "table" then
    return nil, errors.new("protocol", "the API sent a malformed response: '" .. field .. "' is not a list")
  end
  return items
end

-- feed(doc) -> the page's items not seen before (in order) | nil, err.
-- Moves the cursor on, or ends it with its reason.
function Cursor:feed(doc)
  local items, err = list_of(doc, self.field)
  if not items then
    self:stop("error")
    return nil, err
  end
  self.pages = self.pages + 1
  local fresh = {}
  for _, item in ipairs(items) do
    local k = self.key(item)
    if k == nil or not self.seen[k] then
      if k ~= nil then self.seen[k] = true end
      fresh[#fresh + 1] = item
    end
  end
  self.count = self.count + #fresh
  if #items < self.per_page then
    self:stop("end")
  elseif #fresh == 0 then
    self:stop("repeated")
  elseif self.count > self.max_items then
    self:stop("items")
  elseif self.pages >= self.max_pages then
    self:stop("pages")
  else
    self.page = self.page + 1
  end
  return fresh
end

function Cursor:complete() return self.reason == "end" end

-- Why it stopped, in words ("the server ignored paging (page 2 brought nothing new)").
function Cursor:why()
  local r = self.reason
  if r == "repeated" then return string.format(M.WHY.repeated, self.page) end
  if r == "items" then return string.format(M.WHY.items, self.max_items) end
  if r == "pages" then return string.format(M.WHY.pages, self.pages) end
  return M.WHY[r] or tostring(r)
end

--[[
walk(client, cursors, opts) -> true | nil, err
Reads every cursor's pages, all cursors at once, round by round (one GET
per open cursor a round, retried as reads are), until each is done.
opts.on_items(k, items, cursor) gets each page's new items of cursor k; an
error it returns ends the walk with that error. opts: what, parallel,
on_retry, should_stop, on_items. A stop (a signal, should_stop) ends it:
nil and an "interrupted" error with the signal.
]]
function M.walk(c, cursors, opts)
  local reads = require "clarifai.reads"
  while true do
    local open, paths, labels = {}, {}, {}
    for k, cur in ipairs(cursors) do
      local path = cur:next_path()
      if path then open[#open + 1], paths[#paths + 1], labels[#paths + 1] = k, path, opts.what end
    end
    if #open == 0 then return true end
    local got, res = reads.fetch(c, paths, { what = opts.what, labels = labels, parallel = opts.parallel,
      on_retry = opts.on_retry, should_stop = opts.should_stop })
    if res.stopped then
      return nil, errors.new("interrupted", "interrupted while listing", { signal = res.signal,
        exit_code = errors.signal_exit(res.signal) })
    end
    for n, k in ipairs(open) do
      local doc, err = got[n][1], got[n][2]
      if not doc then return nil, err end
      local items, ferr = cursors[k]:feed(doc)
      if not items then return nil, ferr end
      if opts.on_items then
        local stop = opts.on_items(k, items, cursors[k])
        if stop then return nil, stop end
      end
    end
  end
end

-- Tail cursor (log entries) -------------------------------------------------
-- ListLogEntries: `page` "defaults to last page"; the reply's `page` is the
-- page it holds, "set to the last page" when the request's page was omitted
-- or past the end. Entries have no id (a url at most). So each poll asks
-- for the last page (no page parameter) and learns where the log ends;
-- when it has moved past the page read last, the pages in between are read
-- in order, from the one read last when it was not full. Entries are known
-- by their page and position (and url), so none is shown twice and none is
-- skipped, however many pages arrive between polls; a poll reads only the
-- pages that changed, plus the probe.

local Tail = {}
Tail.__index = Tail

--[[
tail{ path, field?, per_page?, max_pages? } -> cursor for log entries.
Per poll: begin(); then path = next_path() and feed(doc) until next_path()
returns nil. feed returns the entries to show now, in log order.
max_pages: pages read in one poll, at most (the rest follow next poll).
]]
function M.tail(o)
  return setmetatable({ path = o.path, field = o.field or "log_entries", per_page = o.per_page or
    defaults.log_per_page, max_pages = o.max_pages or defaults.log_pages, last = 0, shown = 0, urls = {},
    phase = "done" }, Tail)
end

function Tail:begin()
  self.phase, self.held, self.reads = "probe", nil, 0
end

function Tail:next_path()
  local q = "per_page=" .. self.per_page
  if self.phase == "probe" then return self.path .. "?" .. q end
  if self.phase == "fill" then return self.path .. string.format("?page=%d&", self.at) .. q end
  return nil
end

-- The entries of page `page` not shown yet, in order; the url set guards
-- against a log that shifted under the positions.
function Tail:fresh(entries, page, out)
  local from = page == self.last and self.shown or 0
  for i = from + 1, #entries do
    local e = entries[i]
    local url = type(e) == "table" and type(e.url) == "string" and e.url ~= "" and e.url or nil
    if not (url and self.urls[url]) then
      if url then self.urls[url] = true end
      out[#out + 1] = e
    end
  end
  if page >= self.last then self.last, self.shown = page, #entries end
  return out
end

-- A page number from a reply (JSON numbers may decode as floats).
local function int(v)
  v = tonumber(v)
  if not v or v < 1 or v ~= math.floor(v) or v > 2 ^ 31 then return nil end
  return math.floor(v)
end

function Tail:feed(doc)
  local entries, err = list_of(doc, self.field)
  if not entries then
    self.phase = "done"
    return nil, err
  end
  self.per = int(doc.per_page) or self.per_page
  self.reads = self.reads + 1
  local out = {}
  if self.phase == "probe" then
    local page = int(doc.page)
    if not page then
      -- a reply that does not say its page: read from where we are, page by page
      self.phase, self.at, self.end_page = "fill", math.max(self.last, 1), math.huge
      return out
    end
    if page <= self.last then
      self.phase = "done"
      return self:fresh(entries, page, out)
    end
    -- the log has moved on: the pages in between first, then this one
    self.held, self.held_page = entries, page
    self.at = (self.last > 0 and self.shown < self.per) and self.last or self.last + 1
    self.end_page, self.phase = page, "fill"
    if self.at >= page then return self:flush(out) end
    return out
  end
  local page = int(doc.page) or self.at
  self:fresh(entries, page, out)
  if self.end_page == math.huge and #entries < self.per then
    self.phase = "done" -- the reply-less fallback reached a short page
    return out
  end
  self.at = page + 1
  if self.at >= self.end_page or self.reads > self.max_pages then return self:flush(out) end
  return out
end

-- The held last page, after the pages in between.
function Tail:flush(out)
  self.phase = "done"
  if self.held and self.at >= self.held_page then self:fresh(self.held, self.held_page, out) end
  self.held = nil
  return out
end

return M
