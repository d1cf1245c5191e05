--[[
  Stores a job's progress and announces it on the events stream
  (BullMQ's updateProgress).
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId    ARGV[3] progress (JSON text)
  Returns 0, or -1 when the job does not exist.
]]
local P, jobId, progress = ARGV[1], ARGV[2], ARGV[3]
local jobKey = P .. jobId
if rcall('EXISTS', jobKey) == 0 then return -1 end

rcall('HSET', jobKey, 'progress', progress)
rcall('XADD', P .. 'events', 'MAXLEN', '~', getMaxEvents(P), '*',
  'event', 'progress', 'jobId', jobId, 'data', progress)
return 0
