-- The documentation. The API reference (doc/, LDoc): every public function
-- of the documented modules is in PUBLIC and has an LDoc block above its
-- definition (every parameter, its returns, a usage example; its failure
-- group when it can fail at run time; @raise when it raises on bad
-- arguments), every function the README's API sections and the library's
-- topic pages name is in PUBLIC, and the committed doc/ is what `make doc`
-- writes now. The guides: the README is short and installs first; every
-- topic page (Markdown sources in doc/topics/*.md, rendered next to them by
-- `make doc`) is listed in config.ld, rendered and linked from the README;
-- every relative link of the README and the topic pages resolves. (The
-- README's code blocks are run by spec/e2e/readme_spec.lua.)

local cli = require "support.cli"

-- Module -> its public functions (methods of its objects as "Object:method").
-- A function a module exports and this table lacks fails the spec: document
-- it and add it here.
local PUBLIC = {
  ["clarifai"] = {},
  ["clarifai.runs"] = { "apply", "plan", "result_view", "view", "to_json", "encoder", "select", "pause", "cancel",
    "resume", "status", "status_view", "status_codes", "list", "history" },
  ["clarifai.client"] = { "proxy_for", "new", "set_defaults", "from_config", "default", "describe",
    "Client:build", "Client:session", "Client:close" },
  ["clarifai.watch"] = { "reached", "wait", "events", "monitor" },
  ["clarifai.monitor"] = { "monitor" },
  ["clarifai.async"] = { "current", "resume", "new", "Scheduler:spawn", "Handle:cancel", "Handle:done" },
  ["clarifai.async.luv"] = { "spawn" },
  ["clarifai.async.cqueues"] = { "wrap" },
  ["clarifai.async.coroutine"] = { "create", "resume", "wrap", "yield", "status", "running", "isyieldable" },
  ["clarifai.states"] = { "label", "name", "is_terminal", "code_of", "short", "parse", "names", "can", "view" },
  ["clarifai.json"] = { "array", "is_array", "decode", "encode_string", "number", "encode" },
  ["clarifai.errors"] = { "new", "derive", "is", "public", "export", "assert", "view", "signal_exit" },
}

-- Methods of the objects that only the library itself calls (the transport,
-- batches, the CLI): undocumented. Every method is in PUBLIC or here.
local INTERNAL_METHODS = {
  Client = { "secrets", "headers", "decode_context", "note", "trace_request", "trace_response" },
  Scheduler = { "wait_fd", "sleep", "adopt", "client" },
  Handle = {},
}

-- Functions that can fail at run time, and their failure group: "err" for
-- nil, message, err (every function errors.export wraps is one); "message"
-- for nil, message.
local FAILS = {
  ["clarifai.runs"] = { apply = "err", plan = "err", select = "err", pause = "err", cancel = "err", resume = "err",
    status = "err", status_codes = "err", list = "err", history = "err" },
  ["clarifai.client"] = { new = "err", from_config = "err", default = "err" },
  ["clarifai.watch"] = { wait = "err", events = "err", monitor = "err" },
  ["clarifai.monitor"] = { monitor = "err" },
  ["clarifai.json"] = { decode = "message" },
}

-- Functions that take an options table: their @raise states the one rule
-- (an option key it does not take, a callback that is not callable, raise;
-- a bad value returns nil, message, err).
local TAKES_OPTIONS = {
  ["clarifai.runs"] = { "apply", "plan", "select", "pause", "cancel", "resume", "status", "list", "history" },
  ["clarifai.client"] = { "new", "from_config" },
  ["clarifai.watch"] = { "wait", "events" },
  ["clarifai.monitor"] = { "monitor" },
}

-- A function of TAKES_OPTIONS whose block does not state the rule: one more problem.
local function check_rule(mod, name, block, where, problems)
  local text = table.concat(block, " "):gsub("%s*%-%-%s*", " ")
  for _, f in ipairs(TAKES_OPTIONS[mod] or {}) do
    if f == name and not (text:find("an option key it does not take", 1, true)
      and text:find("returns nil, message, err instead", 1, true)) then
      problems[#problems + 1] = where .. ": its @raise does not state the rule for options (unknown keys raise; "
        .. "bad values return nil, message, err)"
    end
  end
  return problems
end

-- Functions that raise on bad arguments (or, the adapters, on Lua 5.1): each has @raise.
local RAISES = {
  ["clarifai.runs"] = { "apply", "plan", "view", "to_json", "select", "pause", "cancel", "resume", "status", "list",
    "history" },
  ["clarifai.client"] = { "new", "from_config", "Client:session" },
  ["clarifai.watch"] = { "reached", "wait", "events", "monitor" },
  ["clarifai.monitor"] = { "monitor" },
  ["clarifai.async"] = { "new", "resume", "Scheduler:spawn" },
  ["clarifai.async.luv"] = { "spawn" },
  ["clarifai.async.cqueues"] = { "wrap" },
  ["clarifai.async.coroutine"] = { "wrap" },
  ["clarifai.json"] = { "encode" },
  ["clarifai.errors"] = { "new", "derive", "export", "assert" },
}

-- The texts whose clarifai.<module>.<function> names must be in PUBLIC: a
-- README section (path and title) or a whole topic page (path).
local API_TEXTS = {
  { "README.md", "The Lua API" },
  { "README.md", "Watch and react" },
  { "doc/topics/library.md" },
  { "doc/topics/embedding.md" },
  { "doc/topics/watch.md" },
}

-- The README's most lines: a guide, not a specification.
local README_MAX_LINES = 250

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function module_names()
  return sorted_keys(PUBLIC)
end

local function source_path(mod)
  return assert(package.searchpath(mod, "lua/?.lua;lua/?/init.lua"), "no source file for " .. mod)
end

local function read_lines(path)
  local lines = {}
  for line in (cli.slurp(path) .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  return lines
end

-- The method table of each documented object kind.
local function object_methods(kind)
  if kind == "Client" then return require("clarifai.client").Client end
  local async = require "clarifai.async"
  local sched = async.new({ wait_fd = function() end, sleep = function() end })
  if kind == "Scheduler" then return getmetatable(sched).__index end
  return getmetatable(sched:spawn(function() end)).__index -- Handle
end

-- Names missing from one set and present in the other, as a message (or nil).
local function set_difference(what, have, want)
  local extra, missing = {}, {}
  for _, k in ipairs(sorted_keys(have)) do if not want[k] then extra[#extra + 1] = k end end
  for _, k in ipairs(sorted_keys(want)) do if not have[k] then missing[#missing + 1] = k end end
  local msg = {}
  if #extra > 0 then
    msg[#msg + 1] = what .. " has undocumented functions (document them and add them to PUBLIC): "
      .. table.concat(extra, ", ")
  end
  if #missing > 0 then
    msg[#msg + 1] = "PUBLIC names functions " .. what .. " does not have: " .. table.concat(missing, ", ")
  end
  return #msg > 0 and table.concat(msg, "; ") or nil
end

-- The source line that defines a public name and the parameters it takes
-- (nil: not known from the source, e.g. an alias of a standard function).
local function find_definition(lines, name)
  local obj, method = name:match("^([%w_]+):([%w_]+)$")
  for i, line in ipairs(lines) do
    if obj then
      local params = line:match("^function " .. obj .. ":" .. method .. "%(([^)]*)%)")
      if params then return i, params end
    else
      local params = line:match("^function M%." .. name .. "%(([^)]*)%)")
      if params then return i, params end
      local expr = line:match("^M%." .. name .. "%s*=%s*(.-)%s*$")
      if expr then
        params = expr:match("^function%s*%(([^)]*)%)")
        if params then return i, params end
        local factory = expr:match("^([%w_]+)%(")
        local alias = expr:match("^([%w_]+)$")
        for j, l in ipairs(lines) do
          if factory and l:match("^local function " .. factory .. "%(") then
            for k = j + 1, #lines do
              params = lines[k]:match("return function%s*%(([^)]*)%)")
              if params then return i, params end
            end
          elseif alias then
            params = l:match("^local function " .. alias .. "%(([^)]*)%)")
            if params then return i, params end
          end
        end
        return i, nil
      end
    end
  end
  return nil
end

-- The comment block directly above line i: its lines without the comment
-- marks, and whether it is an LDoc block (starts with ---).
local function block_above(lines, i)
  local first = i
  while first > 1 and lines[first - 1]:match("^%s*%-%-") do first = first - 1 end
  if first == i then return nil end
  local out = {}
  for k = first, i - 1 do out[#out + 1] = (lines[k]:gsub("^%s*%-%-+ ?", "")) end
  return out, lines[first]:match("^%s*%-%-%-[^%-]") ~= nil or lines[first]:match("^%s*%-%-%-$") ~= nil
end

-- LDoc's typed-parameter tags (@string name ...) besides @param and @tparam.
local TYPED = { string = true, number = true, int = true, bool = true, func = true, tab = true, thread = true }

local function documented_params(block)
  local params = {}
  for _, line in ipairs(block) do
    local tag, rest = line:match("^@([%w_]+)(.*)$")
    if tag then
      rest = rest:gsub("^%b[]", "")
      local name
      if tag == "param" then
        name = rest:match("^%s+([%w_%.]+)")
      elseif tag == "tparam" then
        name = rest:match("^%s+%S+%s+([%w_%.]+)")
      elseif TYPED[tag] then
        name = rest:match("^%s+([%w_%.]+)")
      end
      if name then params[name] = true end
    end
  end
  return params
end

local function has_tag(block, pattern)
  for _, line in ipairs(block) do
    if line:match(pattern) then return true end
  end
  return false
end

-- What is wrong with one public name's documentation, as a list of messages.
local function check_doc(mod, name, lines, path)
  local qualified = mod .. "." .. name
  local at, params = find_definition(lines, name)
  if not at then return { qualified .. ": no definition found in " .. path } end
  local where = string.format("%s (%s:%d)", qualified, path, at)
  local block, ldoc = block_above(lines, at)
  if not block or not ldoc then return { where .. ": no LDoc block (--- ...) directly above its definition" } end
  local problems = {}
  local tagged = nil
  for _, line in ipairs(block) do tagged = tagged or line:match("^@function%s+([%w_]+)") end
  if tagged and tagged ~= name:match("[%w_]+$") then
    problems[#problems + 1] = where .. ": its block says @function " .. tagged
  end
  local documented = documented_params(block)
  for p in (params or ""):gmatch("[^,%s]+") do
    if p ~= "..." and p ~= "_" and not documented[p] then
      problems[#problems + 1] = where .. ": no @param for " .. p
    end
  end
  if not has_tag(block, "^@t?return") then problems[#problems + 1] = where .. ": no @return or @treturn" end
  if not has_tag(block, "^@usage") then problems[#problems + 1] = where .. ": no @usage" end
  local fails = FAILS[mod] and FAILS[mod][name]
  if fails then
    local group = { "nil", "string" }
    if fails == "err" then group[3] = "table" end
    for _, t in ipairs(group) do
      if not has_tag(block, "^@treturn%[2%]%s+" .. t .. "%f[%W]") then
        problems[#problems + 1] = where .. ": no failure return group entry @treturn[2] " .. t
      end
    end
  end
  if set_of(RAISES[mod] or {})[name] and not has_tag(block, "^@raise") then
    problems[#problems + 1] = where .. ": no @raise (it raises on bad arguments)"
  end
  return check_rule(mod, name, block, where, problems)
end

-- The text of a README section: from its "## " heading to the next one.
local function readme_section(text, title)
  local out, inside = {}, false
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if line:match("^## ") then inside = (line == "## " .. title) end
    if inside then out[#out + 1] = line end
  end
  return table.concat(out, "\n")
end

local function is_module(name)
  return package.searchpath(name, "lua/?.lua;lua/?/init.lua") ~= nil
end

-- Every clarifai.<module>.<function> a text names: written out
-- (clarifai.runs.pause|cancel|resume counts three), as
-- require("clarifai.x").fn, or through a local bound to require "clarifai.x".
local function named_functions(text)
  local names = {}
  local function add(full) names[#names + 1] = full end
  local pos = 1
  while true do
    local s, e, name = text:find("(clarifai%.[%w_%.]*[%w_])", pos)
    if not s then break end
    if not text:sub(s - 1, s - 1):match("[%w_]") then
      add(name)
      local prefix = name:match("^(.*)%.[%w_]+$")
      local k = e + 1
      while true do
        local alt = text:match("^|([%w_]+)", k)
        if not alt then break end
        add(prefix .. "." .. alt)
        k = k + 1 + #alt
      end
    end
    pos = e + 1
  end
  for mod, fn in text:gmatch("require%s*%(%s*[\"'](clarifai[%w_%.]*)[\"']%s*%)%.([%w_]+)") do add(mod .. "." .. fn) end
  -- locals bound to a module: the binding in force where each use appears
  local bindings = {}
  for at, var, expr in text:gmatch("()local%s+([%w_]+)%s*=%s*([^\n]*)") do
    local mod = expr:match("^require%s*%(?%s*[\"'](clarifai[%w_%.]*)[\"']%s*%)?%s*$")
    bindings[#bindings + 1] = { at = at, var = var, mod = mod }
  end
  for at, var, fn in text:gmatch("()%f[%w_]([%w_]+)%.([%w_]+)") do
    local mod
    for _, b in ipairs(bindings) do
      if b.at < at and b.var == var then mod = b.mod end
    end
    if mod then add(mod .. "." .. fn) end
  end
  return names
end

describe("the API reference", function()
  it("lists in PUBLIC exactly the functions each module exports (and each object's public methods)", function()
    local problems = {}
    for _, mod in ipairs(module_names()) do
      local m = require(mod)
      local have, want, objects = {}, {}, {}
      for k, v in pairs(m) do
        if type(v) == "function" then have[k] = true end
      end
      for _, name in ipairs(PUBLIC[mod]) do
        local obj, method = name:match("^([%w_]+):([%w_]+)$")
        if obj then
          objects[obj] = objects[obj] or {}
          objects[obj][method] = true
        else
          want[name] = true
        end
      end
      if mod == "clarifai.async.coroutine" and coroutine.isyieldable == nil then want.isyieldable = nil end
      problems[#problems + 1] = set_difference(mod, have, want)
      for obj, methods in pairs(objects) do
        local mhave = {}
        for k, v in pairs(object_methods(obj)) do
          if type(v) == "function" and not k:match("^__") then mhave[k] = true end
        end
        for _, k in ipairs(INTERNAL_METHODS[obj] or {}) do methods[k] = true end
        problems[#problems + 1] = set_difference(mod .. " object " .. obj
          .. " (methods: in PUBLIC, or in INTERNAL_METHODS when undocumented)", mhave, methods)
      end
    end
    assert(#problems == 0, table.concat(problems, "\n"))
  end)

  it("has every function the README's API sections and the library's topic pages name in PUBLIC", function()
    local problems = {}
    for _, t in ipairs(API_TEXTS) do
      local path, title = t[1], t[2]
      local text = cli.slurp(path)
      local where = title and (path .. " (" .. title .. ")") or path
      if title then text = readme_section(text, title) end
      assert(text ~= "", title and (path .. " has no section \"## " .. title .. "\"") or ("no " .. path))
      for _, full in ipairs(named_functions(text)) do
        local prefix, fn = full:match("^(.*)%.([%w_]+)$")
        if prefix and prefix:find(".", 1, true) and not PUBLIC[full] and not is_module(full) then
          if not PUBLIC[prefix] then
            problems[#problems + 1] = where .. " names " .. full .. ", but " .. prefix
              .. " is not a documented module (not in PUBLIC)"
          elseif not set_of(PUBLIC[prefix])[fn] then
            problems[#problems + 1] = where .. " names " .. full .. ", which PUBLIC lacks"
          end
        end
      end
    end
    assert(#problems == 0, table.concat(problems, "\n"))
  end)

  it("has an LDoc block for every PUBLIC function: params, returns, usage, failures, raises", function()
    local problems = {}
    for _, mod in ipairs(module_names()) do
      local path = source_path(mod)
      local lines = read_lines(path)
      for _, name in ipairs(PUBLIC[mod]) do
        for _, p in ipairs(check_doc(mod, name, lines, path)) do problems[#problems + 1] = p end
      end
      -- every function errors.export wraps fails with nil, message, err: in FAILS
      local exported = ""
      for _, line in ipairs(lines) do
        if not line:match("^%s*%-%-") then exported = exported .. (line:match("%.export%(M, (%b{})") or "") end
      end
      for name in exported:gmatch('"([%w_]+)"') do
        if not (FAILS[mod] and FAILS[mod][name] == "err") then
          problems[#problems + 1] = mod .. "." .. name .. " is exported by errors.export (it fails with nil, "
            .. "message, err) but FAILS does not list it"
        end
      end
    end
    assert(#problems == 0, table.concat(problems, "\n"))
  end)

  -- `make doc` into a temporary directory (once): its path.
  local generated
  local function generate()
    if generated then return generated end
    local has_ldoc = os.execute("command -v ldoc >/dev/null 2>&1")
    assert(has_ldoc == true or has_ldoc == 0, "ldoc is not installed: `make deps` (Debian: apt-get install lua-ldoc)")
    local dir = cli.tmpdir() .. "/doc"
    local p = assert(io.popen(string.format("cd %s && env -u LD_PRELOAD -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "
      .. "make -s --no-print-directory doc DOC_DIR=%s 2>&1; echo \"rc=$?\"", cli.quote(cli.root), cli.quote(dir))))
    local out = p:read("*a")
    p:close()
    assert(out:match("rc=0%s*$"), "make doc failed (an LDoc warning fails it):\n" .. out)
    generated = dir
    return dir
  end

  it("shows every PUBLIC function on its module's page", function()
    local dir = generate()
    local problems = {}
    for _, mod in ipairs(module_names()) do
      local page = dir .. "/modules/" .. mod .. ".html"
      local html = cli.slurp(page)
      if html == "" then
        problems[#problems + 1] = "make doc wrote no page for " .. mod .. " (is it in config.ld?)"
      else
        for _, name in ipairs(PUBLIC[mod]) do
          if not html:find('<a name = "' .. name .. '"></a>', 1, true) then
            problems[#problems + 1] = "the page of " .. mod .. " does not show " .. name
          end
        end
      end
    end
    assert(#problems == 0, table.concat(problems, "\n"))
  end)

  it("is committed as `make doc` writes it now (doc/ is not stale)", function()
    local dir = generate()
    -- the topic pages' Markdown sources are not LDoc's output
    local p = assert(io.popen(string.format("diff -r -x '*.md' %s %s 2>&1", cli.quote(dir), cli.quote(cli.root .. "/doc"))))
    local diff = p:read("*a")
    p:close()
    assert(diff == "", "the committed doc/ is stale: run `make doc` and commit doc/\n" .. diff:sub(1, 3000))
  end)
end)

-- The guides ------------------------------------------------------------------

-- The topic pages config.ld lists, in order (their sources' paths).
local function config_topics()
  local list = cli.slurp(cli.root .. "/config.ld"):match("\ntopics%s*=%s*(%b{})")
  assert(list, "config.ld has no topics = { ... } list")
  local out = {}
  for path in list:gmatch('"([^"]+)"') do out[#out + 1] = path end
  return out
end

-- The topic pages' sources in doc/topics/ (paths from the root), sorted.
local function topic_sources()
  local out = {}
  local p = assert(io.popen("cd " .. cli.quote(cli.root) .. " && ls doc/topics/*.md"))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

-- Markdown without its fenced blocks and code spans (where nothing is a link).
local function prose(text)
  local out, fenced = {}, false
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if line:match("^```") then
      fenced = not fenced
    elseif not fenced then
      out[#out + 1] = (line:gsub("`[^`]*`", "``"))
    end
  end
  return table.concat(out, "\n")
end

-- GitHub's anchor of a heading (and the id `make doc` gives it): lower case,
-- punctuation dropped, spaces to dashes.
local function slug(heading)
  return (heading:lower():gsub("[^%w%-_ ]", ""):gsub(" ", "-"))
end

-- The anchors of a Markdown file's headings.
local function anchors(text)
  local out = {}
  for line in (prose(text) .. "\n"):gmatch("(.-)\n") do
    local heading = line:match("^#+%s+(.-)%s*$")
    if heading then out[slug(heading)] = true end
  end
  -- code spans were emptied by prose(): take the headings from the text itself
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local heading = line:match("^#+%s+(.-)%s*$")
    if heading then out[slug(heading)] = true end
  end
  return out
end

-- The relative links of a Markdown file: { target, anchor }.
local function relative_links(text)
  local out = {}
  for target in prose(text):gmatch("%]%(([^)%s]+)%)") do
    if not target:match("^%a[%w+.-]*:") then
      local path, anchor = target:match("^([^#]*)#?(.*)$")
      out[#out + 1] = { target = target, path = path, anchor = anchor }
    end
  end
  return out
end

-- The problems with one Markdown file's relative links (path from the root).
local function link_problems(file, problems)
  local text = cli.slurp(cli.root .. "/" .. file)
  local dir = file:match("^(.*)/[^/]*$") or "."
  for _, link in ipairs(relative_links(text)) do
    local path = link.path == "" and file or (dir .. "/" .. link.path)
    if not exists(cli.root .. "/" .. path) then
      problems[#problems + 1] = file .. ": the link " .. link.target .. " names no file"
    elseif link.anchor ~= "" and path:match("%.md$") and not anchors(cli.slurp(cli.root .. "/" .. path))[link.anchor] then
      problems[#problems + 1] = file .. ": the link " .. link.target .. " names no heading of " .. path
    end
  end
  return problems
end

describe("the guides", function()
  local readme = cli.slurp(cli.root .. "/README.md")

  it("the README is a guide: at most " .. README_MAX_LINES .. " lines, installing first, then make demo and make test",
    function()
      local n = select(2, readme:gsub("\n", ""))
      assert(n <= README_MAX_LINES, "README.md has " .. n .. " lines; at most " .. README_MAX_LINES
        .. ": move the details to a topic page in doc/topics/")
      local first = prose(readme):match("\n## ([^\n]*)")
      assert(first and first:match("^Install"), "the README's first section after its title and introduction "
        .. "must be about installing, not \"" .. tostring(first) .. "\"")
      local install = readme_section(readme, first)
      assert(install:find("luarocks install clarifai", 1, true), "the install section names `luarocks install clarifai`")
      assert(install:find("make rock", 1, true), "the install section says what `make rock` lays out")
      assert(install:find("untested", 1, true) and install:find("brew install lua luarocks curl libyaml", 1, true),
        "the install section gives the Homebrew set-up, marked untested")
      -- the two commands that do all set-up on Debian 12, not as the first thing
      local demo, test = readme:find("`make demo`", 1, true), readme:find("`make test`", 1, true)
      assert(demo and test, "the README names `make demo` and `make test`")
      assert(readme:find("N passed, N failed", 1, true), "the README says how `make test` ends")
      assert(demo > readme:find("luarocks install clarifai", 1, true), "`make demo` comes after the luarocks install")
    end)

  it("lists every topic page in config.ld, renders it into doc/ and links it from the README", function()
    local problems = {}
    local listed = config_topics()
    local sorted = {}
    for i, t in ipairs(listed) do sorted[i] = t end
    table.sort(sorted)
    local sources = topic_sources()
    assert(#sources > 0, "no topic pages in doc/topics/")
    assert.same(sources, sorted, "the topic pages in doc/topics/ and config.ld's topics list differ")
    local links = {}
    for _, link in ipairs(relative_links(readme)) do links[link.path] = true end
    for _, path in ipairs(listed) do
      local html = cli.slurp(cli.root .. "/" .. path .. ".html")
      local title = cli.slurp(cli.root .. "/" .. path):match("^# ([^\n]+)")
      if not title then problems[#problems + 1] = path .. " does not start with its title (# ...)" end
      if html == "" then
        problems[#problems + 1] = path .. " is not rendered into " .. path .. ".html (make doc)"
      elseif not cli.slurp(cli.root .. "/doc/index.html"):find('href="' .. path:gsub("^doc/", "") .. '.html"', 1, true) then
        problems[#problems + 1] = "doc/index.html does not list " .. path
      end
      if not links[path] then problems[#problems + 1] = "the README does not link " .. path end
    end
    assert(#problems == 0, table.concat(problems, "\n"))
  end)

  it("has every relative link of the README and the topic pages name a file (and a heading, with an anchor)",
    function()
      local problems = link_problems("README.md", {})
      for _, path in ipairs(topic_sources()) do link_problems(path, problems) end
      assert(#problems == 0, table.concat(problems, "\n"))
    end)

  it("renders the topic pages' Markdown whole: tables, code, links between the rendered pages", function()
    local problems = {}
    for _, path in ipairs(config_topics()) do
      local file = path .. ".html"
      local html = cli.slurp(cli.root .. "/" .. file)
      local text = html:gsub("<pre>.-</pre>", "")
      if text:find("<p>|", 1, true) then problems[#problems + 1] = file .. ": a table left as text" end
      if text:find("`", 1, true) then problems[#problems + 1] = file .. ": a code span left as text (one line each)" end
      if text:find("<code>[^<]*<em>") or text:find("<code>[^<]*<strong>") then
        problems[#problems + 1] = file .. ": emphasis inside code (a * pair in a code span: use a code block)"
      end
      for href in html:gmatch('href="([^"]+)"') do
        if not href:match("^%a[%w+.-]*:") and not href:match("^#") then
          local target, anchor = href:match("^([^#]*)#?(.*)$")
          local full = cli.root .. "/doc/topics/" .. target
          if not exists(full) then
            problems[#problems + 1] = file .. ": href " .. href .. " names no file"
          elseif anchor ~= "" and target:match("%.html$") then
            local page = cli.slurp(full)
            local quoted = '"' .. anchor:gsub("%p", "%%%0") .. '"'
            if not (page:find("id%s*=%s*" .. quoted) or page:find("name%s*=%s*" .. quoted)) then
              problems[#problems + 1] = file .. ": href " .. href .. " names no anchor of " .. target
            end
          end
        end
      end
    end
    assert(#problems == 0, table.concat(problems, "\n"))
  end)
end)
