--[[ repair: sets aside what does not fit a queue's structure, so that its scripts run again.
Called by a worker after a script of the queue failed with an error that bad data in Redis can
cause (a key of the wrong type, a counter that is not a number), and by fsck. It reads every key
of the queue once: O(fields of meta, config, gstate, gactive and grate).
The queue's keys (repairKeys in src/shared/repair.ts):
KEYS[1] meta, KEYS[2] config, KEYS[3] wait, KEYS[4] active, KEYS[5] lease, KEYS[6] marker,
KEYS[7] corrupt, KEYS[8] delayed, KEYS[9] prio, KEYS[10] idem, KEYS[11] idemexp, KEYS[12] data,
KEYS[13] completed, KEYS[14] results, KEYS[15] dead, KEYS[16] cancelled, KEYS[17] rate, KEYS[18]
groups, KEYS[19] gstate, KEYS[20] gactive, KEYS[21] grate, KEYS[22] errors, KEYS[23] progress,
KEYS[24] workers, KEYS[25] winfo, KEYS[26] schedules, KEYS[27] schedtask, KEYS[28] schedstate,
KEYS[29] schednext;
KEYS[30] the queue's quarantine HASH ("<key> <field>" or "<key>" -> what was set aside).
ARGV[1] .. ARGV[29]: the Redis type each of those 29 keys must have (hash, list, zset, string).
- A key of another type is renamed to "<key>:quarantined" (replacing an earlier one there).
- meta: a field that is not an integer (vt: not a finite number) is moved to the quarantine hash
  and reset: seq to Redis's time in ms (above every id handed out so far), the others to 0.
- config: a setting that is not a whole number from 0 to 2^53 (paused: not 0 or 1) is moved to
  the quarantine hash and removed, so that its default applies.
- gactive, grate: a count that is not a whole number is moved and removed (gstate: a score that
  is not a finite number). rate: a count that is not a whole number is deleted.
Returns one line per thing set aside: "<key>: <what>".
]]
local done = {}
local function aside(key, field, value, why)
  redis.call('HSET', KEYS[30], field and (key .. ' ' .. field) or key, value)
  done[#done + 1] = key .. (field and (' ' .. field) or '') .. ': ' .. why
end

local function isInt(v, lo)
  if type(v) ~= 'string' or #v > 16 or not string.match(v, '^%-?%d+$') then return false end
  return lo == nil or tonumber(v) >= lo
end

local function isNum(v)
  local n = tonumber(v)
  return n ~= nil and n == n and n ~= math.huge and n ~= -math.huge
end

local TYPED = {
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8],
  KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16],
  KEYS[17], KEYS[18], KEYS[19], KEYS[20], KEYS[21], KEYS[22], KEYS[23], KEYS[24],
  KEYS[25], KEYS[26], KEYS[27], KEYS[28], KEYS[29],
}
for i, key in ipairs(TYPED) do
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= ARGV[i] then
    redis.call('RENAME', key, key .. ':quarantined')
    done[#done + 1] = key .. ': a ' .. t .. ', not a ' .. ARGV[i] .. '; renamed to ' .. key .. ':quarantined'
  end
end

local function each(key, check, reset)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then return end
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    if not check(f, v) then
      aside(key, f, v, 'not a valid value (' .. string.sub(v, 1, 40) .. '); ' .. reset(f))
    end
  end
end

local meta, config = KEYS[1], KEYS[2]
each(meta, function(f, v)
  if f == 'vt' then return isNum(v) end
  return isInt(v)
end, function(f)
  if f == 'seq' then
    local t = redis.call('TIME')
    local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('HSET', meta, 'seq', string.format('%d', ms))
    return 'ids go on from ' .. string.format('%d', ms)
  end
  redis.call('HSET', meta, f, 0)
  return 'reset to 0'
end)
each(config, function(f, v)
  if f == 'paused' then return v == '0' or v == '1' end
  return isInt(v, 0) and tonumber(v) <= 9007199254740992
end, function(f)
  redis.call('HDEL', config, f)
  return 'removed: its default applies'
end)
for _, key in ipairs({ KEYS[20], KEYS[21] }) do
  each(key, function(_, v) return isInt(v) end, function(f)
    redis.call('HDEL', key, f)
    return 'removed'
  end)
end
each(KEYS[19], function(_, v) return isNum(v) end, function(f)
  redis.call('HDEL', KEYS[19], f)
  return 'removed'
end)
if redis.call('TYPE', KEYS[17])['ok'] == 'string' then
  local v = redis.call('GET', KEYS[17])
  if not isInt(v) then
    redis.call('DEL', KEYS[17])
    aside(KEYS[17], nil, v, 'deleted')
  end
end
return done
