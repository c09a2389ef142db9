-- lib/claim_jobs.lua — the claim transition, shared by claim.lua (the
-- producer's claims) and finish_next.lua (a consumer's next jobs), which
-- pull it in with a line "--@include claim_jobs.lua" after observe.lua,
-- wake.lua, layout.lua and input.lua.
--
-- claim_jobs(running, a, now, now_s, fin) runs claim.lua's transition (see
-- there) at now (now_ms's number and string), with running the key
-- {p}:running and a claim.lua's ARGV; jobs it ends (failed for good,
-- cancelled) are counted in the tally fin, which the caller writes to
-- {p}:metrics:finished. Returns claim.lua's reply; or {} and the layout
-- version in use ({p}:schema_version), having done nothing, when that is
-- newer than the worker's, a[11].

-- One housekeeping call (at most every WORKER_HOUSEKEEP_MS per worker
-- thread) reaps at most CLAIM_REAP_MAX expired leases and promotes at most
-- CLAIM_PROMOTE_MAX due retries, so that a backlog after a mass failure
-- drains in seconds, while the largest such call stays a few milliseconds
-- of Redis's time (measured: README, Performance).
local CLAIM_REAP_MAX, CLAIM_PROMOTE_MAX = 64, 256

-- claim_cancelled ends a job whose cancel was requested while it ran and
-- whose worker then died (queued again, or its lease just reaped), its
-- last attempt's token token: cancelled instead of started again or
-- failed. The token moves on one, so that no attempt is current: a late
-- success of that attempt is lost (lib/finish_one.lua), not taken for a
-- repeat of a success the flag turned into a cancel.
local function claim_cancelled(a, job, task, token, now, fin)
  local ttl = tonumber(a[5])
  redis.call('HSET', job, 'status', 'cancelled', 'finished_at', now, 'worker', '',
             'token', (tonumber(token) or 0) + 1, 'error_code', 'cancelled',
             'error_message', 'The job was cancelled while it ran; its worker stopped before it could say so.')
  tally_add(fin, task or '', 'cancelled', 1)
  redis.call('EXPIRE', job, ttl)
  input_expire(job, ttl)
  redis.call('EXPIRE', job .. ':errors', ttl)
end

-- claim_reap_dead fails job id for good after its lease expired (the same
-- end as fail.lua's, with the dead letters capped the same way).
local function claim_reap_dead(a, id, job, task, token, now, fin)
  local p, ttl = a[1], tonumber(a[5])
  local dead = p .. ':dead'
  redis.call('DEL', job .. ':partial:' .. (token or '0'))
  redis.call('HSET', job, 'status', 'failed', 'finished_at', now, 'retry_at', 0)
  tally_add(fin, task or '', 'failed', 1)
  redis.call('EXPIRE', job, ttl)
  input_expire(job, ttl)
  redis.call('EXPIRE', job .. ':errors', ttl)
  redis.call('ZADD', dead, now, id)
  redis.call('ZREMRANGEBYSCORE', dead, '-inf', now - tonumber(a[7]) * 1000)
  redis.call('ZREMRANGEBYRANK', dead, 0, -(tonumber(a[6]) + 1))
end

-- claim_reap puts back (or fails for good) up to CLAIM_REAP_MAX jobs whose
-- lease ran out. One whose cancel was requested ends cancelled there, on
-- any attempt, as claim_cancelled ends it: its worker died before it could
-- stop it, and a DELETE answered 202 must not end in failed.
local function claim_reap(running, a, now, fin)
  local p = a[1]
  local expired = redis.call('ZRANGEBYSCORE', running, '-inf', now, 'LIMIT', 0,
                                CLAIM_REAP_MAX)
  if #expired > 0 then
    redis.call('ZREM', running, unpack(expired))
  end
  for _, id in ipairs(expired) do
    local job = p .. ':job:' .. id
    local f = redis.call('HMGET', job, 'status', 'queue', 'attempts', 'max_attempts',
                         'worker', 'token', 'cancel_requested', 'task')
    if f[1] == 'running' and f[7] == '1' then
      redis.call('DEL', job .. ':partial:' .. (f[6] or '0'))
      claim_cancelled(a, job, f[8], f[6], now, fin)
    elseif f[1] == 'running' then
      local attempts = tonumber(f[3]) or 0
      local message = 'the lease of worker ' .. (f[5] or '?') ..
                      ' expired before the attempt ended (the worker died or lost Redis)'
      redis.call('RPUSH', job .. ':errors', cjson.encode({attempt = attempts,
        code = 'lease_expired', message = message, worker = f[5] or '', at = now}))
      redis.call('LTRIM', job .. ':errors', -20, -1)
      local again = attempts < (tonumber(f[4]) or 1)
      -- With attempts left the same HSET puts it back to queued; else
      -- claim_reap_dead's own HSET ends it.
      redis.call('HSET', job, 'worker', '', 'error_code', 'lease_expired',
                 'error_message', message, 'status', again and 'queued' or 'running')
      if again then
        redis.call('RPUSH', p .. ':queue:' .. f[2], id)
      else
        claim_reap_dead(a, id, job, f[8], f[6], now, fin)
      end
    end
  end
end

-- claim_promote moves up to CLAIM_PROMOTE_MAX retries whose backoff is
-- over to the back of their queues.
local function claim_promote(p, now)
  local scheduled = p .. ':scheduled'
  local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0,
                              CLAIM_PROMOTE_MAX)
  local woken, order = {}, {}  -- queue -> jobs put back; queues in order
  if #due == 0 then
    return
  end
  redis.call('ZREM', scheduled, unpack(due))
  for _, id in ipairs(due) do
    local job = p .. ':job:' .. id
    local f = redis.call('HMGET', job, 'status', 'queue')
    -- An id no longer queued (cancelled, purged) is dropped.
    if f[1] == 'queued' and f[2] then
      redis.call('HSET', job, 'retry_at', 0)
      redis.call('LPUSH', p .. ':queue:' .. f[2], id)
      if not woken[f[2]] then
        woken[f[2]] = 0
        order[#order + 1] = f[2]
      end
      woken[f[2]] = woken[f[2]] + 1
    end
  end
  for _, q in ipairs(order) do
    wake(p .. ':wake:' .. q, woken[q])
  end
end

-- COUNT_UP maps a token or attempts field to the count one above it, and
-- COUNT_S that count to its string, for the counts jobs have in practice:
-- a number handed to redis.call costs Redis a printf, a string nothing,
-- and tonumber of a string costs two strtod.
local COUNT_UP = { ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4 }
local COUNT_S = { '1', '2', '3', '4' }

-- claim_count_up returns the count one above field value s (none: 0), as
-- the value to write (a string when COUNT_S has it) and as a number.
local function claim_count_up(s)
  local n = COUNT_UP[s or '0'] or (tonumber(s) or 0) + 1
  return COUNT_S[n] or n, n
end

-- claim_batch_tasks returns the set of tasks (task -> true) of the comma
-- list list (",profile,ndjson,"), parsed once per call rather than
-- searched with a concatenated pattern per job.
local function claim_batch_tasks(list)
  local set = {}
  for t in string.gmatch(list, '[^,]+') do set[t] = true end
  return set
end

-- claim_batchable tells whether a job (claim_one's fields f) may join a
-- batch after its first job: its input comes with the claim (it is the
-- hash's field input, or a key of at most k.inline bytes) and its task is
-- one of the call's batch tasks (k.batch).
local function claim_batchable(k, f)
  return (f[11] or (tonumber(f[5]) or 0) <= k.inline) and k.batch[f[2] or ''] ~= nil
end

-- claim_one starts popped job id of queue q at k.now, appends its reply
-- entry (claim.lua's eleven values) to out and counts it in k.n, and
-- returns true and whether it must run alone (a batch's first job that
-- could not join a batch: nothing may be claimed behind it); or nil when it
-- is dropped or ended here; or false (nothing written) when it may not
-- join the batch out. k holds what the call's claims share (claim_jobs).
-- The entries are flat, not a table each: Redis converts every table a
-- script returns by probing it for seven special fields first.
local function claim_one(a, k, q, id, out, leased, fin)
  local job = a[1] .. ':job:' .. id
  local f = redis.call('HMGET', job, 'status', 'task', 'delimiter', 'header', 'bytes',
                       'request_id', 'timeout', 'cancel_requested', 'token', 'attempts',
                       'input')
  -- An id whose hash is gone (expired, purged by hand) or that is no longer
  -- queued is dropped from the queue, not run.
  if f[1] ~= 'queued' then return nil end
  if f[8] == '1' then
    claim_cancelled(a, job, f[2], f[9], k.now, fin)
    return nil
  end
  local alone = k.batch ~= nil and not claim_batchable(k, f)
  if alone and k.n > 0 then return false end
  local token_w, token = claim_count_up(f[9])
  local attempts_w, attempts = claim_count_up(f[10])
  local deadline = 0
  if f[7] and f[7] ~= '0' then
    local timeout = tonumber(f[7]) or 0
    if timeout > 0 then deadline = k.now + timeout * 1000 end
  end
  -- A small input is the hash's field input (enqueue.lua) and came with
  -- the HMGET; else it is a key, which a job enqueued before inputs moved
  -- into the hash does not mark yet: input_key tells finish_one.lua so.
  -- finished_at is not written: only an end sets it, and the one way back
  -- to queued from an end (retry.lua) sets it to 0 again.
  local input = f[11]
  if input then
    redis.call('HSET', job, 'status', 'running', 'worker', a[3], 'started_at', k.now_s,
               'token', token_w, 'attempts', attempts_w)
  else
    redis.call('HSET', job, 'status', 'running', 'worker', a[3], 'started_at', k.now_s,
               'token', token_w, 'attempts', attempts_w, 'input_key', '1')
    if k.inline > 0 and (tonumber(f[5]) or 0) <= k.inline then
      -- A small input not in the hash (staged, or from an older layout)
      -- is one piece (layout 3) or the one key (layout 2).
      input = redis.call('GET', job .. ':input:0') or redis.call('GET', job .. ':input')
    end
  end
  leased[#leased + 1] = k.lease_until
  leased[#leased + 1] = id
  local o = #out
  out[o + 1], out[o + 2], out[o + 3], out[o + 4] = id, token, f[2] or '', q
  out[o + 5], out[o + 6], out[o + 7], out[o + 8] = f[3] or ',', f[4] or '1', f[5] or '0', f[6] or ''
  -- An input not returned is false (HMGET's and GET's nil), never a Lua
  -- nil, which would end the reply there.
  out[o + 9], out[o + 10], out[o + 11] = attempts, deadline, input
  k.n = k.n + 1
  return true, alone
end

-- claim_unpop puts ids[from..] back at the head of queue qkey, in order.
local function claim_unpop(qkey, ids, from)
  if from > #ids then return end
  local back = {}
  for k = #ids, from, -1 do back[#back + 1] = ids[k] end
  redis.call('RPUSH', qkey, unpack(back))
end

-- claim_pop claims from queue q into out until k.n is max or
-- the queue is empty. Returns false when the batch ends here: a job could
-- not join it (that job and the ids popped after it are back at the
-- queue's head), or its first job must run alone (the ids popped after it
-- are back). A long job thus never holds small ones that other consumers
-- could run while it runs.
local function claim_pop(a, k, q, max, out, leased, fin)
  local qkey = a[1] .. ':queue:' .. q
  while k.n < max do
    local ids = redis.call('RPOP', qkey, max - k.n)
    if not ids then return true end
    for j, id in ipairs(ids) do
      local e, alone = claim_one(a, k, q, id, out, leased, fin)
      if e == false then
        claim_unpop(qkey, ids, j)
        return false
      end
      if alone then
        claim_unpop(qkey, ids, j + 1)
        return false
      end
    end
  end
  return true
end

local function claim_jobs(running, a, now, now_s, fin)
  local layout = layout_in_use(a[1] .. ':schema_version')
  if layout > tonumber(a[11]) then return {}, layout end
  if a[10] == '1' then
    claim_reap(running, a, now, fin)
    claim_promote(a[1], now)
  end
  local out, leased = {}, {}
  local max = tonumber(a[4])
  -- Every job claimed here gets the same lease deadline, formatted once.
  local k = { now = now, now_s = now_s, inline = tonumber(a[8]), n = 0,
              lease_until = string.format('%d', now + tonumber(a[2])) }
  if a[9] ~= '' then k.batch = claim_batch_tasks(a[9]) end
  for i = 12, #a do
    if k.n >= max or not claim_pop(a, k, a[i], max, out, leased, fin) then break end
  end
  if #leased > 0 then redis.call('ZADD', running, unpack(leased)) end
  return out
end
