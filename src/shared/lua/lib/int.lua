-- int: integers as the strings redis.call() is given.
-- Provides: rt_int.

-- Redis 7.0 turns a Lua number argument into a string with "%.17g", which costs several times
-- more than "%d": on the hot path every number handed to redis.call() goes through this.
local function rt_int(n)
  return string.format('%d', n)
end
