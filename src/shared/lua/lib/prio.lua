-- prio: prioritized tasks. A task of priority 0 waits in the wait LIST; any other priority
-- waits in the prio ZSET (id -> score, record in the data HASH). Higher priority has the lower
-- score; within a priority the lower id (published earlier) comes first.
-- Provides: rt_prio_score, rt_take_prio.
--@include int

local function rt_prio_score(p, id)
  return string.format('%.0f', -p * 10000000000000 + tonumber(id))
end

-- Takes up to `count` prioritized tasks with scores in [min, max], best first.
local function rt_take_prio(Q, min, max, count)
  local ids = redis.call('ZRANGEBYSCORE', Q.prio, min, max, 'LIMIT', '0', rt_int(count))
  local out = {}
  if #ids == 0 then return out end
  redis.call('ZREM', Q.prio, unpack(ids))
  local els = redis.call('HMGET', Q.data, unpack(ids))
  redis.call('HDEL', Q.data, unpack(ids))
  for i = 1, #ids do
    if els[i] then out[#out + 1] = els[i] end
  end
  return out
end
