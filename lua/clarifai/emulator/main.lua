-- clarifai-emulator: a local stand-in for the Clarifai REST API's pipeline
-- version run routes, with a control API for tests.

local argparse = require "argparse"
local server_mod = require "clarifai.emulator.server"
local world_mod = require "clarifai.emulator.world"
local api_mod = require "clarifai.emulator.api"

local M = {}

local function int(s)
  return require("clarifai.compat").tointeger(tonumber(s))
end

local function parser()
  local p = argparse("clarifai-emulator",
    "Local emulator of the Clarifai REST API for pipeline version runs.")
  p:option("--host", "Address to listen on.", "127.0.0.1")
  p:option("--port", "Port to listen on (0 picks a free one).", "0"):convert(int)
  p:option("--token", "Accepted personal access token (repeatable; default "
    .. world_mod.DEMO.token .. ")."):count("*")
  p:option("--tick", "Seconds per automatic step (0 disables automatic progress).", "2")
    :convert(tonumber)
  p:option("--reject-code", "Status code for refused transitions.", "26302"):convert(int)
  p:option("--run-size", "Bytes of each run's wire form: with more than 0, runs carry an Argo spec and "
    .. "status of about this size, as real ones do (0: small runs; POST /_emulator/config run_size).", "0")
    :convert(int)
  p:option("--exit-with", "Exit when the process with this pid is gone."):convert(int)
  p:flag("--frozen-clock", "Time moves only when POST /_emulator/clock says so (for tests).")
  p:flag("--no-seed", "Start with no runs (the demo user/app/pipeline/version still exist).")
  p:flag("--quiet", "Do not log requests to stderr.")
  return p
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("*a") or ""
  f:close()
  -- A zombie has exited even though its entry is still there.
  return stat:match("^%d+ %b() (%a)") ~= "Z"
end

local function run(args)
  local log = function() end
  if not args.quiet then
    log = function(msg)
      io.stderr:write(os.date("!%H:%M:%S "), msg, "\n")
      io.stderr:flush()
    end
  end
  if args.tick < 0 then error("--tick must be >= 0", 0) end
  if not args.run_size or args.run_size < 0 or args.run_size > world_mod.MAX_RUN_SIZE then
    error("--run-size must be a whole number of bytes 0.." .. world_mod.MAX_RUN_SIZE, 0)
  end
  local world = world_mod.new({
    tokens = #args.token > 0 and args.token or nil,
    tick = args.tick,
    reject_code = args.reject_code,
    seed = not args.no_seed,
    run_size = args.run_size,
    frozen = args.frozen_clock,
  })
  local srv
  local api = api_mod.new({
    world = world, log = log,
    on_shutdown = function() srv:stop() end,
  })
  srv = server_mod.new({
    host = args.host, port = args.port, log = log,
    handler = function(req, ctx) return api:handle(req, ctx) end,
  })
  local host, port = srv:listen()
  if not host then error("cannot listen on " .. args.host .. ":" .. args.port .. ": " .. port, 0) end
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  io.stdout:write(string.format("listening on http://%s:%d\n", host, port))
  io.stdout:flush()
  if args.exit_with then
    srv:every(0.5, function()
      if not alive(args.exit_with) then
        io.stderr:write("clarifai-emulator: process ", args.exit_with, " is gone: exiting\n")
        srv:stop()
        return false
      end
    end)
  end
  srv:run()
end

function M.main(argv)
  local args = parser():parse(argv)
  local ok, err = pcall(run, args)
  if not ok then
    if type(err) == "string" and err:find("interrupted!", 1, true) then
      if not args.quiet then io.stderr:write("clarifai-emulator: interrupted (SIGINT): exiting\n") end
      os.exit(0)
    end
    io.stderr:write("clarifai-emulator: ", tostring(err), "\n")
    os.exit(1)
  end
  os.exit(0)
end

return M
