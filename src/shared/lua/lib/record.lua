-- record: reading and rewriting a task record's head and options.
-- Provides: rt_head, rt_id, rt_bump, rt_priority, rt_group.
--
-- A task record is one string: "<id>|<made>|<max>|<publishedAt>|<name>|<opts>|<data>".
-- made = attempts that ended without success, max = attempts allowed. Only the head and the
-- options are ever parsed here; the body after them belongs to the client.

local function rt_head(e)
  return string.match(e, '^(%d+)|(%d+)|(%d+)|')
end

-- The id alone (one capture instead of three: fewer strings made on the hot path).
local function rt_id(e)
  return string.match(e, '^(%d+)|%d+|%d+|')
end

-- The same record with one more attempt counted as made.
local function rt_bump(e, id, made)
  return id .. '|' .. (tonumber(made) + 1) .. '|' .. string.sub(e, #id + #made + 3)
end

-- The priority of a record (0 when it has none), from its options. Priorities lie in -100..100.
local function rt_priority(e)
  local opts = string.match(e, '^%d+|%d+|%d+|%d+|[^|]*|([^|]*)|')
  if not opts or opts == '' then return 0 end
  return tonumber(string.match(opts, '"p":(%-?%d+)')) or 0
end

-- The group of a record ("" when it has none), from its options.
local function rt_group(e)
  local opts = string.match(e, '^%d+|%d+|%d+|%d+|[^|]*|([^|]*)|')
  if not opts or opts == '' then return '' end
  return string.match(opts, '"g":"([^"]*)"') or ''
end
