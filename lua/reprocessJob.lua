--[[
  Sends a finished job back to be processed again (BullMQ's reprocessJob,
  behind `job.retry(state)`): it leaves completed/failed, loses its finish
  fields, is enqueued as a new job would be, and becomes a pending
  dependency of its parent again.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId
  ARGV[3] state the job must be in: 'completed' | 'failed'
  ARGV[4] push command for wait: 'LPUSH' (end of the line) | 'RPUSH' (lifo)
  ARGV[5] reset attemptsMade '1' | '0'
  ARGV[6] reset attemptsStarted '1' | '0'
  Returns 1, -1 when the job does not exist, -3 when it is not in `state`.
]]
local P, jobId, state, pushCmd = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local jobKey = P .. jobId
if rcall('EXISTS', jobKey) == 0 then return -1 end
if rcall('ZREM', P .. state, jobId) == 0 then return -3 end

local valueField = 'returnvalue'
if state == 'failed' then valueField = 'failedReason' end
local fields = { 'finishedOn', 'processedOn', valueField }
if ARGV[5] == '1' then fields[#fields + 1] = 'atm' end
if ARGV[6] == '1' then fields[#fields + 1] = 'ats' end
rcall('HDEL', jobKey, unpack(fields))

local priority = tonumber(rcall('HGET', jobKey, 'priority')) or 0
enqueueReady(P, jobId, priority, pushCmd, isPausedOrMaxed(P))

-- The parent counts this child as pending again (the parent itself stays
-- where it is).
relinkToParent(jobKey, state)

rcall('XADD', P .. 'events', 'MAXLEN', '~', getMaxEvents(P), '*',
  'event', 'waiting', 'jobId', jobId, 'prev', state)
return 1
