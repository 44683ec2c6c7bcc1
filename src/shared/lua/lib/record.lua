-- Helpers shared by the scripts (inlined by the loader where a script says `--@include record`).
--
-- A task record is one string: "<id>|<made>|<max>|<publishedAt>|<name>|<opts>|<data>".
-- made = attempts that ended without success, max = attempts allowed. Only the head is ever
-- parsed here; the body after it belongs to the client.

local function rt_head(e)
  return string.match(e, '^(%d+)|(%d+)|(%d+)|')
end

-- The same record with one more attempt counted as made.
local function rt_bump(e, id, made)
  return id .. '|' .. (tonumber(made) + 1) .. '|' .. string.sub(e, #id + #made + 3)
end

-- Appends one JSON object to the task's attempt history (a JSON array kept per task).
local function rt_append_error(key, id, entry)
  local h = redis.call('HGET', key, id)
  if h then
    h = string.sub(h, 1, -2) .. ',' .. entry .. ']'
  else
    h = '[' .. entry .. ']'
  end
  redis.call('HSET', key, id, h)
end

-- Removes every trace of finished tasks from the side hashes.
local function rt_forget(ids, dataKey, resultsKey, errorsKey)
  if #ids == 0 then return end
  redis.call('HDEL', dataKey, unpack(ids))
  redis.call('HDEL', resultsKey, unpack(ids))
  redis.call('HDEL', errorsKey, unpack(ids))
end

-- Keeps a finished-set (ZSET id -> finishedAt) within `keep` entries and `age` ms.
-- Bounded work per call: at most 1,000 removals of each kind.
local function rt_trim(zkey, keep, age, now, dataKey, resultsKey, errorsKey)
  local over = redis.call('ZCARD', zkey) - keep
  if over > 0 then
    local popped = redis.call('ZPOPMIN', zkey, math.min(over, 1000))
    local ids = {}
    for i = 1, #popped, 2 do ids[#ids + 1] = popped[i] end
    rt_forget(ids, dataKey, resultsKey, errorsKey)
  end
  if age > 0 then
    local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', now - age, 'LIMIT', 0, 1000)
    if #old > 0 then
      redis.call('ZREM', zkey, unpack(old))
      rt_forget(old, dataKey, resultsKey, errorsKey)
    end
  end
end

-- Reads a queue's settings, with the defaults used when none are configured.
local function rt_config(configKey)
  local c = redis.call('HMGET', configKey, 'keepCompleted', 'keepCompletedMs', 'keepDead', 'keepDeadMs', 'paused',
    'maxActive', 'rateMax', 'rateWindowMs')
  return {
    keepC = tonumber(c[1]) or 1000, ageC = tonumber(c[2]) or 86400000,
    keepD = tonumber(c[3]) or 10000, ageD = tonumber(c[4]) or 604800000,
    paused = c[5] == '1',
    maxActive = tonumber(c[6]) or 0, rateMax = tonumber(c[7]) or 0, rateWindow = tonumber(c[8]) or 0,
  }
end

-- The retention settings alone: keepCompleted, keepCompletedMs, keepDead, keepDeadMs.
local function rt_retention(configKey)
  local c = rt_config(configKey)
  return c.keepC, c.ageC, c.keepD, c.ageD
end

-- Priorities: a task of priority 0 waits in the wait LIST; any other priority waits in the prio
-- ZSET (id -> score, record in the data HASH). Higher priority has the lower score; within a
-- priority the lower id (published earlier) comes first. Priorities lie in -100..100.
local function rt_priority(e)
  local opts = string.match(e, '^%d+|%d+|%d+|%d+|[^|]*|([^|]*)|')
  if not opts or opts == '' then return 0 end
  return tonumber(string.match(opts, '"p":(%-?%d+)')) or 0
end

local function rt_prio_score(p, id)
  return string.format('%.0f', -p * 10000000000000 + tonumber(id))
end

-- Puts a record back among the waiting tasks: at the front (next to run) or the back of its
-- priority (a prioritized task simply takes its place by id again).
local function rt_requeue(waitKey, prioKey, dataKey, id, e, front)
  local p = rt_priority(e)
  if p ~= 0 then
    redis.call('ZADD', prioKey, rt_prio_score(p, id), id)
    redis.call('HSET', dataKey, id, e)
  elseif front then
    redis.call('RPUSH', waitKey, e)
  else
    redis.call('LPUSH', waitKey, e)
  end
end

-- Takes up to `count` prioritized tasks with scores in [min, max], best first.
local function rt_take_prio(prioKey, dataKey, min, max, count)
  local ids = redis.call('ZRANGEBYSCORE', prioKey, min, max, 'LIMIT', 0, count)
  local out = {}
  if #ids == 0 then return out end
  redis.call('ZREM', prioKey, unpack(ids))
  local els = redis.call('HMGET', dataKey, unpack(ids))
  redis.call('HDEL', dataKey, unpack(ids))
  for i = 1, #ids do
    if els[i] then out[#out + 1] = els[i] end
  end
  return out
end

-- Moves up to `limit` delayed tasks whose due time has come to the back of the queue.
local function rt_promote(delayedKey, dataKey, waitKey, prioKey, now, limit)
  local due = redis.call('ZRANGEBYSCORE', delayedKey, '-inf', now, 'LIMIT', 0, limit)
  if #due == 0 then return 0 end
  redis.call('ZREM', delayedKey, unpack(due))
  local els = redis.call('HMGET', dataKey, unpack(due))
  redis.call('HDEL', dataKey, unpack(due))
  local promoted = 0
  for i = 1, #due do
    if els[i] then
      rt_requeue(waitKey, prioKey, dataKey, due[i], els[i], false)
      promoted = promoted + 1
    end
  end
  return promoted
end
