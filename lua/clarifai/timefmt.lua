-- RFC 3339 timestamps as the API writes them ("2026-01-01T00:00:00.123456Z"),
-- read and written. A leaf module: the library and the emulator share it.

local M = {}

-- Days from 1970-01-01 to the given civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = math.floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- parse(s) -> seconds since the epoch (float) | nil. Any offset; no offset
-- is UTC. A number passes through.
function M.parse(s)
  if type(s) == "number" then return s end
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac, tz = s:match(
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  local t = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  if #frac > 1 then t = t + tonumber("0" .. frac) end
  if tz == "Z" or tz == "z" or tz == "" then return t end
  local sign, oh, om = tz:match("^([+-])(%d%d):?(%d%d)$")
  if not sign then return nil end
  local off = tonumber(oh) * 3600 + tonumber(om) * 60
  return sign == "+" and t - off or t + off
end

-- format(t) -> "2026-01-01T00:00:00.123456Z" (UTC, microseconds)
function M.format(t)
  local secs = math.floor(t)
  local micros = math.floor((t - secs) * 1e6 + 0.5)
  if micros >= 1000000 then secs, micros = secs + 1, micros - 1000000 end
  return os.date("!%Y-%m-%dT%H:%M:%S", secs) .. string.format(".%06dZ", micros)
end

return M
