--[[ reserve: leases up to `count` waiting tasks to one worker.
KEYS[1] wait     LIST
KEYS[2] active   HASH   id -> "<token>|<record>"
KEYS[3] lease    ZSET   id -> lease deadline (ms)
KEYS[4] marker   ZSET
KEYS[5] corrupt  LIST   records that could not be parsed
KEYS[6] delayed  ZSET   id -> due time; due ones are promoted first
KEYS[7] data     HASH   id -> record of delayed tasks
KEYS[8] config   HASH   queue settings: paused, maxActive, rateMax, rateWindowMs (see rt_reserve)
KEYS[9] prio     ZSET   id -> priority score of waiting tasks with a priority other than 0
KEYS[10] rate    STRING tasks started in the current rate-limit window (expires with it)
KEYS[11] meta    HASH   counters; vt (virtual time of fair groups), turn
KEYS[12] groups  ZSET   id -> virtual-time score of waiting grouped tasks
KEYS[13] gstate  HASH   group -> score of its last queued task
KEYS[14] gactive HASH   group -> its tasks running now (for groupMaxActive)
KEYS[15] grate   HASH   "<group>:<window number>" -> tasks the group started in that window
ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] count, ARGV[4] fencing token of this reservation,
ARGV[5] "1" when this token is sent again after a lost reply (see rt_reserve), else "0"
Returns the leased records, best first (none while the queue is paused, fewer when a limit holds).
]]
--@include record
--@include reserve
local Q = {
  wait = KEYS[1], active = KEYS[2], lease = KEYS[3], marker = KEYS[4], corrupt = KEYS[5], delayed = KEYS[6],
  data = KEYS[7], prio = KEYS[9], rate = KEYS[10], meta = KEYS[11], groups = KEYS[12], gstate = KEYS[13], gactive = KEYS[14], grate = KEYS[15],
}
return rt_reserve(Q, rt_config(KEYS[8]), tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1')
