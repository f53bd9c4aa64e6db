-- SVG charts for the report: grouped bars, one panel or several side by side
-- (each with its own y axis and unit), a shared title and legend, an
-- optional reference line per panel (a limit, a target). Hand-written SVG:
-- no dependency, and the same data always gives the same bytes (fixed
-- number formats, no dates).
--
--   chart.svg{ title = "…", subtitle = "…" (optional), series = { "clarifai", "curl" },
--              panels = { { ylabel = "time (ms)", categories = { "a", "b\nsecond line" },
--                           values = { {1, 2}, {3, nil} },   -- values[series][category]; nil: no bar
--                           fmt = function(v) return "…" end, -- bar labels (optional)
--                           ref = { value = 1, label = "limit" } } } }  -> SVG text

local M = {}

-- Colour-blind-safe (Okabe–Ito).
M.PALETTE = { "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00" }

local FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""
local REF = "#C00000" -- reference lines

-- About how wide a text of this many characters is at this font size.
local function text_w(s, size) return (utf8.len(s) or #s) * size * 0.6 end

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local function num(v) return string.format("%.1f", v) end

-- A step of 1, 2, 2.5 or 5 × 10^k giving about five intervals up to top.
local function nice_step(top)
  if top <= 0 then return 1 end
  local raw = top / 5
  local mag = 10 ^ math.floor(math.log(raw, 10))
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    if raw <= m * mag + 1e-12 then return m * mag end
  end
  return 10 * mag
end

local function tick_label(v, step)
  if step >= 1 and math.abs(v - math.floor(v + 0.5)) < 1e-9 then
    local s = string.format("%d", math.floor(v + 0.5))
    -- a space between thousands
    return (s:reverse():gsub("(%d%d%d)(%d)", "%1 %2"):reverse())
  end
  local decimals = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
  if step * 10 ^ decimals % 1 > 1e-9 then decimals = decimals + 1 end
  return string.format("%." .. decimals .. "f", v)
end

local function lines_of(s)
  local out = {}
  for l in (s .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

-- One panel at (x0, y0), size w × h (plot area inside margins); returns parts.
local function panel(p, nseries, x0, y0, w, h)
  local out = {}
  local function add(s) out[#out + 1] = s end
  local top = 0
  for s = 1, nseries do
    for c = 1, #p.categories do
      local v = p.values[s] and p.values[s][c]
      if v and v > top then top = v end
    end
  end
  if p.ref and p.ref.value > top then top = p.ref.value end
  local step = nice_step(top * 1.08)
  local ymax = math.max(step, math.ceil(top * 1.08 / step) * step)
  local function y(v) return y0 + h - (v / ymax) * h end
  -- grid and y ticks
  local v = 0
  while v <= ymax + step * 1e-6 do
    add(string.format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#dddddd" stroke-width="1"/>', num(x0),
      num(y(v)), num(x0 + w), num(y(v))))
    add(string.format('<text x="%s" y="%s" %s font-size="11" text-anchor="end" fill="#333333">%s</text>',
      num(x0 - 6), num(y(v) + 4), FONT, esc(tick_label(v, step))))
    v = v + step
  end
  -- axes
  add(string.format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333" stroke-width="1"/>', num(x0), num(y0),
    num(x0), num(y0 + h)))
  add(string.format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333" stroke-width="1"/>', num(x0),
    num(y0 + h), num(x0 + w), num(y0 + h)))
  -- y label, rotated
  add(string.format('<text transform="translate(%s %s) rotate(-90)" %s font-size="12" text-anchor="middle" '
    .. 'fill="#333333">%s</text>', num(x0 - 48), num(y0 + h / 2), FONT, esc(p.ylabel)))
  -- bars
  local group = w / #p.categories
  local bw = math.min(46, group * 0.8 / nseries)
  for c, cat in ipairs(p.categories) do
    local gx = x0 + group * (c - 1) + (group - bw * nseries) / 2
    for s = 1, nseries do
      local val = p.values[s] and p.values[s][c]
      if val then
        local bx, by = gx + bw * (s - 1), y(val)
        add(string.format('<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>', num(bx),
          num(by), num(bw - 2), num(y0 + h - by), M.PALETTE[(s - 1) % #M.PALETTE + 1],
          esc(cat:gsub("\n", " ") .. ": " .. (p.fmt and p.fmt(val) or tostring(val)))))
        if p.fmt then
          add(string.format('<text x="%s" y="%s" %s font-size="10" text-anchor="middle" fill="#222222">%s</text>',
            num(bx + (bw - 2) / 2), num(by - 4), FONT, esc(p.fmt(val))))
        end
      end
    end
    for i, l in ipairs(lines_of(cat)) do
      add(string.format('<text x="%s" y="%s" %s font-size="11" text-anchor="middle" fill="#333333">%s</text>',
        num(x0 + group * (c - 0.5)), num(y0 + h + 16 + (i - 1) * 13), FONT, esc(l)))
    end
  end
  -- reference line (named in the legend)
  if p.ref then
    local ry = y(p.ref.value)
    add(string.format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" '
      .. 'stroke-dasharray="6 4"><title>%s</title></line>', num(x0), num(ry), num(x0 + w), num(ry), REF,
      esc(p.ref.label)))
  end
  if p.title then
    add(string.format('<text x="%s" y="%s" %s font-size="12" font-weight="bold" text-anchor="middle" '
      .. 'fill="#222222">%s</text>', num(x0 + w / 2), num(y0 - 10), FONT, esc(p.title)))
  end
  return table.concat(out, "\n")
end

function M.svg(spec)
  local nseries = #spec.series
  local widths, total = {}, 0
  for i, p in ipairs(spec.panels) do
    widths[i] = math.max(220, #p.categories * (nseries * 30 + 40))
    total = total + widths[i] + 80
  end
  local cat_lines = 1
  for _, p in ipairs(spec.panels) do
    for _, c in ipairs(p.categories) do cat_lines = math.max(cat_lines, #lines_of(c)) end
  end
  -- the legend: the series, then each reference line (dashed)
  local items = {}
  for i, label in ipairs(spec.series) do
    items[#items + 1] = { label = label, colour = M.PALETTE[(i - 1) % #M.PALETTE + 1] }
  end
  local seen = {}
  for _, p in ipairs(spec.panels) do
    if p.ref and not seen[p.ref.label] then
      seen[p.ref.label] = true
      items[#items + 1] = { label = p.ref.label, ref = true }
    end
  end
  local lw = 0
  for _, it in ipairs(items) do
    it.w = 22 + text_w(it.label, 12) + 18
    lw = lw + it.w
  end
  local width = math.ceil(math.max(total + 20, 520, lw + 40, text_w(spec.title, 16) * 1.1 + 40,
    spec.subtitle and (text_w(spec.subtitle, 12) + 40) or 0))
  local head = spec.subtitle and 96 or 78
  local plot_h = 260
  local height = head + plot_h + 30 + cat_lines * 13 + 10
  local out = {
    string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">', width,
      height, width, height),
    string.format('<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>', width, height),
    string.format('<text x="%s" y="24" %s font-size="16" font-weight="bold" text-anchor="middle" '
      .. 'fill="#111111">%s</text>', num(width / 2), FONT, esc(spec.title)),
  }
  if spec.subtitle then
    out[#out + 1] = string.format('<text x="%s" y="42" %s font-size="12" text-anchor="middle" fill="#444444">%s'
      .. '</text>', num(width / 2), FONT, esc(spec.subtitle))
  end
  -- legend: one row, centred
  local ly = spec.subtitle and 62 or 44
  local lx = (width - lw) / 2
  for _, it in ipairs(items) do
    if it.ref then
      out[#out + 1] = string.format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" '
        .. 'stroke-dasharray="6 4"/>', num(lx - 2), num(ly - 4), num(lx + 16), num(ly - 4), REF)
    else
      out[#out + 1] = string.format('<rect x="%s" y="%s" width="14" height="14" fill="%s"/>', num(lx), num(ly - 11),
        it.colour)
    end
    out[#out + 1] = string.format('<text x="%s" y="%s" %s font-size="12" fill="#222222">%s</text>', num(lx + 20),
      num(ly), FONT, esc(it.label))
    lx = lx + it.w
  end
  local x = 70 + math.floor((width - (total + 20)) / 2) -- the panels centred
  for i, p in ipairs(spec.panels) do
    out[#out + 1] = panel(p, nseries, x, head + 12, widths[i], plot_h)
    x = x + widths[i] + 80
  end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n") .. "\n"
end

return M
