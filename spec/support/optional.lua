-- The suite's optional dependencies (luv, cqueues, zsh, fish, openssl):
-- `make` installs them. Without one, its specs are pending on a
-- developer's machine; under CI=true they fail, naming what is missing, so
-- a CI run never reports ok for checks it skipped.
--
--   if not optional.module("luv") then optional.skip("luv", "Debian lua-luv") else ... end
--   it(..., function() if not optional.command("openssl") then return pending(optional.missing("openssl")) end ... end)

local M = {}

M.CI = os.getenv("CI") == "true"

function M.module(name)
  return (pcall(require, name))
end

function M.command(name)
  local ok = os.execute("command -v " .. name .. " >/dev/null 2>&1")
  return ok == true or ok == 0
end

local function message(what, hint)
  return string.format("%s is not installed%s: its specs cannot run", what, hint and (" (" .. hint .. ")") or "")
end

-- In a describe block: a pending note, or under CI a failing spec naming it.
function M.skip(what, hint)
  local busted = require "busted"
  if M.CI then
    busted.it("needs " .. what, function() error(message(what, hint) .. " (CI=true: a missing dependency fails)") end)
  else
    busted.pending(message(what, hint))
  end
end

-- Inside an it(): under CI a failure naming what is missing; otherwise the
-- note for the spec's own pending(), which ends it as pending (busted's
-- module-level pending would only declare another, never-run spec).
function M.missing(what, hint)
  if M.CI then error(message(what, hint) .. " (CI=true: a missing dependency fails)", 2) end
  return message(what, hint)
end

return M
