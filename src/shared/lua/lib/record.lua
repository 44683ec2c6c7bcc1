-- Helpers shared by the scripts (inlined by the loader where a script says `--@include record`).
--
-- A task record is one string: "<id>|<made>|<max>|<publishedAt>|<name>|<opts>|<data>".
-- made = attempts that ended without success, max = attempts allowed. Only the head is ever
-- parsed here; the body after it belongs to the client.

-- An integer as the string redis.call() is given. Redis 7.0 turns a Lua number argument into
-- a string with "%.17g", which costs several times more than "%d": on the hot path every
-- number handed to redis.call() goes through this.
local function rt_int(n)
  return string.format('%d', n)
end

-- The keys of a queue from its prefix "rt:{<queue>}:": Q.wait is "rt:{<queue>}:wait". The
-- scripts on the hot path take the prefix instead of a list of keys (fewer arguments to encode,
-- send and parse on every call); the keys every call uses are built at once, the others the
-- first time they are used. Run as a Redis Function (see scripts.ts), the library keeps them
-- between calls, for up to 1,000 queues (then it starts afresh); an EVAL starts empty each time.
local RT_KEYS, RT_NKEYS = {}, 0
local function rt_keys(p)
  local Q = RT_KEYS[p]
  if Q then return Q end
  Q = setmetatable({
    wait = p .. 'wait', active = p .. 'active', lease = p .. 'lease', meta = p .. 'meta',
    config = p .. 'config', delayed = p .. 'delayed', prio = p .. 'prio', groups = p .. 'groups',
  }, { __index = function(t, name)
    local k = p .. name
    rawset(t, name, k)
    return k
  end })
  if RT_NKEYS >= 1000 then RT_KEYS, RT_NKEYS = {}, 0 end
  RT_KEYS[p] = Q
  RT_NKEYS = RT_NKEYS + 1
  return Q
end

-- A member that stays in every lease ZSET (score +inf, so it never expires). It is longer than
-- zset-max-listpack-value (64 bytes), which keeps the ZSET in its skiplist encoding: in the
-- listpack encoding, used below 129 entries, each ZADD and ZREM moves the whole list, and with
-- tens of tasks leased per call that was a quarter of the finish script's time. Readers of the
-- lease ZSET skip it (LEASE_PIN in keys.ts).
local RT_LEASE_PIN = '~pin: keeps this sorted set in its skiplist encoding (fast inserts); it is not a task'

local function rt_head(e)
  return string.match(e, '^(%d+)|(%d+)|(%d+)|')
end

-- The id alone (one capture instead of three: fewer strings made on the hot path).
local function rt_id(e)
  return string.match(e, '^(%d+)|%d+|%d+|')
end

-- The entry of a leased task in `active` ("<token>|<record>") holds the lease of `token`:
-- compared in place, without building "<token>|".
local function rt_held(cur, token)
  return cur and string.byte(cur, #token + 1) == 124 and string.find(cur, token, 1, true) == 1
end

-- The token and the record of an entry in `active`.
local function rt_entry(cur)
  local bar = string.find(cur, '|', 1, true)
  return string.sub(cur, 1, bar - 1), string.sub(cur, bar + 1)
end

-- A member of the lease ZSET: "<id>|<token>", the task and the token of the lease.
local function rt_member(id, token)
  return id .. '|' .. token
end

-- The id and token of a lease member; the token is nil for a bare id (a member written by an
-- older redtask, which leased whatever entry `active` had for that id).
local function rt_unmember(m)
  local bar = string.find(m, '|', 1, true)
  if not bar then return m, nil end
  return string.sub(m, 1, bar - 1), string.sub(m, bar + 1)
end

-- Adds a completed task to what is kept of it: kept[1] the data HASH's (id, record) pairs,
-- kept[2] the results HASH's (id, result), kept[3] the completed ZSET's (finishedAt, id).
local function rt_keep(kept, id, e, value, now)
  local d, r, z, x = kept[1], kept[2], kept[3], #kept[1]
  d[x + 1], d[x + 2], r[x + 1], r[x + 2], z[x + 1], z[x + 2] = id, e, id, value, now, id
end

-- The same record with one more attempt counted as made.
local function rt_bump(e, id, made)
  return id .. '|' .. (tonumber(made) + 1) .. '|' .. string.sub(e, #id + #made + 3)
end

-- Appends one JSON object to the task's attempt history (a JSON array kept per task).
local function rt_append_error(key, id, entry)
  local h = redis.call('HGET', key, id)
  if h then
    h = string.sub(h, 1, -2) .. ',' .. entry .. ']'
  else
    h = '[' .. entry .. ']'
  end
  redis.call('HSET', key, id, h)
end

-- Removes every trace of finished tasks from the side hashes.
local function rt_forget(ids, dataKey, resultsKey, errorsKey)
  if #ids == 0 then return end
  redis.call('HDEL', dataKey, unpack(ids))
  redis.call('HDEL', resultsKey, unpack(ids))
  redis.call('HDEL', errorsKey, unpack(ids))
end

-- Keeps a finished-set (ZSET id -> finishedAt) within `keep` entries and `age` ms.
-- Bounded work per call: at most 1,000 removals of each kind.
local function rt_trim(zkey, keep, age, now, dataKey, resultsKey, errorsKey)
  local over = redis.call('ZCARD', zkey) - keep
  if over > 0 then
    local popped = redis.call('ZPOPMIN', zkey, math.min(over, 1000))
    local ids = {}
    for i = 1, #popped, 2 do ids[#ids + 1] = popped[i] end
    rt_forget(ids, dataKey, resultsKey, errorsKey)
  end
  if age > 0 then
    local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', now - age, 'LIMIT', 0, 1000)
    if #old > 0 then
      redis.call('ZREM', zkey, unpack(old))
      rt_forget(old, dataKey, resultsKey, errorsKey)
    end
  end
end

-- Reads a queue's settings, with the defaults used when none are configured. HGETALL returns
-- only the fields that are set (usually none or one), which costs less than asking for each.
-- Run as a Redis Function, the library keeps the settings it read last for each queue (up to
-- 1,000 queues), with the HGETALL reply they came from: when the reply is the same (Lua's
-- strings are interned, so comparing is cheap), the same table is returned instead of building
-- it again. Callers only read it.
local RT_CFG, RT_NCFG = {}, 0
local function rt_config(configKey)
  local all = redis.call('HGETALL', configKey)
  local hit = RT_CFG[configKey]
  if hit then
    local was = hit[1]
    if #was == #all then
      local same = true
      for i = 1, #all do
        if was[i] ~= all[i] then
          same = false
          break
        end
      end
      if same then return hit[2] end
    end
  end
  local c = {
    keepC = 1000, ageC = 86400000, keepD = 10000, ageD = 604800000, paused = false,
    maxActive = 0, rateMax = 0, rateWindow = 0, groupMaxActive = 0, groupRateMax = 0, groupRateWindow = 0,
  }
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    if f == 'paused' then c.paused = v == '1'
    elseif f == 'keepCompleted' then c.keepC = tonumber(v) or c.keepC
    elseif f == 'keepCompletedMs' then c.ageC = tonumber(v) or c.ageC
    elseif f == 'keepDead' then c.keepD = tonumber(v) or c.keepD
    elseif f == 'keepDeadMs' then c.ageD = tonumber(v) or c.ageD
    elseif f == 'maxActive' then c.maxActive = tonumber(v) or 0
    elseif f == 'rateMax' then c.rateMax = tonumber(v) or 0
    elseif f == 'rateWindowMs' then c.rateWindow = tonumber(v) or 0
    elseif f == 'groupMaxActive' then c.groupMaxActive = tonumber(v) or 0
    elseif f == 'groupRateMax' then c.groupRateMax = tonumber(v) or 0
    elseif f == 'groupRateWindowMs' then c.groupRateWindow = tonumber(v) or 0
    end
  end
  if not hit then
    if RT_NCFG >= 1000 then RT_CFG, RT_NCFG = {}, 0 end
    RT_NCFG = RT_NCFG + 1
  end
  RT_CFG[configKey] = { all, c }
  return c
end

-- The retention settings alone: keepCompleted, keepCompletedMs, keepDead, keepDeadMs.
local function rt_retention(configKey)
  local c = rt_config(configKey)
  return c.keepC, c.ageC, c.keepD, c.ageD
end

-- Priorities: a task of priority 0 waits in the wait LIST; any other priority waits in the prio
-- ZSET (id -> score, record in the data HASH). Higher priority has the lower score; within a
-- priority the lower id (published earlier) comes first. Priorities lie in -100..100.
local function rt_priority(e)
  local opts = string.match(e, '^%d+|%d+|%d+|%d+|[^|]*|([^|]*)|')
  if not opts or opts == '' then return 0 end
  return tonumber(string.match(opts, '"p":(%-?%d+)')) or 0
end

local function rt_prio_score(p, id)
  return string.format('%.0f', -p * 10000000000000 + tonumber(id))
end

-- Tells a publisher that waits (--wait) how its task ended: PUBLISH "<id> <state>" on the
-- queue's events channel, for records published with the wait flag ("w":1) only. `value`, when
-- given, follows after a space: a completed task's result JSON, a dead one's last error entry.
local function rt_notify(metaKey, id, e, state, value)
  local opts = string.match(e, '^%d+|%d+|%d+|%d+|[^|]*|([^|]*)|')
  if opts and string.find(opts, '"w":1', 1, true) then
    local message = id .. ' ' .. state
    if value then message = message .. ' ' .. value end
    redis.call('PUBLISH', string.sub(metaKey, 1, -5) .. 'events', message)
  end
end

-- The group of a record ("" when it has none), from its options.
local function rt_group(e)
  local opts = string.match(e, '^%d+|%d+|%d+|%d+|[^|]*|([^|]*)|')
  if not opts or opts == '' then return '' end
  return string.match(opts, '"g":"([^"]*)"') or ''
end

-- Fair groups: grouped tasks wait in the groups ZSET scored by a virtual time. A group's next
-- task is scored one past the later of its own last score and the virtual time (the score of
-- the task taken last), so every group gets one turn per round however many tasks it queued.
local function rt_group_score(Q, group, front)
  local vt = tonumber(redis.call('HGET', Q.meta, 'vt') or '0')
  if front then return vt end
  local s = math.max(tonumber(redis.call('HGET', Q.gstate, group) or '0'), vt) + 1
  redis.call('HSET', Q.gstate, group, s)
  return s
end

-- Adds a record to the waiting tasks: by group, by priority, or to the list (front or back).
-- Q holds the queue's keys (wait, prio, data, groups, gstate, meta).
local function rt_enqueue(Q, id, e, priority, group, front)
  if group ~= '' then
    redis.call('ZADD', Q.groups, rt_group_score(Q, group, front), id)
    redis.call('HSET', Q.data, id, e)
  elseif priority ~= 0 then
    redis.call('ZADD', Q.prio, rt_prio_score(priority, id), id)
    redis.call('HSET', Q.data, id, e)
  elseif front then
    redis.call('RPUSH', Q.wait, e)
  else
    redis.call('LPUSH', Q.wait, e)
  end
end

-- Puts a record back among the waiting tasks, keeping its group and priority.
local function rt_requeue(Q, id, e, front)
  rt_enqueue(Q, id, e, rt_priority(e), rt_group(e), front)
end

-- Takes up to `count` prioritized tasks with scores in [min, max], best first.
local function rt_take_prio(Q, min, max, count)
  local ids = redis.call('ZRANGEBYSCORE', Q.prio, min, max, 'LIMIT', '0', rt_int(count))
  local out = {}
  if #ids == 0 then return out end
  redis.call('ZREM', Q.prio, unpack(ids))
  local els = redis.call('HMGET', Q.data, unpack(ids))
  redis.call('HDEL', Q.data, unpack(ids))
  for i = 1, #ids do
    if els[i] then out[#out + 1] = els[i] end
  end
  return out
end

-- Counts a grouped task that stopped running (settled, recovered, cancelled) in gactive.
local function rt_group_done(Q, e)
  local g = rt_group(e)
  if g ~= '' and redis.call('HINCRBY', Q.gactive, g, -1) <= 0 then redis.call('HDEL', Q.gactive, g) end
end

-- Takes up to `count` grouped tasks, round robin across groups, and advances the virtual time.
-- gactive counts each group's running tasks; with groupMaxActive set, a group at its limit is
-- passed over: the next 200 entries are looked at (one per group per round, so that covers
-- many rounds), and skipped tasks keep their place. groupRateMax / groupRateWindowMs likewise
-- cap the tasks each group starts per window (counted in grate as "<group>:<window number>");
-- when that holds tasks back, the marker member "d" gets the end of the window.
local function rt_take_groups(Q, count, cfg, now)
  local out = {}
  if count <= 0 then return out end
  local ids, started = {}, {}
  local capActive = cfg.groupMaxActive > 0
  local capRate = cfg.groupRateMax > 0 and cfg.groupRateWindow > 0
  local win = capRate and math.floor(now / cfg.groupRateWindow) or 0
  if capActive or capRate then
    local cand = redis.call('ZRANGE', Q.groups, 0, 199, 'WITHSCORES')
    if #cand == 0 then return out end
    local cids = {}
    for i = 1, #cand, 2 do cids[#cids + 1] = cand[i] end
    local recs = redis.call('HMGET', Q.data, unpack(cids))
    local active, used = {}, {}
    local vt
    local rateHeld = false
    local ghosts
    for i = 1, #cids do
      if #ids >= count then break end
      local e = recs[i]
      if not e then
        -- An id without a record (left by an older redtask's delete) would hold a place among
        -- the candidates for ever: drop it.
        ghosts = ghosts or {}
        ghosts[#ghosts + 1] = cids[i]
      else
        local g = rt_group(e)
        if capActive and active[g] == nil then active[g] = tonumber(redis.call('HGET', Q.gactive, g) or '0') end
        if capRate and used[g] == nil then used[g] = tonumber(redis.call('HGET', Q.grate, g .. ':' .. win) or '0') end
        local okActive = not capActive or active[g] < cfg.groupMaxActive
        local okRate = not capRate or used[g] < cfg.groupRateMax
        if okActive and not okRate then rateHeld = true end
        if okActive and okRate then
          if capActive then active[g] = active[g] + 1 end
          if capRate then used[g] = used[g] + 1 end
          started[g] = (started[g] or 0) + 1
          ids[#ids + 1] = cids[i]
          out[#out + 1] = e
          vt = cand[i * 2]
        end
      end
    end
    if ghosts then redis.call('ZREM', Q.groups, unpack(ghosts)) end
    if rateHeld then redis.call('ZADD', Q.marker, 'LT', (win + 1) * cfg.groupRateWindow, 'd') end
    if #ids == 0 then return out end
    redis.call('ZREM', Q.groups, unpack(ids))
    redis.call('HSET', Q.meta, 'vt', vt)
  else
    local popped = redis.call('ZPOPMIN', Q.groups, count)
    if #popped == 0 then return out end
    for i = 1, #popped, 2 do ids[#ids + 1] = popped[i] end
    redis.call('HSET', Q.meta, 'vt', popped[#popped])
    local els = redis.call('HMGET', Q.data, unpack(ids))
    for i = 1, #ids do
      if els[i] then
        out[#out + 1] = els[i]
        local g = rt_group(els[i])
        started[g] = (started[g] or 0) + 1
      end
    end
  end
  redis.call('HDEL', Q.data, unpack(ids))
  for g, n in pairs(started) do
    redis.call('HINCRBY', Q.gactive, g, n)
    if capRate and redis.call('HINCRBY', Q.grate, g .. ':' .. win, n) == n then
      -- A new window for this group: the previous window's count is of no use any more.
      redis.call('HDEL', Q.grate, g .. ':' .. (win - 1))
    end
  end
  return out
end

-- Moves up to `limit` delayed tasks whose due time has come to the back of the queue.
local function rt_promote(Q, now, limit)
  local due = redis.call('ZRANGEBYSCORE', Q.delayed, '-inf', rt_int(now), 'LIMIT', '0', rt_int(limit))
  if #due == 0 then return 0 end
  redis.call('ZREM', Q.delayed, unpack(due))
  local els = redis.call('HMGET', Q.data, unpack(due))
  redis.call('HDEL', Q.data, unpack(due))
  local promoted = 0
  for i = 1, #due do
    if els[i] then
      rt_requeue(Q, due[i], els[i], false)
      promoted = promoted + 1
    end
  end
  return promoted
end
