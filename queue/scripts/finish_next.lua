-- finish_next.lua — ends a consumer's attempts that succeeded, and claims
-- its next jobs, in one round trip.
--
-- KEYS[1] {p}:running
-- KEYS[2] {p}:metrics:finished  hash: "<task>|<status>" -> jobs ended so
-- KEYS[3] {p}:metrics:duration  hash: run-time buckets (lib/observe.lua)
-- ARGV[1] n, how many attempts to finish (0 is allowed)
-- ARGV[2] seconds the jobs, their inputs and results are kept
-- ARGV[3] the run-time bucket bounds, seconds, comma-separated, ascending
-- ARGV[4] the largest result kept in the job hash, in bytes
--         (JOB_RESULT_INLINE; see lib/finish_one.lua)
-- ARGV[5 .. 4+9n] per attempt, nine values: the job id, the fencing token,
--         the result's media type, rows done, input bytes done, "1" when
--         the tail is the whole result (the attempt stored no piece of it)
--         else "0", the tail: the end of the result not yet stored, the
--         job's task and the attempt's run time in ms, claim to now, as
--         the worker measured it (both from its claim: the hash's task and
--         started_at are not read)
-- ARGV[5+9n ..] claim.lua's ARGV[1..] (its "most jobs" may be 0)
--
-- Returns { codes, claims }: codes has one entry per attempt, as
-- finish.lua returns (0 done, 2 lost, 3 cancelled instead: its cancel was
-- requested); claims is claim.lua's reply.
--
-- Transition: for each attempt, finish.lua's (to succeeded, or cancelled
-- when its cancel was requested), each fenced
-- by its own token, so a stale attempt changes nothing of the others; then
-- claim.lua's. The shared code is lib/finish_one.lua and
-- lib/claim_jobs.lua. One call reads Redis's clock once, and writes each
-- metrics field and {p}:running once, whatever n is: that is what makes a
-- batch cheaper than n calls.

--@include observe.lua
--@include input.lua
--@include finish_one.lua
--@include wake.lua
--@include layout.lua
--@include claim_jobs.lua

local n = tonumber(ARGV[1])
local ca = {}
for i = 5 + 9 * n, #ARGV do ca[#ca + 1] = ARGV[i] end
local p = ca[1]
local now, now_s = now_ms()
local c = finish_call(now, now_s, ARGV[2], ARGV[3], tonumber(ARGV[4]))
local fin, dur, codes, done = {}, {}, {}, {}
for j = 0, n - 1 do
  local b = 5 + 9 * j
  local id = ARGV[b]
  codes[j + 1] = finish_one(p .. ':job:' .. id, { id = id, token = ARGV[b + 1],
    status = 'succeeded', result_type = ARGV[b + 2], rows = ARGV[b + 3],
    bytes = ARGV[b + 4], whole = ARGV[b + 5] == '1', tail = ARGV[b + 6],
    task = ARGV[b + 7], run_ms = ARGV[b + 8] }, c, fin, dur)
  if codes[j + 1] ~= 2 then done[#done + 1] = id end
end
if #done > 0 then redis.call('ZREM', KEYS[1], unpack(done)) end
-- Under a newer data layout than the worker's, nothing is claimed (the
-- attempts above still end): the producer's next claim.lua call refuses,
-- and the worker stops.
local claims = claim_jobs(KEYS[1], ca, now, now_s, fin)
tally_flush(fin, KEYS[2])
tally_flush(dur, KEYS[3])
return { codes, claims }
