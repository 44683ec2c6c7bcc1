-- lease: the formats of a lease, the entry "<token>|<record>" of a leased task in `active` and
-- the member "<id>|<token>" of the lease ZSET, and the pin that every lease ZSET holds.
-- Provides: RT_LEASE_PIN, rt_held, rt_entry, rt_member, rt_unmember.

-- A member that stays in every lease ZSET (score +inf, so it never expires). It is longer than
-- zset-max-listpack-value (64 bytes), which keeps the ZSET in its skiplist encoding: in the
-- listpack encoding, used below 129 entries, each ZADD and ZREM moves the whole list, and with
-- tens of tasks leased per call that was a quarter of the finish script's time. Readers of the
-- lease ZSET skip it (LEASE_PIN in keys.ts).
local RT_LEASE_PIN = '~pin: keeps this sorted set in its skiplist encoding (fast inserts); it is not a task'

-- The entry of a leased task in `active` ("<token>|<record>") holds the lease of `token`:
-- compared in place, without building "<token>|".
local function rt_held(cur, token)
  return cur and string.byte(cur, #token + 1) == 124 and string.find(cur, token, 1, true) == 1
end

-- The token and the record of an entry in `active`. An entry without a token (not written by
-- redtask) is held by no token: its record is the whole entry, set aside when next reserved.
local function rt_entry(cur)
  local bar = string.find(cur, '|', 1, true)
  if not bar then return '', cur end
  return string.sub(cur, 1, bar - 1), string.sub(cur, bar + 1)
end

-- A member of the lease ZSET: "<id>|<token>", the task and the token of the lease.
local function rt_member(id, token)
  return id .. '|' .. token
end

-- The id and token of a lease member; the token is nil for a member without one, which is the
-- lease of no task (a malformed member).
local function rt_unmember(m)
  local bar = string.find(m, '|', 1, true)
  if not bar then return m, nil end
  return string.sub(m, 1, bar - 1), string.sub(m, bar + 1)
end
