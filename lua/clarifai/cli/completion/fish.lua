-- The fish completion script, from the data clarifai.cli.completion gathers.

local helpers = require "clarifai.cli.completion.shared"
local fish_quote, wrap = helpers.fish_quote, helpers.wrap
local sorted_keys, transitions = helpers.sorted_keys, helpers.transitions

local M = {}

local FISH_FUNCTIONS = [=[
# The command path of the command line ("clarifai pipelinerun list"): aliases
# resolved, option values skipped.
function __clarifai_path
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmd clarifai
    set -l skip 0
    for word in $tokens
        if test $skip = 1
            set skip 0
        else if string match -q -- '-*=*' $word
            continue
        else if string match -q -- '-*' $word
            contains -- $word $__clarifai_valued; and set skip 1
        else if set -l i (contains -i -- "$cmd $word" $__clarifai_next_from)
            set cmd $__clarifai_next_to[$i]
        end
    end
    echo $cmd
end

function __clarifai_at
    test (__clarifai_path) = "$argv"
end

# True while the word under the cursor is not an option: hides the "_"/"-"
# twins fish must know (to skip their values) but that are not offered.
function __clarifai_not_option
    set -l word (commandline -ct)
    not string match -q -- '-*' "$word"
end

# The config file's context names, one a line: `complete -a` takes a command
# substitution's lines as data (never evaluated) and escapes them on insertion.
function __clarifai_contexts
    set -l config
    set -l want 0
    for t in (commandline -opc)
        if test $want = 1
            set config --config (string replace -r -- '^~/' "$HOME/" $t)
            set want 0
        else if test "$t" = --config
            set want 1
        else if string match -q -- '--config=*' $t
            set config --config (string replace -- --config= '' $t | string replace -r -- '^~/' "$HOME/")
        end
    end
    clarifai $config completion contexts 2>/dev/null
end

# The state names given ($argv: those the command applies to) after those
# already typed: "running,pa" -> running,paused.
function __clarifai_states
    set -q argv[1]; or return 0
    set -l head (commandline -ct | string replace -r -- '^-[^=]*=' '' | string replace -r -- '[^,]*$' '')
    printf '%s\n' "$head"$argv
end

complete -c clarifai -f
]=]

local FISH_VALUE = {
  none = " -x",
  file = " -r -F",
  context = " -x -a '(__clarifai_contexts)'",
}

-- What completes a state option: the states its command takes, handed to
-- __clarifai_states (each quoted: -a evaluates the command substitution).
local function fish_states(states)
  local quoted = {}
  for i, s in ipairs(states) do quoted[i] = fish_quote(s) end
  return " -x -a " .. fish_quote("(__clarifai_states " .. table.concat(quoted, " ") .. ")")
end

-- One `complete` line: the condition (nil: always), the option names, what
-- follows them, the description (if any).
local function fish_complete(condition, o)
  local parts = { "complete -c clarifai" }
  if condition then parts[#parts + 1] = " -n " .. fish_quote(condition) end
  for _, n in ipairs(o.names) do
    parts[#parts + 1] = n:match("^%-%-") and " -l " .. n:sub(3) or " -s " .. n:sub(2)
  end
  if o.kind == "choices" then
    parts[#parts + 1] = " -x -a " .. fish_quote(table.concat(o.choices, " "))
  elseif o.kind == "state" then
    parts[#parts + 1] = fish_states(o.states)
  elseif o.kind then
    parts[#parts + 1] = FISH_VALUE[o.kind]
  end
  if o.help then parts[#parts + 1] = " -d " .. fish_quote(o.help) end
  return table.concat(parts) .. "\n"
end

-- The "_"/"-" twins of options taking a value, one line per kind of value:
-- fish must know them to skip (or complete) their values, but they stay
-- hidden while options are being offered.
local function fish_twins(condition, options)
  local groups, order = {}, {}
  for _, o in ipairs(options) do
    local offered = {}
    for _, n in ipairs(o.names) do offered[n] = true end
    for _, n in ipairs(o.kind and o.all or {}) do
      if not offered[n] and n:match("^%-%-") then
        local key = o.kind .. ":" .. table.concat(o.choices or o.states or {}, " ")
        if not groups[key] then
          groups[key] = { names = {}, kind = o.kind, choices = o.choices, states = o.states }
          order[#order + 1] = key
        end
        table.insert(groups[key].names, n)
      end
    end
  end
  local out = {}
  for _, key in ipairs(order) do
    out[#out + 1] = fish_complete((condition and condition .. "; and " or "") .. "__clarifai_not_option", groups[key])
  end
  return table.concat(out)
end

local function fish_options(condition, options)
  local out = {}
  for _, o in ipairs(options) do out[#out + 1] = fish_complete(condition, o) end
  return table.concat(out) .. fish_twins(condition, options)
end

local function fish_set(name, items)
  local quoted = {}
  for i, item in ipairs(items) do quoted[i] = fish_quote(item) end
  items = quoted
  return "set -g " .. name .. " \\\n" .. wrap(items, "    ", 100):gsub("\n", " \\\n") .. "\n"
end

function M.emit(data)
  local from, to = {}, {}
  for _, p in ipairs(transitions(data)) do from[#from + 1], to[#to + 1] = p.from, p.to end
  local out = {
    "# fish completion for clarifai, generated by `clarifai completion fish` from its flag table.\n",
    "# Install: clarifai completion fish > ~/.config/fish/completions/clarifai.fish\n\n",
    "# Data: \"path word\" -> path (aliases resolved), options that take a value.\n",
    fish_set("__clarifai_next_from", from),
    fish_set("__clarifai_next_to", to),
    fish_set("__clarifai_valued", sorted_keys(data.valued)),
    "\n", FISH_FUNCTIONS,
  }
  for i, entry in ipairs(data.commands) do
    local cond = "__clarifai_at " .. fish_quote(entry.path)
    out[#out + 1] = "\n# " .. entry.path .. "\n"
    for _, s in ipairs(entry.subs) do
      out[#out + 1] = "complete -c clarifai -n " .. fish_quote(cond) .. " -a " .. fish_quote(table.concat(s.words, " "))
        .. " -d " .. fish_quote(s.summary) .. "\n"
    end
    if entry.arg and entry.arg.kind == "file" then
      out[#out + 1] = "complete -c clarifai -n " .. fish_quote(cond) .. " -F\n"
    elseif entry.arg then
      out[#out + 1] = "complete -c clarifai -n " .. fish_quote(cond) .. " -a "
        .. fish_quote(table.concat(entry.arg.choices, " ")) .. "\n"
    end
    -- the globals and -h/--help are the same everywhere: written once, unconditionally
    local shared, own = {}, {}
    for _, o in ipairs(entry.options) do table.insert(o.shared and shared or own, o) end
    if i == 1 then out[#out + 1] = fish_options(nil, shared) end
    out[#out + 1] = fish_options(cond, own)
  end
  return table.concat(out)
end

return M
