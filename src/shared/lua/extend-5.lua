--[[ extend: the worker's heartbeat for one queue; renews the leases it still holds.
KEYS[1] active  KEYS[2] lease (ZSET "<id>|<token>" -> deadline)  KEYS[3] workers (ZSET worker id -> last heartbeat)
KEYS[4] winfo (HASH worker id -> JSON description)
KEYS[5] cancelled (ZSET id -> when it was cancelled)
ARGV[1] now, ARGV[2] lease (ms), ARGV[3] worker id, ARGV[4] worker JSON,
then pairs: task id, token
Returns {lost, cancelled}: ids whose lease this worker no longer holds, because the task was
recovered and handed to another worker (lost) or cancelled: their handlers should be aborted.
]]
--@include lease
local now = tonumber(ARGV[1])
local deadline = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[3], now, ARGV[3])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
local lost, cancelled = {}, {}
for i = 5, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local cur = redis.call('HGET', KEYS[1], id)
  if rt_held(cur, token) then
    redis.call('ZADD', KEYS[2], deadline, rt_member(id, token))
  elseif redis.call('ZSCORE', KEYS[5], id) then
    cancelled[#cancelled + 1] = id
  else
    lost[#lost + 1] = id
  end
end
return {lost, cancelled}
