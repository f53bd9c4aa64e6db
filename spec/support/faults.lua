-- What the reliability specs (faults_spec, faults_server_spec) share: one
-- emulator per file, the canary token, short limits, and the CLI calls
-- every case makes.
--
--   local F = require("support.faults").new()
--   describe(..., function() F.use(emulator.fixture(F.FIXTURE)) ... F.pause(opts) ... end)

local cli = require "support.cli"

local M = {}

function M.new()
  local F = { TOKEN = "pat_CANARY_7f3a0c55d1e2", IDS = cli.IDS, args = cli.args }
  -- Short limits so each case ends quickly.
  F.FAST = { "--connect-timeout", "2", "--request-timeout", "2", "--deadline", "8" }
  F.FIXTURE = { tick = 0, token = { F.TOKEN, "0123" } }
  local emu
  function F.use(e) emu = e return e end
  F.run, F.run_all = cli.runner(function() return emu.url end, F.TOKEN)

  function F.requests(method) return emu:requests_of(method) end

  function F.state(id)
    return emu:get_run(id).orchestration_status.status.code
  end

  function F.pause(opts, extra)
    return F.run(F.args("pr", "pause", "run-train-01", F.FAST, extra or {}, F.IDS), opts)
  end

  function F.status(opts)
    return F.run(F.args("pr", "status", "run-train-01", F.FAST, F.IDS), opts)
  end

  -- `pr status run-bad-I` for each body at once, the server answering every
  -- read of run-bad-I with body I (200, application/json).
  function F.statuses_given(bodies)
    local faults, list = {}, {}
    for i, body in ipairs(bodies) do
      faults[i] = { kind = "http", status = 200, times = 0, path = "/runs/run-bad-" .. i,
        headers = { ["Content-Type"] = "application/json" }, body = body }
      list[i] = { F.args("pr", "status", "run-bad-" .. i, F.FAST, F.IDS), {} }
    end
    emu:reset()
    emu:fault(faults)
    return F.run_all(list)
  end

  function F.home_with_config(text, mode)
    local home = cli.tmpdir()
    os.execute("mkdir -p " .. cli.quote(home .. "/.config/clarifai"))
    local path = home .. "/.config/clarifai/config"
    cli.write(path, text)
    os.execute("chmod " .. (mode or "600") .. " " .. cli.quote(path))
    return home, path
  end

  function F.no_env_pat() return { "CLARIFAI_PAT" } end
  return F
end

return M
