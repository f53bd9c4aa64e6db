std = "lua54"
max_line_length = 125
-- No function more branched than this: a function past it is split into
-- named steps (see README, "Hacking").
max_cyclomatic_complexity = 25
files["spec"] = { std = "+busted" }
exclude_files = { "build", "build-asan" }
