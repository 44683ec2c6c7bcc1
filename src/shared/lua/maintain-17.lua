--[[ maintain: recovers tasks whose lease expired, promotes delayed tasks that are due, and
forgets workers that stopped sending heartbeats. Any worker may run it at any time.
KEYS[1] wait  KEYS[2] active  KEYS[3] lease  KEYS[4] marker  KEYS[5] delayed  KEYS[6] data
KEYS[7] dead  KEYS[8] meta  KEYS[9] errors  KEYS[10] workers  KEYS[11] winfo  KEYS[12] config
KEYS[13] progress (HASH id -> last progress JSON; cleared for recovered tasks)
KEYS[14] prio (ZSET id -> priority score of waiting prioritized tasks)
KEYS[15] groups (ZSET id -> virtual-time score of waiting grouped tasks)
KEYS[16] gstate (HASH group -> score of its last queued task)
KEYS[17] gactive (HASH group -> its tasks running now)
ARGV[1] now, ARGV[2] max tasks to move of each kind, ARGV[3] worker staleness (ms)
Returns {recovered, promoted, dead, nextDue}: nextDue is the earliest lease deadline or due
time still pending (ms), or -1 when there is none.
A recovered task goes back to the front of the queue with one attempt counted; when that was
its last attempt it is dead-lettered with the error "lease expired".
]]
--@include lease
--@include record
--@include history
--@include notify
--@include groups
--@include waiting
--@include config
--@include retention
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local Q = {
  wait = KEYS[1], delayed = KEYS[5], data = KEYS[6], meta = KEYS[8], prio = KEYS[14], groups = KEYS[15], gstate = KEYS[16], gactive = KEYS[17],
}
local recovered, promoted, died = 0, 0, 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[3], member)
  local id, leaseToken = rt_unmember(member)
  local cur = redis.call('HGET', KEYS[2], id)
  local token, e
  if cur then token, e = rt_entry(cur) end
  -- The entry is this lease's (a member without a token is the lease of no task).
  if cur and token == leaseToken then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[13], id)
    rt_group_done(Q, e)
    local _, made, max = rt_head(e)
    local owner = string.match(token, '^([^.]*)') or ''
    e = rt_bump(e, id, made)
    local attempt = tonumber(made) + 1
    local failure = '{"attempt":' .. attempt .. ',"at":' .. now ..
      ',"error":"lease expired: worker ' .. owner .. ' stopped renewing it","worker":"' .. owner .. '"}'
    rt_append_error(KEYS[9], id, failure)
    if attempt >= tonumber(max) then
      died = died + 1
      rt_notify(KEYS[8], id, e, 'dead', failure)
      redis.call('HSET', KEYS[6], id, e)
      redis.call('ZADD', KEYS[7], now, id)
    else
      recovered = recovered + 1
      rt_requeue(Q, id, e, true)
    end
  end
end
promoted = rt_promote(Q, now, limit)
if recovered + promoted > 0 then redis.call('ZADD', KEYS[4], 0, 'm') end
if recovered > 0 then redis.call('HINCRBY', KEYS[8], 'recovered', recovered) end
if died > 0 then
  redis.call('HINCRBY', KEYS[8], 'failed', died)
  local _, _, keepD, ageD = rt_retention(KEYS[12])
  rt_trim(KEYS[7], keepD, ageD, now, KEYS[6], KEYS[6], KEYS[9])
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', now - tonumber(ARGV[3]))
if #stale > 0 then
  redis.call('ZREM', KEYS[10], unpack(stale))
  redis.call('HDEL', KEYS[11], unpack(stale))
end
local nextDue = -1
local l = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if l[2] and l[1] ~= RT_LEASE_PIN then nextDue = tonumber(l[2]) end
local d = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
if d[2] and (nextDue < 0 or tonumber(d[2]) < nextDue) then nextDue = tonumber(d[2]) end
return {recovered, promoted, died, nextDue}
