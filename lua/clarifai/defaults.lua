-- Every default of the library in one table. The CLI builds its flags'
-- defaults and help from it, so the two cannot disagree.
return {
  parallel = 8,              -- requests in flight at once
  connect_timeout = 10,      -- seconds to establish a connection
  request_timeout = 30,      -- seconds for one HTTP attempt
  deadline = 60,             -- seconds for one run's change: attempts, backoff, reconciliation
  max_size = 1024 * 1024,    -- largest response body accepted
  wait_timeout = 300,        -- --wait: seconds before giving up
  wait_interval = 2,         -- --wait: seconds between polls
  monitor_timeout = 3600,    -- monitor: seconds before giving up (the Python CLI's)
  monitor_interval = 10,     -- monitor: seconds between polls (the Python CLI's)
  list_per_page = 16,        -- list: runs per page
  list_max = 100000,         -- list --all: stop after this many runs
  wait_per_page = 128,       -- waits that poll the list endpoint: the API's own default page size
  history_per_page = 100,    -- status logs per page
  log_per_page = 50,         -- monitor: log entries per page (the Python CLI's)
  first_streams = 100,      -- transfers started before an HTTP/2 server's stream limit is known
  grace = 1,                 -- seconds in-flight requests get to finish after a stop
}
