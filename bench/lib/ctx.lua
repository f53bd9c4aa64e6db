-- Run-wide state shared by the benchmark modules. bench/bench.lua fills in
-- the paths and settings before any figure runs; figures add to `info`
-- (facts the Markdown cites) and to `servers` (what is listening).
return {
  root = nil,      -- the checkout
  work = nil,      -- scratch directory, removed by bench/run.sh
  data = nil,      -- generated fixtures kept between runs (build/bench/data)
  pids = nil,      -- file listing the processes still running (for bench/run.sh)
  smoke = false,
  settings = {},
  info = {},
  servers = {},
  token = "demo-pat-7c0ffee",
  parallel = 8,
}
