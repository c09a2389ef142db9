-- lib/input.lua — the keys of a job's input, for the scripts that give
-- them the job's TTL, take it away or check them: finish_one.lua and
-- claim_jobs.lua (finish, finish_next, claim), cancel, fail and retry,
-- which pull it in with a line "--@include input.lua" (before
-- finish_one.lua and claim_jobs.lua).
--
-- A job's input is, as its hash says (enqueue.lua writes it):
--   field input                 the input itself (small, came whole): no key
--   input_key 1, input_pieces N the keys {input}:0 .. {input}:N-1, where
--                               {input} is {p}:job:{id}:input (layout 3)
--   input_key 1, or neither     the one key {input} (layout 2 and before)
-- Every function takes {input}, the name of layout 2's key, and the hash's
-- input_pieces (false or nil for none). Each piece is one command: none
-- frees or copies more than one piece on Redis's main thread.

-- input_keys answers the names of the input's keys.
local function input_keys(input, pieces)
  local n = tonumber(pieces)
  if not n then return { input } end
  local keys = {}
  for i = 0, n - 1 do keys[i + 1] = input .. ':' .. i end
  return keys
end

-- input_each runs command cmd with the further arguments on each of the
-- input's keys.
local function input_each(input, pieces, cmd, ...)
  for _, key in ipairs(input_keys(input, pieces)) do
    redis.call(cmd, key, ...)
  end
end

-- Pieces whose TTLs end in the same second: the rest end a second later
-- per 16. Ended all at once, a 1 GiB input's 256 pieces were freed by one
-- pass of Redis's expire cycle that held it for up to 99 ms (LATENCY,
-- two rounds); 16 a second, a pass took at most 8 ms.
local INPUT_EXPIRE_PER_SECOND = 16

-- input_give_ttl gives the input's keys ttl seconds (a number or a string), the
-- pieces past the first INPUT_EXPIRE_PER_SECOND a second more per as
-- many again: its hash ends first, and nothing reads a piece without it.
local function input_give_ttl(input, pieces, ttl)
  local seconds
  for i, key in ipairs(input_keys(input, pieces)) do
    local later = math.floor((i - 1) / INPUT_EXPIRE_PER_SECOND)
    if later == 0 then
      redis.call('EXPIRE', key, ttl)
    else
      seconds = seconds or tonumber(ttl)
      redis.call('EXPIRE', key, seconds + later)
    end
  end
end

-- input_expire gives the input of job (its hash key) ttl seconds, as
-- input_give_ttl; the hash is read for input_pieces.
local function input_expire(job, ttl)
  input_give_ttl(job .. ':input', redis.call('HGET', job, 'input_pieces'), ttl)
end

-- input_present tells whether every key of the input is there. EXISTS
-- takes the keys a thousand at a time: Lua unpacks at most 8000 values at
-- once, and an input of more pieces (over 31 GiB) is not forbidden.
local function input_present(input, pieces)
  local keys = input_keys(input, pieces)
  for i = 1, #keys, 1000 do
    local j = math.min(i + 999, #keys)
    if redis.call('EXISTS', unpack(keys, i, j)) ~= j - i + 1 then return false end
  end
  return true
end
