--[[
  Retries a failed attempt at once (BullMQ's retryJob): the job goes back to
  wait (or prioritized) and counts the attempt. No `failed` event.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] jobId        ARGV[3] timestamp
  ARGV[4] token
  ARGV[5] push command: 'LPUSH' (end of the line) | 'RPUSH' (lifo: runs next)
  ARGV[6] failedReason ARGV[7] stacktrace JSON   (both stored when ARGV[8] is '1')
  ARGV[8] '1' to store the failure fields
  Returns 0 or a negative code (-1 missing, -2 no lock, -3 not active, -6 lock mismatch).
]]
local P, jobId, timestamp, token = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local pushCmd = ARGV[5]
local jobKey = P .. jobId

promoteDelayedJobs(P, timestamp, isPausedOrMaxed(P))

if rcall('EXISTS', jobKey) == 0 then return -1 end

local fields = nil
if ARGV[8] == '1' then fields = { 'failedReason', ARGV[6], 'stacktrace', ARGV[7] } end
local left = leaveActive(P, jobKey, jobId, token, fields)
if left < 0 then return left end

local priority = tonumber(rcall('HGET', jobKey, 'priority')) or 0
enqueueReady(P, jobId, priority, pushCmd, isPausedOrMaxed(P))
rcall('HINCRBY', jobKey, 'atm', 1)

rcall('XADD', P .. 'events', 'MAXLEN', '~', getMaxEvents(P), '*',
  'event', 'waiting', 'jobId', jobId, 'prev', 'active')
return 0
