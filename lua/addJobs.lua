--[[
  Adds one or more jobs in one call (Queue.add and each addBulk chunk).
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] number of jobs N; then N groups of FIELDS values:
    customId ('' = next counter value), name, timestamp, data (JSON),
    opts (stored-options JSON), delay, priority, lifo ('1'/'0'),
    parentKey ('' = none), parent (JSON of the `parent` hash field or '')
  Returns a flat array: for each job its id (or a negative error code) and
  1 when the id already existed (nothing was added), else 0.
]]
local FIELDS = 10
local P = ARGV[1]
local count = tonumber(ARGV[2])
local maxEvents = getMaxEvents(P)
local pausedOrMaxed = isPausedOrMaxed(P)
local delayedAdded = false
local result = {}

for i = 0, count - 1 do
  local a = 3 + i * FIELDS
  local customId, name, timestamp, data, opts = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3], ARGV[a + 4]
  local delay, priority, lifo = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6]), ARGV[a + 7] == '1'
  local parentKey, parent = ARGV[a + 8], ARGV[a + 9]

  if parentKey ~= '' and rcall('EXISTS', parentKey) == 0 then
    result[#result + 1] = -5
    result[#result + 1] = 0
  else
    local counter = rcall('INCR', P .. 'id')
    local jobId = customId
    if jobId == '' then jobId = tostring(counter) end
    local jobKey = P .. jobId

    local existingParent = false
    if customId ~= '' and parentKey ~= '' then
      existingParent = rcall('HGET', jobKey, 'parentKey')
    end
    if existingParent and existingParent ~= parentKey and rcall('EXISTS', existingParent) == 1 then
      -- Already a child of another live parent.
      result[#result + 1] = -7
      result[#result + 1] = 0
    elseif customId ~= '' and rcall('EXISTS', jobKey) == 1 then
      if parentKey ~= '' then
        if rcall('ZSCORE', P .. 'completed', jobId) then
          local value = rcall('HGET', jobKey, 'returnvalue') or 'null'
          rcall('HSET', parentKey .. ':processed', jobKey, value)
          if rcall('SCARD', parentKey .. ':dependencies') == 0 then
            releaseParent(parentKey, timestamp)
          end
        else
          rcall('SADD', parentKey .. ':dependencies', jobKey)
        end
        rcall('HSET', jobKey, 'parentKey', parentKey, 'parent', parent)
      end
      rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'duplicated', 'jobId', jobId)
      result[#result + 1] = jobId
      result[#result + 1] = 1
    else
      if parentKey ~= '' then
        rcall('HSET', jobKey, 'name', name, 'data', data, 'opts', opts, 'timestamp', timestamp,
          'delay', delay, 'priority', priority, 'parentKey', parentKey, 'parent', parent)
      else
        rcall('HSET', jobKey, 'name', name, 'data', data, 'opts', opts, 'timestamp', timestamp,
          'delay', delay, 'priority', priority)
      end
      rcall('XADD', P .. 'events', '*', 'event', 'added', 'jobId', jobId, 'name', name)

      if delay > 0 then
        local score, due = getDelayedScore(P, timestamp, delay)
        rcall('ZADD', P .. 'delayed', score, jobId)
        rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'delayed', 'jobId', jobId, 'delay', due)
        delayedAdded = true
      else
        if priority > 0 then
          addToPrioritized(P, jobId, priority)
        elseif lifo then
          rcall('RPUSH', P .. 'wait', jobId)
        else
          rcall('LPUSH', P .. 'wait', jobId)
        end
        addBaseMarkerIfNeeded(P, pausedOrMaxed)
        rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting', 'jobId', jobId)
      end

      if parentKey ~= '' then
        rcall('SADD', parentKey .. ':dependencies', jobKey)
      end
      result[#result + 1] = jobId
      result[#result + 1] = 0
    end
  end
end

if delayedAdded then addDelayMarkerIfNeeded(P) end
return result
