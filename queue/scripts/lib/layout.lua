-- lib/layout.lua — the data layout version in use ({p}:schema_version,
-- see schema.lua), shared by schema.lua, heartbeat.lua, claim.lua and
-- finish_next.lua (in claim_jobs.lua), which pull it in with a line
-- "--@include layout.lua".

-- layout_in_use returns the version key holds: 0 when it is unset, and
-- when it is not a whole number (written by hand), since only digits make
-- a version.
local function layout_in_use(key)
  local v = redis.call('GET', key)
  return v and string.match(v, '^%d+$') and tonumber(v) or 0
end
