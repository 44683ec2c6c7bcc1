--[[ finish: settles a batch of leased tasks and leases new ones in the same round trip.
KEYS[1] the queue's key prefix "rt:{<queue>}:". The keys are that prefix and a name (all in the
  queue's hash slot), built here when used rather than sent with every call, which on this hot
  path would cost more than the script's own work: wait, active (HASH id -> "<token>|<record>"),
  lease (ZSET id -> deadline), marker, corrupt, meta (counters), data, completed (ZSET id ->
  finishedAt), results (HASH id -> result JSON), dead (ZSET id -> diedAt), delayed, errors (HASH
  id -> JSON array of failed attempts), config (retention settings and limits), progress,
  stats:<second of ARGV[1]> (HASH completed/failed counts, expires after 1 h), prio, rate, groups,
  gstate, gactive, grate.
ARGV[1] now, ARGV[2] lease (ms), ARGV[3] how many to lease, ARGV[4] token for new leases,
ARGV[5] "1" when the new-lease token is sent again after a lost reply (see rt_reserve), else "0"
ARGV[6] n settlements (at most 1,000), then 5 values each: id, token, kind, value, at
  kind is a letter, then optional flags: p = the task reported progress (clear it),
  e = the task has errors of earlier attempts (clear them when no completed task is kept)
  n = a publisher waits for it: announce the outcome on rt:{q}:events ("<id> <state>")
  g = it belongs to a fair group: count it out of gactive
  c = completed (value = result JSON)
       r = failed, retry at `at` (value = attempt error JSON)
       d = failed for good, dead-lettered (value = attempt error JSON)
       q = handed back unstarted or unfinished, no attempt counted (front of the queue)
ARGV[7 + 5n] g groups of plain completions (kind "c" without flags, result null), then for each
  group its token, its number of ids k and the k ids: one argument per task instead of five
Returns {statuses, records}: statuses[i] = 1 when settlement i (the n first, then the plain
completions in the order sent) held the lease and was applied,
0 when the token no longer matched (the task was recovered and handed to another worker, or was
settled already); records are the newly leased tasks (due delayed tasks are promoted first).
The common case (completions) is done with one command per batch, not per task.
]]
--@include record
--@include reserve
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[6])
local Q = rt_keys(KEYS[1])
local stats = KEYS[1] .. 'stats:' .. rt_int(math.floor(now / 1000))
local statuses = {}
local completed, died, retried = 0, 0, 0
local cfg = rt_config(Q.config)
local keepC, ageC, keepD, ageD = cfg.keepC, cfg.ageC, cfg.keepD, cfg.ageD
-- The ids of the settlements: the n sent with five values, then the plain completions, grouped
-- by token after them (tokens[i] is the token of plain completion i).
local groupsAt = 7 + n * 5
local ids, tokens = {}, {}
for i = 0, n - 1 do ids[i + 1] = ARGV[7 + i * 5] end
do
  local j = groupsAt + 1
  for _ = 1, tonumber(ARGV[groupsAt]) or 0 do
    local token, k = ARGV[j], tonumber(ARGV[j + 1])
    for x = j + 2, j + 1 + k do
      ids[#ids + 1] = ARGV[x]
      tokens[#ids] = token
    end
    j = j + 2 + k
  end
end
local total = #ids
if total > 0 then
  local curs = redis.call('HMGET', Q.active, unpack(ids))
  local settled, withProgress, withErrors, dataArgs, resultArgs, doneArgs = {}, {}, {}, {}, {}, {}
  for i = 1, total do
    local id, token, flags, value, at = ids[i], tokens[i], 'c', 'null', '0'
    if i <= n then
      local b = 2 + i * 5
      token, flags, value, at = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
    end
    local kind = string.sub(flags, 1, 1)
    local cur = curs[i]
    local ok = 0
    -- The entry starts with "<token>|" (compared without building that string).
    if cur and string.byte(cur, #token + 1) == 124 and string.sub(cur, 1, #token) == token then
      ok = 1
      -- A batch never holds the same id twice with a matching token: mark it settled.
      curs[i] = false
      settled[#settled + 1] = id
      if #flags > 1 and string.find(flags, 'p', 2, true) then withProgress[#withProgress + 1] = id end
      -- The record itself, unless nothing below needs it (a plain completion, nothing kept).
      local e = (flags ~= 'c' or keepC > 0) and string.sub(cur, #token + 2) or ''
      if #flags > 1 and string.find(flags, 'g', 2, true) then rt_group_done(Q, e) end
      if #flags > 1 and string.find(flags, 'n', 2, true) then
        rt_notify(Q.meta, id, e, kind == 'c' and 'completed' or kind == 'd' and 'dead' or kind == 'r' and 'retrying' or 'waiting')
      end
      if kind == 'c' then
        completed = completed + 1
        if #flags > 1 and string.find(flags, 'e', 2, true) then withErrors[#withErrors + 1] = id end
        if keepC > 0 then
          dataArgs[#dataArgs + 1] = id
          dataArgs[#dataArgs + 1] = e
          resultArgs[#resultArgs + 1] = id
          resultArgs[#resultArgs + 1] = value
          doneArgs[#doneArgs + 1] = ARGV[1]
          doneArgs[#doneArgs + 1] = id
        end
      elseif kind == 'q' then
        rt_requeue(Q, id, e, true)
        redis.call('ZADD', Q.marker, '0', 'm')
      else
        local _, made = rt_head(e)
        e = rt_bump(e, id, made)
        rt_append_error(Q.errors, id, value)
        if kind == 'r' then
          retried = retried + 1
          if tonumber(at) > now then
            redis.call('HSET', Q.data, id, e)
            redis.call('ZADD', Q.delayed, at, id)
          else
            rt_requeue(Q, id, e, false)
            redis.call('ZADD', Q.marker, '0', 'm')
          end
        else
          died = died + 1
          redis.call('HSET', Q.data, id, e)
          redis.call('ZADD', Q.dead, ARGV[1], id)
        end
      end
    end
    statuses[i] = ok
  end
  if #settled > 0 then
    -- With a cap on active tasks, a slot just freed may let an idle worker start one.
    if cfg.maxActive > 0 then redis.call('ZADD', Q.marker, '0', 'm') end
    redis.call('HDEL', Q.active, unpack(settled))
    redis.call('ZREM', Q.lease, unpack(settled))
    if #withProgress > 0 then redis.call('HDEL', Q.progress, unpack(withProgress)) end
  end
  if completed > 0 then
    local c = rt_int(completed)
    redis.call('HINCRBY', Q.meta, 'completed', c)
    if redis.call('HINCRBY', stats, 'completed', c) == completed then redis.call('EXPIRE', stats, 3600) end
    if keepC > 0 then
      redis.call('HSET', Q.data, unpack(dataArgs))
      redis.call('HSET', Q.results, unpack(resultArgs))
      redis.call('ZADD', Q.completed, unpack(doneArgs))
      rt_trim(Q.completed, keepC, ageC, now, Q.data, Q.results, Q.errors)
    else
      -- Nothing of a completed task is kept, not even the errors of its earlier attempts.
      if #withErrors > 0 then redis.call('HDEL', Q.errors, unpack(withErrors)) end
    end
  end
  if died > 0 then
    local d = rt_int(died)
    redis.call('HINCRBY', Q.meta, 'failed', d)
    if redis.call('HINCRBY', stats, 'failed', d) == died then redis.call('EXPIRE', stats, 3600) end
    rt_trim(Q.dead, keepD, ageD, now, Q.data, Q.results, Q.errors)
  end
  if retried > 0 then redis.call('HINCRBY', Q.meta, 'retried', rt_int(retried)) end
end
-- A paused or limited queue takes settlements but leases fewer (or no) new tasks.
local got = rt_reserve(Q, cfg, now, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1')
return {statuses, got}
