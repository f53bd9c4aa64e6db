-- A raw HTTP/1.1 client on LuaSocket, independent of the product's own HTTP
-- module: the specs use it to talk to the emulator's control API, the
-- benchmarks to check their servers. One reader of responses for both.

local socket = require "socket"
local cjson = require("cjson").new()

local M = {}

-- Opens a connection to the emulator (blocking, with a timeout).
function M.connect(port, timeout)
  local s = socket.tcp()
  s:settimeout(timeout or 5)
  local ok, err = s:connect("127.0.0.1", port)
  if not ok then s:close() return nil, err end
  s:setoption("tcp-nodelay", true)
  return s
end

-- Writes one request. headers: map; body: string or table (sent as JSON).
function M.send_request(sock, method, path, body, headers)
  if type(body) == "table" then body = cjson.encode(body) end
  local lines = { string.format("%s %s HTTP/1.1", method, path), "Host: 127.0.0.1" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  local data = table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
  return sock:send(data)
end

-- A chunked body -> body | nil, err, what did arrive.
local function read_chunks(sock)
  local parts = {}
  while true do
    local size_line, serr = sock:receive("*l")
    if not size_line then return nil, serr, table.concat(parts) end
    local size = tonumber(size_line:match("^(%x+)"), 16)
    if not size then return nil, "bad chunk size", table.concat(parts) end
    if size == 0 then
      repeat local t = sock:receive("*l") until not t or t == ""
      return table.concat(parts)
    end
    local data, derr, partial = sock:receive(size)
    if not data then return nil, derr, table.concat(parts) .. (partial or "") end
    parts[#parts + 1] = data
    sock:receive("*l")
  end
end

-- The body as the headers frame it -> body | nil, err, what did arrive.
local function read_body(sock, headers)
  if (headers["transfer-encoding"] or ""):lower():find("chunked") then return read_chunks(sock) end
  if headers["content-length"] then
    local n = tonumber(headers["content-length"])
    if n == 0 then return "" end
    local data, derr, partial = sock:receive(n)
    if not data then return nil, derr, partial or "" end
    return data
  end
  local data, derr, partial = sock:receive("*a")
  if not data and derr ~= "closed" then return nil, derr, partial or "" end
  return data or partial or ""
end

-- Reads one response: {status, headers (lower-case names), body, head}.
-- On a cut-off response returns nil, err, and what did arrive.
function M.read_response(sock)
  local line, err = sock:receive("*l")
  if not line then return nil, err, "" end
  local status = tonumber(line:match("^HTTP/%d%.%d (%d+)"))
  if not status then return nil, "bad status line: " .. line, "" end
  local headers, head = {}, { line }
  while true do
    local h, herr = sock:receive("*l")
    if not h then return nil, herr, "" end
    if h == "" then break end
    head[#head + 1] = h
    local k, v = h:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  if status == 100 then return M.read_response(sock) end
  local body, berr, partial = read_body(sock, headers)
  if not body then return nil, berr, partial end
  return { status = status, headers = headers, head = table.concat(head, "\n"), body = body }
end

-- One request on a fresh connection, closed afterwards.
function M.http(port, method, path, body, headers, timeout)
  local sock, err = M.connect(port, timeout)
  if not sock then return nil, err end
  headers = headers or {}
  headers.Connection = headers.Connection or "close"
  M.send_request(sock, method, path, body, headers)
  local res, rerr, partial = M.read_response(sock)
  sock:close()
  return res, rerr, partial
end

return M
