-- `clarifai completion bash|zsh|fish`: completion scripts generated from the
-- same argparse tree the command uses, so they list every command and flag.

local M = {}

function M.run(args)
  local parser = require("clarifai.cli.parser").build()
  local script
  if args.shell == "bash" then script = parser:get_bash_complete()
  elseif args.shell == "zsh" then script = parser:get_zsh_complete()
  else script = parser:get_fish_complete() end
  io.stdout:write(script)
  if script:sub(-1) ~= "\n" then io.stdout:write("\n") end
  return 0
end

return M
