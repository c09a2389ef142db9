-- claim.lua — hands queued jobs to a worker, each with a lease, and puts
-- back the jobs whose lease ran out.
--
-- KEYS[1] {p}:running         zset id -> lease deadline (ms)
-- ARGV[1] the prefix {p}
-- ARGV[2] lease length in ms
-- ARGV[3] the worker id
-- ARGV[4] the most jobs to claim
-- ARGV[5] seconds a job that fails for good is kept (the result TTL)
-- ARGV[6] most dead letters kept
-- ARGV[7] seconds a dead letter is kept
-- ARGV[8] largest input returned with the claim, in bytes (0: none)
-- ARGV[9..] queue names, most preferred first
--
-- Returns an array with one entry per claimed job:
--   { id, token, task, queue, delimiter, header, bytes, request_id,
--     attempts, deadline_ms, input }
-- deadline_ms is the job's timeout as a wall-clock time, 0 for none. input
-- is the whole input when it is at most ARGV[8] bytes (a small job then
-- costs no read of its own), else nil: the worker reads it in pieces.
--
-- Transition: queued -> running (attempts + 1, a new fencing token, a
-- lease). Reaping: running with an expired lease -> queued, at the head of
-- its queue, while attempts < max_attempts (the attempt it used stays
-- counted), else failed with error "lease_expired" and dead-lettered;
-- either way the expiry is appended to the job's errors list. Promotion:
-- a retry whose backoff is over ({p}:scheduled) goes to the back of its
-- queue, so idle workers see it at their next claim, within about a
-- second. Times come from Redis's clock, so workers on hosts with skewed
-- clocks agree on every lease and every due time. A job that ends here
-- (failed for good, or cancelled) is counted in {p}:metrics:finished.

local p = ARGV[1]
local lease = tonumber(ARGV[2])
local max = tonumber(ARGV[4])
local inline = tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- reap_dead fails job id for good after its lease expired (the same end
-- as fail.lua's, with the dead letters capped the same way).
local function reap_dead(id, job, token, message)
  local ttl = tonumber(ARGV[5])
  local dead = p .. ':dead'
  redis.call('DEL', job .. ':partial:' .. (token or '0'))
  redis.call('HSET', job, 'status', 'failed', 'finished_at', now, 'retry_at', 0)
  redis.call('HINCRBY', p .. ':metrics:finished',
             (redis.call('HGET', job, 'task') or '') .. '|failed', 1)
  redis.call('EXPIRE', job, ttl)
  redis.call('EXPIRE', job .. ':input', ttl)
  redis.call('EXPIRE', job .. ':errors', ttl)
  redis.call('ZADD', dead, now, id)
  redis.call('ZREMRANGEBYSCORE', dead, '-inf', now - tonumber(ARGV[7]) * 1000)
  redis.call('ZREMRANGEBYRANK', dead, 0, -(tonumber(ARGV[6]) + 1))
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
for _, id in ipairs(expired) do
  local job = p .. ':job:' .. id
  redis.call('ZREM', KEYS[1], id)
  local f = redis.call('HMGET', job, 'status', 'queue', 'attempts', 'max_attempts', 'worker',
                       'token')
  if f[1] == 'running' then
    local attempts = tonumber(f[3]) or 0
    local message = 'the lease of worker ' .. (f[5] or '?') ..
                    ' expired before the attempt ended (the worker died or lost Redis)'
    redis.call('RPUSH', job .. ':errors', cjson.encode({attempt = attempts,
      code = 'lease_expired', message = message, worker = f[5] or '', at = now}))
    redis.call('LTRIM', job .. ':errors', -20, -1)
    redis.call('HSET', job, 'worker', '', 'error_code', 'lease_expired',
               'error_message', message)
    if attempts < (tonumber(f[4]) or 1) then
      redis.call('HSET', job, 'status', 'queued')
      redis.call('RPUSH', p .. ':queue:' .. f[2], id)
    else
      reap_dead(id, job, f[6], message)
    end
  end
end

local scheduled = p .. ':scheduled'
local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, 64)
for _, id in ipairs(due) do
  local job = p .. ':job:' .. id
  redis.call('ZREM', scheduled, id)
  local f = redis.call('HMGET', job, 'status', 'queue')
  -- An id no longer queued (cancelled, purged) is dropped.
  if f[1] == 'queued' and f[2] then
    redis.call('HSET', job, 'retry_at', 0)
    redis.call('LPUSH', p .. ':queue:' .. f[2], id)
    redis.call('RPUSH', p .. ':wake:' .. f[2], '1')
    redis.call('LTRIM', p .. ':wake:' .. f[2], -64, -1)
  end
end

local out = {}
for i = 9, #ARGV do
  local qkey = p .. ':queue:' .. ARGV[i]
  while #out < max do
    local id = redis.call('RPOP', qkey)
    if not id then break end
    local job = p .. ':job:' .. id
    local f = redis.call('HMGET', job, 'status', 'task', 'delimiter', 'header',
                         'bytes', 'request_id', 'timeout', 'cancel_requested')
    -- An id whose hash is gone (expired, purged by hand) or that is no
    -- longer queued is dropped from the queue, not run. A job whose cancel
    -- was requested while it ran, and whose worker then died, ends here as
    -- cancelled instead of starting again.
    if f[1] == 'queued' and f[8] == '1' then
      local ttl = tonumber(ARGV[5])
      redis.call('HSET', job, 'status', 'cancelled', 'finished_at', now, 'worker', '',
                 'error_code', 'cancelled',
                 'error_message', 'The job was cancelled while it ran; its worker stopped before it could say so.')
      redis.call('HINCRBY', p .. ':metrics:finished', (f[2] or '') .. '|cancelled', 1)
      redis.call('EXPIRE', job, ttl)
      redis.call('EXPIRE', job .. ':input', ttl)
      redis.call('EXPIRE', job .. ':errors', ttl)
    elseif f[1] == 'queued' then
      local token = redis.call('HINCRBY', job, 'token', 1)
      local attempts = redis.call('HINCRBY', job, 'attempts', 1)
      local timeout = tonumber(f[7] or '0') or 0
      local deadline = 0
      if timeout > 0 then deadline = now + timeout * 1000 end
      redis.call('HSET', job, 'status', 'running', 'worker', ARGV[3],
                 'started_at', now, 'finished_at', 0)
      redis.call('ZADD', KEYS[1], now + lease, id)
      local input = false
      if inline > 0 and (tonumber(f[5]) or 0) <= inline then
        input = redis.call('GET', job .. ':input')
      end
      out[#out + 1] = { id, token, f[2] or '', ARGV[i], f[3] or ',', f[4] or '1',
                        f[5] or '0', f[6] or '', attempts, deadline, input }
    end
  end
end
return out
