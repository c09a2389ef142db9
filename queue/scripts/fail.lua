-- fail.lua — ends a failed attempt: the job is scheduled for another
-- attempt after a backoff, or fails for good and becomes a dead letter.
--
-- KEYS[1] {p}:job:{id}
-- KEYS[2] {p}:running
-- KEYS[3] {p}:job:{id}:partial:{token}  the result this attempt wrote
-- KEYS[4] {p}:job:{id}:input, the name its input's keys derive from (lib/input.lua)
-- KEYS[5] {p}:job:{id}:errors
-- KEYS[6] {p}:scheduled
-- KEYS[7] {p}:dead
-- KEYS[8] {p}:metrics:finished  hash: "<task>|<status>" -> jobs ended so
-- KEYS[9] {p}:metrics:duration  hash: run-time buckets (lib/observe.lua)
-- ARGV[1] the job id
-- ARGV[2] the caller's fencing token
-- ARGV[3] seconds a job that failed for good, its input and errors are kept
-- ARGV[4] error code
-- ARGV[5] error message
-- ARGV[6] rows done
-- ARGV[7] input bytes done
-- ARGV[8] ms to wait before the next attempt; negative: no retry
-- ARGV[9] most dead letters kept
-- ARGV[10] seconds a dead letter is kept
-- ARGV[11] the run-time bucket bounds, seconds, comma-separated, ascending
--
-- Returns 0 when the job failed for good (dead-lettered), 1 when it is
-- scheduled for another attempt, 2 when the token is not current or the
-- job is not running (lost: nothing changed but the stale partial result is
-- deleted).
--
-- Transition: running -> queued with retry_at (attempts < max_attempts, a
-- retry delay was given and no cancel was requested; the id waits in
-- {p}:scheduled until claim.lua promotes it) | failed (otherwise; the id
-- goes to {p}:dead). Either way the attempt's error is appended to the
-- errors list, which keeps the last 20. Fencing: only the current attempt
-- can take it. Every attempt's run time is counted in the metrics hashes,
-- and a failure for good as a job ended "failed".

--@include observe.lua
--@include input.lua

local f = redis.call('HMGET', KEYS[1], 'status', 'token', 'attempts', 'max_attempts',
                     'worker', 'cancel_requested', 'task', 'started_at', 'input_pieces')
if f[1] ~= 'running' or f[2] ~= ARGV[2] then
  redis.call('DEL', KEYS[3])
  return 2
end
local now = now_ms()
local attempts = tonumber(f[3]) or 0
local delay = tonumber(ARGV[8])
local dur = {}
redis.call('ZREM', KEYS[2], ARGV[1])
observe(dur, f[7] or '', f[8], now, run_bounds(ARGV[11]))
tally_flush(dur, KEYS[9])
redis.call('DEL', KEYS[3])
redis.call('RPUSH', KEYS[5], cjson.encode({attempt = attempts, code = ARGV[4],
  message = ARGV[5], worker = f[5] or '', at = now}))
redis.call('LTRIM', KEYS[5], -20, -1)
local h = { 'error_code', ARGV[4], 'error_message', ARGV[5], 'worker', '',
            'progress_rows', ARGV[6], 'progress_bytes', ARGV[7] }
if delay >= 0 and attempts < (tonumber(f[4]) or 1) and f[6] ~= '1' then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'retry_at', now + delay, unpack(h))
  redis.call('ZADD', KEYS[6], now + delay, ARGV[1])
  return 1
end
local ttl = tonumber(ARGV[3])
redis.call('HINCRBY', KEYS[8], (f[7] or '') .. '|failed', 1)
redis.call('HSET', KEYS[1], 'status', 'failed', 'finished_at', now, 'retry_at', 0, unpack(h))
redis.call('EXPIRE', KEYS[1], ttl)
input_give_ttl(KEYS[4], f[9], ttl)
redis.call('EXPIRE', KEYS[5], ttl)
-- The dead letters are capped here, by age and then by count; the job keys
-- of the ones dropped are left to their own TTL.
redis.call('ZADD', KEYS[7], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - tonumber(ARGV[10]) * 1000)
redis.call('ZREMRANGEBYRANK', KEYS[7], 0, -(tonumber(ARGV[9]) + 1))
return 0
