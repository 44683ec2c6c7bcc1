-- errors: the codes of the errors the scripts reply with. A script refuses with
-- `return rt_error(RT_ERR.X, detail)`: the reply is "<code> <detail>", and SCRIPT_ERRORS in
-- src/shared/errors.ts (which names the same codes) turns it into a typed error.
-- Provides: RT_ERR, rt_error.

local RT_ERR = {
  -- publish: the queue's maxWaiting would be exceeded (nothing was accepted); detail: the
  -- number of tasks waiting.
  QUEUE_FULL = 'RT_QUEUE_FULL',
  -- An argument the script cannot use (the caller's bug); detail: what was wrong.
  BAD_ARGUMENT = 'RT_BAD_ARGUMENT',
}

local function rt_error(code, detail)
  return redis.error_reply(code .. ' ' .. detail)
end
