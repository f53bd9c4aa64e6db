-- `clarifai completion bash|zsh|fish`: shell completion scripts generated
-- from the flag table (clarifai.cli.flags), so they know every command,
-- alias and option the command line does.
--
-- gather() walks the table once into one entry per command: its
-- subcommands, the option names to offer, and what follows each option
-- that takes a value. One emitter per shell turns that into a script; each
-- script holds the data as tables plus one generic function that finds the
-- command being typed (aliases resolved, option values skipped) and
-- completes the current word from the tables.
--
-- `clarifai completion contexts` (hidden) prints the config file's context
-- names, one a line: the scripts run it to complete --context.

local flags = require "clarifai.cli.flags"

local M = {}

local HELP = { names = { "-h", "--help" }, help = "Show help." }
local VERSION = { names = { "--version" }, help = "Show the version." }

---------------------------------------------------------------------------
-- Data: the flag table as completion needs it.
---------------------------------------------------------------------------

local function twin_key(name) return (name:gsub("_", "-")) end

-- offered_names(o) -> the names of option o a completion offers: every name
-- except one that only swaps "_" for "-" (or back) in a name offered before
-- it ({"--user_id", "--user-id"} -> {"--user_id"}). The command line accepts
-- the twins all the same; offering them would only double the list.
local function offered_names(o)
  local seen, out = {}, {}
  for _, n in ipairs(o.names) do
    local key = twin_key(n)
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = n
    end
  end
  return out
end
M.offered_names = offered_names

-- What follows an option: nil for a flag; else "file", "context", "state",
-- "choices" (its own list), or "none" (an id or a number: nothing to offer).
local function value_kind(o)
  if not o.argname then return nil end
  if type(o.complete) == "table" or (not o.complete and o.choices) then return "choices" end
  return o.complete or "none"
end

local function option_choices(o)
  if type(o.complete) == "table" then return o.complete end
  return o.choices
end

-- What a command's first positional argument completes: nil, "file" or
-- "choices" (its visible choices only: "contexts" stays hidden).
local function argument_of(cmd)
  local a = (cmd.args or {})[1]
  if not a then return nil end
  if a.choices then return { kind = "choices", choices = a.choices } end
  if a.complete == "file" or (not a.complete and (a.argname or ""):match("^FILE")) then return { kind = "file" } end
  return nil
end

-- State names as --status takes them: running, paused, ...
local function state_names()
  local out = {}
  for i, s in ipairs(require("clarifai.states").list) do
    out[i] = s.name:gsub("^JOB_", ""):lower()
  end
  return out
end

local function command_options(cmd, is_root)
  -- { options, shared }: shared ones are the same for every command
  local lists = { { flags.global, true }, { { HELP }, true } }
  if is_root then lists[#lists + 1] = { { VERSION }, false } end
  lists[#lists + 1] = { cmd.options or {}, false }
  local taken, out = {}, {}
  for _, list in ipairs(lists) do
    for _, o in ipairs(list[1]) do
      local names = {}
      for _, n in ipairs(offered_names(o)) do
        if not taken[n] then names[#names + 1] = n end
        taken[n] = true
      end
      if #names > 0 then
        out[#out + 1] = { names = names, all = o.names, help = o.help or "", kind = value_kind(o),
          choices = option_choices(o), shared = list[2] }
      end
    end
  end
  return out
end

--[[
gather() -> {
  commands = { entry, ... }   the root first, then depth first; an entry:
    path     "clarifai pipelinerun pause": canonical names from the root
    subs     { { words = { name, alias... }, path =, summary = }, ... }
    options  { { names = offered names, all = every name, help =, kind =,
                 choices =, shared = (a global or -h/--help) }, ... }, each
             name once; globals, help, --version (root), then the command's
    arg      nil | { kind = "file" } | { kind = "choices", choices = }
  valued = { name = kind }   every name (twins too) of every option that
                             takes a value; "choices" ones look up
                             entry.options for the list
  states = { "queued", ... }
}
]]
function M.gather()
  local data = { commands = {}, valued = {}, states = state_names() }
  local function note_values(path, options)
    for _, o in ipairs(options) do
      for _, n in ipairs(o.kind and o.all or {}) do
        local before = data.valued[n]
        assert(before == nil or before == o.kind,
          "completion: " .. n .. " (" .. path .. ") takes a different kind of value elsewhere")
        data.valued[n] = o.kind
      end
    end
  end
  local function walk(cmd, path)
    local entry = { path = path, subs = {}, options = command_options(cmd, cmd == flags.root),
      arg = argument_of(cmd) }
    data.commands[#data.commands + 1] = entry
    note_values(path, entry.options)
    for _, sub in ipairs(cmd.commands or {}) do
      local words = { sub.name }
      for _, a in ipairs(sub.aliases or {}) do words[#words + 1] = a end
      entry.subs[#entry.subs + 1] = { words = words, path = path .. " " .. sub.name, summary = sub.summary or "" }
    end
    for _, sub in ipairs(cmd.commands or {}) do walk(sub, path .. " " .. sub.name) end
  end
  walk(flags.root, "clarifai")
  return data
end

---------------------------------------------------------------------------
-- Helpers for the emitters.
---------------------------------------------------------------------------

-- Single-quoted words: sq for bash and zsh, fish_quote for fish.
local function sq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function fish_quote(s) return "'" .. s:gsub("\\", "\\\\"):gsub("'", "\\'") .. "'" end

-- Items joined into lines of at most `width` characters, each line indented.
local function wrap(items, indent, width)
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

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function sub_words(entry)
  local out = {}
  for _, s in ipairs(entry.subs) do
    for _, w in ipairs(s.words) do out[#out + 1] = w end
  end
  return out
end

local function option_words(entry)
  local out = {}
  for _, o in ipairs(entry.options) do
    for _, n in ipairs(o.names) do out[#out + 1] = n end
  end
  return out
end

-- Every (path, word) -> child path pair: the aliases resolved.
local function transitions(data)
  local out = {}
  for _, entry in ipairs(data.commands) do
    for _, s in ipairs(entry.subs) do
      for _, w in ipairs(s.words) do out[#out + 1] = { from = entry.path .. " " .. w, to = s.path } end
    end
  end
  return out
end

-- Every (path option) -> choices pair: -o differs per command.
local function option_choice_pairs(data)
  local out = {}
  for _, entry in ipairs(data.commands) do
    for _, o in ipairs(entry.options) do
      if o.kind == "choices" then
        for _, n in ipairs(o.all) do out[#out + 1] = { key = entry.path .. " " .. n, choices = o.choices } end
      end
    end
    if entry.arg and entry.arg.kind == "choices" then
      out[#out + 1] = { key = entry.path, choices = entry.arg.choices }
    end
  end
  return out
end

local function assoc_items(pairs_)
  local items = {}
  for _, p in ipairs(pairs_) do items[#items + 1] = "[" .. sq(p[1]) .. "]=" .. sq(p[2]) end
  return items
end

-- The tables bash and zsh share, as { key, value } pairs: subs and opts
-- (path -> words), next, vals, choices, args.
local function shell_tables(data)
  local t = { subs = {}, opts = {}, next = {}, vals = {}, choices = {}, args = {} }
  for _, entry in ipairs(data.commands) do
    if #entry.subs > 0 then t.subs[#t.subs + 1] = { entry.path, table.concat(sub_words(entry), " ") } end
    t.opts[#t.opts + 1] = { entry.path, table.concat(option_words(entry), " ") }
    if entry.arg then t.args[#t.args + 1] = { entry.path, entry.arg.kind } end
  end
  for _, p in ipairs(transitions(data)) do t.next[#t.next + 1] = { p.from, p.to } end
  for _, n in ipairs(sorted_keys(data.valued)) do t.vals[#t.vals + 1] = { n, data.valued[n] } end
  for _, p in ipairs(option_choice_pairs(data)) do t.choices[#t.choices + 1] = { p.key, table.concat(p.choices, " ") } end
  return t
end

---------------------------------------------------------------------------
-- bash
---------------------------------------------------------------------------

local BASH_FUNCTIONS = [=[
# Completes a value of KIND (file, context, state, choices) for the word $cur.
_clarifai_value() {
  local kind=$1 key=$2
  shift 2
  case $kind in
    file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    context) mapfile -t COMPREPLY < <(compgen -W "$(clarifai "$@" completion contexts 2>/dev/null)" -- "$cur") ;;
    state) mapfile -t COMPREPLY < <(compgen -P "${cur%"${cur##*,}"}" -W "$_clarifai_states" -- "${cur##*,}") ;;
    choices) mapfile -t COMPREPLY < <(compgen -W "${_clarifai_choices[$key]-}" -- "$cur") ;;
  esac
}

_clarifai() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=clarifai word kind= key= pre= i j
  local -a config=()
  COMPREPLY=()
  # Walk the words before the cursor: follow subcommands, skip option values.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    case $word in
      -*=*) [[ $word == --config=* ]] && config=(--config "${word#*=}") ;;
      -*)
        [[ -n ${_clarifai_vals[$word]-} ]] || continue
        j=$((i + 1))
        [[ ${COMP_WORDS[j]-} == = ]] && j=$((j + 1)) # bash splits --opt=value at "="
        if ((j >= COMP_CWORD)); then                 # the cursor is on this option's value
          kind=${_clarifai_vals[$word]} key="$cmd $word"
          ((j > COMP_CWORD)) && cur=
          break
        fi
        [[ $word == --config ]] && config=(--config "${COMP_WORDS[j]}")
        i=$j ;;
      *) [[ -n ${_clarifai_next["$cmd $word"]-} ]] && cmd=${_clarifai_next["$cmd $word"]} ;;
    esac
  done
  [[ ${config[1]-} == "~/"* ]] && config[1]=$HOME/${config[1]#"~/"}
  if [[ -z $kind && $cur == -*=* && -n ${_clarifai_vals[${cur%%=*}]-} ]]; then
    kind=${_clarifai_vals[${cur%%=*}]} key="$cmd ${cur%%=*}" pre=${cur%%=*}= cur=${cur#*=}
  fi
  if [[ -n $kind ]]; then
    _clarifai_value "$kind" "$key" "${config[@]}"
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_clarifai_opts[$cmd]}" -- "$cur")
  elif [[ -n ${_clarifai_subs[$cmd]-} ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_clarifai_subs[$cmd]}" -- "$cur")
  else
    _clarifai_value "${_clarifai_args[$cmd]-}" "$cmd" "${config[@]}"
  fi
  [[ -n $pre ]] && COMPREPLY=("${COMPREPLY[@]/#/$pre}")
  return 0
}

complete -F _clarifai clarifai
]=]

local function bash_array(name, comment, items)
  return "# " .. comment .. "\ndeclare -gA " .. name .. "=(\n" .. wrap(items, "  ", 110) .. "\n)\n"
end

function M.bash(data)
  local t = shell_tables(data)
  return table.concat({
    "# bash completion for clarifai, generated by `clarifai completion bash` from its flag table.\n",
    "# Load it with: source <(clarifai completion bash)\n\n",
    bash_array("_clarifai_subs", "Subcommands (and aliases) of each command path.", assoc_items(t.subs)),
    bash_array("_clarifai_opts", "Options offered for each command path.", assoc_items(t.opts)),
    bash_array("_clarifai_next", "\"path word\" -> the path it leads to (aliases resolved).", assoc_items(t.next)),
    bash_array("_clarifai_vals", "Options that take a value -> what completes it: none, file, context, state, choices.",
      assoc_items(t.vals)),
    bash_array("_clarifai_choices", "\"path option\" (or a path, for its argument) -> its choices.",
      assoc_items(t.choices)),
    bash_array("_clarifai_args", "What a command's positional argument completes.", assoc_items(t.args)),
    "_clarifai_states=" .. sq(table.concat(data.states, " ")) .. "\n\n",
    BASH_FUNCTIONS,
  })
end

---------------------------------------------------------------------------
-- zsh
---------------------------------------------------------------------------

-- Descriptions of subcommands and options: keyed by the word alone when it
-- means the same wherever it is offered, else by "path word".
local function descriptions(data)
  local seen, order = {}, {}
  local function note(path, word, text)
    if not seen[word] then
      seen[word] = {}
      order[#order + 1] = word
    end
    seen[word][#seen[word] + 1] = { path = path, text = text }
  end
  for _, entry in ipairs(data.commands) do
    for _, s in ipairs(entry.subs) do
      for _, w in ipairs(s.words) do note(entry.path, w, s.summary) end
    end
    for _, o in ipairs(entry.options) do
      for _, n in ipairs(o.names) do note(entry.path, n, o.help) end
    end
  end
  local out = {}
  for _, word in ipairs(order) do
    local uses, same = seen[word], true
    for _, u in ipairs(uses) do same = same and u.text == uses[1].text end
    if same then out[#out + 1] = { word, uses[1].text } else
      for _, u in ipairs(uses) do out[#out + 1] = { u.path .. " " .. word, u.text } end
    end
  end
  return out
end

-- The start of _clarifai, up to its tables.
local ZSH_HEAD = [=[
#compdef clarifai
# zsh completion for clarifai, generated by `clarifai completion zsh` from its flag table.
# Install: clarifai completion zsh > "${fpath[1]}/_clarifai"   or: source <(clarifai completion zsh)

_clarifai() {
  # subs, opts: path -> its subcommands (and aliases), its options; next: "path word" -> path;
  # vals: option -> what its value completes (none, file, context, state, choices);
  # choices: "path option" (or path, for its argument) -> words; args: what a command's
  # positional argument completes; descs: word (or "path word") -> description.
  local -A subs opts next vals choices args descs
  local -a states
]=]

-- The rest of _clarifai, after its tables: the walk and the completion.
local ZSH_BODY = [=[
  local cmd=clarifai word kind= key= i
  local -a config items
  # Walk the words before the cursor: follow subcommands, skip option values.
  for (( i = 2; i < CURRENT; i++ )); do
    word=$words[i]
    case $word in
      (-*=*) [[ $word == --config=* ]] && config=(--config ${word#*=}) ;;
      (-*)
        [[ -n ${vals[$word]} ]] || continue
        if (( i + 1 == CURRENT )); then kind=${vals[$word]} key="$cmd $word"; break; fi
        [[ $word == --config ]] && config=(--config $words[i+1])
        (( i += 1 )) ;;
      (*) [[ -n ${next[$cmd $word]} ]] && cmd=${next[$cmd $word]} ;;
    esac
  done
  (( $#config )) && config[2]=${config[2]/#\~/$HOME}
  if [[ -z $kind && $PREFIX == -*=* && -n ${vals[${PREFIX%%=*}]} ]]; then
    kind=${vals[${PREFIX%%=*}]} key="$cmd ${PREFIX%%=*}"
    compset -P 1 '*='
  fi
  if [[ -z $kind && $PREFIX == -* ]]; then
    for word in ${=opts[$cmd]}; do items+=("$word:${descs[$cmd $word]:-${descs[$word]}}"); done
    _describe -t options option items
    return
  elif [[ -z $kind && -n ${subs[$cmd]} ]]; then
    for word in ${=subs[$cmd]}; do items+=("$word:${descs[$cmd $word]:-${descs[$word]}}"); done
    _describe -t commands command items
    return
  elif [[ -z $kind ]]; then
    kind=${args[$cmd]} key=$cmd
  fi
  case $kind in
    (file) _files ;;
    (context) items=(${(f)"$(clarifai $config completion contexts 2>/dev/null)"}); compadd -a items ;;
    (state) compset -P '*,'; compadd -a states ;;
    (choices) items=(${=choices[$key]}); compadd -a items ;;
    (*) return 1 ;;
  esac
}

if [[ $funcstack[1] == _clarifai ]]; then
  _clarifai "$@"   # autoloaded from $fpath
else
  compdef _clarifai clarifai   # sourced: source <(clarifai completion zsh)
fi
]=]

local function zsh_assoc(name, pairs_, per_line)
  local items = {}
  for _, p in ipairs(pairs_) do items[#items + 1] = sq(p[1]) .. " " .. sq(p[2]) end
  local body = per_line and "    " .. table.concat(items, "\n    ") or wrap(items, "    ", 110)
  return "  " .. name .. "=(\n" .. body .. "\n  )\n"
end

function M.zsh(data)
  local t = shell_tables(data)
  return table.concat({
    ZSH_HEAD,
    zsh_assoc("subs", t.subs, true),
    zsh_assoc("opts", t.opts, true),
    zsh_assoc("next", t.next),
    zsh_assoc("vals", t.vals),
    zsh_assoc("choices", t.choices),
    zsh_assoc("args", t.args),
    zsh_assoc("descs", descriptions(data), true),
    "  states=(" .. table.concat(data.states, " ") .. ")\n",
    ZSH_BODY,
  })
end

---------------------------------------------------------------------------
-- fish
---------------------------------------------------------------------------

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

# State names after those already typed: "running,pa" -> running,paused.
function __clarifai_states
    set -l head (commandline -ct | string replace -r -- '^-[^=]*=' '' | string replace -r -- '[^,]*$' '')
    printf '%s\n' "$head"$__clarifai_states
end

complete -c clarifai -f
]=]

local FISH_VALUE = {
  none = " -x",
  file = " -r -F",
  context = " -x -a '(__clarifai_contexts)'",
  state = " -x -a '(__clarifai_states)'",
}

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
        local key = o.kind .. ":" .. table.concat(o.choices or {}, " ")
        if not groups[key] then
          groups[key] = { names = {}, kind = o.kind, choices = o.choices }
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
  return "set -g " .. name .. " \\\n" .. wrap(items, "    ", 100):gsub("\n", " \\\n") .. "\n"
end

function M.fish(data)
  local from, to = {}, {}
  for _, p in ipairs(transitions(data)) do from[#from + 1], to[#to + 1] = sq(p.from), sq(p.to) end
  local out = {
    "# fish completion for clarifai, generated by `clarifai completion fish` from its flag table.\n",
    "# Install: clarifai completion fish > ~/.config/fish/completions/clarifai.fish\n\n",
    "# Data: \"path word\" -> path (aliases resolved), options that take a value, state names.\n",
    fish_set("__clarifai_next_from", from),
    fish_set("__clarifai_next_to", to),
    fish_set("__clarifai_valued", sorted_keys(data.valued)),
    fish_set("__clarifai_states", data.states),
    "\n", FISH_FUNCTIONS,
  }
  for i, entry in ipairs(data.commands) do
    local cond = '__clarifai_at "' .. entry.path .. '"'
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

---------------------------------------------------------------------------

function M.script(shell)
  local emit = assert(({ bash = M.bash, zsh = M.zsh, fish = M.fish })[shell], "unknown shell " .. tostring(shell))
  local text = emit(M.gather())
  if text:sub(-1) ~= "\n" then text = text .. "\n" end
  return text
end

function M.run(args)
  if args.shell == "contexts" then
    for _, name in ipairs(require("clarifai.config").context_names({ config_path = args.config })) do
      io.stdout:write(name, "\n")
    end
    return 0
  end
  io.stdout:write(M.script(args.shell))
  return 0
end

return M
