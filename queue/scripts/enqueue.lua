-- enqueue.lua — makes a batch of submitted jobs visible, each all at once,
-- and records each one's Idempotency-Key in the same step.
--
-- No KEYS: every key name is built from the prefix (the ids and queues are
-- only known per job), as claim.lua does; jobq needs one Redis, not Cluster.
-- ARGV[1] the prefix {p}
-- ARGV[2] most ids a queue may hold before a new one: "0" for no limit
-- ARGV[3..] one group of 18 arguments per job, in submission order:
--   +0  the job id
--   +1  the queue name
--   +2  "1" when the input was staged in {p}:staging:{id}, "0" when +3 is
--       all of it
--   +3  the tail of the input (bytes not staged yet)
--   +4  the Idempotency-Key's record {p}:idem:{tenant}:{key}, "" for none
--   +5  the submission's fingerprint (SHA-256 hex), "" without +4
--   +6  seconds the record +4 is kept
--   +7  task, +8 request_id, +9 tenant ("": no field, auth is off),
--   +10 delimiter, +11 header, +12 rows, +13 columns, +14 bytes,
--   +15 created_at, +16 max_attempts, +17 timeout: the job hash's fields
--
-- Returns an array with one answer per job, in the same order: 1 when the
-- job is queued; 0 when its staging key is gone (it expired: the upload
-- took longer than the staging TTL); 2 when its queue is full (it holds
-- ARGV[2] > 0 ids, counting the jobs of this batch queued before it: its
-- staging key, if any, is deleted); {3, id} when its record +4 names job
-- id, which still exists, with the same fingerprint (a replay), and
-- {4, id} when with another one (a mismatch): on 3 and 4 the staging key
-- is deleted; 5 when its id is taken (its input key exists). On anything
-- but 1 nothing of that job was written. An error reply (a key of the
-- wrong type, put there by hand) fails the whole call: every job of the
-- batch gets that error, and jobs written before it are left without a
-- queue entry, as a single job's hash was when its LPUSH failed; no job
-- gets a 202.
--
-- Transition, per job: (nothing) -> queued. Its input, hash, queue entry
-- and Idempotency-Key record appear together (the script is atomic) or not
-- at all. A record whose job has expired or been deleted counts as absent
-- and is replaced. Jobs are answered as if each were its own call, in
-- order: a later job sees an earlier one's record and depth.
--
-- Cost. The per-job work is the input (SET, or the staging RENAME) and the
-- hash (HSET), plus the record for keyed jobs. The queue-wide work is done
-- once per queue per batch: LLEN (with a limit), one LPUSH of all the ids
-- (LPUSH a b pushes a then b, so the order is that of single pushes), SADD
-- of the name, and the wake-up tokens.
--
-- The id guard. Ids are 128 random bits, so a taken id is a bug, not bad
-- luck. It is caught without a call of its own: the input is written with
-- SET NX (RENAMENX when staged) before anything else of the job, and a
-- job's input and hash are created together here and are given the same
-- TTL together by every script that ends a job, so an id with a hash has
-- an input.

local STRIDE = 18
local prefix = ARGV[1]
local max_depth = tonumber(ARGV[2])
if (#ARGV - 2) % STRIDE ~= 0 then
  return redis.error_reply('ERR enqueue: arguments are not groups of ' .. STRIDE)
end

local depth = {}    -- queue name -> ids it holds, this batch's included
local pushed = {}   -- queue name -> ids to push, in order
local order = {}    -- queue names in order of first push

-- idem_seen answers a job whose record names a live job: {3|4, id}, else nil.
local function idem_seen(o)
  local rec = redis.call('HMGET', ARGV[o + 4], 'job', 'hash')
  if rec[1] and redis.call('EXISTS', prefix .. ':job:' .. rec[1]) == 1 then
    if rec[2] == ARGV[o + 5] then
      return {3, rec[1]}
    end
    return {4, rec[1]}
  end
  return nil
end

-- queue_full answers whether queue q already holds max_depth ids.
local function queue_full(q)
  if max_depth <= 0 then
    return false
  end
  if depth[q] == nil then
    depth[q] = redis.call('LLEN', prefix .. ':queue:' .. q)
  end
  return depth[q] >= max_depth
end

-- write_input creates the job's input key. Returns 1, 0 (staging gone) or
-- 5 (id taken); on 0 and 5 nothing of the job was written.
local function write_input(o, staging, input)
  if ARGV[o + 2] ~= '1' then
    return redis.call('SET', input, ARGV[o + 3], 'NX') and 1 or 5
  end
  if redis.call('EXISTS', staging) == 0 then
    return 0
  end
  if #ARGV[o + 3] > 0 then
    redis.call('APPEND', staging, ARGV[o + 3])
  end
  if redis.call('RENAMENX', staging, input) == 0 then
    return 5
  end
  redis.call('PERSIST', input)
  return 1
end

-- write_hash creates the job hash of the job at o.
local function write_hash(o, job)
  local f = {'status', 'queued', 'attempts', 0, 'token', 0,
             'id', ARGV[o], 'task', ARGV[o + 7], 'queue', ARGV[o + 1],
             'request_id', ARGV[o + 8], 'delimiter', ARGV[o + 10],
             'header', ARGV[o + 11], 'rows', ARGV[o + 12],
             'columns', ARGV[o + 13], 'bytes', ARGV[o + 14],
             'created_at', ARGV[o + 15], 'max_attempts', ARGV[o + 16],
             'timeout', ARGV[o + 17]}
  if ARGV[o + 9] ~= '' then
    f[#f + 1] = 'tenant'
    f[#f + 1] = ARGV[o + 9]
  end
  redis.call('HSET', job, unpack(f))
end

-- enqueue_one does everything of the job at o but its queue entry, which
-- it leaves in pushed. Returns its answer.
local function enqueue_one(o)
  local id, q = ARGV[o], ARGV[o + 1]
  local staging = prefix .. ':staging:' .. id
  local job = prefix .. ':job:' .. id
  local keyed = ARGV[o + 4] ~= ''
  local seen = keyed and idem_seen(o) or nil
  if seen or queue_full(q) then
    if ARGV[o + 2] == '1' then
      redis.call('DEL', staging)
    end
    return seen or 2
  end
  local code = write_input(o, staging, job .. ':input')
  if code ~= 1 then
    return code
  end
  write_hash(o, job)
  if keyed then
    redis.call('HSET', ARGV[o + 4], 'job', id, 'hash', ARGV[o + 5])
    redis.call('EXPIRE', ARGV[o + 4], ARGV[o + 6])
  end
  if pushed[q] == nil then
    pushed[q] = {}
    order[#order + 1] = q
  end
  pushed[q][#pushed[q] + 1] = id
  if depth[q] then
    depth[q] = depth[q] + 1
  end
  return 1
end

local answers = {}
for o = 3, #ARGV, STRIDE do
  answers[#answers + 1] = enqueue_one(o)
end
for _, q in ipairs(order) do
  local ids = pushed[q]
  redis.call('LPUSH', prefix .. ':queue:' .. q, unpack(ids))
  redis.call('SADD', prefix .. ':queues', q)
  -- One token per job, capped: a blocked worker needs one to wake, and a
  -- long backlog of tokens only causes claims that find nothing.
  local tokens = {}
  for i = 1, math.min(#ids, 64) do
    tokens[i] = '1'
  end
  local wake = prefix .. ':wake:' .. q
  redis.call('RPUSH', wake, unpack(tokens))
  redis.call('LTRIM', wake, -64, -1)
end
return answers
