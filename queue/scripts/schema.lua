-- schema.lua — jobq-api claims the data layout: it may write jobs of its
-- layout version only when nothing that reads them is older.
--
-- KEYS[1] {p}:schema_version  string: the layout version in use
-- KEYS[2] {p}:workers         zset of worker ids
-- ARGV[1] the prefix (to name {p}:worker:{id})
-- ARGV[2] the API's layout version (JOB_STORE_SCHEMA)
--
-- Returns {0, version} when the API may go on: KEYS[1] already says
-- ARGV[2], or said less (or nothing, or no version: not digits) and every
-- live worker reports at
-- least ARGV[2] in its heartbeat (field schema; a worker from before the
-- field existed counts as version 1), in which case KEYS[1] is raised to
-- ARGV[2]. {1, version} when KEYS[1] is newer than ARGV[2]: this API
-- would serve data it does not know (a rollback behind newer binaries).
-- {2, id...} when the live workers listed are older than ARGV[2]: they
-- would misread the jobs this API writes. Nothing is written then.
--
-- Why here and atomic: a worker's heartbeat (heartbeat.lua) writes its
-- version and reads KEYS[1] in one step, so either this script sees the
-- worker's version, or the worker sees the raised one and stops claiming.
-- A worker whose heartbeat has expired (stalled for a whole lease) is not
-- seen; it meets the raised version at its next heartbeat.

--@include layout.lua

local want = tonumber(ARGV[2])
-- A value that is no version (not digits, written by hand) counts as
-- unset, as everywhere (lib/layout.lua), and is replaced.
local n = layout_in_use(KEYS[1])
if n > want then return {1, n} end
if n == want then return {0, n} end
local old = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local f = redis.call('HMGET', ARGV[1] .. ':worker:' .. id, 'id', 'schema')
  -- No id field: the hash expired (the worker died); not a reader.
  if f[1] and (tonumber(f[2] or '1') or 1) < want then old[#old + 1] = id end
end
if #old > 0 then return {2, unpack(old)} end
redis.call('SET', KEYS[1], want)
return {0, want}
