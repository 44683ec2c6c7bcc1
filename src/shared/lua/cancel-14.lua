--[[ cancel: takes a task out of the waiting, delayed or active state for good.
KEYS[1] wait  KEYS[2] prio  KEYS[3] delayed  KEYS[4] active  KEYS[5] lease  KEYS[6] progress
KEYS[7] data (id -> record)  KEYS[8] cancelled (ZSET id -> when)  KEYS[9] meta (counters)
KEYS[10] config (retention: cancelled tasks are kept like dead ones)  KEYS[11] results
KEYS[12] errors  KEYS[13] groups (ZSET id -> score of waiting grouped tasks)
KEYS[14] gactive (HASH group -> its tasks running now)
ARGV[1] now, ARGV[2] task id, ARGV[3] the task's exact record when the caller found it in the
wait list ("" otherwise; it must start with "<id>|")
Returns the state the task was cancelled from ("waiting", "delayed" or "active"), or "" when it
is in none of them (unknown, finished, or already cancelled). An active task's worker learns it
at its next heartbeat: its handler's signal fires and its outcome is discarded; a cancelled task
is never retried.
]]
--@include lease
--@include groups
--@include notify
--@include config
--@include retention
local now = tonumber(ARGV[1])
local id = ARGV[2]
local e, from
local cur = redis.call('HGET', KEYS[4], id)
if cur then
  local token
  token, e = rt_entry(cur)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[5], rt_member(id, token))
  redis.call('HDEL', KEYS[6], id)
  rt_group_done({ gactive = KEYS[14] }, e)
  from = 'active'
elseif redis.call('ZREM', KEYS[3], id) == 1 then
  e = redis.call('HGET', KEYS[7], id)
  from = 'delayed'
elseif redis.call('ZREM', KEYS[2], id) == 1 or redis.call('ZREM', KEYS[13], id) == 1 then
  e = redis.call('HGET', KEYS[7], id)
  from = 'waiting'
elseif ARGV[3] ~= '' and string.sub(ARGV[3], 1, #id + 1) == id .. '|' and redis.call('LREM', KEYS[1], 1, ARGV[3]) == 1 then
  e = ARGV[3]
  from = 'waiting'
else
  return ''
end
if e then redis.call('HSET', KEYS[7], id, e) end
redis.call('ZADD', KEYS[8], now, id)
if e then rt_notify(KEYS[9], id, e, 'cancelled') end
redis.call('HINCRBY', KEYS[9], 'cancelled', 1)
local _, _, keepD, ageD = rt_retention(KEYS[10])
rt_trim(KEYS[8], keepD, ageD, now, KEYS[7], KEYS[11], KEYS[12])
return from
