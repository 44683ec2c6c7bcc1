-- config: a queue's settings (the config HASH), with their defaults.
-- Provides: rt_config, rt_retention.

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
