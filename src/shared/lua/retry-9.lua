--[[ retry: sends dead-lettered or cancelled tasks back to the queue with a fresh set of attempts.
KEYS[1] wait  KEYS[2] prio  KEYS[3] data  KEYS[4] dead  KEYS[5] cancelled  KEYS[6] marker
KEYS[7] meta  KEYS[8] groups  KEYS[9] gstate
ARGV[1] now, then task ids
Returns the number of tasks sent back. Their attempt history is kept (a retried task's errors
show every attempt, before and after); their attempt count starts again from 0.
]]
--@include record
--@include waiting
local Q = { wait = KEYS[1], prio = KEYS[2], data = KEYS[3], meta = KEYS[7], groups = KEYS[8], gstate = KEYS[9] }
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[4], id) == 1 or redis.call('ZREM', KEYS[5], id) == 1 then
    local e = redis.call('HGET', KEYS[3], id)
    if e then
      redis.call('HDEL', KEYS[3], id)
      local _, made = rt_head(e)
      if made then
        e = id .. '|0|' .. string.sub(e, #id + #made + 3)
        rt_requeue(Q, id, e, false)
        n = n + 1
      end
    end
  end
end
if n > 0 then
  redis.call('ZADD', KEYS[6], 0, 'm')
  redis.call('HINCRBY', KEYS[7], 'retriedByHand', n)
end
return n
