-- history: a task's attempt history, a JSON array per task in the errors HASH.
-- Provides: rt_append_error.

-- Appends one JSON object to the task's attempt history.
local function rt_append_error(key, id, entry)
  local h = redis.call('HGET', key, id)
  if h then
    h = string.sub(h, 1, -2) .. ',' .. entry .. ']'
  else
    h = '[' .. entry .. ']'
  end
  redis.call('HSET', key, id, h)
end
