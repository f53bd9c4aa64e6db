-- Every default of the library, by name (the values live in clarifai.limits,
-- with their allowed ranges).
return require("clarifai.limits").defaults
