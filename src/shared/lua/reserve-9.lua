--[[ reserve: leases up to `count` waiting tasks to one worker.
KEYS[1] wait     LIST
KEYS[2] active   HASH   id -> "<token>|<record>"
KEYS[3] lease    ZSET   id -> lease deadline (ms)
KEYS[4] marker   ZSET
KEYS[5] corrupt  LIST   records that could not be parsed
KEYS[6] delayed  ZSET   id -> due time; due ones are promoted first
KEYS[7] data     HASH   id -> record of delayed tasks
KEYS[8] config   HASH   queue settings: nothing is leased while `paused` is 1
KEYS[9] prio     ZSET   id -> priority score of waiting tasks with a priority other than 0
ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] count, ARGV[4] fencing token of this reservation,
ARGV[5] "1" when this token is sent again after a lost reply (see rt_reserve), else "0"
Returns the leased records, oldest first (none while the queue is paused).
]]
--@include record
--@include reserve
local count = tonumber(ARGV[3])
if redis.call('HGET', KEYS[8], 'paused') == '1' then count = 0 end
return rt_reserve(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[9],
  tonumber(ARGV[1]), tonumber(ARGV[2]), count, ARGV[4], ARGV[5] == '1')
