-- lib/finish_one.lua — the end of one attempt, shared by finish.lua (one
-- attempt) and finish_next.lua (several), which pull it in with a line
-- "--@include finish_one.lua" after observe.lua.
--
-- finish_one ends attempt a.token of the job whose hash is job as a.status
-- (succeeded, failed or cancelled) at now, and returns 0; or 2 when the
-- token is not current or the job is not running (lost: nothing changes
-- but the attempt's partial result is deleted); or 3 when a.status is
-- succeeded but the job's cancel was requested (cancel_requested 1): the
-- job ends cancelled instead, as a cancelled attempt ends it, and its
-- result is dropped. The flag is read here because the PUBLISH that
-- stops a run may reach the worker before the job is in its registry,
-- and a small job finishes before any progress write or renewal would
-- report the flag: this is what makes a DELETE answered 202 always end
-- the job cancelled.
--
-- A repeat of a success this attempt already stored (same token, status
-- succeeded: a call whose reply was lost, sent again) changes nothing and
-- returns 0 again; only the attempt itself ever sets succeeded, so that is
-- the same end. A repeat of a success that ended the job cancelled (same
-- token, cancelled, the flag set) returns 3 again and deletes only the
-- partial result. That is only ever this script's own ending: a claim
-- that ends a job cancelled (lib/claim_jobs.lua's claim_cancelled, after
-- its worker died) moves the token on, so a late success of the attempt
-- it fenced is lost (2), not a repeat. A failure or cancel is not treated
-- so: the lease reaper or a cancel may have ended the job with the same
-- token.
--
-- Its end is counted in the tallies fin ({p}:metrics:finished) and dur
-- ({p}:metrics:duration), which the caller writes; so is the ZREM from
-- {p}:running, so that a call ending several attempts does it once.
--
-- A result sent whole of at most RESULT_INLINE bytes is the hash's field
-- result, which expires with the hash; any other is {p}:job:{id}:result,
-- given the same TTL. Readers look in the hash first when result_bytes is
-- at most RESULT_INLINE (job_store_read_result).
--
-- a holds: id, token, status, ttl (seconds the job, its input and result
-- are kept), result_type, error_code, error_message, rows, bytes, tail (the
-- end of the result not yet stored, "" for none) and whole (true when the
-- attempt never stored a piece of its result: tail is all of it, set as the
-- result in one command, with no partial key to rename).
-- A result of at most this many bytes (JOB_RESULT_INLINE) stored whole is
-- the hash's field result: no key of its own to SET and expire.
local RESULT_INLINE = 4096
-- The error message of a job whose success a cancel overtook: the one the
-- worker gives a run it stopped (worker/consumer.c).
local CANCELLED_MESSAGE = 'the job was cancelled'

local function finish_one(job, a, now, fin, dur, bounds)
  local f = redis.call('HMGET', job, 'status', 'token', 'task', 'started_at', 'input_key',
                       'cancel_requested')
  local partial = job .. ':partial:' .. a.token
  local cancel = a.status == 'succeeded' and f[6] == '1'
  if a.status == 'succeeded' and f[2] == a.token then
    if f[1] == 'succeeded' then return 0 end
    if f[1] == 'cancelled' and cancel then
      if not a.whole then redis.call('DEL', partial) end
      return 3
    end
  end
  if f[1] ~= 'running' or f[2] ~= a.token then
    if not a.whole then redis.call('DEL', partial) end
    return 2
  end
  if cancel then
    a.status, a.error_code, a.error_message = 'cancelled', 'cancelled', CANCELLED_MESSAGE
  end
  local task = f[3] or ''
  local ttl = tonumber(a.ttl)
  tally_add(fin, task .. '|' .. a.status, 1)
  observe(dur, task, f[4], now, bounds)
  local h = { 'status', a.status, 'finished_at', now, 'worker', '',
              'progress_rows', a.rows, 'progress_bytes', a.bytes }
  if a.status == 'succeeded' then
    local result, size = job .. ':result', #a.tail
    if a.whole and size <= RESULT_INLINE then
      h[#h + 1] = 'result'
      h[#h + 1] = a.tail
    elseif a.whole and ttl > 0 then
      redis.call('SET', result, a.tail, 'EX', ttl)
    else
      if a.tail ~= '' then redis.call('APPEND', partial, a.tail) end
      if a.tail ~= '' or redis.call('EXISTS', partial) == 1 then
        redis.call('RENAME', partial, result)
        size = redis.call('STRLEN', result)
      else
        redis.call('SET', result, '')
      end
      redis.call('EXPIRE', result, ttl)
    end
    -- An earlier attempt's error is history now (kept in the errors list).
    for _, v in ipairs({ 'result_type', a.result_type, 'result_bytes', size,
                         'error_code', '', 'error_message', '' }) do h[#h + 1] = v end
  else
    if not a.whole then redis.call('DEL', partial) end
    for _, v in ipairs({ 'error_code', a.error_code, 'error_message', a.error_message }) do
      h[#h + 1] = v
    end
  end
  redis.call('HSET', job, unpack(h))
  redis.call('EXPIRE', job, ttl)
  -- A small input is a field of the hash (enqueue.lua): it has no key.
  if f[5] == '1' then redis.call('EXPIRE', job .. ':input', ttl) end
  -- Only an earlier attempt (fail.lua, the lease reaper) writes the errors
  -- list, and every attempt takes a new token: the first has token 1.
  if tonumber(a.token) > 1 then redis.call('EXPIRE', job .. ':errors', ttl) end
  if cancel then return 3 end
  return 0
end
