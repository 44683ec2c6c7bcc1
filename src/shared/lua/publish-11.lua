--[[ publish: accepts a batch of tasks into a queue.
KEYS[1] meta     HASH   id sequence and counters
KEYS[2] wait     LIST   records of waiting tasks (LPUSH new, RPOP oldest)
KEYS[3] marker   ZSET   wake-up marker for blocked workers
KEYS[4] delayed  ZSET   id -> due time
KEYS[5] data     HASH   id -> record, for tasks not waiting or active
KEYS[6] config   HASH   queue settings (maxWaiting)
KEYS[7] prio     ZSET   id -> priority score, for tasks published with a priority other than 0
KEYS[8] idem     HASH   idempotency key -> id of the task published with it
KEYS[9] idemexp  ZSET   idempotency key -> when it stops counting (ms)
KEYS[10] groups  ZSET   id -> virtual-time score of waiting grouped tasks (fair round robin)
KEYS[11] gstate  HASH   group -> score of its last queued task
ARGV[1] now (ms)
ARGV[2] n, the number of tasks; -n for n plain tasks (due now, priority 0, no group, no key),
then just each record's tail: the common bulk case, without the per-task fields below.
Otherwise 6 values per task: runAt (ms; <= now: now), priority (-100..100), group ("" for none),
idempotency key ("" for none), how long the key counts (ms), and the record's tail "<max>|<publishedAt>|<name>|<opts>|<data>"
(the script puts "<id>|0|" in front). A task whose key was used within the window is not created again: its
position gets the first task's id.
How a new task is queued (delayed, by group, by priority, or in the wait list; the marker; the
counters) is lib/publish.lua, which fire-17.lua uses too.
Returns {firstId, n}: ids are firstId .. firstId+n-1 in order (no keys were given); or
{-2, id1, ..., idn} (keys were given). Refuses with the error RT_QUEUE_FULL (lib/errors.lua)
when the queue's maxWaiting would be exceeded by the tasks due now that are new (nothing is
accepted then).
]]
--@include int
--@include errors
--@include publish
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local plain = n < 0
if plain then n = -n end
local Q = {
  meta = KEYS[1], wait = KEYS[2], marker = KEYS[3], delayed = KEYS[4], data = KEYS[5], config = KEYS[6], prio = KEYS[7],
  groups = KEYS[10], gstate = KEYS[11],
}

if plain then
  local waiting = rt_full(Q, n)
  if waiting then return rt_error(RT_ERR.QUEUE_FULL, waiting) end
  local first = rt_new_ids(Q, n)
  local P = rt_publisher(Q)
  for i = 0, n - 1 do rt_publish_plain(P, rt_int(first + i) .. '|0|' .. ARGV[3 + i]) end
  rt_published(P, n)
  return {first, n}
end

-- Idempotency keys: which positions repeat a key seen within its window (or earlier in the batch).
local reuse = {}      -- position -> existing id, or the earlier position (as a negative number)
local hasKeys = false
local fresh = n
for i = 0, n - 1 do
  if ARGV[6 + i * 6] ~= '' then hasKeys = true break end
end
if hasKeys then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', now, 'LIMIT', 0, 1000)
  if #expired > 0 then
    redis.call('ZREM', KEYS[9], unpack(expired))
    redis.call('HDEL', KEYS[8], unpack(expired))
  end
  local inBatch = {}
  for i = 0, n - 1 do
    local key = ARGV[6 + i * 6]
    if key ~= '' then
      if inBatch[key] then
        reuse[i] = -inBatch[key] - 1
        fresh = fresh - 1
      else
        local id = redis.call('HGET', KEYS[8], key)
        -- Expired keys are cleaned up 1,000 per call above: one not reached yet still counts as gone.
        if id and tonumber(redis.call('ZSCORE', KEYS[9], key) or '0') <= now then id = nil end
        if id then
          reuse[i] = id
          fresh = fresh - 1
        else
          inBatch[key] = i
        end
      end
    end
  end
end

-- maxWaiting counts the tasks this call adds to the waiting ones: not a repeated key (its
-- position gets the first task's id), not a delayed task (it waits for its time, not a worker).
do
  local adding = 0
  for i = 0, n - 1 do
    if not reuse[i] and tonumber(ARGV[3 + i * 6]) <= now then adding = adding + 1 end
  end
  local waiting = rt_full(Q, adding)
  if waiting then return rt_error(RT_ERR.QUEUE_FULL, waiting) end
end

local first = rt_new_ids(Q, fresh)
local next = first
local ids = {}
local P = rt_publisher(Q)
for i = 0, n - 1 do
  local b = 3 + i * 6
  local r = reuse[i]
  if r then
    if type(r) == 'number' then ids[i + 1] = ids[-r] else ids[i + 1] = r end
  else
    local id = rt_int(next)
    next = next + 1
    ids[i + 1] = id
    if ARGV[b + 3] ~= '' then
      redis.call('HSET', KEYS[8], ARGV[b + 3], id)
      redis.call('ZADD', KEYS[9], now + tonumber(ARGV[b + 4]), ARGV[b + 3])
    end
    rt_publish_task(P, id, id .. '|0|' .. ARGV[b + 5], now, tonumber(ARGV[b]), tonumber(ARGV[b + 1]), ARGV[b + 2])
  end
end
rt_published(P, fresh)
if not hasKeys then return {first, n} end
local out = {-2}
for i = 1, n do out[i + 1] = ids[i] end
return out
