-- renew.lua — extends the leases of a worker's running jobs in one call.
--
-- KEYS[1] {p}:running
-- ARGV[1] the prefix {p}
-- ARGV[2] lease length in ms
-- ARGV[3], ARGV[4], ... pairs of job id and fencing token
--
-- Returns an array with one code per pair: 0 renewed, 3 renewed but cancel
-- requested, 2 lost (token not current or job not running; not renewed).

--@include observe.lua

local p = ARGV[1]
local deadline = now_ms() + tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV - 1, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local f = redis.call('HMGET', p .. ':job:' .. id, 'status', 'token', 'cancel_requested')
  if f[1] ~= 'running' or f[2] ~= token then
    out[#out + 1] = 2
  else
    redis.call('ZADD', KEYS[1], deadline, id)
    if f[3] == '1' then out[#out + 1] = 3 else out[#out + 1] = 0 end
  end
end
return out
