--[[
  Moves finished or delayed jobs back to wait in bulk (Queue.retryJobs,
  Queue.promoteJobs), a batch per call.
  Needs: common.lua, removal.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] state: 'failed', 'completed' or 'delayed'
  ARGV[3] score cutoff: jobs scored at or below it ('+inf' for all)
  ARGV[4] count: the most jobs this call moves
  Finished jobs lose finishedOn, processedOn and failedReason / returnvalue,
  and go back into their parent's pending dependencies. Every job gets a
  `waiting` event (prev = state) and is pushed to the head of wait, whatever
  its priority; delayed jobs keep their `delay` field.
  Returns 1 when the batch was full (call again), else 0.
]]
local P = ARGV[1]
local state = ARGV[2]
local count = tonumber(ARGV[4])
local stateKey = P .. state

local ids = rcall('ZRANGEBYSCORE', stateKey, 0, ARGV[3], 'LIMIT', 0, count)
if #ids > 0 then
  local pausedOrMaxed = isPausedOrMaxed(P)
  if state == 'failed' or state == 'completed' then
    local valueField = 'returnvalue'
    if state == 'failed' then valueField = 'failedReason' end
    for _, jobId in ipairs(ids) do
      local jobKey = P .. jobId
      rcall('HDEL', jobKey, 'finishedOn', 'processedOn', valueField)
      relinkToParent(jobKey, state)
    end
  end
  local maxEvents = getMaxEvents(P)
  for _, jobId in ipairs(ids) do
    rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting',
      'jobId', jobId, 'prev', state)
  end
  callInSlices('ZREM', stateKey, ids)
  callInSlices('LPUSH', P .. 'wait', ids)
  addBaseMarkerIfNeeded(P, pausedOrMaxed)
end

if #ids >= count then return 1 end
return 0
