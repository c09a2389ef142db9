-- finish.lua — ends an attempt: the job becomes succeeded, failed or
-- cancelled, once.
--
-- KEYS[1] {p}:job:{id}
-- KEYS[2] {p}:running
-- KEYS[3] {p}:job:{id}:partial:{token}  the result this attempt wrote
-- KEYS[4] {p}:job:{id}:result
-- KEYS[5] {p}:job:{id}:input
-- KEYS[6] {p}:metrics:finished  hash: "<task>|<status>" -> jobs ended so
-- KEYS[7] {p}:metrics:duration  hash: run-time buckets (lib/observe.lua)
-- ARGV[1] the job id
-- ARGV[2] the caller's fencing token
-- ARGV[3] the final status: succeeded, failed or cancelled
-- ARGV[4] seconds the job, its input and its result are kept
-- ARGV[5] the result's media type (succeeded)
-- ARGV[6] error code (failed, cancelled)
-- ARGV[7] error message (failed, cancelled)
-- ARGV[8] rows done
-- ARGV[9] input bytes done
-- ARGV[10] the run-time bucket bounds, seconds, comma-separated, ascending
--
-- Returns 0 when done, 2 when the token is not current or the job is not
-- running (lost: nothing changed but the stale partial result is deleted).
--
-- Transition: running -> succeeded | failed | cancelled. Fencing makes it
-- exactly-once: only the current attempt can take it. The end is counted
-- in the metrics hashes in the same step.

--@include observe.lua

local f = redis.call('HMGET', KEYS[1], 'status', 'token', 'task', 'started_at')
if f[1] ~= 'running' or f[2] ~= ARGV[2] then
  redis.call('DEL', KEYS[3])
  return 2
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[6], (f[3] or '') .. '|' .. ARGV[3], 1)
observe(KEYS[7], f[3] or '', f[4], now, ARGV[10])
if ARGV[3] == 'succeeded' then
  if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('RENAME', KEYS[3], KEYS[4])
  else
    redis.call('SET', KEYS[4], '')
  end
  redis.call('EXPIRE', KEYS[4], ttl)
  -- An earlier attempt's error is history now (kept in the errors list).
  redis.call('HSET', KEYS[1], 'result_type', ARGV[5],
             'result_bytes', redis.call('STRLEN', KEYS[4]), 'error_code', '',
             'error_message', '')
else
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[1], 'error_code', ARGV[6], 'error_message', ARGV[7])
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'finished_at', now, 'worker', '',
           'progress_rows', ARGV[8], 'progress_bytes', ARGV[9])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[5], ttl)
-- The errors list of earlier failed attempts ({p}:job:{id}:errors), if any.
redis.call('EXPIRE', KEYS[1] .. ':errors', ttl)
return 0
