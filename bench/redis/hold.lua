-- Hold N seats all-or-nothing: KEYS = seat keys, ARGV[1] = holder,
-- ARGV[2] = TTL in ms. Returns 1 when every seat was free and is now held by
-- the holder, else 0 and nothing changes. What a careful team writes today.
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return 0
  end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1
