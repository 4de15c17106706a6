-- Hold N seats all-or-nothing: KEYS = seat keys, ARGV[1] = holder,
-- ARGV[2] = TTL in ms. Returns 1 when every seat was free and is now held by
-- the holder, else 0 and nothing changes. What a careful team writes today.
-- A held seat's value is the holder (so confirm.lua and release.lua can check
-- the owner); a sold seat's value is "sold:<holder>:<idempotency key>" with no
-- TTL. Either way the key exists, so EXISTS means "not free".
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return 0
  end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1
