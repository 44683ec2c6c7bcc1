--[[ remove: deletes tasks that are not running, with everything kept about them (admin
delete and purge). Each task is removed only from the state it is in when the script runs, so a
task that a worker took, or that moved to another state, since the caller looked is left alone.
KEYS[1] wait  KEYS[2] prio  KEYS[3] groups  KEYS[4] delayed  KEYS[5] completed  KEYS[6] dead
KEYS[7] cancelled  KEYS[8] data  KEYS[9] results  KEYS[10] errors  KEYS[11] active
ARGV[1] what:
  "task": ARGV[2] a task id, ARGV[3] its exact record when the caller found it in the wait list
    ("" otherwise; it must start with "<id>|"). Returns the state it was deleted from, "active"
    when it is running (nothing is deleted), or "" when it is in no state it can be deleted from.
  "list": the wait list of plain tasks. Returns how many it held.
  "waiting", "delayed", "completed", "dead" or "cancelled": ARGV[2..] task ids. Those still in
    that state are deleted. Returns how many.
  Any other: refused with the error RT_BAD_ARGUMENT (lib/errors.lua).
]]
--@include errors
--@include retention
local what = ARGV[1]
local function forget(ids)
  rt_forget(ids, KEYS[8], KEYS[9], KEYS[10])
end
if what == 'list' then
  local n = redis.call('LLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
  return n
end
local sets = { waiting = { KEYS[2], KEYS[3] }, delayed = { KEYS[4] }, completed = { KEYS[5] }, dead = { KEYS[6] }, cancelled = { KEYS[7] } }
if what == 'task' then
  local id = ARGV[2]
  if redis.call('HEXISTS', KEYS[11], id) == 1 then return 'active' end
  for _, state in ipairs({ 'waiting', 'delayed', 'completed', 'dead', 'cancelled' }) do
    for _, z in ipairs(sets[state]) do
      if redis.call('ZREM', z, id) == 1 then
        forget({ id })
        return state
      end
    end
  end
  local e = ARGV[3]
  if e ~= '' and string.sub(e, 1, #id + 1) == id .. '|' and redis.call('LREM', KEYS[1], 1, e) == 1 then
    forget({ id })
    return 'waiting'
  end
  return ''
end
local zs = sets[what]
if not zs then return rt_error(RT_ERR.BAD_ARGUMENT, 'remove: unknown state ' .. tostring(what)) end
local removed = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  for _, z in ipairs(zs) do
    if redis.call('ZREM', z, id) == 1 then
      removed[#removed + 1] = id
      break
    end
  end
end
forget(removed)
return #removed
