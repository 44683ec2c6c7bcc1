--[[ reserve: leases up to `count` waiting tasks to one worker.
Runs as a Redis Function, like finish (see finish-1.lua).
KEYS[1] the queue's key prefix "rt:{<queue>}:"; the keys used are that prefix and a name (see
  finish-1.lua): wait (LIST), active (HASH id -> "<token>|<record>"), lease (ZSET "<id>|<token>" ->
  lease deadline), marker (ZSET), corrupt (LIST of records that could not be parsed), delayed (ZSET id
  -> due time; due ones are promoted first), data (HASH id -> record of delayed, prioritized and
  grouped tasks), config (HASH: paused, maxActive, rateMax, rateWindowMs, see rt_reserve), prio
  (ZSET id -> priority score), rate (STRING tasks started in the current rate-limit window),
  meta (HASH counters; vt, the virtual time of fair groups; turn), groups (ZSET id ->
  virtual-time score), gstate (HASH group -> score of its last queued task), gactive (HASH
  group -> its tasks running now), grate (HASH "<group>:<window number>" -> tasks the group
  started in that window).
ARGV[1] now (ms), or "" to take it from Redis's clock (TIME): a reserve queued behind an idle
  worker's blocking wait runs when the wait ends, at a time the worker cannot know (see
  Worker.waitWithReserve), ARGV[2] lease (ms), ARGV[3] count, ARGV[4] fencing token of this reservation,
ARGV[5] "1" when this token is sent again after a lost reply (see rt_reserve), else "0"
Returns the leased records, best first (none while the queue is paused, fewer when a limit holds).
]]
--@include int
--@include keys
--@include config
--@include reserve
local Q = rt_keys(KEYS[1])
local now = ARGV[1]
if now == '' then
  local t = redis.call('TIME')
  now = rt_int(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
-- A reserve call comes after a wake-up (or at start): it passes the wake-up on when tasks remain.
return rt_reserve(Q, rt_config(Q.config), now, rt_int(tonumber(now) + tonumber(ARGV[2])), tonumber(ARGV[3]), ARGV[3], ARGV[4],
  ARGV[5] == '1', true, {})
