--[[ publish: accepts a batch of tasks into a queue.
KEYS[1] meta     HASH   id sequence and counters
KEYS[2] wait     LIST   records of waiting tasks (LPUSH new, RPOP oldest)
KEYS[3] marker   ZSET   wake-up marker for blocked workers
KEYS[4] delayed  ZSET   id -> due time
KEYS[5] data     HASH   id -> record, for tasks not waiting or active
KEYS[6] config   HASH   queue settings (maxWaiting)
ARGV[1] now (ms)
ARGV[2] n, the number of tasks
then 5 values per task: max attempts, name, opts JSON, data JSON, runAt (ms; <= now: now)
Returns {firstId, n}, ids are firstId .. firstId+n-1 in order; or {-1, waiting} when the
queue's maxWaiting would be exceeded (nothing is accepted then).
]]
--@include record
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local maxWaiting = tonumber(redis.call('HGET', KEYS[6], 'maxWaiting') or '0')
if maxWaiting > 0 then
  local waiting = redis.call('LLEN', KEYS[2])
  if waiting + n > maxWaiting then return {-1, waiting} end
end
local last = redis.call('HINCRBY', KEYS[1], 'seq', n)
local first = last - n + 1
local batch = {}
local pushed = 0
for i = 0, n - 1 do
  local b = 3 + i * 5
  local id = tostring(first + i)
  local e = id .. '|0|' .. ARGV[b] .. '|' .. ARGV[1] .. '|' .. ARGV[b + 1] .. '|' .. ARGV[b + 2] .. '|' .. ARGV[b + 3]
  local runAt = tonumber(ARGV[b + 4])
  if runAt > now then
    redis.call('ZADD', KEYS[4], runAt, id)
    redis.call('HSET', KEYS[5], id, e)
  else
    batch[#batch + 1] = e
    if #batch >= 1000 then
      redis.call('LPUSH', KEYS[2], unpack(batch))
      pushed = pushed + #batch
      batch = {}
    end
  end
end
if #batch > 0 then
  redis.call('LPUSH', KEYS[2], unpack(batch))
  pushed = pushed + #batch
end
redis.call('HINCRBY', KEYS[1], 'published', n)
if pushed > 0 then redis.call('ZADD', KEYS[3], 0, 'm') end
return {first, n}
