-- busted helper: loaded before the specs. Removes every temporary directory
-- the specs made when the suite ends, so `make test` leaves none behind.
local busted = require "busted"
local cli = require "support.cli"

busted.subscribe({ "suite", "end" }, function()
  cli.cleanup()
  return nil, true
end)

