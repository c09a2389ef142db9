-- lib/wake.lua — wake-up tokens for the workers blocked on a queue, shared
-- by enqueue.lua, claim.lua and finish_next.lua (retry promotion, in
-- claim_jobs.lua), requeue.lua and retry.lua, which pull it in with a line
-- "--@include wake.lua".
--
-- A blocked worker needs one token to wake; a long backlog of tokens only
-- causes claims that find nothing, so a wake list keeps at most WAKE_MAX.
local WAKE_MAX = 64

-- wake pushes one token for each of n jobs (at most WAKE_MAX) onto the
-- wake list key.
local function wake(key, n)
  local tokens = {}
  for i = 1, math.min(n, WAKE_MAX) do
    tokens[i] = '1'
  end
  redis.call('RPUSH', key, unpack(tokens))
  redis.call('LTRIM', key, -WAKE_MAX, -1)
end
