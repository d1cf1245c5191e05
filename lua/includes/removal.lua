--[[
  Removing jobs for good ("hard" removal), as drain, clean and obliterate do,
  and the small checks those scripts share.
  Needs: common.lua.
]]

-- Deletes the job's deduplication key when it still names this job, together
-- with the keep-last payload stored for that deduplication id.
local function clearDeduplicationOnRemoval(P, jobKey, jobId)
  local deid = rcall('HGET', jobKey, 'deid')
  if not deid then return end
  local dedupKey = P .. 'de:' .. deid
  if rcall('GET', dedupKey) == jobId then
    rcall('DEL', dedupKey, P .. 'dn:' .. deid)
  end
end

-- Detaches a job that is being removed from its parent. When it was the
-- parent's last pending child and the parent waits for its children: a parent
-- of this queue is removed as well (and, in turn, detached from its own
-- parent); a parent of another queue goes to the tail of its wait list, with
-- no event.
local function detachFromParentHard(P, jobKey)
  local parentKey = rcall('HGET', jobKey, 'parentKey')
  if not parentKey or parentKey == '' or rcall('EXISTS', parentKey) == 0 then return end
  local depsKey = parentKey .. ':dependencies'
  if rcall('SREM', depsKey, jobKey) == 0 or rcall('SCARD', depsKey) > 0 then return end
  local PP, parentId = splitJobKey(parentKey)
  if not PP or rcall('ZREM', PP .. 'waiting-children', parentId) == 0 then return end
  if PP == P then
    detachFromParentHard(P, parentKey)
    clearDeduplicationOnRemoval(P, parentKey, parentId)
    removeJobKeys(parentKey)
  else
    rcall('RPUSH', PP .. 'wait', parentId)
    addBaseMarkerIfNeeded(PP, isPausedOrMaxed(PP))
  end
end

-- Removes a job's keys after detaching it from its parent and releasing its
-- deduplication id. The caller takes the id out of the state list or set.
local function removeJobHard(P, jobId)
  local jobKey = P .. jobId
  detachFromParentHard(P, jobKey)
  clearDeduplicationOnRemoval(P, jobKey, jobId)
  removeJobKeys(jobKey)
end

-- True when jobId is the pending iteration of a job scheduler
-- ("repeat:{schedulerId}:{millis}" with millis the scheduler's score), which
-- drain and clean must leave alone.
local function isCurrentSchedulerIteration(P, jobId)
  local schedulerId = rcall('HGET', P .. jobId, 'rjk')
  if not schedulerId then return false end
  local millis = rcall('ZSCORE', P .. 'repeat', schedulerId)
  return millis ~= false and jobId == 'repeat:' .. schedulerId .. ':' .. millis
end

-- Calls redis command cmd on key with ids, in slices small enough for unpack.
local function callInSlices(cmd, key, ids)
  local n = #ids
  local from = 1
  while from <= n do
    local to = math.min(from + 4999, n)
    rcall(cmd, key, unpack(ids, from, to))
    from = to + 1
  end
end
