-- waiting: putting a record among the waiting tasks (by group, by priority, or in the list),
-- and promoting delayed tasks that are due.
-- Provides: rt_enqueue, rt_requeue, rt_promote.
--@include int
--@include record
--@include prio
--@include groups

-- Adds a record to the waiting tasks: by group, by priority, or to the list (front or back).
-- Q holds the queue's keys (wait, prio, data, groups, gstate, meta).
local function rt_enqueue(Q, id, e, priority, group, front)
  if group ~= '' then
    redis.call('ZADD', Q.groups, rt_group_score(Q, group, front), id)
    redis.call('HSET', Q.data, id, e)
  elseif priority ~= 0 then
    redis.call('ZADD', Q.prio, rt_prio_score(priority, id), id)
    redis.call('HSET', Q.data, id, e)
  elseif front then
    redis.call('RPUSH', Q.wait, e)
  else
    redis.call('LPUSH', Q.wait, e)
  end
end

-- Puts a record back among the waiting tasks, keeping its group and priority.
local function rt_requeue(Q, id, e, front)
  rt_enqueue(Q, id, e, rt_priority(e), rt_group(e), front)
end

-- Moves up to `limit` delayed tasks whose due time has come to the back of the queue.
local function rt_promote(Q, now, limit)
  local due = redis.call('ZRANGEBYSCORE', Q.delayed, '-inf', rt_int(now), 'LIMIT', '0', rt_int(limit))
  if #due == 0 then return 0 end
  redis.call('ZREM', Q.delayed, unpack(due))
  local els = redis.call('HMGET', Q.data, unpack(due))
  redis.call('HDEL', Q.data, unpack(due))
  local promoted = 0
  for i = 1, #due do
    if els[i] then
      rt_requeue(Q, due[i], els[i], false)
      promoted = promoted + 1
    end
  end
  return promoted
end
