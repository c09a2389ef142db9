-- retry.lua — gives a failed job a new life: POST /v1/jobs/{id}/retry.
--
-- KEYS[1] {p}:job:{id}
-- KEYS[2] {p}:job:{id}:input, the name its input's keys derive from (lib/input.lua)
-- KEYS[3] {p}:job:{id}:errors
-- KEYS[4] {p}:dead
-- KEYS[5] {p}:scheduled
-- ARGV[1] the prefix {p}
-- ARGV[2] the job id
-- ARGV[3] the tenant the job must belong to, "" for any (another tenant's
--         job is answered as no such job)
--
-- Returns { code, status }: code 0 when the job is queued again, 1 when
-- there is no such job, 4 when it is not failed (status says what it is),
-- 5 when its input has expired. Nothing is written unless code is 0.
--
-- Transition: failed -> queued with attempts 0 and no error, at the back of
-- its queue, out of {p}:dead; the hash, input and errors list lose their
-- TTL again. The errors list is kept: it is the job's history. The fencing
-- token is not reset, so an attempt from before can never be current.
-- cancel_requested goes back to 0: a job whose cancel was asked while it
-- ran and that then failed (a failure wins, fail.lua) is the user's to
-- retry, and the flag would have the next claim end it cancelled unrun.

--@include wake.lua
--@include input.lua

local p = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'status', 'queue', 'tenant', 'input', 'input_pieces')
if not f[1] or (ARGV[3] ~= '' and f[3] ~= ARGV[3]) then
  return { 1, '' }
end
if f[1] ~= 'failed' then
  return { 4, f[1] }
end
-- A small input is the hash's field input (enqueue.lua), kept as long as
-- the hash; a larger one is KEYS[2] or its pieces, every one of which must
-- still be there.
if not f[4] and not input_present(KEYS[2], f[5]) then
  return { 5, f[1] }
end
redis.call('PERSIST', KEYS[1])
if not f[4] then input_each(KEYS[2], f[5], 'PERSIST') end
redis.call('PERSIST', KEYS[3])
redis.call('HSET', KEYS[1], 'status', 'queued', 'attempts', 0, 'error_code', '',
           'error_message', '', 'retry_at', 0, 'started_at', 0, 'finished_at', 0,
           'progress_rows', 0, 'progress_bytes', 0, 'worker', '', 'cancel_requested', 0)
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('LPUSH', p .. ':queue:' .. f[2], ARGV[2])
redis.call('SADD', p .. ':queues', f[2])
wake(p .. ':wake:' .. f[2], 1)
return { 0, 'queued' }
