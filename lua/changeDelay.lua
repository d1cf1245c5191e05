--[[
  Re-schedules a delayed job to run `delay` ms after `timestamp`
  (BullMQ's changeDelay).
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId    ARGV[3] delay (ms)    ARGV[4] timestamp
  Returns 0, -1 when the job does not exist, -3 when it is not delayed.
]]
local P, jobId = ARGV[1], ARGV[2]
local delay, timestamp = tonumber(ARGV[3]), tonumber(ARGV[4])
local jobKey = P .. jobId
if rcall('EXISTS', jobKey) == 0 then return -1 end
if rcall('ZREM', P .. 'delayed', jobId) == 0 then return -3 end

local score, due = getDelayedScore(P, timestamp, delay)
rcall('ZADD', P .. 'delayed', score, jobId)
rcall('HSET', jobKey, 'delay', delay)
rcall('XADD', P .. 'events', 'MAXLEN', '~', getMaxEvents(P), '*',
  'event', 'delayed', 'jobId', jobId, 'delay', due)
addDelayMarkerIfNeeded(P)
return 0
