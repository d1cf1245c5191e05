--[[
  The stalled-job check (BullMQ's moveStalledJobsToWait). At most one check
  per stalledInterval runs across all workers of the queue. A job is
  recovered when it was active at the previous check, its lock is gone and it
  did not renew it since; past maxStalledCount it gets `defa` so that the
  worker fetching it next fails it.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] maxStalledCount
  ARGV[3] timestamp    ARGV[4] stalledInterval in ms
  Returns the ids moved back to wait.
]]
local P, maxStalledCount = ARGV[1], tonumber(ARGV[2])
local timestamp, stalledInterval = tonumber(ARGV[3]), tonumber(ARGV[4])
local stalledKey, activeKey = P .. 'stalled', P .. 'active'

if rcall('EXISTS', P .. 'stalled-check') == 1 then return {} end
rcall('SET', P .. 'stalled-check', timestamp, 'PX', stalledInterval)

rcall('XTRIM', P .. 'events', 'MAXLEN', '~', getMaxEvents(P))

local recovered = {}
local candidates = rcall('SMEMBERS', stalledKey)
if #candidates > 0 then
  rcall('DEL', stalledKey)
  for _, jobId in ipairs(candidates) do
    if string.sub(jobId, 1, 2) == '0:' then
      -- A marker entry of old BullMQ versions.
      rcall('LREM', activeKey, 1, jobId)
    else
      local jobKey = P .. jobId
      if rcall('EXISTS', jobKey .. ':lock') == 0 and rcall('LREM', activeKey, 1, jobId) > 0 then
        local stalledCount = rcall('HINCRBY', jobKey, 'stc', 1)
        local rjk = rcall('HGET', jobKey, 'rjk')
        local fromScheduler = false
        if rjk then
          fromScheduler = rcall('EXISTS', P .. 'repeat:' .. rjk) == 1 or
            rcall('ZSCORE', P .. 'repeat', rjk) ~= false
        end
        if stalledCount > maxStalledCount and not fromScheduler then
          rcall('HSET', jobKey, 'defa', 'job stalled more than allowable limit')
        end
        rcall('RPUSH', P .. 'wait', jobId)
        addBaseMarkerIfNeeded(P, isPausedOrMaxed(P))
        rcall('XADD', P .. 'events', '*', 'event', 'waiting', 'jobId', jobId, 'prev', 'active')
        rcall('XADD', P .. 'events', '*', 'event', 'stalled', 'jobId', jobId)
        recovered[#recovered + 1] = jobId
      end
    end
  end
end

-- Whatever is active now is a candidate at the next check, unless its lock
-- is renewed meanwhile.
local active = rcall('LRANGE', activeKey, 0, -1)
for from = 1, #active, 7000 do
  rcall('SADD', stalledKey, unpack(active, from, math.min(from + 6999, #active)))
end

return recovered
