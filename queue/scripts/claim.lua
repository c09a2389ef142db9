-- claim.lua — hands queued jobs to a worker, each with a lease, and puts
-- back the jobs whose lease ran out.
--
-- KEYS[1] {p}:running         zset id -> lease deadline (ms)
-- ARGV[1] the prefix {p}
-- ARGV[2] lease length in ms
-- ARGV[3] the worker id
-- ARGV[4] the most jobs to claim
-- ARGV[5] seconds a job that fails for good is kept (the result TTL)
-- ARGV[6] most dead letters kept
-- ARGV[7] seconds a dead letter is kept
-- ARGV[8] largest input key returned with the claim, in bytes (0: none; an
--         input kept in the hash, field input, is returned whatever this is)
-- ARGV[9] "" to claim any jobs; or a comma list of tasks (",profile,ndjson,")
--         to claim a batch: only jobs whose input comes with the claim and
--         whose task is listed, in queue order, stopping at the first other
--         one (it stays queued); but when the first job out is another one,
--         it is claimed alone
-- ARGV[10] "1" to reap expired leases and promote due retries first, "0"
--         to skip both (each thread of a worker asks for them at most
--         every WORKER_HOUSEKEEP_MS, worker/worker.h)
-- ARGV[11] the worker's data layout version (JOB_STORE_SCHEMA)
-- ARGV[12..] queue names, most preferred first
--
-- When the layout version in use, {p}:schema_version, is newer than
-- ARGV[11], nothing is claimed, reaped or promoted, and
-- the answer is an error "JOBQLAYOUT ...": this worker could misread the
-- jobs (see schema.lua; the worker stops). finish_next.lua then claims
-- nothing.
--
-- Returns a flat array of eleven values per claimed job, one job after
-- the other (no array per job: Redis converts each table a script returns
-- by probing it for seven special fields first):
--   id, token, task, queue, delimiter, header, bytes, request_id,
--   attempts, deadline_ms, input
-- deadline_ms is the job's timeout as a wall-clock time, 0 for none. input
-- is the whole input when it is the job hash's field input (enqueue.lua
-- puts an input there when it came whole and had at most JOB_CLAIM_INLINE
-- bytes) or a key of at most ARGV[8] bytes (a small job then costs no read
-- of its own), else nil: the worker reads the key in pieces.
--
-- Transition: queued -> running (attempts + 1, a new fencing token, a
-- lease). Reaping: running with an expired lease -> queued, at the head of
-- its queue, while attempts < max_attempts (the attempt it used stays
-- counted), else failed with error "lease_expired" and dead-lettered;
-- either way the expiry is appended to the job's errors list. Promotion:
-- a retry whose backoff is over ({p}:scheduled) goes to the back of its
-- queue, so idle workers see it at their next claim, within about a
-- second. Times come from Redis's clock, so workers on hosts with skewed
-- clocks agree on every lease and every due time. A job that ends here
-- (failed for good, or cancelled) is counted in {p}:metrics:finished.
-- The transition itself is lib/claim_jobs.lua, shared with finish_next.lua.

--@include observe.lua
--@include wake.lua
--@include layout.lua
--@include input.lua
--@include claim_jobs.lua

local fin = {}
local now, now_s = now_ms()
local out, newer = claim_jobs(KEYS[1], ARGV, now, now_s, fin)
if newer then
  return redis.error_reply('JOBQLAYOUT the data layout in use (version ' .. newer ..
                           ') is newer than this worker\'s (' .. ARGV[11] .. ')')
end
tally_flush(fin, ARGV[1] .. ':metrics:finished')
return out
