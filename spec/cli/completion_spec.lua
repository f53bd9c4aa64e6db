-- Shell completion: the scripts `clarifai completion bash|zsh|fish` print are
-- loaded into the real shells and asked to complete command lines, as a
-- user's TAB would. zsh and fish checks are pending when the shell is not
-- installed (Debian packages zsh, fish).

local cli = require "support.cli"
local optional = require "support.optional"
local flags = require "clarifai.cli.flags"
local completion = require "clarifai.cli.completion"

local q = cli.quote

local STATES = { "queued", "running", "completed", "failed", "cancelled", "unexpected_error", "conflict", "paused" }
-- What --status offers on a change: the states its action applies to.
local PAUSE_STATES = { "queued", "running" }
local CANCEL_STATES = { "queued", "running", "paused" }
local RESUME_STATES = { "paused" }
local CONTEXTS = { "dev-eu", "prod", "staging" }  -- in ~/.config/clarifai/config
local OTHER_CONTEXTS = { "alpha", "beta" }         -- in the file given with --config

-- Context names that are shell code, in the file evil.yaml given with --config:
-- each would create a file in PWN (an absolute directory) if a shell ran it,
-- while completing or once the completed word is on the command line.
local function evil_contexts(pwn)
  return {
    "$(touch${IFS}" .. pwn .. "/pwned-dollar)",
    "`touch${IFS}" .. pwn .. "/pwned-backtick`",
    "$(touch " .. pwn .. "/pwned-space)",
    "a'b\";touch${IFS}" .. pwn .. "/pwned-semicolon",
    "safe",
  }
end

local function sorted(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  table.sort(out)
  return out
end

local function lines_of(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local function capture(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local text = p:read("*a")
  p:close()
  return text
end

-- "clarifai pr list " -> { "clarifai", "pr", "list", "" }: the words a shell
-- hands to completion, the last one being the word under the cursor.
local function words_of(line)
  local words = {}
  for w in line:gmatch("%S+") do words[#words + 1] = w end
  if line:sub(-1) == " " then words[#words + 1] = "" end
  return words
end

local function count(list)
  local n = {}
  for _, v in ipairs(list) do n[v] = (n[v] or 0) + 1 end
  return n
end

local function assert_each_once(list, what)
  for v, n in pairs(count(list)) do
    assert(n == 1, what .. ": " .. v .. " offered " .. n .. " times")
  end
end

local function assert_same_set(expected, actual, what)
  assert.are.same(sorted(expected), sorted(actual), what)
end

-- The options a command must offer, from the flag table: globals, -h/--help,
-- --version at the top, the command's own; twins dropped by offered_names.
local function expected_options(path_words)
  local cmd = assert(flags.find(path_words))
  local lists = { flags.global, { { names = { "-h", "--help" } } }, cmd.options or {} }
  if #path_words == 0 then lists[#lists + 1] = { { names = { "--version" } } } end
  local out = {}
  for _, list in ipairs(lists) do
    for _, o in ipairs(list) do
      for _, n in ipairs(completion.offered_names(o)) do out[#out + 1] = n end
    end
  end
  return out
end

-- Every command path of the flag table: {}, {"pipelinerun"}, {"pipelinerun", "pause"}, ...
local function command_paths()
  local out = {}
  local function walk(cmd, path)
    out[#out + 1] = path
    for _, sub in ipairs(cmd.commands or {}) do
      local p = { table.unpack(path) }
      p[#p + 1] = sub.name
      walk(sub, p)
    end
  end
  walk(flags.root, {})
  return out
end

local BASH_DRIVER = [[
set -u
source "$1" || exit 9
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_clarifai clarifai "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
]]

local FISH_DRIVER = [[
source $argv[1]; or exit 9
complete -C $argv[2]
]]

-- zsh SCRIPT OUT LINE...: completes each LINE in an interactive zsh on a pty
-- (the real completion system) and appends every match handed to compadd to
-- OUT, after a "## LINE" header.
local ZSH_DRIVER = [=[
zmodload zsh/zpty || exit 3
local script=$1 out=$2 line n=0 t
shift 2
zpty z zsh -f -i
zpty -w z "PS1='>'; unsetopt beep autolist; LISTMAX=100000; __out=${(q)out}"
zpty -w z "autoload -Uz compinit; compinit -u -D; source ${(q)script}"
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi;
  local -a __h; builtin compadd -A __h "$@"; (( $#__h )) && print -rl -- "${(@)__h/#/$IPREFIX}" >> $__out;
  builtin compadd "$@"; }'
zpty -w z '__test_tab() { zle complete-word; print -r -- "##end" >> $__out; BUFFER=; }'
zpty -w z 'zle -N __test_tab; bindkey "^I" __test_tab'
for line in "$@"; do
  print -r -- "## $line" >> $out
  zpty -w -n z "$line"$'\t'
  (( n++ ))
  for (( t = 0; t < 400; t++ )); do
    [[ -f $out && ${#${(M)${(f)"$(<$out)"}:#\#\#end}} -ge $n ]] && break
    sleep 0.05
  done
done
zpty -d z
]=]

-- a"b\c -> "a\"b\\c": a double-quoted YAML scalar.
local function yaml_quote(s)
  return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
end

local function prefixed(prefix, list)
  local out = {}
  for i, v in ipairs(list) do out[i] = prefix .. v end
  return out
end

-- read_back(shell, words, quote) -> what SHELL makes of each word put on a
-- command line (after an open QUOTE, ' or ", that completion closes): "1 NAME"
-- for one word NAME. Code a word ran instead would show in the spec's PWN.
local function read_back(shell, words, quote)
  quote = quote == '"' and '\\"' or quote or ""
  local argv = {}
  for i, w in ipairs(words) do argv[i] = q(w) end
  local script = 'ws=("$@"); for w in "${ws[@]}"; do eval "set -- ' .. quote .. '$w' .. quote
    .. '"; printf "%s %s\\n" "$#" "$1"; done'
  return lines_of(capture(shell .. " -c " .. q(script) .. " _ " .. table.concat(argv, " ")))
end

describe("shell completion", function()
  local dir, env, scripts, files = nil, nil, {}, nil
  local pwn, evil, EVIL = nil, nil, nil -- see evil_contexts

  -- The files the evil context names made: none, ever. Each test starts
  -- from an empty PWN, so one shell's failure does not show in another's.
  local function pwned()
    return lines_of(capture("ls -A " .. q(pwn)))
  end
  local function clear_pwned()
    os.execute("rm -f " .. q(pwn) .. "/pwned-*")
  end

  setup(function()
    dir = cli.tmpdir()
    local home = dir .. "/home"
    os.execute("mkdir -p " .. q(home .. "/.config/clarifai") .. " " .. q(dir .. "/bin") .. " " .. q(dir .. "/files"))
    local function config(names)
      local t = { "current_context: " .. names[1], "contexts:" }
      for _, n in ipairs(names) do t[#t + 1] = "  " .. n .. ":\n    CLARIFAI_PAT: x" end
      return table.concat(t, "\n") .. "\n"
    end
    cli.write(home .. "/.config/clarifai/config", config(CONTEXTS))
    cli.write(dir .. "/other.yaml", config(OTHER_CONTEXTS))
    pwn, evil = dir .. "/pwn", dir .. "/evil.yaml"
    os.execute("mkdir -p " .. q(pwn))
    EVIL = evil_contexts(pwn)
    local quoted = {}
    for i, n in ipairs(EVIL) do quoted[i] = yaml_quote(n) end
    cli.write(evil, config(quoted))
    cli.write(dir .. "/files/flow.lua", "")
    files = dir .. "/files"
    -- `clarifai` on PATH is this checkout's bin/clarifai (the scripts run it for --context)
    cli.write(dir .. "/bin/clarifai", "#!/bin/sh\nexec " .. cli.lua .. " " .. q(cli.bin) .. ' "$@"\n')
    os.execute("chmod +x " .. q(dir .. "/bin/clarifai"))
    env = "env HOME=" .. q(home) .. " PATH=" .. q(dir .. "/bin:" .. os.getenv("PATH"))
    for _, shell in ipairs({ "bash", "zsh", "fish" }) do
      local r = cli.run({ "completion", shell }, { cwd = cli.root, home = home })
      assert.equal(0, r.code, r.err)
      scripts[shell] = dir .. "/clarifai." .. shell
      cli.write(scripts[shell], r.out)
    end
    cli.write(dir .. "/driver.bash", BASH_DRIVER)
    cli.write(dir .. "/driver.fish", FISH_DRIVER)
    cli.write(dir .. "/driver.zsh", ZSH_DRIVER)
  end)

  describe("the command", function()
    it("prints each script, ending in a newline, and nothing on stderr", function()
      for _, shell in ipairs({ "bash", "zsh", "fish" }) do
        local r = cli.run({ "completion", shell }, { cwd = cli.root })
        assert.equal(0, r.code)
        assert.equal("", r.err)
        assert.equal("\n", r.out:sub(-1))
        assert.matches("pipelinerun", r.out, 1, true)
      end
    end)

    it("lists the config's contexts for `completion contexts`", function()
      local home = dir .. "/home"
      local r = cli.run({ "completion", "contexts" }, { cwd = cli.root, home = home })
      assert.equal(0, r.code, r.err)
      assert.equal(table.concat(CONTEXTS, "\n") .. "\n", r.out)
      r = cli.run({ "--config", dir .. "/other.yaml", "completion", "contexts" }, { cwd = cli.root, home = home })
      assert.equal(table.concat(OTHER_CONTEXTS, "\n") .. "\n", r.out)
      r = cli.run({ "completion", "contexts", "--config", dir .. "/other.yaml" }, { cwd = cli.root, home = home })
      assert.equal(table.concat(OTHER_CONTEXTS, "\n") .. "\n", r.out)
      r = cli.run({ "completion", "contexts" }, { cwd = cli.root }) -- an empty HOME: no config
      assert.equal(0, r.code, r.err)
      assert.equal("", r.out)
    end)

    it("lists context names that are shell code as they are", function()
      clear_pwned()
      local r = cli.run({ "--config", evil, "completion", "contexts" }, { cwd = cli.root, home = dir .. "/home" })
      assert.equal(0, r.code, r.err)
      assert.equal(table.concat(sorted(EVIL), "\n") .. "\n", r.out)
      assert.same({}, pwned())
    end)
  end)

  describe("the data", function()
    it("offers one name of each _/- twin, keeping the other spellings", function()
      assert.same({ "--user_id" }, completion.offered_names({ names = { "--user_id", "--user-id" } }))
      assert.same({ "--page", "--page_no" }, completion.offered_names({ names = { "--page", "--page_no", "--page-no" } }))
      assert.same({ "--monitor_interval", "--interval" },
        completion.offered_names({ names = { "--monitor_interval", "--monitor-interval", "--interval" } }))
      assert.same({ "-o", "--output" }, completion.offered_names({ names = { "-o", "--output" } }))
      assert.same({ "--verbose", "-v" }, completion.offered_names({ names = { "--verbose", "-v" } }))
    end)

    it("gives every command its options, each name once", function()
      local data = completion.gather()
      for i, path in ipairs(command_paths()) do
        local entry = data.commands[i]
        assert.equal(table.concat({ "clarifai", table.unpack(path) }, " "), entry.path)
        local names = {}
        for _, o in ipairs(entry.options) do
          for _, n in ipairs(o.names) do names[#names + 1] = n end
        end
        assert_each_once(names, entry.path)
        assert_same_set(expected_options(path), names, entry.path)
      end
    end)

    it("gives --status the states each command takes, as clarifai.states spells them", function()
      local want = {
        ["clarifai pipelinerun pause"] = PAUSE_STATES, ["clarifai pipelinerun cancel"] = CANCEL_STATES,
        ["clarifai pipelinerun resume"] = RESUME_STATES, ["clarifai pipelinerun list"] = STATES,
        -- watch follows (--status) and ends on (--until) any state
        ["clarifai pipelinerun watch"] = STATES,
      }
      local seen = {}
      for _, entry in ipairs(completion.gather().commands) do
        for _, o in ipairs(entry.options) do
          if o.kind == "state" then
            assert(want[entry.path], entry.path .. " completes states")
            assert.same(want[entry.path], o.states, entry.path)
            seen[entry.path] = true
          else
            assert.is_nil(o.states, entry.path .. " " .. o.names[1])
          end
        end
      end
      for path in pairs(want) do assert.is_true(seen[path], path .. ": no --status") end
    end)
  end)

  describe("bash", function()
    local function complete(line)
      local words = type(line) == "table" and line or words_of(line)
      local argv = {}
      for i, w in ipairs(words) do argv[i] = q(w) end
      return lines_of(capture(env .. " bash " .. q(dir .. "/driver.bash") .. " " .. q(scripts.bash) .. " "
        .. table.concat(argv, " ")))
    end

    it("passes bash -n", function()
      assert.equal("", capture("bash -n " .. q(scripts.bash)))
    end)

    it("completes commands and aliases", function()
      assert_same_set({ "pipelinerun", "pr", "completion", "script", "help" }, complete("clarifai "))
      local subs = { "pause", "cancel", "resume", "status", "get", "list", "ls", "monitor", "history", "watch",
        "transitions" }
      assert_same_set(subs, complete("clarifai pr "))
      assert_same_set(subs, complete("clarifai --debug pipelinerun "))
      assert.same({ "pause" }, complete("clarifai pr pa"))
    end)

    it("completes --status with state names, comma-separated", function()
      assert_same_set(STATES, complete("clarifai pr list --status "))
      assert.same({ "running,paused" }, complete("clarifai pr list --status running,pa"))
      assert.same({ "running" }, complete({ "clarifai", "pr", "ls", "--status", "=", "run" })) -- bash splits at =
      assert_same_set(STATES, complete({ "clarifai", "pr", "ls", "--status", "=" }))
    end)

    it("completes --status with only the states the command applies to", function()
      assert_same_set(PAUSE_STATES, complete("clarifai pr pause --status "))
      assert_same_set(PAUSE_STATES, complete("clarifai pipelinerun pause --status "))
      assert_same_set(RESUME_STATES, complete("clarifai pipelinerun resume --status "))
      assert_same_set(RESUME_STATES, complete("clarifai pr resume --status "))
      assert_same_set(CANCEL_STATES, complete("clarifai pr cancel --status "))
      assert_same_set(prefixed("running,", CANCEL_STATES), complete("clarifai pr cancel --status running,"))
      assert_same_set(prefixed("queued,", PAUSE_STATES), complete("clarifai pr pause --status queued,"))
      assert_same_set(STATES, complete("clarifai pr list --status "))
      assert_same_set(STATES, complete("clarifai pipelinerun ls --status "))
      assert.same({}, complete("clarifai pr pause --status c"))       -- cancelled, completed, conflict: not pausable
      assert.same({}, complete("clarifai pr resume --status running,r"))
      assert.same({ "--status=running,paused" }, complete("clarifai pr cancel --status=running,p"))
      assert.same({}, complete("clarifai pr pause --status=running,p"))
      assert_same_set(RESUME_STATES, complete({ "clarifai", "pr", "resume", "--status", "=", "" }))
      assert_same_set(PAUSE_STATES, complete("clarifai --debug pr pause --user_id x --status "))
    end)

    it("completes --option=value words (COMP_WORDBREAKS without =)", function()
      assert_same_set({ "--output=json", "--output=jsonl" }, complete("clarifai pr ls --output=j"))
      assert.same({ "--status=running,paused" }, complete("clarifai pr ls --status=running,pa"))
    end)

    it("completes -o with the command's own formats", function()
      assert_same_set({ "text", "json", "jsonl", "ids" }, complete("clarifai pr pause -o "))
      assert_same_set({ "table", "wide", "json", "jsonl", "ids" }, complete("clarifai pr list -o "))
      assert_same_set({ "table", "wide", "json", "jsonl", "ids" }, complete("clarifai pr ls --output "))
      assert_same_set({ "table", "wide", "json" }, complete("clarifai -v pr get -o "))
      assert_same_set({ "text", "jsonl", "json" }, complete("clarifai pr monitor --output "))
    end)

    it("completes --context from the config file (and the --config on the line)", function()
      assert_same_set(CONTEXTS, complete("clarifai --context "))
      assert_same_set(CONTEXTS, complete("clarifai pr pause --context "))
      assert.same({ "prod" }, complete("clarifai pr list --context pr"))
      assert_same_set(OTHER_CONTEXTS, complete("clarifai --config " .. dir .. "/other.yaml --context "))
      assert_same_set(OTHER_CONTEXTS, complete("clarifai pr list --config=" .. dir .. "/other.yaml --context "))
      assert_same_set(OTHER_CONTEXTS, complete({ "clarifai", "--config", "=", dir .. "/other.yaml", "--context", "" }))
    end)

    it("completes --context names that are shell code as data, quoted, never running them", function()
      clear_pwned()
      local got = complete("clarifai --config " .. evil .. " --context ")
      assert.same({}, pwned())
      -- each name %q-quoted, as bash's printf %q writes it
      local argv = {}
      for i, n in ipairs(EVIL) do argv[i] = q(n) end
      local quoted = lines_of(capture("bash -c " .. q('printf "%q\\n" "$@"') .. " _ " .. table.concat(argv, " ")))
      assert.equal(#EVIL, #quoted)
      assert_same_set(quoted, got)
      assert.is_nil(count(got)[EVIL[1]], "a name offered unquoted")
      -- on the command line, each offered word is the name, one word, and runs nothing
      assert_same_set(prefixed("1 ", EVIL), read_back("bash", got))
      assert_same_set(prefixed("--context=", quoted),
        complete("clarifai pr ls --config=" .. evil .. " --context="))
      assert_same_set(quoted, complete({ "clarifai", "--config", "=", evil, "--context", "" }))
      -- a prefix, typed as the name reads or as it is quoted
      assert_same_set({ quoted[1], quoted[3] }, complete({ "clarifai", "--config", evil, "--context", "$(" }))
      assert_same_set({ quoted[1], quoted[3] }, complete({ "clarifai", "--config", evil, "--context", "\\$\\(" }))
      -- after an open quote readline completes the text behind it, then closes the quote
      local single = { EVIL[1], EVIL[3] }
      assert_same_set(single, complete({ "clarifai", "--config", evil, "--context", "'$(" }))
      got = complete({ "clarifai", "--config", evil, "--context", "'a" })
      assert.same({ (EVIL[4]:gsub("'", "'\\''")) }, got)
      assert.same({ "1 " .. EVIL[4] }, read_back("bash", got, "'"))
      got = complete({ "clarifai", "--config", evil, "--context", '"' })
      local double = {}
      for i, n in ipairs(EVIL) do double[i] = n:gsub('[\\$`"]', "\\%0") end
      assert_same_set(double, got)
      assert_same_set(prefixed("1 ", EVIL), read_back("bash", got, '"'))
      assert.same({}, pwned())
    end)

    it("completes file names for --config, --log_file and script's FILE", function()
      assert.same({ files .. "/flow.lua" }, complete("clarifai --config " .. files .. "/fl"))
      assert.same({ files .. "/flow.lua" }, complete("clarifai pr monitor --log_file " .. files .. "/fl"))
      assert.same({ files .. "/flow.lua" }, complete("clarifai pr monitor --log-file " .. files .. "/fl"))
      assert.same({ files .. "/flow.lua" }, complete("clarifai script " .. files .. "/fl"))
    end)

    it("completes the shells for `completion`, not the hidden contexts", function()
      assert_same_set({ "bash", "zsh", "fish" }, complete("clarifai completion "))
    end)

    it("offers nothing for ids and numbers, and skips option values", function()
      assert.same({}, complete("clarifai pr pause --user_id x "))
      assert.same({}, complete("clarifai pr pause --user-id "))
      assert.same({}, complete("clarifai pr list --page "))
      assert.same({}, complete("clarifai pr pause RUN1 "))
      -- "pr" is the value of --context here, not the command
      assert_same_set({ "pipelinerun", "pr", "completion", "script", "help" }, complete("clarifai --context pr "))
    end)

    it("offers pause's options, each once", function()
      local got = complete("clarifai pr pause --")
      assert_each_once(got, "pr pause --")
      for _, n in ipairs({ "--user_id", "--wait", "--dry-run", "--no-progress", "--config", "--context" }) do
        assert.is_true(count(got)[n] == 1, n .. " missing")
      end
      assert.is_nil(count(got)["--user-id"])
    end)

    it("offers every command's options, each once", function()
      for _, path in ipairs(command_paths()) do
        local got = complete(table.concat({ "clarifai", table.unpack(path) }, " ") .. " -")
        assert_each_once(got, table.concat(path, " "))
        assert_same_set(expected_options(path), got, table.concat(path, " "))
      end
      assert_same_set(expected_options({ "pipelinerun", "status" }), complete("clarifai pr get -"))
    end)
  end)

  if not optional.command("fish") then
    optional.skip("fish", "apt-get install fish")
  else
    describe("fish", function()
      local function complete(line)
        local out = {}
        local text = capture(env .. " fish " .. q(dir .. "/driver.fish") .. " " .. q(scripts.fish) .. " " .. q(line))
        for _, l in ipairs(lines_of(text)) do out[#out + 1] = l:match("^[^\t]*") end
        return out
      end

      it("passes fish -n", function()
        assert.equal("", capture("fish -n " .. q(scripts.fish)))
      end)

      it("completes commands, states, formats, contexts and files", function()
        assert_same_set({ "pause", "cancel", "resume", "status", "get", "list", "ls", "monitor", "history",
          "watch", "transitions" }, complete("clarifai pr "))
        assert_same_set(STATES, complete("clarifai pr list --status "))
        assert.same({ "running,paused" }, complete("clarifai pr list --status running,pa"))
        -- --status: only the states the command applies to
        assert_same_set(PAUSE_STATES, complete("clarifai pr pause --status "))
        assert_same_set(RESUME_STATES, complete("clarifai pipelinerun resume --status "))
        assert_same_set(CANCEL_STATES, complete("clarifai pr cancel --status "))
        assert_same_set(prefixed("running,", CANCEL_STATES), complete("clarifai pr cancel --status running,"))
        assert_same_set(STATES, complete("clarifai pipelinerun ls --status "))
        assert.same({}, complete("clarifai pr pause --status c"))
        assert.same({ "--status=running,paused" }, complete("clarifai pr cancel --status=running,p"))
        assert.same({}, complete("clarifai pr pause --status=running,p"))
        assert_same_set({ "text", "json", "jsonl", "ids" }, complete("clarifai pr pause -o "))
        assert_same_set({ "table", "wide", "json", "jsonl", "ids" }, complete("clarifai pr ls -o "))
        assert_same_set(CONTEXTS, complete("clarifai --context "))
        assert_same_set(OTHER_CONTEXTS, complete("clarifai --config " .. dir .. "/other.yaml --context "))
        assert.same({ files .. "/flow.lua" }, complete("clarifai pr monitor --log-file " .. files .. "/fl"))
        assert_same_set({ "bash", "zsh", "fish" }, complete("clarifai completion "))
        assert.same({}, complete("clarifai pr pause --user_id x "))
        -- "pr" is the value of --context here, not the command
        assert_same_set({ "pipelinerun", "pr", "completion", "script", "help" }, complete("clarifai --context pr "))
      end)

      it("completes --context names that are shell code as data, never running them", function()
        clear_pwned()
        -- complete -C lists the names themselves: fish escapes a completion as it inserts it
        assert_same_set(EVIL, complete("clarifai --config " .. evil .. " --context "))
        assert.same({}, pwned())
        assert_same_set(prefixed("--context=", EVIL), complete("clarifai pr ls --config=" .. evil .. " --context="))
        assert_same_set({ EVIL[1], EVIL[3] }, complete("clarifai --config " .. evil .. " --context '$("))
        assert_same_set({ EVIL[1], EVIL[3] }, complete("clarifai --config " .. evil .. " --context \\$\\("))
        assert.same({}, pwned())
      end)

      it("offers every command's options, each once", function()
        for _, path in ipairs(command_paths()) do
          local got = complete(table.concat({ "clarifai", table.unpack(path) }, " ") .. " -")
          assert_each_once(got, table.concat(path, " "))
          assert_same_set(expected_options(path), got, table.concat(path, " "))
        end
      end)
    end)
  end

  describe("zsh", function()
    it("is a #compdef file that registers _clarifai for clarifai", function()
      local text = cli.slurp(scripts.zsh)
      assert.equal("#compdef clarifai\n", text:match("^[^\n]*\n"))
      assert.matches("_clarifai() {", text, 1, true)
      assert.matches("compdef _clarifai clarifai", text, 1, true)
    end)

    it("gives every command its options, each once (its opts table)", function()
      local text = cli.slurp(scripts.zsh)
      local block = assert(text:match("\n  opts=%(\n(.-)\n  %)\n"), "no opts table")
      local opts = {}
      for path, names in block:gmatch("'([^']*)' '([^']*)'") do opts[path] = lines_of(names:gsub(" ", "\n")) end
      for _, path in ipairs(command_paths()) do
        local key = table.concat({ "clarifai", table.unpack(path) }, " ")
        assert(opts[key], "no options for " .. key)
        assert_each_once(opts[key], key)
        assert_same_set(expected_options(path), opts[key], key)
      end
    end)
  end)

  if not optional.command("zsh") then
    optional.skip("zsh", "apt-get install zsh")
  else
    describe("zsh, live", function()
      -- complete(out, lines) -> { line = the matches zsh's compadd was handed for it }
      local function complete(out, lines)
        local argv = {}
        for i, l in ipairs(lines) do argv[i] = q(l) end
        capture("timeout 120 " .. env .. " zsh -f " .. q(dir .. "/driver.zsh") .. " " .. q(scripts.zsh) .. " "
          .. q(out) .. " " .. table.concat(argv, " "))
        local got, current = {}, nil
        for _, l in ipairs(lines_of(cli.slurp(out))) do
          if l:sub(1, 3) == "## " then
            current = l:sub(4)
            got[current] = {}
          elseif l ~= "##end" and current then
            table.insert(got[current], l)
          end
        end
        assert(got[lines[1]], "the zsh driver recorded nothing (zsh/zpty?)")
        return got
      end

      it("passes zsh -n", function()
        assert.equal("", capture("zsh -n " .. q(scripts.zsh)))
      end)

      it("completes command lines in an interactive zsh", function()
        local lines = {
          "clarifai pr ", "clarifai pr list --status ", "clarifai pr list --status running,pa",
          "clarifai pr pause -o ", "clarifai pr list -o ", "clarifai --context ", "clarifai --context pr ",
          "clarifai pr pause --user_id x ", "clarifai completion ", "clarifai pr pause --",
          "clarifai pr ls --output=j",
          "clarifai pr pause --status ", "clarifai pipelinerun resume --status ", "clarifai pr cancel --status ",
          "clarifai pr cancel --status running,", "clarifai pipelinerun ls --status ", "clarifai pr pause --status c",
          "clarifai pr cancel --status=running,p", "clarifai pr pause --status=running,p",
        }
        local option_lines = {} -- "clarifai pipelinerun pause -" -> path, for every command
        for _, path in ipairs(command_paths()) do
          local line = table.concat({ "clarifai", table.unpack(path) }, " ") .. " -"
          option_lines[line] = path
          lines[#lines + 1] = line
        end
        local got = complete(dir .. "/zsh.out", lines)
        assert_same_set({ "pause", "cancel", "resume", "status", "get", "list", "ls", "monitor", "history",
          "watch", "transitions" }, got["clarifai pr "])
        assert_same_set(STATES, got["clarifai pr list --status "])
        assert.same({ "running,paused" }, got["clarifai pr list --status running,pa"])
        -- --status: only the states the command applies to
        assert_same_set(PAUSE_STATES, got["clarifai pr pause --status "])
        assert_same_set(RESUME_STATES, got["clarifai pipelinerun resume --status "])
        assert_same_set(CANCEL_STATES, got["clarifai pr cancel --status "])
        assert_same_set(prefixed("running,", CANCEL_STATES), got["clarifai pr cancel --status running,"])
        assert_same_set(STATES, got["clarifai pipelinerun ls --status "])
        assert.same({}, got["clarifai pr pause --status c"])
        assert.same({ "--status=running,paused" }, got["clarifai pr cancel --status=running,p"])
        assert.same({}, got["clarifai pr pause --status=running,p"])
        assert_same_set({ "text", "json", "jsonl", "ids" }, got["clarifai pr pause -o "])
        assert_same_set({ "table", "wide", "json", "jsonl", "ids" }, got["clarifai pr list -o "])
        assert_same_set(CONTEXTS, got["clarifai --context "])
        assert_same_set({ "pipelinerun", "pr", "completion", "script", "help" }, got["clarifai --context pr "])
        assert.same({}, got["clarifai pr pause --user_id x "])
        assert_same_set({ "bash", "zsh", "fish" }, got["clarifai completion "])
        assert_same_set({ "--output=json", "--output=jsonl" }, got["clarifai pr ls --output=j"])
        local opts = got["clarifai pr pause --"]
        assert_each_once(opts, "pr pause --")
        for _, n in ipairs({ "--user_id", "--wait", "--dry-run", "--no-progress", "--config", "--context" }) do
          assert.is_true(count(opts)[n] == 1, n .. " missing")
        end
        for line, path in pairs(option_lines) do
          assert_each_once(got[line], line)
          assert_same_set(expected_options(path), got[line], line)
        end
      end)

      it("completes --context names that are shell code as data, never running them", function()
        clear_pwned()
        local lines = {
          "clarifai --config " .. evil .. " --context ", "clarifai pr ls --config=" .. evil .. " --context=",
          "clarifai --config " .. evil .. " --context \\$\\(", "clarifai --config " .. evil .. " --context '$(",
        }
        local got = complete(dir .. "/zsh-evil.out", lines)
        assert.same({}, pwned())
        -- compadd was handed each name, which zsh quotes as it inserts it (what the driver records):
        -- ${(q)name}; on the command line that is the name again, one word
        local argv = {}
        for i, n in ipairs(EVIL) do argv[i] = q(n) end
        local quoted = lines_of(capture("zsh -fc " .. q('print -rl -- "${(@q)@}"') .. " _ " .. table.concat(argv, " ")))
        assert.equal(#EVIL, #quoted)
        assert_same_set(quoted, got[lines[1]])
        assert.is_nil(count(got[lines[1]])[EVIL[1]], "a name offered unquoted")
        assert_same_set(prefixed("1 ", EVIL), read_back("zsh -f", got[lines[1]]))
        assert_same_set(prefixed("--context=", quoted), got[lines[2]])
        assert_same_set({ quoted[1], quoted[3] }, got[lines[3]])
        -- after an open quote: zsh completes (and quotes for) the text behind it
        assert_same_set(prefixed("1 ", { EVIL[1], EVIL[3] }), read_back("zsh -f", got[lines[4]], "'"))
        assert.same({}, pwned())
      end)
    end)
  end
end)
