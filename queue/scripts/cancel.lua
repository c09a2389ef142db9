-- cancel.lua — cancels a job: a waiting one at once, a running one by
-- asking its worker to stop.
--
-- KEYS[1] {p}:job:{id}
-- KEYS[2] {p}:job:{id}:input, the name its input's keys derive from (lib/input.lua)
-- KEYS[3] {p}:scheduled       zset of jobs waiting for a later retry (may not exist)
-- ARGV[1] the prefix {p}
-- ARGV[2] the job id
-- ARGV[3] seconds a cancelled job and its input are kept
-- ARGV[4] the error message stored with a job cancelled here
-- ARGV[5] the channel {p}:cancel
-- ARGV[6] the tenant the job must belong to, "" for any: another tenant's
--         job is answered as no such job, so the owner check and the
--         change are one atomic step
-- ARGV[7..] the names of the fields to return (job_store.c's record_fields)
--
-- Returns { code, values } where values are those fields of the job hash
-- as it is after the call (HMGET: not the input or result a small job
-- keeps in its hash), and code is
--   0 cancelled now (the job was waiting)
--   1 cancelled already (nothing changed)
--   3 cancel requested (the job is running; its worker stops it)
--   4 finished: succeeded or failed (nothing changed)
--   5 no such job (values is empty)
--
-- Transitions:
--   queued, or in {p}:scheduled -> cancelled: off its queue and the
--     scheduled set, finished_at, error "cancelled", expires after ARGV[3];
--     counted in {p}:metrics:finished as "<task>|cancelled".
--   running -> running with cancel_requested = 1, and the id PUBLISHed on
--     ARGV[5] so that its worker stops it at once; the flag is the durable
--     truth (renew.lua and progress.lua report it), the message only a
--     wake-up. Asking again publishes again.

--@include observe.lua
--@include input.lua

local p, id = ARGV[1], ARGV[2]
local f = redis.call('HMGET', KEYS[1], 'status', 'queue', 'task', 'tenant', 'input_pieces')
local status = f[1]
if not status or (ARGV[6] ~= '' and f[4] ~= ARGV[6]) then
  return { 5, {} }
end
local code
if status == 'cancelled' then
  code = 1
elseif status == 'succeeded' or status == 'failed' then
  code = 4
elseif status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', 1)
  redis.call('PUBLISH', ARGV[5], id)
  code = 3
elseif status == 'queued' or redis.call('ZSCORE', KEYS[3], id) then
  local now = now_ms()
  local ttl = tonumber(ARGV[3])
  if f[2] then
    redis.call('LREM', p .. ':queue:' .. f[2], 0, id)
  end
  redis.call('ZREM', KEYS[3], id)
  redis.call('HINCRBY', p .. ':metrics:finished', (f[3] or '') .. '|cancelled', 1)
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', now, 'worker', '',
             'error_code', 'cancelled', 'error_message', ARGV[4])
  redis.call('EXPIRE', KEYS[1], ttl)
  input_give_ttl(KEYS[2], f[5], ttl)
  -- A job waiting for a retry has an error history: it expires with it.
  redis.call('EXPIRE', KEYS[1] .. ':errors', ttl)
  code = 0
else
  code = 4
end
return { code, redis.call('HMGET', KEYS[1], unpack(ARGV, 7)) }
