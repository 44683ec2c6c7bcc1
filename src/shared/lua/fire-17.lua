--[[ fire: handles one due time of a schedule, exactly once however many workers call it.
A due time is accepted only when it is later than the last one handled (lastDue), so a
due time that one worker handled is "already" handled for every other.
KEYS[1] schedules   HASH  name -> JSON definition (rev, paused, overlap, priority)
KEYS[2] schedtask   HASH  name -> record template "<max>|<name>|<opts>|<data>";
                          "<name>|last" -> the record of the last task published, after "<id>|<made>|"
                          (kept for the overlap check of skip and queue-one)
KEYS[3] schedstate  HASH  name -> "<lastDue>|<lastId>|<fired>|<skipped>|<queued>|<lastFiredAt>"
KEYS[4] schednext   ZSET  name -> next due time
KEYS[5] meta (id sequence, published)  KEYS[6] wait  KEYS[7] prio  KEYS[8] data
KEYS[9] marker (wakes an idle worker)  KEYS[10] config (maxWaiting): the task is published the
way publish-11.lua publishes one (lib/publish.lua).
The overlap check looks the last published task up in KEYS[11] active, KEYS[12] delayed,
KEYS[7] prio and KEYS[6] wait (pending) and in KEYS[13] completed, KEYS[14] dead and
KEYS[15] cancelled (finished). The wait list is searched (O(waiting)) only when the task is in
none of the others: with LPOS for its exact record when it never failed (no entry in KEYS[16]
errors), else by its id (its attempt count in the record is not known here). KEYS[17] groups
(waiting grouped tasks count towards maxWaiting).
ARGV[1] now (ms), ARGV[2] schedule name, ARGV[3] rev of the definition the caller computed from
ARGV[4] mode: f = fire the due time; s = skip it (missed, by the catch-up policy);
        r = release the fire that queue-one deferred, if the previous task has finished
ARGV[5] the due time (ms; unused by r), ARGV[6] the next due time after it (-1: none)
Returns {status, task id or "", lastDue, the due time the task is for (fired)}. status:
  fired     a task was published (f, r)
  skipped   overlap policy skip: the previous task is still pending; or the queue is full
  deferred  overlap policy queue-one: published once the previous task has finished
  missed    (s) recorded as handled
  already   the due time, or a later one, was handled before (lastDue says which)
  idle      (r) nothing deferred, or the previous task is still pending
  paused, gone (no such schedule), stale (the definition changed: compute again)
The task's options get "sn" (schedule name) and "sd" (due time), so its handler knows both.
]]
--@include int
--@include publish
local now = ARGV[1]
local name = ARGV[2]
local mode = ARGV[4]
local raw = redis.call('HGET', KEYS[1], name)
if not raw then
  redis.call('ZREM', KEYS[4], name)
  return {'gone', '', 0}
end
local def = cjson.decode(raw)
if def.rev ~= ARGV[3] then return {'stale', '', 0} end
if def.paused then
  redis.call('ZREM', KEYS[4], name)
  return {'paused', '', 0}
end

local lastDue, lastId, fired, skipped, queued, lastAt = 0, '', 0, 0, 0, 0
local st = redis.call('HGET', KEYS[3], name)
if st then
  local a, b, c, d, e, f = string.match(st, '^(%-?%d+)|(%d*)|(%d+)|(%d+)|(%-?%d+)|(%d+)$')
  if a then
    lastDue, lastId, fired, skipped, queued, lastAt = tonumber(a), b, tonumber(c), tonumber(d), tonumber(e), tonumber(f)
  end
end

local function n2s(x)
  return string.format('%.0f', x)
end

local function save()
  redis.call('HSET', KEYS[3], name, n2s(lastDue) .. '|' .. lastId .. '|' .. n2s(fired) .. '|' .. n2s(skipped) .. '|' .. n2s(queued) .. '|' .. n2s(lastAt))
end

-- Is the last task published still waiting, delayed or running?
local function pending()
  if lastId == '' then return false end
  if redis.call('HEXISTS', KEYS[11], lastId) == 1 then return true end
  if redis.call('ZSCORE', KEYS[12], lastId) or redis.call('ZSCORE', KEYS[7], lastId) then return true end
  if redis.call('ZSCORE', KEYS[13], lastId) or redis.call('ZSCORE', KEYS[14], lastId) or redis.call('ZSCORE', KEYS[15], lastId) then
    return false
  end
  local tail = redis.call('HGET', KEYS[2], name .. '|last')
  if not tail then return false end
  -- Never failed: its record in the list is exactly "<id>|0|<tail>".
  if redis.call('HEXISTS', KEYS[16], lastId) == 0 then return redis.call('LPOS', KEYS[6], lastId .. '|0|' .. tail) ~= false end
  -- It failed before: its count is the failures since it was last retried by hand (which starts
  -- it again from 0 and keeps the errors), not known here. Look for the id.
  local prefix = lastId .. '|'
  local len = redis.call('LLEN', KEYS[6])
  for start = 0, len - 1, 1000 do
    for _, e in ipairs(redis.call('LRANGE', KEYS[6], start, start + 999)) do
      if string.sub(e, 1, #prefix) == prefix then return true end
    end
  end
  return false
end

-- The queue's keys as lib/publish.lua needs them (a schedule's tasks have no group).
local Q = {
  meta = KEYS[5], wait = KEYS[6], prio = KEYS[7], data = KEYS[8], marker = KEYS[9], config = KEYS[10], delayed = KEYS[12],
  groups = KEYS[17],
}

-- Publishes one task from the template, tagged with the schedule and the due time.
local function publish(due)
  local tpl = redis.call('HGET', KEYS[2], name)
  if not tpl then return '' end
  local max, tname, opts = string.match(tpl, '^(%d+)|([^|]*)|([^|]*)|')
  if not max then return '' end
  local data = string.sub(tpl, #max + #tname + #opts + 4)
  local tag = '"sn":"' .. name .. '","sd":' .. due
  if opts == '' then opts = '{' .. tag .. '}' else opts = string.sub(opts, 1, -2) .. ',' .. tag .. '}' end
  local tail = max .. '|' .. now .. '|' .. tname .. '|' .. opts .. '|' .. data
  local id = rt_int(rt_new_ids(Q, 1))
  local P = rt_publisher(Q)
  local t = tonumber(now)
  rt_publish_task(P, id, id .. '|0|' .. tail, t, t, tonumber(def.priority) or 0, '')
  rt_published(P, 1)
  if def.overlap ~= 'allow' then
    redis.call('HSET', KEYS[2], name .. '|last', tail)
  end
  lastId = id
  lastAt = tonumber(now)
  fired = fired + 1
  return id
end

if mode == 'r' then
  if queued <= 0 or pending() then return {'idle', '', lastDue} end
  local status, id, d = 'skipped', '', queued
  if rt_full(Q, 1) then
    skipped = skipped + 1
  else
    id = publish(n2s(queued))
    status = 'fired'
  end
  queued = 0
  save()
  return {status, id, lastDue, d}
end

local due = tonumber(ARGV[5])
if due <= lastDue then return {'already', '', lastDue} end
lastDue = due
local status, id = 'missed', ''
if mode == 'f' then
  if def.overlap ~= 'allow' and pending() then
    if def.overlap == 'queue-one' then
      -- One fire waits at most: a newer overlapping one replaces it.
      if queued > 0 then skipped = skipped + 1 end
      queued = due
      status = 'deferred'
    else
      skipped = skipped + 1
      status = 'skipped'
    end
  else
    -- A fire still deferred is superseded by this newer one.
    if queued > 0 then
      skipped = skipped + 1
      queued = 0
    end
    if rt_full(Q, 1) then
      skipped = skipped + 1
      status = 'skipped'
    else
      id = publish(ARGV[5])
      status = 'fired'
    end
  end
end
save()
local nextDue = tonumber(ARGV[6])
if nextDue >= 0 then
  redis.call('ZADD', KEYS[4], nextDue, name)
else
  redis.call('ZREM', KEYS[4], name)
end
return {status, id, lastDue, due}
