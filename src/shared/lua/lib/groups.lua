-- groups: fair groups. Grouped tasks wait in the groups ZSET scored by a virtual time (meta
-- field vt); gactive counts each group's running tasks, grate the tasks each group started per
-- rate window.
-- Provides: rt_group_score, rt_group_done, rt_take_groups.
--@include record

-- A group's next task is scored one past the later of its own last score and the virtual time
-- (the score of the task taken last), so every group gets one turn per round however many
-- tasks it queued.
local function rt_group_score(Q, group, front)
  local vt = tonumber(redis.call('HGET', Q.meta, 'vt') or '0')
  if front then return vt end
  local s = math.max(tonumber(redis.call('HGET', Q.gstate, group) or '0'), vt) + 1
  redis.call('HSET', Q.gstate, group, s)
  return s
end

-- Counts a grouped task that stopped running (settled, recovered, cancelled) in gactive.
local function rt_group_done(Q, e)
  local g = rt_group(e)
  if g ~= '' and redis.call('HINCRBY', Q.gactive, g, -1) <= 0 then redis.call('HDEL', Q.gactive, g) end
end

-- Takes up to `count` grouped tasks, round robin across groups, and advances the virtual time.
-- With groupMaxActive set, a group at its limit is passed over: the next 200 entries are looked
-- at (one per group per round, so that covers many rounds), and skipped tasks keep their place.
-- groupRateMax / groupRateWindowMs likewise cap the tasks each group starts per window (counted
-- in grate as "<group>:<window number>"); when that holds tasks back, the marker member "d"
-- gets the end of the window.
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
        -- An id without a record (its record deleted by hand, or lost) would hold a place among
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
