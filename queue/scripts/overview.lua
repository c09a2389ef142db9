-- overview.lua — every queue's counts and every live worker, as JSON.
--
-- KEYS[1] {p}:queues       set of queue names
-- KEYS[2] {p}:running      zset of running ids
-- KEYS[3] {p}:scheduled    zset of ids waiting out a retry backoff
-- KEYS[4] {p}:dead         zset of dead letters
-- KEYS[5] {p}:workers      zset worker id -> last heartbeat
-- ARGV[1] the prefix (to name {p}:queue:{name}, {p}:job:{id} and
--         {p}:worker:{id})
--
-- Returns a JSON string: {"queues":[{"name","queued","running","scheduled",
-- "dead"}...],"workers":[{"id","queues","concurrency","running":[ids],
-- "heartbeat_at","schema"}...]}. Queues are sorted by name, workers by id. Empty
-- arrays come out as {} (cjson); the caller turns them into [].
--
-- A worker's "running" is the ids in {p}:running whose job names it as
-- its worker (soonest lease deadline first), not the list in its hash: that
-- one is as old as the last heartbeat (up to a third of a lease), so a job
-- that ended or was claimed since would make the workers disagree with the
-- counts of the same answer.
--
-- Cost: one LLEN per queue, one HMGET per running id and one HGET per
-- scheduled and dead id (each capped: running by the workers'
-- concurrency, dead by --dead-max), one HGETALL per worker. The only
-- write: ids in {p}:workers whose hash has expired (the worker died) are
-- removed.

local p = ARGV[1]
local stats, names = {}, redis.call('SMEMBERS', KEYS[1])
table.sort(names)
for _, name in ipairs(names) do
  stats[name] = {name = name, queued = redis.call('LLEN', p .. ':queue:' .. name),
                 running = 0, scheduled = 0, dead = 0}
end

-- runs[worker id] lists the running ids whose current claim is that
-- worker's (the job's 'worker' field, which claim.lua sets).
local runs = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local f = redis.call('HMGET', p .. ':job:' .. id, 'queue', 'worker')
  if f[1] and stats[f[1]] then
    stats[f[1]].running = stats[f[1]].running + 1
  end
  local list = f[2] and runs[f[2]]
  if list then
    list[#list + 1] = id
  elseif f[2] and f[2] ~= '' then
    runs[f[2]] = {id}
  end
end

local function count(zset, field)
  for _, id in ipairs(redis.call('ZRANGE', zset, 0, -1)) do
    local q = redis.call('HGET', p .. ':job:' .. id, 'queue')
    if q and stats[q] then
      stats[q][field] = stats[q][field] + 1
    end
  end
end
count(KEYS[3], 'scheduled')
count(KEYS[4], 'dead')

local queues = {}
for _, name in ipairs(names) do
  queues[#queues + 1] = stats[name]
end

local function split(s)
  local out = {}
  for item in string.gmatch(s or '', '[^,]+') do
    out[#out + 1] = item
  end
  return out
end

local workers = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  local h = redis.call('HGETALL', p .. ':worker:' .. id)
  if #h == 0 then
    redis.call('ZREM', KEYS[5], id)
  else
    local w = {}
    for i = 1, #h, 2 do
      w[h[i]] = h[i + 1]
    end
    workers[#workers + 1] = {id = id, queues = split(w.queues),
                             concurrency = tonumber(w.concurrency),
                             running = runs[id] or {},
                             heartbeat_at = tonumber(w.heartbeat),
                             -- a worker from before heartbeats said it: 1
                             schema = tonumber(w.schema) or 1}
  end
end
table.sort(workers, function(a, b) return a.id < b.id end)

return cjson.encode({queues = queues, workers = workers})
