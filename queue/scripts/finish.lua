-- finish.lua — ends an attempt: the job becomes succeeded, failed or
-- cancelled, once.
--
-- KEYS[1] {p}:job:{id}
-- KEYS[2] {p}:running
-- KEYS[3] {p}:metrics:finished  hash: "<task>|<status>" -> jobs ended so
-- KEYS[4] {p}:metrics:duration  hash: run-time buckets (lib/observe.lua)
-- ARGV[1] the job id
-- ARGV[2] the caller's fencing token
-- ARGV[3] the final status: succeeded, failed or cancelled
-- ARGV[4] seconds the job, its input and its result are kept
-- ARGV[5] the result's media type (succeeded)
-- ARGV[6] error code (failed, cancelled)
-- ARGV[7] error message (failed, cancelled)
-- ARGV[8] rows done
-- ARGV[9] input bytes done
-- ARGV[10] the run-time bucket bounds, seconds, comma-separated, ascending
--
-- Returns 0 when done, 2 when the token is not current or the job is not
-- running (lost: nothing changed but the stale partial result is deleted),
-- 3 when a success found the job's cancel requested: the job ended
-- cancelled, without the result. A success sent again by the attempt that
-- stored it (its reply was lost) answers as the first call did and changes
-- nothing.
--
-- Transition: running -> succeeded | failed | cancelled; a success asked
-- for after a cancel request -> cancelled. Fencing makes it
-- exactly-once: only the current attempt can take it. The end is counted
-- in the metrics hashes in the same step. The transition itself is
-- lib/finish_one.lua, shared with finish_next.lua, which derives the
-- attempt's partial result, the result and the input keys from KEYS[1].

--@include observe.lua
--@include input.lua
--@include finish_one.lua

local fin, dur = {}, {}
-- This call stores no result (its tail is empty and not whole): no result
-- goes into the hash, whatever JOB_RESULT_INLINE is.
local now, now_s = now_ms()
local c = finish_call(now, now_s, ARGV[4], ARGV[10], 0)
local code = finish_one(KEYS[1], { id = ARGV[1], token = ARGV[2], status = ARGV[3],
  result_type = ARGV[5], error_code = ARGV[6], error_message = ARGV[7],
  rows = ARGV[8], bytes = ARGV[9], tail = '', whole = false }, c, fin, dur)
if code ~= 2 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  tally_flush(fin, KEYS[3])
  tally_flush(dur, KEYS[4])
end
return code
