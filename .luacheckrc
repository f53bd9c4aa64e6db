std = "lua54"
max_line_length = 125
-- No function more branched than this: a function past it is split into
-- named steps (see doc/topics/hacking.md).
max_cyclomatic_complexity = 25
files["spec"] = { std = "+busted" }
exclude_files = { "build", "build-asan" }
