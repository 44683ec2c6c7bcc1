-- publish: a new task's way into the queue, the same for publish-11.lua and fire-17.lua: the
-- maxWaiting check, new ids, where each new task goes (delayed, by group, by priority, or the
-- wait list), the wake-up marker and the published counter.
-- Provides: rt_full, rt_new_ids, rt_publisher, rt_publish_plain, rt_publish_task, rt_published.
--@include waiting
--
-- Q holds the queue's keys: meta, wait, marker, delayed, data, config, prio, groups (and
-- gstate when a task has a group).

-- The number of tasks waiting when `adding` more would pass the queue's maxWaiting, else nil.
-- Waiting tasks are those in the wait list, the prio ZSET and the groups ZSET.
local function rt_full(Q, adding)
  if adding == 0 then return nil end
  local maxWaiting = tonumber(redis.call('HGET', Q.config, 'maxWaiting') or '0') or 0
  if maxWaiting <= 0 then return nil end
  local waiting = redis.call('LLEN', Q.wait) + redis.call('ZCARD', Q.prio) + redis.call('ZCARD', Q.groups)
  if waiting + adding > maxWaiting then return waiting end
  return nil
end

-- Takes `n` ids from the queue's sequence: returns the first, the others follow it.
local function rt_new_ids(Q, n)
  return redis.call('HINCRBY', Q.meta, 'seq', n) - n + 1
end

-- A batch of new tasks: each is added with rt_publish_task or rt_publish_plain, then
-- rt_published ends the batch.
local function rt_publisher(Q)
  return { Q = Q, list = {}, pushed = 0, earliest = -1 }
end

-- A new task due now with priority 0 and no group: to the wait list, with one LPUSH per 1,000.
local function rt_publish_plain(P, e)
  local list = P.list
  list[#list + 1] = e
  if #list >= 1000 then
    redis.call('LPUSH', P.Q.wait, unpack(list))
    P.pushed = P.pushed + #list
    P.list = {}
  end
end

-- A new task (record e of id): delayed when runAt is later than now, else waiting by group, by
-- priority or in the list.
local function rt_publish_task(P, id, e, now, runAt, priority, group)
  if runAt > now then
    redis.call('ZADD', P.Q.delayed, runAt, id)
    redis.call('HSET', P.Q.data, id, e)
    if P.earliest < 0 or runAt < P.earliest then P.earliest = runAt end
  elseif priority ~= 0 or group ~= '' then
    rt_enqueue(P.Q, id, e, priority, group, false)
    P.pushed = P.pushed + 1
  else
    rt_publish_plain(P, e)
  end
end

-- Ends a batch of which `fresh` tasks are new: the marker member "d" gets the earliest due time
-- of a delayed task (kept at the earliest), so that an idle worker learns when to promote it;
-- the rest of the list is pushed; the tasks are counted as published; and when any task waits
-- now, the marker member "m" wakes an idle worker.
local function rt_published(P, fresh)
  local Q = P.Q
  if P.earliest >= 0 then redis.call('ZADD', Q.marker, 'LT', P.earliest, 'd') end
  if #P.list > 0 then
    redis.call('LPUSH', Q.wait, unpack(P.list))
    P.pushed = P.pushed + #P.list
  end
  if fresh > 0 then redis.call('HINCRBY', Q.meta, 'published', fresh) end
  if P.pushed > 0 then redis.call('ZADD', Q.marker, '0', 'm') end
end
