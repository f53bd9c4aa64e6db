std = "lua54"
max_line_length = 125
files["spec"] = { std = "+busted" }
exclude_files = { "build", "build-asan" }
