-- dead_page.lua — one page of dead letters, newest first, after a cursor.
--
-- KEYS[1] {p}:dead           zset id -> time of death (ms)
-- ARGV[1] most entries to return (at least 1)
-- ARGV[2] the cursor's time of death in ms, "" to start from the newest
-- ARGV[3] the cursor's id (32 lowercase hex digits; ignored without ARGV[2])
--
-- Returns {id, ms, id, ms, ...}: the dead letters that come after the
-- cursor in the order (time of death descending, then id descending) —
-- the order ZREVRANGE gives — at most ARGV[1] of them. The cursor need not
-- be in the set any more (expired, trimmed or retried since the page
-- before): the page starts where it would be.
--
-- Why a script: the position of the cursor (how many entries come before
-- it) and the page must be read from the same state, or an entry added or
-- removed in between would shift the page by one. Cost: the ZCOUNT, one
-- ZRANGEBYSCORE of the entries that died in the cursor's millisecond, and
-- the ZREVRANGE; no writes.

local max = tonumber(ARGV[1])
local skip = 0
if ARGV[2] ~= '' then
  skip = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
    if id >= ARGV[3] then skip = skip + 1 end
  end
end
return redis.call('ZREVRANGE', KEYS[1], skip, skip + max - 1, 'WITHSCORES')
