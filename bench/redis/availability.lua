-- Free seats of one section: ARGV[1] = the section's seat-key prefix
-- (e.g. "seat:<event>:S12:"), ARGV[2] = the section's seat count; seat i's key
-- is prefix .. i for i in 0 .. count-1. Returns the number of free seats (keys
-- that do not exist: neither held nor sold).
--
-- The keys are built in the script instead of being passed as KEYS, so this
-- is not Redis Cluster safe (the script touches undeclared keys). It is what a
-- single-instance deployment does: one key per seat, no extra counters to
-- keep in step with hold.lua / confirm.lua / expiry.
local prefix = ARGV[1]
local n = tonumber(ARGV[2])
local free = 0
for i = 0, n - 1 do
  if redis.call('EXISTS', prefix .. i) == 0 then
    free = free + 1
  end
end
return free
