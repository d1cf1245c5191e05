--[[
  Removing jobs for good ("hard" removal), as drain, clean and obliterate do.
  Needs: common.lua.
]]

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
