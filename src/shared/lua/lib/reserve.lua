-- reserve: leasing waiting tasks to a worker, for the reserve and finish scripts.
-- Provides: rt_reserve.
--@include int
--@include record
--@include lease
--@include prio
--@include groups
--@include waiting

-- Takes up to `count` waiting tasks (oldest first) and leases them to the caller.
-- Each gets a lease deadline in the lease ZSET (member "<id>|<token>") and its fencing token in
-- the active HASH (value "<token>|<record>"). A record whose head cannot be parsed is moved to the corrupt
-- LIST instead of being handed out. When tasks remain, the marker is set again so that
-- another idle worker wakes up too. Delayed tasks that are due are promoted first, so a busy
-- worker picks them up on time without waiting for its maintenance timer.
-- retry: the caller sends this token again because it never saw the reply of an earlier call
-- (the connection dropped); the tasks that call leased under this token are returned first, so
-- a lost reply strands nothing. O(active), and only on such retries.
-- Limits (cfg from rt_config): paused leases nothing; maxActive caps the tasks active across all
-- workers; rateMax/rateWindow caps the tasks started per window (a counter that expires with
-- the window). When a limit holds tasks back, the marker member "d" gets the time the window
-- ends, so that an idle worker comes back then.
-- Q holds the queue's keys: wait, active, lease, marker, corrupt, delayed, data, prio, rate,
-- groups, gstate, gactive, grate, meta.
-- now: the time (ms, as sent); deadline: the lease deadline (ms, a string ready for ZADD);
-- count: how many to lease, and countArg the same number as the string the caller was sent (or
-- nil); out: the table the records are appended to (returned).
-- wake: the caller took the marker to get here (reserve, or the first call after a wake-up), so
-- when tasks remain it sets the marker again for the next idle worker. A busy worker's finish
-- call does not: it never took the marker, so whoever did passes the wake-up on.
local function rt_reserve(Q, cfg, now, deadline, count, countArg, token, retry, wake, out)
  if retry then
    local prefix = token .. '|'
    local all = redis.call('HGETALL', Q.active)
    for i = 2, #all, 2 do
      if string.sub(all[i], 1, #prefix) == prefix then
        out[#out + 1] = string.sub(all[i], #prefix + 1)
        count = count - 1
        countArg = nil
      end
    end
  end
  if cfg.paused then return out end
  if cfg.maxActive > 0 and count > 0 then
    local room = cfg.maxActive - redis.call('HLEN', Q.active)
    if room < count then
      count = math.max(room, 0)
      countArg = nil
    end
  end
  local limitedByRate = false
  if cfg.rateMax > 0 and count > 0 then
    local room = cfg.rateMax - (tonumber(redis.call('GET', Q.rate)) or 0)
    if room < count then
      count = math.max(room, 0)
      countArg = nil
      limitedByRate = true
      local ttl = redis.call('PTTL', Q.rate)
      if ttl < 0 then
        redis.call('PEXPIRE', Q.rate, cfg.rateWindow)
        ttl = cfg.rateWindow
      end
      redis.call('ZADD', Q.marker, 'LT', now + ttl, 'd')
    end
  end
  if count <= 0 then return out end
  -- A plain queue (nothing delayed, prioritized or grouped) is served from the wait LIST alone,
  -- after one EXISTS instead of a lookup in each of the other three.
  local others = redis.call('EXISTS', Q.delayed, Q.prio, Q.groups) > 0
  local els
  if not others then
    els = redis.call('RPOP', Q.wait, countArg or rt_int(count)) or {}
  else
    rt_promote(Q, now, 1000)
    -- Positive priorities first; then grouped and plain tasks (half of the slots each when both
    -- wait, so neither starves the other); then negative priorities.
    els = rt_take_prio(Q, '-inf', '(0', count)
    local need = count - #els
    if need > 0 then
      local fromGroups = 0
      if redis.call('EXISTS', Q.groups) == 1 then
        if need > 1 then fromGroups = math.floor(need / 2)
        elseif redis.call('HINCRBY', Q.meta, 'turn', 1) % 2 == 0 then fromGroups = 1 end
      end
      local more = rt_take_groups(Q, fromGroups, cfg, now)
      for i = 1, #more do els[#els + 1] = more[i] end
      if #els < count then
        more = redis.call('RPOP', Q.wait, rt_int(count - #els))
        if more then
          for i = 1, #more do els[#els + 1] = more[i] end
        end
      end
      if #els < count then
        more = rt_take_groups(Q, count - #els, cfg, now)
        for i = 1, #more do els[#els + 1] = more[i] end
      end
      if #els < count then
        more = rt_take_prio(Q, '(0', '+inf', count - #els)
        for i = 1, #more do els[#els + 1] = more[i] end
      end
    end
  end
  if #els == 0 then return out end
  local act, lease = {}, { '+inf', RT_LEASE_PIN }
  for i = 1, #els do
    local e = els[i]
    local id = rt_id(e)
    if id then
      act[#act + 1] = id
      act[#act + 1] = token .. '|' .. e
      lease[#lease + 1] = deadline
      lease[#lease + 1] = id .. '|' .. token -- rt_member, inlined: once per task
      out[#out + 1] = e
    else
      redis.call('RPUSH', Q.corrupt, e)
    end
  end
  if #act > 0 then
    redis.call('HSET', Q.active, unpack(act))
    redis.call('ZADD', Q.lease, unpack(lease))
    if cfg.rateMax > 0 then
      local taken = #act / 2
      if redis.call('INCRBY', Q.rate, taken) == taken then redis.call('PEXPIRE', Q.rate, cfg.rateWindow) end
    end
  end
  if #els == count and not limitedByRate and (wake or others)
    and (redis.call('LLEN', Q.wait) > 0 or (others and redis.call('EXISTS', Q.prio, Q.groups) > 0)) then
    redis.call('ZADD', Q.marker, '0', 'm')
  end
  return out
end
