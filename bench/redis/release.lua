-- Release a hold with an owner check: KEYS = seat keys, ARGV[1] = holder.
-- Deletes each seat key whose value is exactly the holder (a held seat of
-- this holder; never a sold seat, never another holder's hold). Returns the
-- number of seats released (0: the hold had expired or was not this
-- holder's). seatbench loads it; no workload calls it today.
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
return released
