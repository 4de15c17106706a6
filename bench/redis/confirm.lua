-- Confirm (sell) a hold with an owner check and an idempotency key.
--   KEYS[1]    idempotency key (e.g. "idem:<event>:<client key>")
--   KEYS[2]    the event's booking counter (e.g. "bookings:<event>")
--   KEYS[3..]  the hold's seat keys
--   ARGV[1]    holder
--   ARGV[2]    idempotency retention in seconds (seatlockd keeps 24 h)
-- Returns the booking id (> 0). A retry with a key already used returns the
-- stored booking id again (replay) and changes nothing. Returns 0 and changes
-- nothing when any seat is not held by this holder (the hold expired and the
-- seat is free or someone else's, or it is already sold). No error replies.
local prev = redis.call('GET', KEYS[1])
if prev then
  return tonumber(prev)
end
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then
    return 0
  end
end
local booking = redis.call('INCR', KEYS[2])
local sold = 'sold:' .. ARGV[1] .. ':' .. KEYS[1]
for i = 3, #KEYS do
  -- A plain SET drops the hold's TTL: the sale is permanent (same as PERSIST).
  redis.call('SET', KEYS[i], sold)
end
redis.call('SET', KEYS[1], booking, 'EX', ARGV[2])
return booking
