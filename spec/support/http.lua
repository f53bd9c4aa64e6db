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
  local res = { status = status, headers = headers, head = table.concat(head, "\n") }
  if status == 100 then return M.read_response(sock) end
  if (headers["transfer-encoding"] or ""):lower():find("chunked") then
    local parts = {}
    while true do
      local size_line, serr = sock:receive("*l")
      if not size_line then return nil, serr, table.concat(parts) end
      local size = tonumber(size_line:match("^(%x+)"), 16)
      if not size then return nil, "bad chunk size", table.concat(parts) end
      if size == 0 then
        repeat local t = sock:receive("*l") until not t or t == ""
        break
      end
      local data, derr, partial = sock:receive(size)
      if not data then return nil, derr, table.concat(parts) .. (partial or "") end
      parts[#parts + 1] = data
      sock:receive("*l")
    end
    res.body = table.concat(parts)
  elseif headers["content-length"] then
    local n = tonumber(headers["content-length"])
    if n == 0 then res.body = "" return res end
    local data, derr, partial = sock:receive(n)
    if not data then return nil, derr, partial or "" end
    res.body = data
  else
    local data, derr, partial = sock:receive("*a")
    res.body = data or partial or ""
    if not data and derr ~= "closed" then return nil, derr, res.body end
  end
  return res
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
