--[[ finish: settles a batch of leased tasks and leases new ones in the same round trip.
Runs as a Redis Function (FCALL), or with EVALSHA where Functions are not available: the same
source either way (see functionLibrary in scripts.ts).
KEYS[1] the queue's key prefix "rt:{<queue>}:". The keys are that prefix and a name (all in the
  queue's hash slot), built here when used rather than sent with every call, which on this hot
  path would cost more than the script's own work: wait, active (HASH id -> "<token>|<record>"),
  lease (ZSET "<id>|<token>" -> deadline), marker, corrupt, meta (counters), data, completed (ZSET id ->
  finishedAt), results (HASH id -> result JSON), dead (ZSET id -> diedAt), delayed, errors (HASH
  id -> JSON array of failed attempts), config (retention settings and limits), progress, prio,
  rate, groups, gstate, gactive, grate. (The per-second counts of the stats:<second> hashes are
  the worker's to send, once a second: see Worker.flushStats.)
ARGV[1] now (ms), ARGV[2] the deadline of new leases (ms), ARGV[3] how many to lease,
ARGV[4] token for new leases, ARGV[5] mode: "" or letters, r = the new-lease token is sent again
  after a lost reply (see rt_reserve), w = the caller took the queue's marker since its last call
  and passes the wake-up on (see rt_reserve),
ARGV[6] total settlements (at most 1,000), ARGV[7] n of them with details (the others are plain
  completions: kind "c" without flags, result null),
ARGV[8 .. 7 + total] their ids, the n detailed ones first, then the plain ones grouped by token
  (all in a row, so that the commands over all of them take a slice of ARGV as it is),
then 4 values for each detailed settlement: token, kind, value, at
  kind is a letter, then optional flags: p = the task reported progress (clear it),
  e = the task has errors of earlier attempts (clear them when no completed task is kept)
  n = a publisher waits for it: announce the outcome on rt:{q}:events ("<id> <state>")
  g = it belongs to a fair group: count it out of gactive
  c = completed (value = result JSON)
       r = failed, retry at `at` (value = attempt error JSON)
       d = failed for good, dead-lettered (value = attempt error JSON)
       q = handed back unstarted or unfinished, no attempt counted (front of the queue)
then, for each group of plain completions, its token and its number of ids (to the end of ARGV).
Returns {statuses, records...}: statuses is "" when every settlement held its lease and was
applied (the common case), otherwise one character per settlement in the order of the ids,
"1" when it was applied, "0" when the token no longer matched (the task was recovered and
handed to another worker, or was settled already); the records are the newly leased tasks (due
delayed tasks are promoted first).
The common case (completions) is done with one command per batch, not per task, and without a
table per task: the ids go to Redis as the slice of ARGV they arrived in.
]]
--@include int
--@include keys
--@include config
--@include lease
--@include record
--@include history
--@include retention
--@include notify
--@include groups
--@include waiting
--@include reserve
local Q = rt_keys(KEYS[1])
local cfg = rt_config(Q.config)
local total = tonumber(ARGV[6])
local bad
if total > 0 then
  local now = ARGV[1]
  local keepC, ageC, keepD, ageD = cfg.keepC, cfg.ageC, cfg.keepD, cfg.ageD
  local n = ARGV[7] == '0' and 0 or tonumber(ARGV[7])
  local last = 7 + total
  local completed, died, retried = 0, 0, 0
  -- The lease members of the settlements (rt_member, inlined: once per task), in the order of
  -- the ids.
  local members = {}
  for i = 1, n do members[i] = ARGV[7 + i] .. '|' .. ARGV[last + i * 4 - 3] end
  do
    local i, j = n, last + n * 4 + 1
    while j < #ARGV do
      local token = ARGV[j]
      for _ = 1, tonumber(ARGV[j + 1]) do
        i = i + 1
        members[i] = ARGV[7 + i] .. '|' .. token
      end
      j = j + 2
    end
  end
  -- Plain completions of which nothing is kept need no record: the lease members carry the
  -- tokens, so one ZREM checks every lease. When it removes them all (the common case) they are
  -- all applied; otherwise the entries in `active` tell which leases were held (a member of a
  -- lease not held was not there to remove).
  local curs
  local unleased = false
  if n == 0 and keepC == 0 then
    unleased = true
    if redis.call('ZREM', Q.lease, unpack(members)) == total then
      completed = total
    else
      curs = redis.call('HMGET', Q.active, unpack(ARGV, 8, last))
    end
  else
    curs = redis.call('HMGET', Q.active, unpack(ARGV, 8, last))
  end
  local withProgress, withErrors, kept, handedBack
  for i = 1, n do
    local b = last + i * 4 - 4
    local id, token, flags, value, at = ARGV[7 + i], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
    -- A settlement whose lease is no longer held is refused (noted in `bad`).
    local cur = curs[i]
    if not rt_held(cur, token) then
      bad = bad or {}
      bad[i] = true
    else
      local kind = string.sub(flags, 1, 1)
      if #flags > 1 and string.find(flags, 'p', 2, true) then
        withProgress = withProgress or {}
        withProgress[#withProgress + 1] = id
      end
      -- The record itself, unless nothing below needs it (a plain completion, nothing kept).
      local e = (flags ~= 'c' or keepC > 0) and string.sub(cur, #token + 2) or ''
      if #flags > 1 and string.find(flags, 'g', 2, true) then rt_group_done(Q, e) end
      if #flags > 1 and string.find(flags, 'n', 2, true) then
        -- The result or the last error goes with an end: a waiting publisher gets it even when
        -- nothing of the task is kept.
        rt_notify(Q.meta, id, e, kind == 'c' and 'completed' or kind == 'd' and 'dead' or kind == 'r' and 'retrying' or 'waiting', (kind == 'c' or kind == 'd') and value or nil)
      end
      if kind == 'c' then
        completed = completed + 1
        if #flags > 1 and string.find(flags, 'e', 2, true) then
          withErrors = withErrors or {}
          withErrors[#withErrors + 1] = id
        end
        if keepC > 0 then
          kept = kept or { {}, {}, {} }
          rt_keep(kept, id, e, value, now)
        end
      elseif kind == 'q' then
        -- Back to the front after the loop, last first: the first handed back is taken first.
        handedBack = handedBack or {}
        handedBack[#handedBack + 1] = { id, e }
      else
        local _, made = rt_head(e)
        e = rt_bump(e, id, made)
        rt_append_error(Q.errors, id, value)
        if kind == 'r' then
          retried = retried + 1
          if tonumber(at) > tonumber(now) then
            redis.call('HSET', Q.data, id, e)
            redis.call('ZADD', Q.delayed, at, id)
          else
            rt_requeue(Q, id, e, false)
            redis.call('ZADD', Q.marker, '0', 'm')
          end
        else
          died = died + 1
          redis.call('HSET', Q.data, id, e)
          redis.call('ZADD', Q.dead, now, id)
        end
      end
    end
  end
  if handedBack then
    for x = #handedBack, 1, -1 do rt_requeue(Q, handedBack[x][1], handedBack[x][2], true) end
    redis.call('ZADD', Q.marker, '0', 'm')
  end
  -- The plain completions, by token (when the ZREM above did not settle them all).
  local i, j = n, last + n * 4 + 1
  while curs and j < #ARGV do
    local token = ARGV[j]
    for _ = 1, tonumber(ARGV[j + 1]) do
      i = i + 1
      local cur = curs[i]
      if rt_held(cur, token) then
        completed = completed + 1
        if keepC > 0 then
          kept = kept or { {}, {}, {} }
          rt_keep(kept, ARGV[7 + i], string.sub(cur, #token + 2), 'null', now)
        end
      else
        bad = bad or {}
        bad[i] = true
      end
    end
    j = j + 2
  end
  -- The ids of the settlements that held their lease: all of them (a slice of ARGV) or a list.
  local settled, settledMembers
  if bad then
    settled, settledMembers = {}, {}
    local s = {}
    for x = 1, total do
      if bad[x] then s[x] = '0' else
        s[x] = '1'
        settled[#settled + 1] = ARGV[7 + x]
        settledMembers[#settledMembers + 1] = members[x]
      end
    end
    bad = table.concat(s)
  end
  if not settled or #settled > 0 then
    -- With a cap on active tasks, a slot just freed may let an idle worker start one.
    if cfg.maxActive > 0 then redis.call('ZADD', Q.marker, '0', 'm') end
    if settled then
      redis.call('HDEL', Q.active, unpack(settled))
      if not unleased then redis.call('ZREM', Q.lease, unpack(settledMembers)) end
    else
      redis.call('HDEL', Q.active, unpack(ARGV, 8, last))
      if not unleased then redis.call('ZREM', Q.lease, unpack(members)) end
    end
    if withProgress then redis.call('HDEL', Q.progress, unpack(withProgress)) end
  end
  if completed > 0 then
    -- Every settlement a plain completion, all applied: the count is ARGV[6] as sent.
    redis.call('HINCRBY', Q.meta, 'completed', (completed == total) and ARGV[6] or rt_int(completed))
    if kept then
      redis.call('HSET', Q.data, unpack(kept[1]))
      redis.call('HSET', Q.results, unpack(kept[2]))
      redis.call('ZADD', Q.completed, unpack(kept[3]))
      rt_trim(Q.completed, keepC, ageC, tonumber(now), Q.data, Q.results, Q.errors)
    elseif withErrors then
      -- Nothing of a completed task is kept, not even the errors of its earlier attempts.
      redis.call('HDEL', Q.errors, unpack(withErrors))
    end
  end
  if died > 0 then
    redis.call('HINCRBY', Q.meta, 'failed', rt_int(died))
    rt_trim(Q.dead, keepD, ageD, tonumber(now), Q.data, Q.results, Q.errors)
  end
  if retried > 0 then redis.call('HINCRBY', Q.meta, 'retried', rt_int(retried)) end
end
-- A paused or limited queue takes settlements but leases fewer (or no) new tasks.
local mode = ARGV[5]
return rt_reserve(Q, cfg, ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[3], ARGV[4], mode == 'r' or mode == 'rw',
  mode == 'w' or mode == 'rw', { bad or '' })
