-- Results: rows of the main table (one figure per group of rows, a median
-- per server column, ratios to the figure's baseline) and further sections
-- with their own columns; printed as a terminal table and written as
-- Markdown (BENCHMARKS.md, or build/bench-smoke.md in a smoke run).

local ctx = require "lib.ctx"
local proc = require "lib.proc"

local M = {}

-- Formatting ------------------------------------------------------------------------

function M.ms(v)
  if v == nil then return "—" end
  if v >= 100 then return string.format("%.0f ms", v) end
  if v >= 10 then return string.format("%.1f ms", v) end
  return string.format("%.2f ms", v)
end

function M.secs(v)
  if v == nil then return "—" end
  if v >= 10 then return string.format("%.1f s", v) end
  return string.format("%.2f s", v)
end

function M.mib(v)
  if v == nil then return "—" end
  return string.format("%.1f MiB", v)
end

-- 10000 -> "10 000"
function M.count(n)
  return (string.format("%d", n):reverse():gsub("(%d%d%d)(%d)", "%1 %2"):reverse())
end

function M.ratio(r)
  if r == nil then return "—" end
  return string.format("%.2f×", r)
end

function M.met(ok)
  if ok == nil then return "" end
  return ok and "yes" or "**no**"
end

-- The main table ---------------------------------------------------------------------
-- A row: {fig, contender, unit = "ms"|"MiB"|"%", nginx, emulator, ratio_n,
-- ratio_e, baseline, faster, single (no emulator column), target, met}.

M.rows = {}
function M.row(t) M.rows[#M.rows + 1] = t return t end

local function fmt_value(v, unit)
  if v == nil then return "—" end
  if unit == "MiB" then return M.mib(v) end
  if unit == "%" then return string.format("%.3f %%", v) end
  return M.ms(v)
end

local function fmt_ratio(r, t)
  if r == nil then return "—" end
  if t.baseline then return "1 (baseline)" end
  if t.faster then return string.format("%.1f× faster", r) end
  return string.format("%.2f×", r)
end

local function cells(t)
  local met = ""
  if t.target then met = M.met(t.met) end
  return {
    t.fig, t.contender, fmt_value(t.nginx, t.unit), t.single and "—" or fmt_value(t.emulator, t.unit),
    fmt_ratio(t.ratio_n, t), t.single and "—" or fmt_ratio(t.ratio_e, t), t.target or "", met,
  }
end

local HEADER = { "figure", "contender", "median (nginx)", "median (emulator)", "ratio (nginx)",
  "ratio (emulator)", "target", "met?" }

-- Sections ----------------------------------------------------------------------------
-- {title, level (2), intro = {paragraphs}, tables = {{caption, header, rows = {{cells}}}},
--  method = {Markdown lines}}

M.sections = {}
function M.section(t)
  t.tables, t.intro, t.method = t.tables or {}, t.intro or {}, t.method or {}
  M.sections[#M.sections + 1] = t
  return t
end

function M.add_table(section, caption, header)
  local tbl = { caption = caption, header = header, rows = {} }
  section.tables[#section.tables + 1] = tbl
  return tbl
end

-- Charts ------------------------------------------------------------------------------
-- chart(section, name, spec): an SVG (bench/lib/chart.lua's spec) written as
-- NAME.svg by write_charts and shown under the section's tables.

M.charts = {}
function M.chart(section, name, spec)
  local c = { name = name, spec = spec }
  section.charts = section.charts or {}
  section.charts[#section.charts + 1] = c
  M.charts[#M.charts + 1] = c
  return c
end

-- Writes every chart into dir (created; its old .svg files removed first, so
-- none outlives its figure); link is how the Markdown reaches dir.
function M.write_charts(dir, link)
  local chart = require "lib.chart"
  proc.mkdir(dir)
  os.execute("rm -f " .. proc.sh_quote(dir) .. "/*.svg")
  for _, c in ipairs(M.charts) do
    proc.write_file(dir .. "/" .. c.name .. ".svg", chart.svg(c.spec))
  end
  M.charts_link = link
end

-- Rendering ---------------------------------------------------------------------------

local function plain(s) return (s:gsub("%*%*", ""):gsub("`", "")) end

function M.text_table(header, rows)
  local all = { header }
  for _, r in ipairs(rows) do
    local c = {}
    for i, s in ipairs(r) do c[i] = plain(s) end
    all[#all + 1] = c
  end
  local widths = {}
  for _, r in ipairs(all) do
    for i, s in ipairs(r) do widths[i] = math.max(widths[i] or 0, utf8.len(s) or #s) end
  end
  local out = {}
  for k, r in ipairs(all) do
    local parts = {}
    for i, s in ipairs(r) do parts[i] = s .. string.rep(" ", widths[i] - (utf8.len(s) or #s)) end
    out[#out + 1] = table.concat(parts, "  "):gsub("%s+$", "")
    if k == 1 then
      local dashes = {}
      for i, w in ipairs(widths) do dashes[i] = string.rep("-", w) end
      out[#out + 1] = table.concat(dashes, "  ")
    end
  end
  return table.concat(out, "\n")
end

function M.md_table(header, rows)
  local out = { "| " .. table.concat(header, " | ") .. " |", "|" .. string.rep("---|", #header) }
  for _, r in ipairs(rows) do out[#out + 1] = "| " .. table.concat(r, " | ") .. " |" end
  return table.concat(out, "\n")
end

local function main_cells()
  local rows = {}
  for i, t in ipairs(M.rows) do rows[i] = cells(t) end
  return rows
end

-- Everything as terminal tables.
function M.text()
  local out = { M.text_table(HEADER, main_cells()) }
  for _, s in ipairs(M.sections) do
    for _, tbl in ipairs(s.tables) do
      if #tbl.rows > 0 then
        out[#out + 1] = ""
        out[#out + 1] = plain(s.title .. (tbl.caption and (": " .. tbl.caption) or ""))
        out[#out + 1] = M.text_table(tbl.header, tbl.rows)
      end
    end
  end
  return table.concat(out, "\n")
end

-- Facts about the machine -------------------------------------------------------------

function M.machine()
  local root, info = ctx.root, ctx.info
  local cpuinfo = proc.read_file("/proc/cpuinfo") or ""
  local model = cpuinfo:match("model name%s*:%s*([^\n]+)") or "unknown"
  local cores = 0
  for _ in cpuinfo:gmatch("\nprocessor%s*:") do cores = cores + 1 end
  if cpuinfo:match("^processor%s*:") then cores = cores + 1 end
  local mem = tonumber((proc.read_file("/proc/meminfo") or ""):match("MemTotal:%s*(%d+)")) or 0
  local q = proc.sh_quote
  local libcurl = proc.command_output("lua5.4 -e " .. q("package.cpath=" .. string.format("%q", root
    .. "/build/?.so;") .. "..package.cpath; io.write(require('clarifai.http.core').version())"))
  local list = {
    { "CPU", model },
    { "cores", tostring(cores) },
    { "memory", string.format("%.1f GiB", mem / 1024 / 1024) },
    { "kernel", (proc.read_file("/proc/sys/kernel/osrelease") or ""):gsub("%s+$", "") },
    { "Debian", (proc.read_file("/etc/debian_version") or ""):gsub("%s+$", "") },
    { "Lua", (proc.command_output("lua5.4 -v"):match("^Lua [%d.]+") or "?") },
    { "libcurl (linked by clarifai)", libcurl },
    { "curl", proc.command_output("curl --version"):match("^[^\n]*") },
    { "libyaml", proc.command_output(q(root .. "/build/bench/yaml_scan") .. " --version") },
    { "nginx", (proc.command_output("nginx -v"):gsub("^nginx version: ", "")) },
    { "OpenSSL", proc.command_output("openssl version") },
    { "load average (1, 5, 15 min) before / after", (info.load_before or "?") .. " / " .. (info.load_after or "?") },
    { "Python / PyYAML", proc.command_output("/usr/bin/python3 -c " .. q(
      "import sys, yaml; print(sys.version.split()[0], '/', yaml.__version__, "
      .. "'(libyaml bindings)' if yaml.__with_libyaml__ else '')")) },
  }
  return list
end

-- Markdown ---------------------------------------------------------------------------
-- o: {elapsed, method = {bullets of the main table}}

function M.markdown(o)
  local info = ctx.info
  local out = {}
  local function add(line) out[#out + 1] = line or "" end
  if ctx.smoke then
    add("# Benchmarks (smoke run)")
    add()
    add("Produced by `sh bench/run.sh --smoke` on " .. os.date("!%Y-%m-%d %H:%M UTC")
      .. ": tiny repetition counts, not for reading figures from.")
  else
    add("# Benchmarks")
    add()
    add("Produced by `make bench` on " .. os.date("!%Y-%m-%d %H:%M UTC") .. string.format(" (%.0f s)", o.elapsed)
      .. (info.commit and (", at " .. info.commit) or "") .. ".")
  end
  add()
  local gp, gr = info.glance_pause, info.glance_rss
  if gp or gr then
    local parts = {}
    if gp then
      parts[#parts + 1] = string.format("one pause (`./bin/clarifai pr pause RUN` with config-lock.yaml and the "
        .. "config file) takes %s against %s for `curl -X PATCH` sending the same request (%s)", M.ms(gp.ms),
        M.ms(gp.curl), M.ratio(gp.ms / gp.curl))
    end
    if gr then
      parts[#parts + 1] = string.format("%speaks at %s of RSS against curl's %s", gp and "" or "one pause ",
        M.mib(gr.mib), M.mib(gr.curl))
    end
    add("**At a glance** (loopback, the static responder, medians of this run): " .. table.concat(parts, "; it ")
      .. ".")
    add()
  end
  add("Medians. Ratios compare a row with its figure's baseline measured in the same run; `met?` judges the "
    .. "static-responder (nginx) column, the emulator column is shown beside it.")
  add()
  add(M.md_table(HEADER, main_cells()))
  add()
  add("## Method")
  add()
  for _, l in ipairs(o.method) do add(l) end
  add()
  for _, s in ipairs(M.sections) do
    add(string.rep("#", s.level or 2) .. " " .. s.title)
    add()
    for _, p in ipairs(s.intro) do add(p) add() end
    for _, tbl in ipairs(s.tables) do
      if #tbl.rows > 0 then
        if tbl.caption then add("**" .. tbl.caption .. "**") add() end
        add(M.md_table(tbl.header, tbl.rows))
        add()
      end
    end
    for _, c in ipairs(s.charts or {}) do
      add(string.format("![%s](%s/%s.svg)", c.spec.title, M.charts_link or ".", c.name))
      add()
    end
    for _, l in ipairs(s.method) do add(l) end
    if #s.method > 0 then add() end
  end
  add("## Machine")
  add()
  add("| | |")
  add("|---|---|")
  for _, kv in ipairs(M.machine()) do add("| " .. kv[1] .. " | " .. kv[2]:gsub("|", "\\|") .. " |") end
  add()
  add("## Reproduce")
  add()
  add("```sh")
  add("make bench                 # sh bench/run.sh: installs what is missing, builds, rewrites BENCHMARKS.md")
  add("sh bench/run.sh --smoke    # quick run of every comparison, writes build/bench-smoke.md")
  add("```")
  add()
  add("Run as root (or with sudo) the first time so that missing Debian packages (nginx-light, python3-yaml, "
    .. "time, openssl, …) can be installed. Nothing else should be running on the machine.")
  add()
  return table.concat(out, "\n")
end

return M
