-- What the run commands share: reading ids and flags, the client for this
-- invocation, JSON and table output, and the exit code of a batch.

local errors = require "clarifai.errors"
local json = require "clarifai.json"
local output = require "clarifai.cli.output"
local states = require "clarifai.states"
local text = require "clarifai.text"

local M = {}

local RUN_ID_REQUIRED = "pipeline_version_run_id is required. Provide it as a positional "
  .. "argument or use --pipeline_version_run_id flag."

local function usage(msg) return nil, errors.new("usage", msg) end

-- Run ids from the positional list (which wins) or the flag; "-" reads
-- whitespace-separated ids from stdin.
local function run_ids(args)
  local list = args.ids or {}
  if #list == 0 and args.pipeline_version_run_id then list = { args.pipeline_version_run_id } end
  local out, seen_stdin = {}, false
  for _, id in ipairs(list) do
    if id == "-" then
      if not seen_stdin then
        seen_stdin = true
        for word in io.stdin:read("a"):gmatch("%S+") do out[#out + 1] = word end
      end
    elseif id ~= "" then
      out[#out + 1] = id
    end
  end
  return out
end

local function one_id(args)
  return args.id or args.pipeline_version_run_id
end

local function ref_from(args)
  return {
    user_id = args.user_id, app_id = args.app_id,
    pipeline_id = args.pipeline_id, pipeline_version_id = args.pipeline_version_id,
  }
end

-- A number from a flag, else from the environment, else nil.
local function setting(flag, env_name)
  if flag then return flag end
  local v = tonumber(os.getenv(env_name) or "")
  if v and v >= 0 then return v end
  return nil
end

-- The client for this invocation: --config/--context, the environment,
-- the timeouts; warnings (e.g. config permissions) go to stderr.
local function make_client(args, need_pat)
  local client_mod = require "clarifai.client"
  local c, settings = client_mod.from_config({
    config_path = args.config, context = args.context, need_pat = need_pat,
    trace = args.verbose and output.err or nil,
    connect_timeout = setting(args.connect_timeout, "CLARIFAI_CONNECT_TIMEOUT"),
    request_timeout = setting(args.request_timeout, "CLARIFAI_REQUEST_TIMEOUT"),
    deadline = setting(args.deadline, "CLARIFAI_DEADLINE"),
  })
  if not c then return nil, settings end
  output.add_secret(c.pat)
  c.trap_interrupt = true
  for _, w in ipairs(settings.warnings) do output.err(w) end
  return c
end

local function print_json(v)
  output.out(json.encode(v))
end
M.RUN_ID_REQUIRED = RUN_ID_REQUIRED
M.usage = usage
M.run_ids = run_ids
M.one_id = one_id
M.ref_from = ref_from
M.make_client = make_client
M.print_json = print_json

-- Exit code of a batch: 0 all good, 7 mixed, else the first failure's code.
local function batch_exit(results)
  local ok, first
  for _, r in ipairs(results) do
    if r.error then first = first or r.error.exit_code
    else ok = true end
  end
  if not first then return 0 end
  if ok then return errors.exit_codes.partial end
  return first
end

M.batch_exit = batch_exit

-- Table output: columns sized to their widest cell.
local function print_table(header, rows)
  local widths = {}
  for i, h in ipairs(header) do widths[i] = #h end
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      row[i] = text.sanitize(cell)
      if utf8.len(row[i]) and utf8.len(row[i]) > widths[i] then widths[i] = utf8.len(row[i]) end
    end
  end
  local function line(cells)
    local parts = {}
    for i, cell in ipairs(cells) do
      parts[i] = i < #cells and (cell .. string.rep(" ", widths[i] - (utf8.len(cell) or #cell))) or cell
    end
    return table.concat(parts, "  ")
  end
  output.out(line(header))
  for _, row in ipairs(rows) do output.out(line(row)) end
end

local function str(v) return type(v) == "string" and v ~= "" and v or "-" end

local function state_label(run)
  local code = require("clarifai.api").run_state(run)
  return code and states.name(code):gsub("^JOB_", "") or "-"
end

M.print_table = print_table
M.str = str
M.state_label = state_label

return M
