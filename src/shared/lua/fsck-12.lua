--[[ fsck: re-checks candidate ids that a scan found suspicious, and repairs what is still wrong.
KEYS[1] active  KEYS[2] lease  KEYS[3] data  KEYS[4] delayed  KEYS[5] completed  KEYS[6] dead
KEYS[7] cancelled  KEYS[8] prio  KEYS[9] groups  KEYS[10] errors  KEYS[11] gactive  KEYS[12] meta
ARGV[1] now, ARGV[2] kind, then ids:
  orphan-active: a task active with no lease deadline: it gets an expired one, so maintenance
                 recovers it at once (as if its worker had died)
  stale-lease:   (lease members "<id>|<token>", not ids) a lease deadline whose task is not
                 active under that token, or a member without a token: removed
  orphan-record: a record in data that no state points to: dead-lettered with an fsck error,
                 for an operator to retry or delete
  gactive:       (no ids) the fair groups' running counts are recounted from the active tasks
Returns the number of repairs made.
]]
--@include record
--@include lease
--@include history
local now = tonumber(ARGV[1])
local kind = ARGV[2]
local fixed = 0
if kind == 'gactive' then
  redis.call('DEL', KEYS[11])
  local all = redis.call('HGETALL', KEYS[1])
  for i = 2, #all, 2 do
    local cur = all[i]
    local g = rt_group(string.sub(cur, string.find(cur, '|', 1, true) + 1))
    if g ~= '' then
      redis.call('HINCRBY', KEYS[11], g, 1)
      fixed = fixed + 1
    end
  end
  return fixed
end
for i = 3, #ARGV do
  local id = ARGV[i]
  if kind == 'orphan-active' then
    local cur = redis.call('HGET', KEYS[1], id)
    if cur then
      local member = rt_member(id, (rt_entry(cur)))
      if not redis.call('ZSCORE', KEYS[2], member) then
        redis.call('ZADD', KEYS[2], now - 1, member)
        fixed = fixed + 1
      end
    end
  elseif kind == 'stale-lease' then
    local taskId, token = rt_unmember(id)
    local cur = redis.call('HGET', KEYS[1], taskId)
    -- A member without a token is the lease of no task.
    local held = token and rt_held(cur, token)
    if not held and redis.call('ZREM', KEYS[2], id) == 1 then fixed = fixed + 1 end
  elseif kind == 'orphan-record' then
    if redis.call('HEXISTS', KEYS[3], id) == 1
      and not redis.call('ZSCORE', KEYS[4], id) and not redis.call('ZSCORE', KEYS[5], id)
      and not redis.call('ZSCORE', KEYS[6], id) and not redis.call('ZSCORE', KEYS[7], id)
      and not redis.call('ZSCORE', KEYS[8], id) and not redis.call('ZSCORE', KEYS[9], id) then
      redis.call('ZADD', KEYS[6], now, id)
      rt_append_error(KEYS[10], id, '{"attempt":0,"at":' .. now .. ',"error":"fsck: the record was in no state; dead-lettered for review"}')
      redis.call('HINCRBY', KEYS[12], 'failed', 1)
      fixed = fixed + 1
    end
  end
end
return fixed
