-- claim.lua — hands queued jobs to a worker, each with a lease, and puts
-- back the jobs whose lease ran out.
--
-- KEYS[1] {p}:running         zset id -> lease deadline (ms)
-- ARGV[1] the prefix {p}
-- ARGV[2] lease length in ms
-- ARGV[3] the worker id
-- ARGV[4] the most jobs to claim
-- ARGV[5..] queue names, most preferred first
--
-- Returns an array with one entry per claimed job:
--   { id, token, task, queue, delimiter, header, bytes, request_id,
--     attempts, deadline_ms }
-- deadline_ms is the job's timeout as a wall-clock time, 0 for none.
--
-- Transition: queued -> running (attempts + 1, a new fencing token, a
-- lease). Reaping: running with an expired lease -> queued, at the head of
-- its queue; the attempt it used stays counted. Times come from Redis's
-- clock, so workers on hosts with skewed clocks agree on every lease.

local p = ARGV[1]
local lease = tonumber(ARGV[2])
local max = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
for _, id in ipairs(expired) do
  local job = p .. ':job:' .. id
  redis.call('ZREM', KEYS[1], id)
  local f = redis.call('HMGET', job, 'status', 'queue')
  if f[1] == 'running' then
    redis.call('HSET', job, 'status', 'queued', 'worker', '')
    redis.call('RPUSH', p .. ':queue:' .. f[2], id)
  end
end

local out = {}
for i = 5, #ARGV do
  local qkey = p .. ':queue:' .. ARGV[i]
  while #out < max do
    local id = redis.call('RPOP', qkey)
    if not id then break end
    local job = p .. ':job:' .. id
    local f = redis.call('HMGET', job, 'status', 'task', 'delimiter', 'header',
                         'bytes', 'request_id', 'timeout')
    -- An id whose hash is gone (expired, purged by hand) or that is no
    -- longer queued is dropped from the queue, not run.
    if f[1] == 'queued' then
      local token = redis.call('HINCRBY', job, 'token', 1)
      local attempts = redis.call('HINCRBY', job, 'attempts', 1)
      local timeout = tonumber(f[7] or '0') or 0
      local deadline = 0
      if timeout > 0 then deadline = now + timeout * 1000 end
      redis.call('HSET', job, 'status', 'running', 'worker', ARGV[3],
                 'started_at', now, 'finished_at', 0)
      redis.call('ZADD', KEYS[1], now + lease, id)
      out[#out + 1] = { id, token, f[2] or '', ARGV[i], f[3] or ',', f[4] or '1',
                        f[5] or '0', f[6] or '', attempts, deadline }
    end
  end
end
return out
