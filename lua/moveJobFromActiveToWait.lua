--[[
  Puts an active job back to wait (BullMQ's moveJobFromActiveToWait), used
  after a manual rate limit: the job runs next (tail of wait, or the front of
  its priority). The attempt is not counted.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] jobId        ARGV[3] token ('0' = no lock check)
  Returns the rate limiter's remaining PTTL in ms (0 when not limited), or a
  negative code (-1 missing, -2 no lock, -6 lock mismatch).
]]
local P, jobId, token = ARGV[1], ARGV[2], ARGV[3]
local jobKey = P .. jobId

if rcall('EXISTS', jobKey) == 0 then return -1 end

local released = releaseLock(P, jobKey, jobId, token)
if released < 0 then return released end

if rcall('LREM', P .. 'active', 1, jobId) > 0 then
  local priority = tonumber(rcall('HGET', jobKey, 'priority')) or 0
  if priority > 0 then
    rcall('ZADD', P .. 'prioritized', priority * 4294967296, jobId)
  else
    rcall('RPUSH', P .. 'wait', jobId)
    addBaseMarkerIfNeeded(P, isPausedOrMaxed(P))
  end
  rcall('XADD', P .. 'events', 'MAXLEN', '~', getMaxEvents(P), '*',
    'event', 'waiting', 'jobId', jobId, 'prev', 'active')
end

local ttl = rcall('PTTL', P .. 'limiter')
if ttl > 0 then return ttl end
return 0
