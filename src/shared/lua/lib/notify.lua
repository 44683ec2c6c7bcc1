-- notify: tells a publisher that waits (--wait) how its task ended.
-- Provides: rt_notify.

-- PUBLISH "<id> <state>" on the queue's events channel, for records published with the wait
-- flag ("w":1) only. `value`, when given, follows after a space: a completed task's result
-- JSON, a dead one's last error entry.
local function rt_notify(metaKey, id, e, state, value)
  local opts = string.match(e, '^%d+|%d+|%d+|%d+|[^|]*|([^|]*)|')
  if opts and string.find(opts, '"w":1', 1, true) then
    local message = id .. ' ' .. state
    if value then message = message .. ' ' .. value end
    redis.call('PUBLISH', string.sub(metaKey, 1, -5) .. 'events', message)
  end
end
