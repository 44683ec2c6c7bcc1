-- retention: what is kept of finished tasks (completed, dead, cancelled), and for how long.
-- Provides: rt_keep, rt_forget, rt_trim.

-- Adds a completed task to what is kept of it: kept[1] the data HASH's (id, record) pairs,
-- kept[2] the results HASH's (id, result), kept[3] the completed ZSET's (finishedAt, id).
local function rt_keep(kept, id, e, value, now)
  local d, r, z, x = kept[1], kept[2], kept[3], #kept[1]
  d[x + 1], d[x + 2], r[x + 1], r[x + 2], z[x + 1], z[x + 2] = id, e, id, value, now, id
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
