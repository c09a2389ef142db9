-- heartbeat.lua — a worker says it is alive, and learns the data layout.
--
-- KEYS[1] {p}:worker:{id}   the worker's hash
-- KEYS[2] {p}:workers       zset id -> last heartbeat (ms since epoch)
-- KEYS[3] {p}:schema_version  the data layout version in use
-- ARGV[1] the worker id (host:pid:random)
-- ARGV[2] started_at (ms since epoch)
-- ARGV[3] queues, a comma list
-- ARGV[4] concurrency
-- ARGV[5] now (ms since epoch): the heartbeat's time
-- ARGV[6] TTL of the hash in ms (3 heartbeat intervals)
-- ARGV[7] the worker's layout version (JOB_STORE_SCHEMA)
--
-- Returns the layout version in use, KEYS[3] (0 when unset or not a
-- whole number: see schema.lua). A worker
-- given a newer one than its own stops claiming (worker/producer.c):
-- jobq-api raised it (schema.lua), so jobs may now be written that this
-- worker would misread. Writing the worker's own version and reading
-- KEYS[3] in one step is what makes schema.lua's look at the workers safe.
--
-- Transition: the worker's entry is (re)written with a fresh TTL; a worker
-- that stops heartbeating disappears when the TTL ends, and its zset entry
-- is pruned by the next listing (overview.lua). What a worker runs is not
-- written here: overview.lua reads it from {p}:running, which is current,
-- where a heartbeat's list would lag by up to its interval.

--@include layout.lua

redis.call('HSET', KEYS[1], 'id', ARGV[1], 'started_at', ARGV[2], 'queues', ARGV[3],
           'concurrency', ARGV[4], 'heartbeat', ARGV[5], 'schema', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return layout_in_use(KEYS[3])
