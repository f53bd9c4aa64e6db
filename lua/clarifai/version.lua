-- The version of this tool (also in the rockspecs and the User-Agent).
-- _VERSION is the module's name and version, as peers give it
-- (cjson._VERSION, socket._VERSION).
local VERSION = "0.3.0"
return { VERSION = VERSION, _VERSION = "clarifai " .. VERSION }
