-- enqueue.lua — makes a submitted job visible, all at once, and records
-- its Idempotency-Key in the same step.
--
-- KEYS[1] {p}:staging:{id}   upload streamed so far (only when ARGV[1] == "1")
-- KEYS[2] {p}:job:{id}       the job hash to create
-- KEYS[3] {p}:job:{id}:input the input key to create
-- KEYS[4] {p}:queue:{name}   the queue to push the id on
-- KEYS[5] {p}:queues         set of queue names
-- KEYS[6] {p}:wake:{name}    wake-up list of the queue's idle workers
-- KEYS[7] {p}:idem:{tenant}:{key}  only when the submission has an Idempotency-Key
-- ARGV[1] "1" when the input was staged, "0" when ARGV[2] is all of it
-- ARGV[2] the tail of the input (bytes not staged yet)
-- ARGV[3] the queue name
-- ARGV[4] the job id
-- ARGV[5] most ids the queue may hold before this one: "0" for no limit
-- ARGV[6] the submission's fingerprint (SHA-256 hex); "" without KEYS[7]
-- ARGV[7] seconds KEYS[7] is kept
-- ARGV[8..] field, value pairs of the job hash
--
-- Returns 1 when the job is queued; 0 when the staging key is gone (it
-- expired: the upload took longer than the staging TTL); 2 when the queue
-- is full (LLEN >= ARGV[5] > 0: the staging key, if any, is deleted);
-- {3, id} when KEYS[7] names job id, which still exists, with the same
-- fingerprint (a replay), and {4, id} when with another one (a mismatch):
-- on 3 and 4 the staging key is deleted; an error reply "EXISTS" when the
-- id is taken. On anything but 1 no job was written.
--
-- Transition: (nothing) -> queued. The input, the hash, the queue entry and
-- the Idempotency-Key's record appear together or not at all. A record
-- whose job has expired or been deleted counts as absent and is replaced.

local function discard_staging()
  if ARGV[1] == '1' then
    redis.call('DEL', KEYS[1])
  end
end

if KEYS[7] then
  local rec = redis.call('HMGET', KEYS[7], 'job', 'hash')
  if rec[1] then
    -- KEYS[2] is "{p}:job:" .. ARGV[4]: the recorded job's key shares its head.
    local job_key = string.sub(KEYS[2], 1, #KEYS[2] - #ARGV[4]) .. rec[1]
    if redis.call('EXISTS', job_key) == 1 then
      discard_staging()
      if rec[2] == ARGV[6] then
        return {3, rec[1]}
      end
      return {4, rec[1]}
    end
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('EXISTS job id already in use')
end
local max_depth = tonumber(ARGV[5])
if max_depth > 0 and redis.call('LLEN', KEYS[4]) >= max_depth then
  discard_staging()
  return 2
end
if ARGV[1] == '1' then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
  end
  if #ARGV[2] > 0 then
    redis.call('APPEND', KEYS[1], ARGV[2])
  end
  redis.call('RENAME', KEYS[1], KEYS[3])
  redis.call('PERSIST', KEYS[3])
else
  redis.call('SET', KEYS[3], ARGV[2])
end
redis.call('HSET', KEYS[2], 'status', 'queued', 'attempts', 0, 'token', 0,
           unpack(ARGV, 8))
redis.call('LPUSH', KEYS[4], ARGV[4])
redis.call('SADD', KEYS[5], ARGV[3])
-- One token per job, capped: a blocked worker needs one to wake, and a
-- long backlog of tokens only causes claims that find nothing.
redis.call('RPUSH', KEYS[6], '1')
redis.call('LTRIM', KEYS[6], -64, -1)
if KEYS[7] then
  redis.call('HSET', KEYS[7], 'job', ARGV[4], 'hash', ARGV[6])
  redis.call('EXPIRE', KEYS[7], ARGV[7])
end
return 1
