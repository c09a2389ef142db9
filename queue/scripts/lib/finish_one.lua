-- lib/finish_one.lua — the end of one attempt, shared by finish.lua (one
-- attempt) and finish_next.lua (several), which pull it in with a line
-- "--@include finish_one.lua" after observe.lua.
--
-- finish_one ends attempt a.token of the job whose hash is job as a.status
-- (succeeded, failed or cancelled) at c.now, and returns 0; or 2 when the
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
-- A result sent whole of at most c.inline bytes (JOB_RESULT_INLINE, from
-- the caller) is the hash's field result, which expires with the hash: no
-- key of its own to SET and expire. Any other is {p}:job:{id}:result,
-- given the same TTL. Readers look in the hash first when result_bytes is
-- at most JOB_RESULT_INLINE (job_store_read_result).
--
-- a holds the attempt: id, token, status, result_type, error_code,
-- error_message, rows, bytes, tail (the end of the result not yet stored,
-- "" for none), whole (true when the attempt never stored a piece of its
-- result: tail is all of it, set as the result in one command, with no
-- partial key to rename), and optionally task and run_ms (the attempt's
-- run time in ms as the worker measured it, a string), which spare
-- reading task and started_at (finish_read). c holds what every attempt of
-- the call shares (finish_call): the time, the TTL, the bucket bounds and
-- the inline limit, each converted once per call rather than once per
-- attempt.

-- The error message of a job whose success a cancel overtook: the one the
-- worker gives a run it stopped (worker/consumer.c).
local CANCELLED_MESSAGE = 'the job was cancelled'

-- finish_call returns the c of finish_one for a call at clock now (a
-- number) and now_s (the same, formatted), with ttl the seconds the jobs,
-- their inputs and results are kept and bounds the comma list of run-time
-- bucket bounds, both as the caller's ARGV strings, and inline the largest
-- result kept in the hash (a number, JOB_RESULT_INLINE). ttl stays a string
-- for redis.call: a number would be formatted by Redis at every EXPIRE.
local function finish_call(now, now_s, ttl, bounds, inline)
  return { now = now, now_s = now_s, ttl = ttl, ttl_n = tonumber(ttl),
           bounds = run_bounds(bounds), inline = inline }
end

-- finish_partial names the result attempt a of job (hash key) is writing,
-- only where it is used: a small job's attempt sends its result whole.
local function finish_partial(job, a)
  return job .. ':partial:' .. a.token
end

-- finish_drop deletes the partial result of attempt a of job, if it wrote
-- one.
local function finish_drop(job, a)
  if not a.whole then redis.call('DEL', finish_partial(job, a)) end
end

-- finish_result adds the result of succeeded attempt a of job (hash key) to
-- h, the fields finish_one writes: the whole tail as the field result when
-- it fits c.inline, else the key {p}:job:{id}:result, from the tail alone
-- or from the attempt's partial result and the tail.
local function finish_result(job, a, c, h)
  local size = #a.tail
  if a.whole and size <= c.inline then
    h[#h + 1] = 'result'
    h[#h + 1] = a.tail
  elseif a.whole and c.ttl_n > 0 then
    redis.call('SET', job .. ':result', a.tail, 'EX', c.ttl)
  else
    local result, partial = job .. ':result', finish_partial(job, a)
    if a.tail ~= '' then redis.call('APPEND', partial, a.tail) end
    if a.tail ~= '' or redis.call('EXISTS', partial) == 1 then
      redis.call('RENAME', partial, result)
      size = redis.call('STRLEN', result)
    else
      redis.call('SET', result, '')
    end
    redis.call('EXPIRE', result, c.ttl)
  end
  h[#h + 1] = 'result_type'
  h[#h + 1] = a.result_type
  -- A string: Redis would format the number with printf's %.17g, which
  -- costs it about three times %d.
  h[#h + 1] = 'result_bytes'
  h[#h + 1] = string.format('%d', size)
end

-- finish_write writes the end of attempt a (the first when first) into
-- job's hash, whatever the end: status, time, progress, then the result's
-- fields (finish_result) or the attempt's error, and clears an earlier
-- attempt's error after a success.
local function finish_write(job, a, c, first)
  local h = { 'status', a.status, 'finished_at', c.now_s, 'worker', '',
              'progress_rows', a.rows, 'progress_bytes', a.bytes }
  local code, message = a.error_code, a.error_message
  if a.status == 'succeeded' then
    finish_result(job, a, c, h)
    -- An earlier attempt's error is history now (kept in the errors list)
    -- and is cleared; the first attempt has none.
    code, message = '', ''
    if first then code = nil end
  else
    finish_drop(job, a)
  end
  if code then
    local n = #h
    h[n + 1], h[n + 2], h[n + 3], h[n + 4] = 'error_code', code, 'error_message', message
  end
  redis.call('HSET', job, unpack(h))
end

-- finish_read returns the fields of job finish_one reads: status, token,
-- cancel_requested, input_key, then task and started_at, unless the
-- caller knows them (a.task and a.run_ms: finish_next.lua's worker has
-- them from the claim); a job's task never changes, and while the token is
-- current so does the attempt's start. Each field read costs Redis a
-- lookup and Lua a string.
local function finish_read(job, a)
  if a.task then
    return redis.call('HMGET', job, 'status', 'token', 'cancel_requested', 'input_key')
  end
  return redis.call('HMGET', job, 'status', 'token', 'cancel_requested', 'input_key',
                    'task', 'started_at')
end

local function finish_one(job, a, c, fin, dur)
  local f = finish_read(job, a)
  local cancel = a.status == 'succeeded' and f[3] == '1'
  if a.status == 'succeeded' and f[2] == a.token then
    if f[1] == 'succeeded' then return 0 end
    if f[1] == 'cancelled' and cancel then
      finish_drop(job, a)
      return 3
    end
  end
  if f[1] ~= 'running' or f[2] ~= a.token then
    finish_drop(job, a)
    return 2
  end
  if cancel then
    a.status, a.error_code, a.error_message = 'cancelled', 'cancelled', CANCELLED_MESSAGE
  end
  local task = a.task or f[5] or ''
  tally_add(fin, task, a.status, 1)
  if a.run_ms then
    observe_ms(dur, task, tonumber(a.run_ms) or 0, c.bounds)
  else
    observe(dur, task, f[6], c.now, c.bounds)
  end
  -- Every attempt takes a new token, the first 1 (a retry does not start
  -- over), and only an earlier attempt's end (fail.lua, the lease reaper)
  -- sets an error or writes the errors list: the first attempt has
  -- neither to clear or expire. Tokens are decimal strings without
  -- leading zeros, from the same counter, so comparing strings will do.
  local first = a.token == '1'
  if first and a.status == 'succeeded' and a.whole and #a.tail <= c.inline then
    -- The common end, a small job's first attempt: its fields as HSET's
    -- own arguments, no table built and unpacked (0.96 of Redis's
    -- instructions per job on the worker's side, README "Performance").
    redis.call('HSET', job, 'status', 'succeeded', 'finished_at', c.now_s, 'worker', '',
               'progress_rows', a.rows, 'progress_bytes', a.bytes, 'result', a.tail,
               'result_type', a.result_type, 'result_bytes', string.format('%d', #a.tail))
  else
    finish_write(job, a, c, first)
  end
  redis.call('EXPIRE', job, c.ttl)
  -- A small input is a field of the hash (enqueue.lua): it has no key.
  if f[4] == '1' then input_expire(job, c.ttl) end
  if not first then redis.call('EXPIRE', job .. ':errors', c.ttl) end
  if cancel then return 3 end
  return 0
end
