-- Text hygiene for anything that came from outside (server replies, files):
-- terminal control characters are escaped and secrets scrubbed before the
-- text can reach a terminal or a log.

local decode = require("clarifai.compat").utf8_decode

local M = {}

-- Unicode's invisible format characters (general category Cf): bidi
-- overrides and isolates (U+202A..202E, U+2066..2069) can make text read
-- differently from what it is; zero-width ones (U+200B..200F, U+2060..2064,
-- U+FEFF) hide in plain sight.
local FORMAT_RANGES = {
  { 0xad, 0xad }, { 0x600, 0x605 }, { 0x61c, 0x61c }, { 0x6dd, 0x6dd }, { 0x70f, 0x70f }, { 0x890, 0x891 },
  { 0x8e2, 0x8e2 }, { 0x180e, 0x180e }, { 0x200b, 0x200f }, { 0x202a, 0x202e }, { 0x2060, 0x2064 },
  { 0x2066, 0x206f }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb }, { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
  { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 }, { 0xe0020, 0xe007f },
}
function M.is_format(cp)
  for _, r in ipairs(FORMAT_RANGES) do
    if cp >= r[1] and cp <= r[2] then return true end
  end
  return false
end

-- walk(s, out, ascii, escape) -> out: appends the pieces of s to out. An
-- ASCII byte at i goes to ascii(s, i), which returns its piece and the next
-- index; a byte that is not valid UTF-8 to escape(byte, true); a C1 control
-- or an invisible format character to escape(code point); any other
-- character stays as it is. The one decision of what may reach a reader raw,
-- shared by sanitize and the JSON encoder.
function M.walk(s, out, ascii, escape)
  local i, n = 1, #s
  while i <= n do
    if s:byte(i) < 0x80 then
      out[#out + 1], i = ascii(s, i)
    else
      local cp, nxt = decode(s, i)
      if not cp then
        out[#out + 1], i = escape(s:byte(i), true), i + 1
      elseif cp <= 0x9f or M.is_format(cp) then
        out[#out + 1], i = escape(cp), nxt
      else
        out[#out + 1], i = s:sub(i, nxt - 1), nxt
      end
    end
  end
  return out
end

local function hex(b) return string.format("\\x%02x", b) end

local function escape_code_point(cp, invalid)
  if invalid then return hex(cp) end
  return string.format(cp > 0xffff and "\\U%08x" or "\\u%04x", cp)
end

-- Escapes C0 controls, DEL, C1 controls, invisible format characters (Cf)
-- and bytes that are not valid UTF-8. With keep_newlines, "\n" passes
-- through (multi-line log text).
function M.sanitize(s, keep_newlines)
  if type(s) ~= "string" then s = tostring(s) end
  if not s:find("[%z\1-\31\127-\255]") then return s end -- plain printable ASCII: the common case
  return table.concat(M.walk(s, {}, function(str, i)
    local b = str:byte(i)
    if (b < 0x20 and b ~= 9 and not (b == 10 and keep_newlines)) or b == 0x7f then return hex(b), i + 1 end
    return str:sub(i, i), i + 1
  end, escape_code_point))
end

-- A table cell: sanitized, and tabs escaped too (they would break columns).
function M.cell(s)
  return (M.sanitize(s):gsub("\t", "\\t"))
end

-- Replaces every literal occurrence of each secret with a marker.
function M.scrub(s, secrets)
  if type(s) ~= "string" or not secrets then return s end
  for _, secret in ipairs(secrets) do
    if type(secret) == "string" and #secret >= 4 then
      local pos = 1
      local parts = {}
      while true do
        local a, b = s:find(secret, pos, true)
        if not a then break end
        parts[#parts + 1] = s:sub(pos, a - 1)
        parts[#parts + 1] = "[REDACTED]"
        pos = b + 1
      end
      if #parts > 0 then
        parts[#parts + 1] = s:sub(pos)
        s = table.concat(parts)
      end
    end
  end
  return s
end

-- Hides the credentials of any URL in s ("http://user:pw@host" -> "http://***@host").
function M.mask_userinfo(s)
  return (s:gsub("(%a[%w+.-]*://)[^/@%s]+@", "%1***@"))
end

-- At most n bytes of s, cut on a character boundary, with "…" when cut.
function M.truncate(s, n)
  if #s <= n then return s end
  local cut = n
  while cut > 0 and (s:byte(cut + 1) or 0) >= 0x80 and (s:byte(cut + 1) or 0) < 0xc0 do cut = cut - 1 end
  return s:sub(1, cut) .. "…"
end

return M
