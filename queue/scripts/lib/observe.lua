-- lib/observe.lua — shared by the scripts that end an attempt (finish.lua,
-- fail.lua), which pull it in with a line "--@include observe.lua"
-- (embed.sh inlines it at build time).
--
-- observe adds an attempt's run time (claim to now, in ms) to its task's
-- buckets in the duration hash {p}:metrics:duration: fields "<task>|<le>"
-- (not cumulative; le is the first bound of the comma list bounds, in
-- seconds, not below the run time, else +Inf), "<task>|count" and
-- "<task>|sum_ms". See README "Metrics".
local function observe(hist, task, started, now, bounds)
  local ms = math.max(0, now - (tonumber(started) or now))
  local le = '+Inf'
  for b in string.gmatch(bounds, '[^,]+') do
    if ms <= tonumber(b) * 1000 then le = b break end
  end
  redis.call('HINCRBY', hist, task .. '|' .. le, 1)
  redis.call('HINCRBY', hist, task .. '|count', 1)
  redis.call('HINCRBY', hist, task .. '|sum_ms', ms)
end
