-- progress.lua — records how far a running job got and extends its lease.
--
-- KEYS[1] {p}:job:{id}
-- KEYS[2] {p}:running
-- ARGV[1] the job id
-- ARGV[2] the caller's fencing token
-- ARGV[3] rows done
-- ARGV[4] input bytes done
-- ARGV[5] lease length in ms
--
-- Returns 0 (go on), 3 (cancel requested: stop and report cancelled) or
-- 2 (lost: the token is not current or the job is not running; nothing was
-- written).

--@include observe.lua

local f = redis.call('HMGET', KEYS[1], 'status', 'token', 'cancel_requested')
if f[1] ~= 'running' or f[2] ~= ARGV[2] then
  return 2
end
local now = now_ms()
redis.call('HSET', KEYS[1], 'progress_rows', ARGV[3], 'progress_bytes', ARGV[4])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[1])
if f[3] == '1' then
  return 3
end
return 0
