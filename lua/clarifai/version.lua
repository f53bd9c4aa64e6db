-- The version of this tool (also in the rockspec and the User-Agent).
return { VERSION = "0.1.0" }
