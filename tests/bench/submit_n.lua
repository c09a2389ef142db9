-- submit_n.lua — wrk script for the end-to-end benchmark: submits exactly
-- N jobs, then goes quiet.
--
-- usage: wrk -t T ... -s submit_n.lua URL -- BODY_FILE N DONE_DIR T
--
-- Each of wrk's T threads (each has its own Lua state) sends N/T POSTs of
-- BODY_FILE as text/csv (N must be a multiple of T); later requests are
-- GET /healthz, which creates nothing, at most one per 10 ms per
-- connection (delay()) so that a thread still waiting for an answer does not
-- compete with the worker. When a thread has had an answer to
-- each of its POSTs it writes DONE_DIR/done.<thread> with the count of
-- answers that were not 202, and stops its event loop. wrk itself runs
-- until its -d: the caller waits for T done files and then stops it.

local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local post, idle, cap, dir
local sent, answered, failed = 0, 0, 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  dir = args[3]
  cap = math.floor(tonumber(args[2]) / tonumber(args[4]))
  post = wrk.format("POST", nil, { ["Content-Type"] = "text/csv" }, body)
  idle = wrk.format("GET", "/healthz")
  -- wrk calls the first thread's request() once before it starts, only to
  -- check the request (script_verify_request); that call sends nothing.
  if id == 0 then
    sent = -1
  end
end

function request()
  if sent < cap then
    sent = sent + 1
    return post
  end
  return idle
end

function delay()
  if sent < cap then
    return 0
  end
  return 10
end

function response(status, headers, body)
  if status == 200 then
    return -- a /healthz answer
  end
  answered = answered + 1
  if status ~= 202 then
    failed = failed + 1
  end
  if answered == cap then
    local f = assert(io.open(dir .. "/done." .. id, "w"))
    f:write(tostring(failed), "\n")
    f:close()
    wrk.thread:stop()
  end
end
