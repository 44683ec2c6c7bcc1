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
ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] count, ARGV[4] fencing token of this reservation,
ARGV[5] "1" when this token is sent again after a lost reply (see rt_reserve), else "0"
Returns the leased records, best first (none while the queue is paused, fewer when a limit holds).
]]
--@include record
--@include reserve
return rt_reserve(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[9], KEYS[10],
  rt_config(KEYS[8]), tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1')
