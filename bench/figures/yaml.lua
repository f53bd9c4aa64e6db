-- Loading a large YAML file: the project's loader against a bare libyaml
-- event scan (C) and PyYAML's CSafeLoader, in-process and whole-process.

local ctx = require "lib.ctx"
local proc = require "lib.proc"
local report = require "lib.report"

local M = {}

-- Generates (once, cached in ctx.data) a fixture with bench/gen_yaml.lua.
function M.generate(kind, bytes, name)
  local path = ctx.data .. "/" .. name
  local stamp = path .. ".ok"
  local gen = ctx.root .. "/bench/gen_yaml.lua"
  local want = kind .. " " .. bytes .. " " .. (proc.command_output("cksum < " .. proc.sh_quote(gen)))
  if proc.read_file(stamp) ~= want or not proc.read_file(path) then
    local r = require("benchcore").run({ argv = { "lua5.4", gen, kind, tostring(bytes), path },
      env = proc.env_for(ctx.work), stderr = ctx.work .. "/gen.err" })
    if r.status ~= 0 then
      error("generating " .. name .. " failed: " .. proc.tail(proc.read_file(ctx.work .. "/gen.err")), 0)
    end
    proc.write_file(stamp, want)
  end
  return path, proc.file_size(path)
end

local function parse_ms(text)
  local ms = tonumber(text:match("ms=([%d.]+)"))
  if not ms then error("no in-process time in output: " .. proc.tail(text), 0) end
  return ms
end

local LUA_CODE = [[
package.cpath = %q .. package.cpath
local core = require "clarifai.yaml.core"
local now = require("benchcore").now
local t0 = now()
local f = assert(io.open(%q, "rb"))
local text = f:read("a")
f:close()
local value, err = core.load(text, { max_size = 16 * 1024 * 1024, max_depth = 64 })
local t1 = now()
assert(type(value) == "table", err)
io.write(string.format("ms=%%.3f\n", (t1 - t0) * 1000))
io.stdout:flush()
os.exit(0) -- as the clarifai command ends: the tree is not freed piece by piece
]]

local PY_CODE = table.concat({
  "import sys, time, yaml",
  "t0 = time.perf_counter()",
  "doc = yaml.load(open(sys.argv[1]), Loader=yaml.CSafeLoader)",
  "t1 = time.perf_counter()",
  "assert isinstance(doc, dict)",
  "print('ms=%.3f' % ((t1 - t0) * 1000))",
}, "\n")

local function figure(files)
  local root = ctx.root
  local scan, python = root .. "/build/bench/yaml_scan", "/usr/bin/python3"
  proc.say("YAML loading (%d rounds per file)", ctx.settings.reps_yaml)
  for _, file in ipairs(files) do
    local lua_code = string.format(LUA_CODE, root .. "/build/?.so;" .. root .. "/build/bench/?.so;", file.path)
    local env = proc.env_for(ctx.work)
    local list = {
      { key = "lua", label = "lua", argv = { "lua5.4", "-e", lua_code }, env = env, cwd = root, capture = true,
        check = parse_ms },
      { key = "scan", label = "scan", argv = { scan, file.path }, env = env, cwd = root, capture = true,
        check = parse_ms },
      { key = "python", label = "python", argv = { python, "-c", PY_CODE, file.path }, env = env, cwd = root,
        capture = true, check = parse_ms },
    }
    proc.measure(list, ctx.settings.reps_yaml)
    local whole, inproc = {}, {}
    for _, c in ipairs(list) do
      whole[c.key] = proc.wall_ms(c)
      local xs = {}
      for i, r in ipairs(c.runs) do xs[i] = parse_ms(r.stdout) end
      inproc[c.key] = proc.median(xs)
    end
    local mb = string.format("%.1f MB", file.size / 1e6)
    for _, kind in ipairs({ { "in-process", inproc }, { "whole process", whole } }) do
      local v = kind[2]
      local fig = string.format("%s %s, %s", mb, file.what, kind[1])
      report.row({ fig = fig, contender = "`clarifai.yaml.core.load` (lua5.4 -e)", unit = "ms", nginx = v.lua,
        ratio_n = v.lua / v.scan, target = "≤ 2×", met = v.lua / v.scan <= 2, single = true })
      report.row({ fig = fig, contender = "PyYAML `CSafeLoader` (python3)", unit = "ms", nginx = v.python,
        ratio_n = v.python / v.scan, single = true })
      report.row({ fig = fig, contender = "libyaml event scan (C, -O2)", unit = "ms", nginx = v.scan, ratio_n = 1,
        baseline = true, single = true })
    end
  end
end

function M.run()
  local bytes, info = ctx.settings.yaml_bytes, ctx.info
  proc.say("generating YAML files")
  local spec, spec_size = M.generate("spec", bytes, "spec-" .. bytes .. ".yaml")
  local biglock, biglock_size = M.generate("lock", bytes, "lock-" .. bytes .. ".yaml")
  local steps = 0
  for _ in (proc.read_file(spec) or ""):gmatch("\n  %- name: step%-%d+") do steps = steps + 1 end
  info.spec_size, info.biglock_size, info.spec_steps = spec_size, biglock_size, steps
  figure({
    { path = spec, size = spec_size, what = "Argo spec" },
    { path = biglock, size = biglock_size, what = "config-lock.yaml" },
  })
end

function M.method()
  local info = ctx.info
  return { string.format("- **YAML**: an Argo Workflow spec of %d bytes (%s steps: templates with containers, env, "
    .. "resources, retry strategies; block and flow style) and a lockfile of %d bytes carrying such a spec "
    .. "as one block scalar. Contenders: `lua5.4 -e` with `package.cpath` set to `build/?.so`, "
    .. "`require \"clarifai.yaml.core\".load(text, {max_size = 16 MiB})`; `bench/yaml_scan.c` (`cc -O2 -lyaml`) "
    .. "pulling every libyaml parser event and building nothing; "
    .. "`/usr/bin/python3` with `yaml.load(open(f), Loader=yaml.CSafeLoader)`. In-process time covers reading "
    .. "the file and loading it (monotonic clock inside the process); whole-process time covers everything from "
    .. "spawn to reap. The Lua contender ends with `os.exit(0)`, as the `clarifai` command does (the loaded "
    .. "tree is left to the kernel rather than freed object by object).", info.spec_size or 0, info.spec_steps or "?",
    info.biglock_size or 0) }
end

return M
