-- finish_next.lua — ends an attempt as succeeded, and claims
-- the same consumer's next job, in one round trip.
--
-- Not loaded alone: job_store.c puts finish.lua and claim.lua in front of
-- it, each wrapped as a local function of (KEYS, ARGV), so that this
-- script runs exactly their two transitions, one after the other, in one
-- atomic call. Whatever either script does, this one does.
--
-- KEYS[1..7]  finish.lua's KEYS[1..7] (KEYS[3] is the attempt's partial result)
-- KEYS[8]     claim.lua's KEYS[1], {p}:running
-- ARGV[1]     the end of the result not yet stored ("" for none): appended
--             to the partial result before finishing
-- ARGV[2..11] finish.lua's ARGV[1..10] (ARGV[4], the status: succeeded)
-- ARGV[12..]  claim.lua's ARGV[1..] (its "most jobs" may be 0)
--
-- Returns { finish's code (0 done, 2 lost), claim's array }.
--
-- Transition: finish's, then claim's. The append before finish is safe
-- for a stale attempt: finish deletes the partial result of an attempt
-- whose token is not current.

if ARGV[1] ~= '' then
  redis.call('APPEND', KEYS[3], ARGV[1])
end
local fa = {}
for i = 2, 11 do fa[#fa + 1] = ARGV[i] end
local ca = {}
for i = 12, #ARGV do ca[#ca + 1] = ARGV[i] end
local fk = {}
for i = 1, 7 do fk[i] = KEYS[i] end
local code = finish(fk, fa)
return { code, claim({KEYS[8]}, ca) }
