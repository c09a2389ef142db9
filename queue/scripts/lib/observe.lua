-- lib/observe.lua — the metrics tallies and Redis's clock in ms, shared by
-- the scripts that end attempts or claim jobs (finish.lua, fail.lua,
-- claim.lua, finish_next.lua) and by cancel.lua, progress.lua and
-- renew.lua (the clock only), which pull it in with a line
-- "--@include observe.lua" (embed.sh inlines it at build time).
--
-- A tally counts metrics fields "<task>|<what>" (what: a status, a bucket,
-- count or sum_ms), held as a Lua table task -> what -> increment. The
-- scripts add to tallies while they work and write each one with
-- tally_flush at the end, so that a call that ends several attempts of one
-- task writes each metrics field once (one HINCRBY per field, not per
-- job), and builds each field's name once. See README "Metrics".

-- tally_add adds n to field "<task>|<what>" of tally t.
local function tally_add(t, task, what, n)
  local w = t[task]
  if not w then
    w = {}
    t[task] = w
  end
  w[what] = (w[what] or 0) + n
end

-- tally_flush writes tally t into hash key, one HINCRBY per field.
local function tally_flush(t, key)
  for task, w in pairs(t) do
    for what, n in pairs(w) do
      redis.call('HINCRBY', key, task .. '|' .. what, n)
    end
  end
end

-- run_bounds parses the comma list of run-time bucket bounds (seconds,
-- ascending) into { ms, label } pairs. A call parses it once, not once per
-- attempt it ends: each tonumber of a string costs Redis two strtod.
local function run_bounds(list)
  local out = {}
  for b in string.gmatch(list, '[^,]+') do
    out[#out + 1] = { tonumber(b) * 1000, b }
  end
  return out
end

-- observe_ms adds an attempt's run time, ms (a number), to its task's
-- buckets in the duration tally dur (for {p}:metrics:duration): fields
-- "<task>|<le>" (not cumulative; le is the first of the bounds (run_bounds)
-- not below the run time, else +Inf), "<task>|count" and "<task>|sum_ms".
local function observe_ms(dur, task, ms, bounds)
  local le = '+Inf'
  for _, b in ipairs(bounds) do
    if ms <= b[1] then le = b[2] break end
  end
  tally_add(dur, task, le, 1)
  tally_add(dur, task, 'count', 1)
  tally_add(dur, task, 'sum_ms', ms)
end

-- observe is observe_ms of the run time from started (the job's
-- started_at, a string) to now (ms).
local function observe(dur, task, started, now, bounds)
  observe_ms(dur, task, math.max(0, now - (tonumber(started) or now)), bounds)
end

-- now_ms is Redis's clock in ms, as a number and as the string a script
-- hands redis.call: Redis formats each number argument with printf, so a
-- time written for many jobs is formatted once. Each script reads it once:
-- every job a call touches gets the same time.
local function now_ms()
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return ms, string.format('%d', ms)
end
