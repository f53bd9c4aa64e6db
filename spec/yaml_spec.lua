-- Specs for the C module clarifai.yaml.core (csrc/yaml.c).
local raw = require "clarifai.yaml.core"

-- Every load names its limits (the library's come from clarifai.limits);
-- the specs use the library's unless a case gives its own.
local LIMITS = { max_size = 1024 * 1024, max_depth = 64 }
local function with_limits(opts)
  local o = {}
  for k, v in pairs(LIMITS) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  return o
end
local core = { load = function(text, opts) return raw.load(text, with_limits(opts)) end }

local SANITIZE = os.getenv("CLARIFAI_SANITIZE") ~= nil

-- Loads that must fail: nil, message and code, exactly three values.
local function fails(text, opts)
  local r = table.pack(core.load(text, opts))
  assert.equal(3, r.n, "expected nil, message, code")
  assert.is_nil(r[1])
  assert.is_string(r[2])
  assert.is_string(r[3])
  return r[2], r[3]
end

-- Loads that must succeed: exactly one value.
local function loads(text, opts)
  local r = table.pack(core.load(text, opts))
  assert.equal(1, r.n, r[2])
  return r[1]
end

-- Seconds of CPU time f takes.
local function cpu(f)
  local t = os.clock()
  f()
  return os.clock() - t
end

-- Anything in v that is not a string or a table (a leftover placeholder).
local function odd_values(v, found)
  found = found or {}
  for k, x in pairs(v) do
    if type(x) == "table" then
      odd_values(x, found)
    elseif type(x) ~= "string" then
      found[#found + 1] = tostring(k) .. "=" .. type(x)
    end
  end
  return found
end

local count = require("support.cli").count

describe("clarifai.yaml.core #portable", function()
  describe("module", function()
    it("exports load, the libyaml version and its hard limits only", function()
      assert.is_function(core.load)
      assert.is_string(raw._VERSION)
      assert.matches("^%d+%.%d+%.%d+$", raw._VERSION)
      assert.equal(3, count(raw)) -- load, _VERSION, limits
    end)

    it("is the same table when required twice", function()
      assert.equal(raw, require "clarifai.yaml.core")
    end)

    it("works again after package.loaded is reset and it is required again", function()
      local saved = package.loaded["clarifai.yaml.core"]
      package.loaded["clarifai.yaml.core"] = nil
      local again = require "clarifai.yaml.core"
      package.loaded["clarifai.yaml.core"] = saved
      assert.are_not.equal(saved, again)
      assert.same({ a = "1" }, again.load("a: 1\n", LIMITS))
      assert.same({ b = "2" }, saved.load("b: 2\n", LIMITS))
      local _, err, code = again.load("a: &x 1\n", LIMITS)
      assert.equal("1:4: anchors and aliases are not allowed", err)
      assert.equal("yaml_unsupported", code)
    end)
  end)

  describe("scalars", function()
    it("are the exact string written, with no implicit typing", function()
      local v = loads([[
version_id: 0123
exp: 1e3
yes_: yes
no_: no
on_: on
t: true
f: False
int: 12
neg: -1.5
inf: .inf
nan: .nan
hex: 0x1F
date: 2024-01-31
under: 1_000
]])
      assert.same({
        version_id = "0123", exp = "1e3", yes_ = "yes", no_ = "no", on_ = "on",
        t = "true", f = "False", int = "12", neg = "-1.5", inf = ".inf", nan = ".nan",
        hex = "0x1F", date = "2024-01-31", under = "1_000",
      }, v)
      assert.equal("0123", loads("0123"))
      assert.equal("string", type(loads("12")))
    end)

    it("plain null forms are nil and the entry is absent", function()
      local v = loads("a: null\nb: Null\nc: NULL\nd: ~\ne:\nf: x\n")
      assert.same({ f = "x" }, v)
      assert.equal(1, count(v))
      assert.same({}, loads("a:\nb: ~\n"))
    end)

    it("quoted null forms are strings", function()
      assert.same({ a = "null", b = "~", c = "", d = "NULL", e = "" },
        loads("a: 'null'\nb: \"~\"\nc: ''\nd: \"NULL\"\ne: \"\"\n"))
      assert.equal("null", loads("'null'"))
    end)

    it("look-alikes of null are strings", function()
      assert.same({ a = "nULL", b = "~~", c = "none", d = "nil" },
        loads("a: nULL\nb: ~~\nc: none\nd: nil\n"))
    end)

    it("decodes escapes in double-quoted strings", function()
      assert.equal("a\tb\n\0c\195\169", loads([["a\tb\n\0c\u00e9"]]))
    end)

    it("returns block scalars as libyaml gives them", function()
      assert.same({
        lit = "line 1\n  line 2\n",
        strip = "x\ny",
        folded = "one two\nthree\n",
        keep = "k\n\n",
      }, loads("lit: |\n  line 1\n    line 2\nstrip: |-\n  x\n  y\n" ..
        "folded: >\n  one\n  two\n\n  three\nkeep: |+\n  k\n\n"))
    end)
  end)

  describe("documents", function()
    it("returns a single nil for an empty stream or a null root", function()
      for _, text in ipairs({ "", "# only a comment\n", "---\n", "null", "~", "--- ~\n...\n" }) do
        local r = table.pack(core.load(text))
        assert.equal(1, r.n, text)
        assert.is_nil(r[1], text)
      end
    end)

    it("returns a scalar root", function()
      assert.equal("hello", loads("hello"))
      assert.equal("hello", loads("--- hello\n...\n"))
    end)

    it("rejects more than one document at the second one", function()
      local err, code = fails("a: 1\n---\nb: 2\n")
      assert.equal("2:1: more than one document", err)
      assert.equal("yaml_unsupported", code)
      err, code = fails("---\na\n...\n---\nb\n")
      assert.equal("4:1: more than one document", err)
      assert.equal("yaml_unsupported", code)
      err = fails("a: 1\n---\n")
      assert.equal("2:1: more than one document", err)
    end)

    it("accepts UTF-16 with a byte order mark", function()
      local text = "\255\254" .. ("a: b\nc: [d]\n"):gsub(".", "%0\0")
      assert.same({ a = "b", c = { "d" } }, loads(text))
    end)
  end)

  describe("configuration files", function()
    it("loads the flat form", function()
      local v = loads([[
# clarifai CLI configuration
user_id: jdoe
app_id: pipelines
pat: "00f3c1d2e4b5"
base_url: https://api.clarifai.com
]])
      assert.same({
        user_id = "jdoe", app_id = "pipelines", pat = "00f3c1d2e4b5",
        base_url = "https://api.clarifai.com",
      }, v)
    end)

    it("loads the nested env: form", function()
      local v = loads([[
current_env: prod
env:
  prod:
    user_id: jdoe
    app_id: pipelines
    pat: 00f3c1d2e4b5
    base_url: https://api.clarifai.com
  staging:
    user_id: jdoe
    app_id: pipelines-staging
    pat: ~
    base_url: 'https://api-staging.clarifai.com'
]])
      assert.same({
        current_env = "prod",
        env = {
          prod = {
            user_id = "jdoe", app_id = "pipelines", pat = "00f3c1d2e4b5",
            base_url = "https://api.clarifai.com",
          },
          staging = {
            user_id = "jdoe", app_id = "pipelines-staging",
            base_url = "https://api-staging.clarifai.com",
          },
        },
      }, v)
    end)

    it("loads a config-lock.yaml with the Argo spec verbatim", function()
      local argo = table.concat({
        "apiVersion: argoproj.io/v1alpha1",
        "kind: Workflow",
        "metadata:",
        "  generateName: image-classify-",
        "spec:",
        "  entrypoint: sequence",
        "  # steps run in order",
        "  templates:",
        "    - name: sequence",
        "      steps:",
        "        - - name: prepare",
        "            templateRef:",
        "              name: users/jdoe/apps/pipelines/pipeline_steps/prepare",
        "              template: users/jdoe/apps/pipelines/pipeline_steps/prepare/versions/7d2a",
        "        - - name: classify",
        "            arguments:",
        "              parameters:",
        "                - name: input",
        "                  value: \"{{steps.prepare.outputs.parameters.out}}\"",
        "",
        "            templateRef: {name: classify, template: classify}",
        "",
      }, "\n")
      local lock = table.concat({
        "pipeline:",
        "  id: image-classify",
        "  user_id: jdoe",
        "  app_id: pipelines",
        "  version_id: 0123456789",
        "  orchestration_spec:",
        "    argo_orchestration_spec: |",
        (argo:gsub("([^\n]*)\n", function(line)
          return (line == "" and "" or "      " .. line) .. "\n"
        end)),
      }, "\n")
      local v = loads(lock)
      assert.equal("image-classify", v.pipeline.id)
      assert.equal("jdoe", v.pipeline.user_id)
      assert.equal("pipelines", v.pipeline.app_id)
      assert.equal("0123456789", v.pipeline.version_id)
      assert.equal(argo, v.pipeline.orchestration_spec.argo_orchestration_spec)
      -- The embedded document loads too.
      local w = loads(v.pipeline.orchestration_spec.argo_orchestration_spec)
      assert.equal("Workflow", w.kind)
      assert.equal("{{steps.prepare.outputs.parameters.out}}",
        w.spec.templates[1].steps[2][1].arguments.parameters[1].value)
    end)
  end)

  describe("mappings and sequences", function()
    it("keys are the exact string written, in any style", function()
      local v = loads("1: a\n'b c': b\n\"d\\te\": c\n~: d\nnull: e\n? f\n: g\n!!str h: i\n")
      assert.same({ ["1"] = "a", ["b c"] = "b", ["d\te"] = "c", ["~"] = "d", null = "e",
        f = "g", h = "i" }, v)
      assert.is_nil(v[1])
      assert.equal("x", loads("\"\": x\n")[""])
    end)

    it("sequences keep later indices after nulls", function()
      local v = loads("- a\n-\n- ~\n- null\n- e\n- ''\n")
      assert.equal("a", v[1])
      assert.is_nil(v[2])
      assert.is_nil(v[3])
      assert.is_nil(v[4])
      assert.equal("e", v[5])
      assert.equal("", v[6])
      assert.equal(3, count(v))
      v = loads("[~, b, null, 'null', ~]")
      assert.is_nil(v[1])
      assert.equal("b", v[2])
      assert.equal("null", v[4])
      assert.equal(2, count(v))
    end)

    it("builds nested structures with no placeholders left behind", function()
      local v = loads("a:\n  b: [1, {c: ~, d: x}, [], {}]\n  e:\n  f: {g: ~}\n")
      assert.same({ a = { b = { "1", { d = "x" }, {}, {} }, f = {} } }, v)
      assert.same({}, odd_values(v))
    end)

    it("accepts the standard container tags", function()
      assert.same({ a = { b = "1" }, c = { "d" } }, loads("a: !!map {b: 1}\nc: !!seq [d]\n"))
    end)
  end)

  describe("tags", function()
    it("accepts the standard scalar tags without typing", function()
      assert.same({ a = "x", b = "12", c = "1.5", d = "true", e = "null", f = "" },
        loads("a: !!str x\nb: !!int 12\nc: !!float 1.5\nd: !!bool true\n" ..
          "e: !!str null\nf: !!str\ng: !!null ~\nh: !!null\n"))
      assert.equal("x", loads("!<tag:yaml.org,2002:str> x"))
    end)

    it("rejects every other tag, naming it", function()
      local cases = {
        { "a: !!binary aGk=\n", "1:4: tag '!!binary' is not allowed" },
        { "- !!python/object/apply:os.system ['id']\n",
          "1:3: tag '!!python/object/apply:os.system' is not allowed" },
        { "!foo x", "1:1: tag '!foo' is not allowed" },
        { "! x", "1:1: tag '!' is not allowed" },
        { "a: !!set {b}\n", "1:4: tag '!!set' is not allowed" },
        { "a: !!timestamp 2001-12-14\n", "1:4: tag '!!timestamp' is not allowed" },
        { "!!seq {a: 1}", "1:1: tag '!!seq' is not allowed" },
        { "!!str [a]", "1:1: tag '!!str' is not allowed" },
        { "!!map x", "1:1: tag '!!map' is not allowed" },
        { "!binary: 1\n", "1:1: tag '!binary:' is not allowed" },
        { "%TAG !e! tag:example.com,2000:\n---\n!e!foo x",
          "3:1: tag 'tag:example.com,2000:foo' is not allowed" },
      }
      for _, c in ipairs(cases) do
        local err, code = fails(c[1])
        assert.equal(c[2], err)
        assert.equal("yaml_unsupported", code)
      end
    end)

    it("truncates a long tag name to 64 bytes", function()
      local err = fails("!" .. ("t"):rep(200) .. " x")
      assert.equal("1:1: tag '!" .. ("t"):rep(63) .. "' is not allowed", err)
    end)
  end)

  describe("anchors and aliases", function()
    it("are rejected at the first one", function()
      local cases = {
        { "a: &x 1\nb: *x\n", "1:4: anchors and aliases are not allowed" },
        { "a: *x\n", "1:4: anchors and aliases are not allowed" },
        { "- &s [1]\n", "1:3: anchors and aliases are not allowed" },
        { "base: &b {x: 1}\n", "1:7: anchors and aliases are not allowed" },
        { "a: 1\nb:\n  <<: *m\n", "3:7: anchors and aliases are not allowed" },
      }
      for _, c in ipairs(cases) do
        local err, code = fails(c[1])
        assert.equal(c[2], err)
        assert.equal("yaml_unsupported", code)
      end
    end)

    it("stop a billion-laughs file fast", function()
      local lines = { 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]' }
      for i = 2, 10 do
        local prev, cur = string.char(96 + i - 1), string.char(96 + i)
        lines[i] = ("%s: &%s [%s]"):format(cur, cur, ("*" .. prev .. ","):rep(9):sub(1, -2))
      end
      local text = table.concat(lines, "\n") .. "\n"
      local err, code
      local t = cpu(function() err, code = fails(text) end)
      assert.equal("1:4: anchors and aliases are not allowed", err)
      assert.equal("yaml_unsupported", code)
      require("support.bounds").check("yaml_reject", t, "rejecting it (CPU seconds)")
    end)
  end)

  describe("duplicate keys", function()
    it("are rejected at the second occurrence", function()
      local err, code = fails("a: 1\nb: 2\na: 3\n")
      assert.equal("3:1: duplicate key 'a'", err)
      assert.equal("yaml_duplicate", code)
    end)

    it("are rejected when the first value was null", function()
      local err, code = fails("a:\nb: 1\na: 2\n")
      assert.equal("3:1: duplicate key 'a'", err)
      assert.equal("yaml_duplicate", code)
      assert.equal("2:1: duplicate key 'a'", (fails("a: ~\na: ~\n")))
      assert.equal("1:11: duplicate key 'k'", (fails("{k: null, k: x}")))
    end)

    it("are the same string whatever the quoting", function()
      assert.equal("2:1: duplicate key 'a'", (fails("a: 1\n\"a\": 2\n")))
      assert.equal("2:1: duplicate key '1'", (fails("1: x\n'1': y\n")))
    end)

    it("are found inside nested mappings only among siblings", function()
      assert.same({ a = { x = "1" }, b = { x = "2" } }, loads("a: {x: 1}\nb: {x: 2}\n"))
      assert.equal("3:3: duplicate key 'x'", (fails("a:\n  x: 1\n  x: 2\n")))
    end)

    it("are named safely: at most 64 bytes, control bytes as '?'", function()
      local long = ("k"):rep(100)
      assert.equal("2:1: duplicate key '" .. ("k"):rep(64) .. "'",
        (fails(long .. ": 1\n" .. long .. ": 2\n")))
      assert.equal("2:1: duplicate key 'a??b?c'",
        (fails('"a\\x01\\tb\\x7fc": 1\n"a\\x01\\tb\\x7fc": 2\n')))
      -- A cut never splits a UTF-8 character.
      local utf = ("x"):rep(63) .. "\195\169" .. "yyy"
      assert.equal("2:1: duplicate key '" .. ("x"):rep(63) .. "'",
        (fails(utf .. ": 1\n" .. utf .. ": 2\n")))
    end)
  end)

  describe("non-scalar keys", function()
    it("are rejected", function()
      local cases = {
        { "? [a]\n: b\n", "1:3: a mapping key must be a scalar" },
        { "{[a]: b}", "1:2: a mapping key must be a scalar" },
        { "? {a: 1}\n: b\n", "1:3: a mapping key must be a scalar" },
        { "x:\n  ? - a\n  : b\n", "2:5: a mapping key must be a scalar" },
      }
      for _, c in ipairs(cases) do
        local err, code = fails(c[1])
        assert.equal(c[2], err)
        assert.equal("yaml_unsupported", code)
      end
    end)
  end)

  describe("nesting depth", function()
    it("allows max_depth levels and rejects one more", function()
      assert.same({ { { {} } } }, loads("[[[[]]]]", { max_depth = 4 }))
      local err, code = fails("[[[[]]]]", { max_depth = 3 })
      assert.equal("1:4: nesting is deeper than the limit of 3 levels", err)
      assert.equal("yaml_limit", code)
      err = fails("a:\n  b:\n    c: 1\n", { max_depth = 2 })
      assert.equal("3:5: nesting is deeper than the limit of 2 levels", err)
    end)

    it("defaults to 64", function()
      local ok = ("["):rep(64) .. ("]"):rep(64)
      assert.is_table(loads(ok))
      local err, code = fails(("["):rep(65) .. ("]"):rep(65))
      assert.equal("1:65: nesting is deeper than the limit of 64 levels", err)
      assert.equal("yaml_limit", code)
    end)

    it("rejects a 100 000-deep flow sequence fast", function()
      local text = ("["):rep(100000) .. ("]"):rep(100000)
      local err, code
      local t = cpu(function() err, code = fails(text) end)
      assert.equal("1:65: nesting is deeper than the limit of 64 levels", err)
      assert.equal("yaml_limit", code)
      require("support.bounds").check("yaml_reject", t, "rejecting it (CPU seconds)")
    end)

    it("handles the largest max_depth without overflowing the Lua stack", function()
      local parts = {}
      for i = 1, 5000 do parts[i] = "{k: [" end
      parts[#parts + 1] = "leaf"
      for _ = 1, 5000 do parts[#parts + 1] = "]}" end
      if _VERSION == "Lua 5.1" then
        -- 5.1 and LuaJIT allow a C function ~8000 stack slots: deep input is
        -- refused with a position, never raised as a stack overflow
        local err, code = fails(table.concat(parts), { max_depth = 10000 })
        assert.equal("yaml_limit", code)
        assert.matches("^1:%d+: nesting is deeper than this Lua's stack allows$", err)
        return
      end
      local v = loads(table.concat(parts), { max_depth = 10000 })
      for _ = 1, 5000 do v = v.k[1] end
      assert.equal("leaf", v)
      local err = fails("{k: " .. table.concat(parts) .. "}", { max_depth = 10000 })
      assert.equal("1:25004: nesting is deeper than the limit of 10000 levels", err)
    end)
  end)

  describe("size limit", function()
    it("defaults to 1 MiB, checked before parsing", function()
      local pad = "# " .. ("x"):rep(1048576 - 8) .. "\na: 1\n"
      assert.equal(1048576, #pad)
      assert.same({ a = "1" }, loads(pad))
      local err, code = fails(pad .. " ")
      assert.equal("1:1: input is 1048577 bytes; the limit is 1048576 bytes", err)
      assert.equal("yaml_limit", code)
      -- Checked before parsing: bad YAML over the limit is a size error.
      err, code = fails(("&x "):rep(400000))
      assert.equal("1:1: input is 1200000 bytes; the limit is 1048576 bytes", err)
      assert.equal("yaml_limit", code)
    end)

    it("honours a custom max_size", function()
      assert.same({ a = "1" }, loads("a: 1\n", { max_size = 5 }))
      local err, code = fails("a: 1\n", { max_size = 4 })
      assert.equal("1:1: input is 5 bytes; the limit is 4 bytes", err)
      assert.equal("yaml_limit", code)
      assert.is_nil(loads("", { max_size = 0 }))
    end)

    it("accepts a 2 MB block scalar with a 16 MiB limit", function()
      local line = ("0123456789abcdef"):rep(4)
      local body = (line .. "\n"):rep(32768)
      local text = "blob: |\n" .. ("  " .. line .. "\n"):rep(32768)
      assert.is_true(#text > 2000000)
      local _, code = fails(text)
      assert.equal("yaml_limit", code)
      assert.equal(body, loads(text, { max_size = 16 * 1048576 }).blob)
    end)
  end)

  describe("bad input", function()
    it("reports libyaml syntax errors with their context", function()
      local err, code = fails("a: [b\n")
      assert.equal("2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)", err)
      assert.equal("yaml_parse", code)
      err, code = fails("a: 'b\n")
      assert.equal("2:1: found unexpected end of stream (while scanning a quoted scalar at 1:4)", err)
      assert.equal("yaml_parse", code)
      err, code = fails("a: b\n c: d\n")
      assert.equal("2:3: mapping values are not allowed in this context", err)
      assert.equal("yaml_parse", code)
      err, code = fails("\ta: 1\n")
      assert.matches("^1:1: found character that cannot start any token", err)
      assert.equal("yaml_parse", code)
    end)

    it("rejects invalid UTF-8 at its position", function()
      local err, code = fails("a: \255\n")
      assert.equal("1:4: invalid leading UTF-8 octet", err)
      assert.equal("yaml_parse", code)
      err, code = fails("a: 1\nb: \195\40\n")
      assert.equal("2:5: invalid trailing UTF-8 octet", err)
      assert.equal("yaml_parse", code)
      err = fails("\239\187\191a: \195\169\nb: \237\160\128\n")
      assert.equal("2:4: invalid Unicode character", err)
      err = fails("a: 1\r\nbb: \195")
      assert.equal("2:5: incomplete UTF-8 octet sequence", err)
    end)

    it("rejects control bytes at their position", function()
      local err, code = fails("a: b\1\n")
      assert.equal("1:5: control characters are not allowed", err)
      assert.equal("yaml_parse", code)
      err = fails("k: \195\169\195\169\127\n")
      assert.equal("1:6: control characters are not allowed", err)
      err = fails("a: 1\nb: c\0\n")
      assert.equal("2:5: control characters are not allowed", err)
    end)

    it("never raises for bad input", function()
      local ok, v, err, code = pcall(core.load, "a: [")
      assert.is_true(ok)
      assert.is_nil(v)
      assert.matches("^%d+:%d+: ", err)
      assert.equal("yaml_parse", code)
      for _, text in ipairs({ "\0", "\255\254\0", "&", "*", "!", "%YAML 9.9\n---\na", "{", "]", "? ? ?",
        "- [a, {b: &c}]", "a: !<!> x", "'\\", "\"\\x\"", ("- "):rep(200) }) do
        local r = table.pack(pcall(core.load, text))
        assert.is_true(r[1], r[2])
      end
    end)
  end)

  describe("options", function()
    it("needs both limits: no defaults of its own", function()
      assert.has_error(function() raw.load("a: 1") end)
      assert.has_error(function() raw.load("a: 1", {}) end)
      assert.has_error(function() raw.load("a: 1", { max_size = 10 }) end, nil)
      local ok, err = pcall(raw.load, "a: 1", { max_depth = 4 })
      assert.is_false(ok)
      assert.matches("option 'max_size' is required", err, 1, true)
      assert.equal(10000, raw.limits.max_depth)
      assert.same({ a = "1" }, raw.load("a: 1", { max_size = 10, max_depth = 2 }))
    end)

    it("raises for wrong argument types", function()
      assert.has_error(function() raw.load() end)
      assert.has_error(function() raw.load(nil) end)
      assert.has_error(function() raw.load({}) end)
      assert.has_error(function() raw.load("a", 5) end)
      assert.has_error(function() raw.load("a", "max_size") end)
    end)

    it("raises for unknown option names", function()
      local ok, err = pcall(raw.load, "a", with_limits({ max_sise = 5 }))
      assert.is_false(ok)
      assert.matches("unknown option 'max_sise'", err)
      assert.has_error(function() raw.load("a", with_limits({ 5 })) end)
    end)

    it("raises for bad option values", function()
      for _, opts in ipairs({
        { max_size = "10" }, { max_size = 1.5 }, { max_size = -1 }, { max_size = true },
        { max_depth = 0 }, { max_depth = 10001 }, { max_depth = "64" }, { max_depth = 2.5 },
      }) do
        assert.has_error(function() raw.load("a", with_limits(opts)) end)
      end
      local ok, err = pcall(raw.load, "a", with_limits({ max_depth = 10001 }))
      assert.is_false(ok)
      assert.matches("max_depth", err)
      assert.is_table(loads("[a]", { max_depth = 10000, max_size = 3.0 }))
    end)
  end)

  describe("skim", function()
    -- What a load with skim must give: the full load's result with every
    -- value (not key) longer than skim bytes replaced by false, or the full
    -- load's error, exactly.
    local function skimmed(v, skim)
      if type(v) == "string" then
        if #v > skim then return false end
        return v
      end
      if type(v) ~= "table" then return v end
      local out = {}
      for k, x in pairs(v) do out[k] = skimmed(x, skim) end
      return out
    end
    local function same_as_full(text, skim, opts)
      local full = table.pack(raw.load(text, with_limits(opts)))
      local o = with_limits(opts)
      o.skim = skim
      local got = table.pack(raw.load(text, o))
      if full[1] == nil and full.n == 3 then
        assert.same(full, got)
      else
        assert.equal(1, got.n, got[2])
        assert.same(skimmed(full[1], skim), got[1])
      end
      return got[1], got[2], got[3]
    end
    local function block(lines, indent)
      local pad = (" "):rep(indent)
      local out = {}
      for i, l in ipairs(lines) do out[i] = l == "" and "" or (pad .. l) end
      return table.concat(out, "\n") .. "\n"
    end
    -- An Argo-like text of about n bytes.
    local function argo(n)
      local lines = { "apiVersion: argoproj.io/v1alpha1", "kind: Workflow", "spec:", "  templates:" }
      local i, size = 0, 0
      while size < n do
        i = i + 1
        for _, l in ipairs({ "  - name: step-" .. i, "    script: |",
          "      echo \"step " .. i .. ": {{inputs.parameters.x}}\" # not a comment", "",
          "    args: [\"--x\", 'y: z']" }) do
          lines[#lines + 1] = l
          size = size + #l + 1
        end
      end
      return lines
    end
    local IDS = "  id: image-classify\n  user_id: jdoe\n  app_id: pipelines\n  version_id: 0123\n"

    it("gives values longer than skim as false; keys and shorter values as written", function()
      local long = ("x"):rep(40)
      local v = loads("a: " .. long .. "\n" .. long .. ": b\nc: [" .. long .. ", d]\ne: ''\n", { skim = 39 })
      assert.same({ a = false, [long] = "b", c = { false, "d" }, e = "" }, v)
      assert.same({ a = long }, loads("a: " .. long .. "\n", { skim = 40 }))
      assert.same({ a = long }, loads("a: " .. long .. "\n", { skim = 0 }))
    end)

    it("reads the ids of a config-lock.yaml and checks the whole Argo spec, not keeping it", function()
      local spec = argo(20000)
      local lock = "pipeline:\n" .. IDS .. "  orchestration_spec:\n    argo_orchestration_spec: |\n"
        .. block(spec, 6) .. "  step_directories:\n  - a\n"
      local v = same_as_full(lock, 4096, { max_size = 16 * 1024 * 1024 })
      assert.equal("image-classify", v.pipeline.id)
      assert.equal("0123", v.pipeline.version_id)
      assert.is_false(v.pipeline.orchestration_spec.argo_orchestration_spec)
      assert.same({ "a" }, v.pipeline.step_directories)
    end)

    it("does not run a long spec's text through libyaml", function()
      local lock = "pipeline:\n" .. IDS .. "  orchestration_spec:\n    argo_orchestration_spec: |\n"
        .. block(argo(2000000), 6)
      local o = { max_size = 16 * 1024 * 1024 }
      local full = cpu(function() assert(core.load(lock, o)) end)
      o.skim = 4096
      local v
      local skim = cpu(function() v = core.load(lock, o) end)
      assert.equal("jdoe", v.pipeline.user_id)
      assert.is_true(skim < full / 3, string.format("%.3f s with skim, %.3f s without", skim, full))
    end)

    it("finds ids written after the spec", function()
      local lock = "pipeline:\n  orchestration_spec:\n    argo_orchestration_spec: |\n" .. block(argo(9000), 6)
        .. "\n\n" .. IDS
      local v = same_as_full(lock, 4096)
      assert.equal("jdoe", v.pipeline.user_id)
      assert.equal("pipelines", v.pipeline.app_id)
    end)

    it("rejects what the full load rejects after the spec, with its message", function()
      local head = "pipeline:\n" .. IDS .. "  spec: |\n" .. block(argo(9000), 4)
      for _, tail in ipairs({
        "  id: again\n",                 -- a duplicate key
        "  x: [a, b\n",                  -- an unclosed flow sequence
        "  y: \"open\n",                 -- an unclosed quote
        "  - item\n",                    -- a sequence entry among mapping keys
        " bad: indent\n",               -- less indented than its siblings
        "  w: &a 1\n",                   -- an anchor
        "  v: !!binary x\n",             -- a tag
        "---\nsecond: document\n",       -- a second document
        "  u: \1\n",                     -- a control character
        "  t: \255\n",                   -- invalid UTF-8
      }) do
        local _, err, code = same_as_full(head .. tail, 4096)
        assert.is_string(err, tail)
        assert.is_string(code, tail)
      end
    end)

    it("rejects what the full load rejects inside the spec, with its message", function()
      local spec = argo(9000)
      for _, bad in ipairs({ "bell \7 here", "bad \255 byte", "overlong \192\128", "surrogate \237\160\128",
        "nel \194\133 break", "ls \226\128\168 break", "cr \r here", "del \127" }) do
        local lines = { table.unpack(spec) }
        table.insert(lines, 20, bad)
        local _, err = same_as_full("pipeline:\n" .. IDS .. "  spec: |\n" .. block(lines, 4), 4096)
        if not bad:find("[\194\226\r]") then assert.is_string(err, bad) end
      end
      -- a tab where the indentation is
      local lines = { table.unpack(spec) }
      local text = "pipeline:\n" .. IDS .. "  spec: |\n" .. block(lines, 4):gsub("\n    kind", "\n  \tkind", 1)
      local _, err = same_as_full(text, 4096)
      assert.is_string(err)
    end)

    it("gives the full load's result for every shape of block scalar", function()
      local body = block(argo(3000), 4)
      local texts = {
        "a:\n  b: |\n" .. body .. "  c: d\n",
        "a:\n  b: |-\n" .. body .. "\n\n  c: d\n",
        "a:\n  b: |+\n" .. body .. "\n\n  c: d\n",
        "a:\n  b: >\n" .. body .. "  c: d\n",
        "a:\n  b: >-\n" .. body,
        "a:\n  b: |   \n" .. body .. "# a comment\n",
        "a:\n  b: |\n" .. body:sub(1, -2),                    -- no line break at the end
        "a:\n  b: |\n" .. body .. "   ",                        -- spaces at the end
        "a:\n  b: |\n" .. body .. "\n  \n    \n      \n  c: d\n", -- blank lines of any width
        "a:\n- b: |\n" .. body .. "  c: d\n",                 -- in a sequence's mapping
        "a:\n  b: |2\n" .. body .. "  c: d\n",                -- an indentation indicator
        "a:\n  b: | # comment\n" .. body .. "  c: d\n",
        "a:\n  b: |\n" .. block(argo(3000), 2) .. "  c: d\n",  -- the block no deeper than its key
        "a:\n  b: |\n\n" .. body .. "  c: d\n",               -- a blank first line
        "a:\n  b: |\n" .. body .. "  c: |\n" .. body .. "  e: |\n" .. body,
        "a: \"b: |\n" .. body .. "\"\n",                      -- inside a quoted scalar
        "a: 'b: |\n" .. body .. "'\nc: d\n",
        "a: [b: |\n" .. body .. "]\n",                        -- a flow collection
        "a: |\n" .. body .. "    clarifai.yaml.skipped.0000\n", -- the placeholder's text
        "a: |\n    clarifai.yaml.skipped.0000\nb: |\n" .. body,
        "a:\r\n  b: |\r\n" .. body:gsub("\n", "\r\n") .. "  c: d\r\n",
        "\239\187\191a:\n  b: |\n" .. body,                   -- a byte order mark
        "a:\n  b: |\n" .. body .. "---\nc: d\n",
        "a:\n  b: |\n" .. body .. "...\n",
        "- |\n" .. body .. "- b\n",
        "a: |\n" .. body .. "a: again\n",
        "a:\n  b: |\n" .. body:gsub("\n", "\n\t", 1) .. "  c: d\n", -- a tab starting a content line
      }
      for i, text in ipairs(texts) do
        local ok, err = pcall(same_as_full, text, 100)
        assert(ok, "text " .. i .. ": " .. tostring(err))
      end
    end)

    it("gives the full load's result for mutated lock files", function()
      local base = "pipeline:\n" .. IDS .. "  orchestration_spec:\n    spec: |\n" .. block(argo(600), 6)
        .. "  step_directories:\n  - a\n  - b: |\n" .. block(argo(300), 6) .. "other: x\n"
      local pieces = { "\n", " ", "  ", "\t", ":", ": |", "- ", "#", "'", "\"", "[", "{", "\r", "\1", "\255",
        "\194\133", "x", "|", ">", "---\n", "&a ", "*a", "!!str " }
      local seed = 12345
      local function rand(n) seed = (seed * 1103515245 + 12345) % 2147483648 return seed % n + 1 end
      for _ = 1, 400 do
        local text = base
        for _ = 1, rand(3) do
          local at = rand(#text)
          local op = rand(3)
          if op == 1 then
            text = text:sub(1, at - 1) .. pieces[rand(#pieces)] .. text:sub(at)
          elseif op == 2 then
            text = text:sub(1, at - 1) .. text:sub(at + rand(4))
          else
            local nl = text:find("\n", at, true)
            if nl then text = text:sub(1, nl) .. text:sub(nl + 1 + rand(3)) end
          end
        end
        local ok, err = pcall(same_as_full, text, 64)
        assert(ok, string.format("%s\n%q", tostring(err), text))
      end
    end)

    it("raises for a bad skim value", function()
      assert.has_error(function() raw.load("a", with_limits({ skim = -1 })) end)
      assert.has_error(function() raw.load("a", with_limits({ skim = "1" })) end)
      assert.has_error(function() raw.load("a", with_limits({ skim = 1.5 })) end)
    end)
  end)

  describe("repeated use", function()
    it("loads 1000 times without growing memory", function()
      local text = "a: [1, {b: ~, c: x}]\nd: |\n  " .. ("z"):rep(3000) .. "\n"
      local bad = { "a: [b, c\n", "a: 1\na: 2\n", "a: &x 1\n", ("["):rep(100), "a: \255" }
      local function round()
        for i = 1, 1000 do
          local v = core.load(text)
          assert(v.a[2].c == "x")
          assert(core.load(bad[i % #bad + 1]) == nil)
        end
        collectgarbage()
        collectgarbage()
      end
      local function rss_kb()
        local f = io.open("/proc/self/statm")
        if not f then return nil end
        local _, res = f:read("*n", "*n")
        f:close()
        return res and res * 4
      end
      round()
      local lua_before, rss_before = collectgarbage("count"), rss_kb()
      round()
      round()
      assert.is_true(collectgarbage("count") - lua_before < 64)
      -- A leaked parser costs tens of kilobytes outside Lua's heap.
      if rss_before and not SANITIZE then
        assert.is_true(rss_kb() - rss_before < 8192, "RSS grew by " .. (rss_kb() - rss_before) .. " kB")
      end
    end)
  end)
end)
