--[[ publish: accepts a batch of tasks into a queue.
KEYS[1] meta     HASH   id sequence and counters
KEYS[2] wait     LIST   records of waiting tasks (LPUSH new, RPOP oldest)
KEYS[3] marker   ZSET   wake-up marker for blocked workers
KEYS[4] delayed  ZSET   id -> due time
KEYS[5] data     HASH   id -> record, for tasks not waiting or active
KEYS[6] config   HASH   queue settings (maxWaiting)
KEYS[7] prio     ZSET   id -> priority score, for tasks published with a priority other than 0
ARGV[1] now (ms)
ARGV[2] n, the number of tasks
then 3 values per task: runAt (ms; <= now: now), priority (-100..100) and the record's tail
"<max>|<publishedAt>|<name>|<opts>|<data>" (the script puts "<id>|0|" in front)
A delayed task sets the marker member "d" with its due time as score (kept at the earliest), so
that an idle worker learns when to promote it.
Returns {firstId, n}, ids are firstId .. firstId+n-1 in order; or {-1, waiting} when the
queue's maxWaiting would be exceeded (nothing is accepted then).
]]
--@include record
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local maxWaiting = tonumber(redis.call('HGET', KEYS[6], 'maxWaiting') or '0')
if maxWaiting > 0 then
  local waiting = redis.call('LLEN', KEYS[2]) + redis.call('ZCARD', KEYS[7])
  if waiting + n > maxWaiting then return {-1, waiting} end
end
local last = redis.call('HINCRBY', KEYS[1], 'seq', n)
local first = last - n + 1
local batch = {}
local pushed = 0
local earliest = -1
for i = 0, n - 1 do
  local b = 3 + i * 3
  local id = tostring(first + i)
  local e = id .. '|0|' .. ARGV[b + 2]
  local runAt = tonumber(ARGV[b])
  local priority = tonumber(ARGV[b + 1])
  if runAt > now then
    redis.call('ZADD', KEYS[4], runAt, id)
    redis.call('HSET', KEYS[5], id, e)
    if earliest < 0 or runAt < earliest then earliest = runAt end
  elseif priority ~= 0 then
    redis.call('ZADD', KEYS[7], rt_prio_score(priority, id), id)
    redis.call('HSET', KEYS[5], id, e)
    pushed = pushed + 1
  else
    batch[#batch + 1] = e
    if #batch >= 1000 then
      redis.call('LPUSH', KEYS[2], unpack(batch))
      pushed = pushed + #batch
      batch = {}
    end
  end
end
if earliest >= 0 then redis.call('ZADD', KEYS[3], 'LT', earliest, 'd') end
if #batch > 0 then
  redis.call('LPUSH', KEYS[2], unpack(batch))
  pushed = pushed + #batch
end
redis.call('HINCRBY', KEYS[1], 'published', n)
if pushed > 0 then redis.call('ZADD', KEYS[3], 0, 'm') end
return {first, n}
