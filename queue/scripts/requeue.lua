-- requeue.lua — gives a running job back to its queue without counting the
-- attempt (its worker is shutting down).
--
-- KEYS[1] {p}:job:{id}
-- KEYS[2] {p}:running
-- KEYS[3] {p}:queue:{name}
-- KEYS[4] {p}:job:{id}:partial:{token}
-- KEYS[5] {p}:wake:{name}
-- ARGV[1] the job id
-- ARGV[2] the caller's fencing token
--
-- Returns 0 when requeued, 2 when lost (nothing changed).
--
-- Transition: running -> queued, at the head of the queue so that another
-- worker takes it at once.

--@include wake.lua

local f = redis.call('HMGET', KEYS[1], 'status', 'token')
if f[1] ~= 'running' or f[2] ~= ARGV[2] then
  return 2
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4])
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('HSET', KEYS[1], 'status', 'queued', 'worker', '')
redis.call('RPUSH', KEYS[3], ARGV[1])
wake(KEYS[5], 1)
return 0
