-- What the completion emitters share: quoting, line wrapping, and the
-- tables bash and zsh both carry (clarifai.cli.completion.* use them).

local M = {}

-- Single-quoted words: sq for bash and zsh, fish_quote for fish.
function M.sq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
function M.fish_quote(s) return "'" .. s:gsub("\\", "\\\\"):gsub("'", "\\'") .. "'" end

-- Items joined into lines of at most `width` characters, each line indented.
function M.wrap(items, indent, width)
  local lines, line = {}, nil
  for _, item in ipairs(items) do
    if line and #line + 1 + #item > width then
      lines[#lines + 1] = line
      line = nil
    end
    line = line and (line .. " " .. item) or (indent .. item)
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- The words of every item of a list, in order (item[field] is a list).
local function every(list, field)
  local out = {}
  for _, item in ipairs(list) do
    for _, w in ipairs(item[field]) do out[#out + 1] = w end
  end
  return out
end

function M.sub_words(entry) return every(entry.subs, "words") end
function M.option_words(entry) return every(entry.options, "names") end

-- Every (path, word) -> child path pair: the aliases resolved.
function M.transitions(data)
  local out = {}
  for _, entry in ipairs(data.commands) do
    for _, s in ipairs(entry.subs) do
      for _, w in ipairs(s.words) do out[#out + 1] = { from = entry.path .. " " .. w, to = s.path } end
    end
  end
  return out
end

-- Every (path option) -> values pair of the options of one kind: each
-- pair carries the option's own field (choices, or states).
local function option_pairs(data, kind, field)
  local out = {}
  for _, entry in ipairs(data.commands) do
    for _, o in ipairs(entry.options) do
      if o.kind == kind then
        for _, n in ipairs(o.all) do out[#out + 1] = { key = entry.path .. " " .. n, [field] = o[field] } end
      end
    end
  end
  return out
end

-- Every (path option) -> choices pair (-o differs per command), and the
-- commands whose argument is a choice.
function M.option_choice_pairs(data)
  local out = option_pairs(data, "choices", "choices")
  for _, entry in ipairs(data.commands) do
    if entry.arg and entry.arg.kind == "choices" then
      out[#out + 1] = { key = entry.path, choices = entry.arg.choices }
    end
  end
  return out
end

-- Every (path option) -> state names pair: --status takes the states its
-- command applies to (pause: queued, running; list: every state).
function M.option_state_pairs(data) return option_pairs(data, "state", "states") end

function M.assoc_items(pairs_)
  local items = {}
  for _, p in ipairs(pairs_) do items[#items + 1] = "[" .. M.sq(p[1]) .. "]=" .. M.sq(p[2]) end
  return items
end

-- The tables bash and zsh share, as { key, value } pairs: subs and opts
-- (path -> words), next, vals, choices, states, args.
function M.shell_tables(data)
  local t = { subs = {}, opts = {}, next = {}, vals = {}, choices = {}, states = {}, args = {} }
  for _, entry in ipairs(data.commands) do
    if #entry.subs > 0 then t.subs[#t.subs + 1] = { entry.path, table.concat(M.sub_words(entry), " ") } end
    t.opts[#t.opts + 1] = { entry.path, table.concat(M.option_words(entry), " ") }
    if entry.arg then t.args[#t.args + 1] = { entry.path, entry.arg.kind } end
  end
  for _, p in ipairs(M.transitions(data)) do t.next[#t.next + 1] = { p.from, p.to } end
  for _, n in ipairs(M.sorted_keys(data.valued)) do t.vals[#t.vals + 1] = { n, data.valued[n] } end
  for _, p in ipairs(M.option_choice_pairs(data)) do t.choices[#t.choices + 1] = { p.key, table.concat(p.choices, " ") } end
  for _, p in ipairs(M.option_state_pairs(data)) do t.states[#t.states + 1] = { p.key, table.concat(p.states, " ") } end
  return t
end


return M
