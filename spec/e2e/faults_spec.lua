-- The reliability test plan, end to end (first half: bad configuration,
-- hostile files, transport, TLS and proxies; faults_server_spec has the
-- rest). Every case checks the exit code, that the token never appeared and
-- what reached the server; the cases that promise an end within a deadline
-- check it (support.bounds). The policy's timed rules themselves run on a
-- fake clock (policy_spec).

local cli = require "support.cli"
local optional = require "support.optional"
local emulator = require "support.emulator"

local F = require("support.faults").new()
local TOKEN, IDS, FAST, args = F.TOKEN, F.IDS, F.FAST, F.args
local run, requests, pause, status = F.run, F.requests, F.pause, F.status
local home_with_config, no_env_pat = F.home_with_config, F.no_env_pat

describe("reliability", function()
  F.use(emulator.fixture(F.FIXTURE))

  describe("configuration and credentials", function()
    it("1: no token anywhere: exit 3 naming CLARIFAI_PAT and the config path, nothing sent", function()
      local r = pause({ unset = no_env_pat() })
      assert.equal(3, r.code)
      assert.matches("CLARIFAI_PAT", r.err, 1, true)
      assert.matches("/.config/clarifai/config", r.err, 1, true)
      assert.equal(0, #requests())
    end)

    it("2: the environment token wins over the config file", function()
      local home = home_with_config("contexts:\n  a:\n    CLARIFAI_PAT: file-token-xyz\ncurrent_context: a\n")
      local r = pause({ home = home })
      assert.equal(0, r.code, r.err)
      assert.equal("Key " .. TOKEN, requests("PATCH")[1].headers.authorization)
    end)

    it("3: --config naming a missing file: exit 3", function()
      local r = run(args("--config", "/nonexistent/config", "pr", "pause", "run-train-01", IDS),
        { unset = no_env_pat() })
      assert.equal(3, r.code)
      assert.matches("/nonexistent/config does not exist", r.err, 1, true)
      assert.equal(0, #requests())
    end)

    it("4: a token file readable by others: one-line warning with a chmod hint, the command proceeds", function()
      local home = home_with_config("contexts:\n  a:\n    CLARIFAI_PAT: " .. TOKEN .. "\ncurrent_context: a\n", "644")
      local r = pause({ home = home, unset = no_env_pat() })
      assert.equal(0, r.code, r.err)
      local _, n = r.err:gsub("\n", "")
      assert.equal(1, n)
      assert.matches("chmod 600", r.err, 1, true)
    end)

    it("5: a FIFO, a device, a directory or an oversized file as the config: exit 3 at once", function()
      local dir = cli.tmpdir()
      os.execute("mkfifo " .. cli.quote(dir .. "/fifo"))
      local big = dir .. "/big"
      cli.write(big, "contexts:\n" .. string.rep("# padding\n", 120000))
      for _, path in ipairs({ dir .. "/fifo", "/dev/zero", dir, big }) do
        local r = run(args("--config", path, "pr", "pause", "run-train-01", IDS), { unset = no_env_pat() })
        assert.equal(3, r.code, path)
      end
      assert.equal(0, #requests())
    end)

    it("6: a YAML syntax error names config:LINE:COL and does not echo the line", function()
      local home = home_with_config("contexts:\n  a:\n    CLARIFAI_PAT: secret-on-this-line: [\n")
      local r = pause({ home = home, unset = no_env_pat() })
      assert.equal(3, r.code)
      assert.matches("config:%d+:%d+: ", r.err)
      assert.is_nil(r.err:find("secret-on-this-line", 1, true))
    end)

    it("7: billion laughs is rejected fast", function()
      local lines = { 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]' }
      for i = 2, 9 do
        local prev = string.char(96 + i - 1)
        lines[i] = string.char(96 + i) .. ": &" .. string.char(96 + i) .. " [" .. string.rep("*" .. prev .. ",", 8)
          .. "*" .. prev .. "]"
      end
      local home = home_with_config(table.concat(lines, "\n") .. "\n")
      local r = pause({ home = home, unset = no_env_pat() })
      assert.equal(3, r.code)
      assert.matches("anchors and aliases are not allowed", r.err, 1, true)
    end)

    it("8: a self-referencing alias is rejected", function()
      local home = home_with_config("a: &x [ *x ]\n")
      local r = pause({ home = home, unset = no_env_pat() })
      assert.equal(3, r.code)
    end)

    it("9: 100 000-deep nesting is rejected at the depth limit", function()
      local home = home_with_config(string.rep("[", 100000) .. string.rep("]", 100000) .. "\n")
      local r = pause({ home = home, unset = no_env_pat() })
      assert.equal(3, r.code)
      assert.matches("nesting is deeper than the limit", r.err, 1, true)
    end)

    it("10: a duplicate key is rejected, not last-wins", function()
      local home = home_with_config("contexts:\n  a:\n    CLARIFAI_PAT: one-token\n    CLARIFAI_PAT: two-token\n")
      local r = pause({ home = home, unset = no_env_pat() })
      assert.equal(3, r.code)
      assert.matches("duplicate key 'CLARIFAI_PAT'", r.err, 1, true)
    end)

    it("11: tagged values are rejected and nothing runs", function()
      for _, v in ipairs({ '!!python/object/apply:os.system ["touch /tmp/pwned-by-yaml"]', "!!binary aGVsbG8=" }) do
        local home = home_with_config("contexts:\n  a:\n    CLARIFAI_PAT: " .. v .. "\ncurrent_context: a\n")
        local r = pause({ home = home, unset = no_env_pat() })
        assert.equal(3, r.code)
        assert.matches("is not allowed", r.err, 1, true)
      end
      assert.is_nil(io.open("/tmp/pwned-by-yaml"))
    end)

    it("12: invalid UTF-8 and raw control bytes are rejected", function()
      for _, bad in ipairs({ "caf\233", "a\1b" }) do
        local home = home_with_config("contexts:\n  a:\n    CLARIFAI_UI: " .. bad .. "\n")
        local r = pause({ home = home, unset = no_env_pat() })
        assert.equal(3, r.code)
        assert.matches("config:%d+:%d+: ", r.err)
      end
    end)

    it("13: two YAML documents are rejected", function()
      local home = home_with_config("contexts: {}\n---\ncontexts: {}\n")
      local r = pause({ home = home, unset = no_env_pat() })
      assert.equal(3, r.code)
      assert.matches("more than one document", r.err, 1, true)
    end)

    it("14: a token with CR/LF (environment or file) is refused before connecting", function()
      local r = pause({ env = { CLARIFAI_PAT = "abc\r\nX-Evil: 1" } })
      assert.equal(3, r.code)
      local home = home_with_config('contexts:\n  a:\n    CLARIFAI_PAT: "abc\\r\\nX-Evil: 1"\ncurrent_context: a\n')
      local r2 = pause({ home = home, unset = no_env_pat() })
      assert.equal(3, r2.code)
      assert.equal(0, #requests())
    end)

    it("16: a number-looking token is sent exactly as written", function()
      local home = home_with_config("contexts:\n  a:\n    CLARIFAI_PAT: 0123\ncurrent_context: a\n")
      local r = pause({ home = home, unset = no_env_pat() })
      assert.equal(0, r.code, r.err)
      assert.equal("Key 0123", requests("PATCH")[1].headers.authorization)
    end)

    it("17: usage errors: a hint on stderr, empty stdout, exit 2, no network", function()
      for _, argv in ipairs({ args("pr", "pause", "--nope", "x", IDS), args("pr", "pause", IDS),
          args("pr", "explode", "x", IDS), args("pr", "pause", "x", "--parallel", "many", IDS) }) do
        local r = run(argv, {})
        assert.equal(2, r.code)
        assert.equal("", r.out)
        assert.matches("Usage: clarifai", r.err, 1, true)
      end
      assert.equal(0, #requests())
    end)
  end)

  describe("transport and TLS", function()
    it("18: plain http to a non-loopback host is refused before connecting; loopback needs no opt-in", function()
      local r = pause({ env = { CLARIFAI_API_BASE = "http://example.com" } })
      assert.equal(3, r.code)
      local ok = pause({})
      assert.equal(0, ok.code)
    end)

    describe("against a TLS server", function()
      local dir, server_pid, port
      -- openssl s_server takes its time to start on a busy machine
      local function await_listening(p)
        require("support.bounds").await("a TLS server on port " .. p, function()
          local c = require("socket").connect("127.0.0.1", p)
          if c then c:close() return true end
        end)
      end
      setup(function()
        if not optional.command("openssl") then return end
        dir = cli.tmpdir()
        os.execute(string.format("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem "
          .. "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1 && "
          .. "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-key.pem -out other.pem "
          .. "-days 2 -subj /CN=other.test -addext subjectAltName=DNS:other.test >/dev/null 2>&1", cli.quote(dir)))
        local sock = require("socket").bind("127.0.0.1", 0)
        port = select(2, sock:getsockname())
        sock:close()
        local p = io.popen(string.format("cd %s && (openssl s_server -quiet -accept 127.0.0.1:%s -cert cert.pem "
          .. "-key key.pem -www >/dev/null 2>&1 & echo $!)", cli.quote(dir), port))
        server_pid = p:read("*l")
        p:close()
        await_listening(port)
      end)
      teardown(function()
        if server_pid then os.execute("kill " .. server_pid .. " 2>/dev/null") end
      end)

      -- openssl s_server serves one connection at a time: a generous connect
      -- timeout keeps a loaded machine from turning a TLS failure into a retry
      local function tls_status(env)
        env.CLARIFAI_API_BASE = "https://127.0.0.1:" .. port
        return run(args("pr", "status", "run-train-01", "--connect-timeout", "20", "--request-timeout", "20", IDS),
          { env = env })
      end

      it("19: an unknown CA fails verification with a hint, no retry", function()
        if not dir then return pending(optional.missing("openssl")) end
        local r = tls_status({ SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt" })
        assert.equal(5, r.code)
        assert.matches("SSL_CERT_FILE", r.err, 1, true)
        assert.is_nil(r.err:find("Retrying", 1, true))
      end)

      it("20: SSL_CERT_FILE or CURL_CA_BUNDLE trusting the server gets past TLS", function()
        if not dir then return pending(optional.missing("openssl")) end
        for _, var in ipairs({ "SSL_CERT_FILE", "CURL_CA_BUNDLE" }) do
          local r = tls_status({ [var] = dir .. "/cert.pem" })
          -- TLS succeeded: what fails now is the (HTML) content, not the certificate
          assert.equal(5, r.code)
          assert.matches("not JSON", r.err, 1, true)
        end
        local bad = tls_status({ SSL_CERT_FILE = dir .. "/missing.pem" })
        assert.equal(5, bad.code)
      end)

      it("22: a server that speaks only TLS 1.1 is refused", function()
        if not dir then return pending(optional.missing("openssl")) end
        local sock = require("socket").bind("127.0.0.1", 0)
        local port11 = select(2, sock:getsockname())
        sock:close()
        local p = io.popen(string.format("cd %s && (openssl s_server -quiet -accept 127.0.0.1:%s -cert cert.pem "
          .. "-key key.pem -www -tls1_1 -cipher DEFAULT@SECLEVEL=0 >/dev/null 2>&1 & echo $!)", cli.quote(dir), port11))
        local pid11 = p:read("*l")
        p:close()
        await_listening(port11)
        local r = status({ env = { CLARIFAI_API_BASE = "https://127.0.0.1:" .. port11,
          SSL_CERT_FILE = dir .. "/cert.pem" } })
        os.execute("kill " .. pid11 .. " 2>/dev/null")
        assert.equal(5, r.code)
        assert.matches("protocol version", r.err, 1, true)
      end)

      it("21: a certificate for another name fails", function()
        if not dir then return pending(optional.missing("openssl")) end
        local r = tls_status({ SSL_CERT_FILE = dir .. "/other.pem" })
        assert.equal(5, r.code)
        assert.is_nil(r.err:find("not JSON", 1, true))
      end)
    end)

    it("23: proxy credentials from the environment are masked everywhere", function()
      -- a remote base goes through the proxy (nothing listens there: refused)
      local r = run(args("--verbose", "pr", "status", "run-train-01", FAST, IDS),
        { env = { CLARIFAI_API_BASE = "https://api.clarifai.invalid",
          https_proxy = "http://user:pr0xy-s3cret@127.0.0.1:1" } })
      assert.equal(5, r.code)
      assert.is_nil(r.err:find("pr0xy-s3cret", 1, true))
      assert.matches("* proxy: http://***@127.0.0.1:1", r.err, 1, true)
    end)

    it("23b: a loopback base never goes through a proxy: the token stays on this host", function()
      local socket = require "socket"
      local proxy = assert(socket.bind("127.0.0.1", 0))
      local _, port = proxy:getsockname()
      local url = "http://user:pr0xy-s3cret@127.0.0.1:" .. port
      local r = run(args("--verbose", "pr", "status", "run-train-01", FAST, IDS),
        { env = { http_proxy = url, HTTPS_PROXY = url, ALL_PROXY = url } })
      proxy:settimeout(0)
      local conn = proxy:accept()
      proxy:close()
      assert.is_nil(conn, "the proxy was contacted")
      assert.equal(0, r.code, r.err)
      assert.matches("* no proxy (direct: localhost,127.0.0.0/8,::1)", r.err, 1, true)
      assert.equal(1, #requests("GET"))
    end)

    it("24: connection refused: at most 3 attempts with jittered delays, exit 5 within budget #portable", function()
      local r = pause({ env = { CLARIFAI_API_BASE = "http://127.0.0.1:1" }, bound = "deadline" })
      assert.equal(5, r.code)
      local _, retries = r.err:gsub("Retrying run", "")
      assert.equal(2, retries)
      assert.matches("after 3 attempts", r.err, 1, true)
    end)

    it("25: a server that never accepts: gives up after --connect-timeout", function()
      local socket = require "socket"
      local server = assert(socket.tcp())
      assert(server:bind("127.0.0.1", 0))
      assert(server:listen(0))
      local _, port = server:getsockname()
      local fillers = {}
      for i = 1, 8 do
        fillers[i] = socket.tcp()
        fillers[i]:settimeout(0)
        fillers[i]:connect("127.0.0.1", port)
      end
      local r = run(args("pr", "status", "run-train-01", "--connect-timeout", "1", "--deadline", "4", IDS),
        { env = { CLARIFAI_API_BASE = "http://127.0.0.1:" .. port }, bound = "connect_timeout" })
      for _, f in ipairs(fillers) do f:close() end
      server:close()
      assert.is_true(r.code == 5 or r.code == 6, r.err)
    end)

    it("26: an unresolvable host fails fast and names the host", function()
      local r = pause({ env = { CLARIFAI_API_BASE = "https://nohost.invalid" } })
      assert.equal(5, r.code)
      assert.matches("nohost.invalid", r.err, 1, true)
    end)
  end)
end)
