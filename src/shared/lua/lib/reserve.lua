-- Takes up to `count` waiting tasks (oldest first) and leases them to the caller.
-- Each gets a lease deadline in the lease ZSET and its fencing token in the active HASH
-- (value "<token>|<record>"). A record whose head cannot be parsed is moved to the corrupt
-- LIST instead of being handed out. When tasks remain, the marker is set again so that
-- another idle worker wakes up too. Delayed tasks that are due are promoted first, so a busy
-- worker picks them up on time without waiting for its maintenance timer.
-- retry: the caller sends this token again because it never saw the reply of an earlier call
-- (the connection dropped); the tasks that call leased under this token are returned first, so
-- a lost reply strands nothing. O(active), and only on such retries.
local function rt_reserve(waitKey, activeKey, leaseKey, markerKey, corruptKey, delayedKey, dataKey, prioKey, now, leaseMs, count, token, retry)
  local out = {}
  if retry then
    local prefix = token .. '|'
    local all = redis.call('HGETALL', activeKey)
    for i = 2, #all, 2 do
      if string.sub(all[i], 1, #prefix) == prefix then out[#out + 1] = string.sub(all[i], #prefix + 1) end
    end
    count = count - #out
  end
  if count <= 0 then return out end
  rt_promote(delayedKey, dataKey, waitKey, prioKey, now, 1000)
  -- Positive priorities first, then priority 0 (the list), then negative priorities.
  local els = rt_take_prio(prioKey, dataKey, '-inf', '(0', count)
  if #els < count then
    local more = redis.call('RPOP', waitKey, count - #els)
    if more then
      for i = 1, #more do els[#els + 1] = more[i] end
    end
    if #els < count then
      local low = rt_take_prio(prioKey, dataKey, '(0', '+inf', count - #els)
      for i = 1, #low do els[#els + 1] = low[i] end
    end
  end
  if #els == 0 then return out end
  local deadline = now + leaseMs
  local act, lease = {}, {}
  for i = 1, #els do
    local e = els[i]
    local id = rt_head(e)
    if id then
      act[#act + 1] = id
      act[#act + 1] = token .. '|' .. e
      lease[#lease + 1] = deadline
      lease[#lease + 1] = id
      out[#out + 1] = e
    else
      redis.call('RPUSH', corruptKey, e)
    end
  end
  if #act > 0 then
    redis.call('HSET', activeKey, unpack(act))
    redis.call('ZADD', leaseKey, unpack(lease))
  end
  if #els == count and (redis.call('LLEN', waitKey) > 0 or redis.call('ZCARD', prioKey) > 0) then
    redis.call('ZADD', markerKey, 0, 'm')
  end
  return out
end
