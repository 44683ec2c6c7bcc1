--[[ schedule: writes a schedule's definition if nobody changed it since the caller read it
(create, change, pause, resume: the caller computes the new definition).
KEYS[1] schedules  HASH  name -> JSON definition; its first field is "rev", a token that
                         changes with every write
KEYS[2] schedtask  HASH  name -> record template "<max>|<name>|<opts>|<data>" of the tasks it publishes
KEYS[3] schednext  ZSET  name -> next due time (ms)
ARGV[1] schedule name
ARGV[2] the rev the caller read ("" when it found no schedule), or "=" and the whole definition it
        read, for one without a readable rev (a corrupt one, replaced or set aside)
ARGV[3] the new definition (JSON, starting with {"rev":"<new rev>")
ARGV[4] the new record template ("" keeps the stored one)
ARGV[5] next due time: >= 0 sets it, -1 removes the entry (paused, or no further date),
        -2 leaves the entry as it is (the timing did not change)
Returns 1 when written; 0 when the stored rev is not ARGV[2] (read again and retry).
]]
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if string.sub(ARGV[2], 1, 1) == '=' then
  if cur ~= string.sub(ARGV[2], 2) then return 0 end
else
  local rev = ''
  if cur then rev = string.match(cur, '^{"rev":"(%w+)"') or '' end
  if rev ~= ARGV[2] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[4]) end
local nextDue = tonumber(ARGV[5])
if nextDue >= 0 then
  redis.call('ZADD', KEYS[3], nextDue, ARGV[1])
elseif nextDue == -1 then
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return 1
