-- The version of this tool (also in the rockspecs and the User-Agent).
return { VERSION = "0.2.0" }
