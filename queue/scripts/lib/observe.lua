-- lib/observe.lua — the metrics tallies and Redis's clock in ms, shared by
-- the scripts that end attempts or claim jobs (finish.lua, fail.lua,
-- claim.lua, finish_next.lua) and by cancel.lua, progress.lua and
-- renew.lua (the clock only), which pull it in with a line
-- "--@include observe.lua" (embed.sh inlines it at build time).
--
-- A tally is a Lua table field -> increment. The scripts add to tallies
-- while they work and write each one with tally_flush at the end, so that a
-- call that ends several attempts of one task writes each metrics field
-- once (one HINCRBY per field, not per job). See README "Metrics".

-- tally_add adds n to field of tally t.
local function tally_add(t, field, n)
  t[field] = (t[field] or 0) + n
end

-- tally_flush writes tally t into hash key, one HINCRBY per field.
local function tally_flush(t, key)
  for field, n in pairs(t) do
    redis.call('HINCRBY', key, field, n)
  end
end

-- observe adds an attempt's run time (claim to now, in ms) to its task's
-- buckets in the duration tally dur (for {p}:metrics:duration): fields
-- "<task>|<le>" (not cumulative; le is the first bound of the comma list
-- bounds, in seconds, not below the run time, else +Inf), "<task>|count"
-- and "<task>|sum_ms".
local function observe(dur, task, started, now, bounds)
  local ms = math.max(0, now - (tonumber(started) or now))
  local le = '+Inf'
  for b in string.gmatch(bounds, '[^,]+') do
    if ms <= tonumber(b) * 1000 then le = b break end
  end
  tally_add(dur, task .. '|' .. le, 1)
  tally_add(dur, task .. '|count', 1)
  tally_add(dur, task .. '|sum_ms', ms)
end

-- now_ms is Redis's clock in ms. Each script reads it once: every job a
-- call touches gets the same time.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
