-- keys: the key names of a queue, built from its prefix (for the task path's scripts).
-- Provides: rt_keys.

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
