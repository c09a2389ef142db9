-- dead_page.lua — one page of dead letters, newest first, after a cursor.
--
-- KEYS[1] {p}:dead           zset id -> time of death (ms)
-- ARGV[1] most entries to return (at least 1)
-- ARGV[2] the cursor's time of death in ms, "" to start from the newest
-- ARGV[3] the cursor's id (32 lowercase hex digits; ignored without ARGV[2])
--
-- Returns {more, {id, ms, id, ms, ...}}: the dead letters that come after
-- the cursor in the order (time of death descending, then id descending)
-- — the order ZREVRANGE gives — at most ARGV[1] of them; more is 1 when
-- there were that many (more may follow), else 0 (the end of the list).
-- The cursor need not be in the set any more (expired, trimmed or retried
-- since the page before): the page starts where it would be. A member that
-- is not a job id, or whose score is not a whole number of ms below 10^15
-- (either written by hand), is passed over, so that it can neither end
-- the list early nor make a cursor.
--
-- Why a script: the position of the cursor (how many entries come before
-- it) and the page must be read from the same state, or an entry added or
-- removed in between would shift the page by one. Cost: the ZCOUNT, one
-- ZRANGEBYSCORE of the entries that died in the cursor's millisecond, and
-- one ZREVRANGE (more only past members passed over); no writes.

-- bytes_ge tells whether a >= b byte by byte, the order Redis gives
-- members of one score. Not Lua's >=: that collates by the server's locale
-- (strcoll), in which "aa" can come after "ab".
local function bytes_ge(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a >= #b
end

-- dead_letter tells whether member m, of score ms, is a dead letter.
local function dead_letter(m, ms)
  local t = tonumber(ms)
  return #m == 32 and not string.find(m, '[^0-9a-f]') and t ~= nil and t >= 0 and
         t < 1e15 and t == math.floor(t)
end

local max = tonumber(ARGV[1])
-- A limit below 1 would read the whole set (ZREVRANGE 0 -1) and never
-- move on: Redis would be held until SCRIPT KILL.
if not max or max < 1 or max ~= math.floor(max) then
  return redis.error_reply('ERR dead_page: ARGV[1] must be a whole number of at least 1')
end
local pos = 0
if ARGV[2] ~= '' then
  pos = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) do
    if bytes_ge(id, ARGV[3]) then pos = pos + 1 end
  end
end
local out = {}
while true do
  local r = redis.call('ZREVRANGE', KEYS[1], pos, pos + max - 1, 'WITHSCORES')
  for i = 1, #r, 2 do
    if dead_letter(r[i], r[i + 1]) then
      out[#out + 1] = r[i]
      out[#out + 1] = r[i + 1]
      if #out == 2 * max then return {1, out} end
    end
  end
  if #r < 2 * max then return {0, out} end
  pos = pos + max
end
