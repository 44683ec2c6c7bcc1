--[[ finish: settles a batch of leased tasks and leases new ones in the same round trip.
KEYS[1] wait  KEYS[2] active  KEYS[3] lease  KEYS[4] marker  KEYS[5] corrupt
KEYS[6] meta (counters)  KEYS[7] data  KEYS[8] completed (ZSET id -> finishedAt)
KEYS[9] results (HASH id -> result JSON)  KEYS[10] dead (ZSET id -> diedAt)
KEYS[11] delayed  KEYS[12] errors (HASH id -> JSON array of failed attempts)
KEYS[13] config  KEYS[14] progress (HASH id -> last progress JSON)
KEYS[15] stats bucket of the current second (HASH completed/failed counts, expires after 1 h)
ARGV[1] now, ARGV[2] lease (ms), ARGV[3] how many to lease, ARGV[4] token for new leases,
ARGV[5] n settlements, then 5 values each: id, token, kind, value, at
  kind c = completed (value = result JSON)
       r = failed, retry at `at` (value = attempt error JSON)
       d = failed for good, dead-lettered (value = attempt error JSON)
       q = handed back unstarted or unfinished, no attempt counted (front of the queue)
Returns {statuses, records}: statuses[i] = 1 when settlement i held the lease and was
applied, 0 when the token no longer matched (the task was recovered and handed to another
worker, or was settled already); records are the newly leased tasks.
]]
--@include record
--@include reserve
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[5])
local statuses = {}
local completed, died, retried, finished = 0, 0, 0, 0
local keepC, ageC, keepD, ageD = rt_retention(KEYS[13])
for i = 0, n - 1 do
  local b = 6 + i * 5
  local id, token, kind = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local cur = redis.call('HGET', KEYS[2], id)
  local ok = 0
  if cur and string.sub(cur, 1, #token + 1) == token .. '|' then
    ok = 1
    local e = string.sub(cur, #token + 2)
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[14], id)
    if kind == 'c' then
      completed = completed + 1
      if keepC > 0 then
        redis.call('HSET', KEYS[7], id, e)
        redis.call('HSET', KEYS[9], id, ARGV[b + 3])
        redis.call('ZADD', KEYS[8], now, id)
      else
        redis.call('HDEL', KEYS[12], id)
      end
    elseif kind == 'q' then
      redis.call('RPUSH', KEYS[1], e)
      redis.call('ZADD', KEYS[4], 0, 'm')
    else
      local _, made = rt_head(e)
      e = rt_bump(e, id, made)
      rt_append_error(KEYS[12], id, ARGV[b + 3])
      if kind == 'r' then
        retried = retried + 1
        local at = tonumber(ARGV[b + 4])
        if at > now then
          redis.call('HSET', KEYS[7], id, e)
          redis.call('ZADD', KEYS[11], at, id)
        else
          redis.call('LPUSH', KEYS[1], e)
          redis.call('ZADD', KEYS[4], 0, 'm')
        end
      else
        died = died + 1
        redis.call('HSET', KEYS[7], id, e)
        redis.call('ZADD', KEYS[10], now, id)
      end
    end
  end
  statuses[#statuses + 1] = ok
end
if completed > 0 then
  redis.call('HINCRBY', KEYS[6], 'completed', completed)
  if redis.call('HINCRBY', KEYS[15], 'completed', completed) == completed then redis.call('EXPIRE', KEYS[15], 3600) end
  if keepC > 0 then rt_trim(KEYS[8], keepC, ageC, now, KEYS[7], KEYS[9], KEYS[12]) end
end
if died > 0 then
  redis.call('HINCRBY', KEYS[6], 'failed', died)
  if redis.call('HINCRBY', KEYS[15], 'failed', died) == died then redis.call('EXPIRE', KEYS[15], 3600) end
  rt_trim(KEYS[10], keepD, ageD, now, KEYS[7], KEYS[9], KEYS[12])
end
if retried > 0 then redis.call('HINCRBY', KEYS[6], 'retried', retried) end
local got = rt_reserve(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5],
  now, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
return {statuses, got}
