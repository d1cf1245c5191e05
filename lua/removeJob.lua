--[[
  Removes a job for good (BullMQ's removeJob): from whichever state it is
  in, with its keys, its deduplication key and its link to its parent, and
  optionally with all its children (processed, failed, unsuccessful and
  pending ones, in any queue), depth first.
  Nothing is removed when the job, or with removeChildren any pending
  descendant, is locked by a worker.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId    ARGV[3] removeChildren '1' | '0'
  ARGV[4] timestamp
  Returns 1 (removed, or nothing to remove), 0 when locked, -8 when the job
  is the current iteration of a job scheduler.
]]
local P, jobId, withChildren, timestamp = ARGV[1], ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])

local function isLocked(jobKey)
  if rcall('EXISTS', jobKey .. ':lock') == 1 then return true end
  if withChildren then
    for _, childKey in ipairs(rcall('SMEMBERS', jobKey .. ':dependencies')) do
      if isLocked(childKey) then return true end
    end
  end
  return false
end

local removeTree

local function removeChildren(jobKey)
  local children = rcall('HKEYS', jobKey .. ':processed')
  for _, key in ipairs(rcall('HKEYS', jobKey .. ':failed')) do children[#children + 1] = key end
  for _, key in ipairs(rcall('ZRANGE', jobKey .. ':unsuccessful', 0, -1)) do children[#children + 1] = key end
  for _, key in ipairs(rcall('SMEMBERS', jobKey .. ':dependencies')) do children[#children + 1] = key end
  for _, childKey in ipairs(children) do
    -- The parent goes away too, so the child is not detached from it.
    removeTree(childKey, false)
  end
end

removeTree = function(jobKey, detach)
  local Q, id = splitJobKey(jobKey)
  if not Q then return end
  if detach then detachFromParent(jobKey, timestamp) end
  if withChildren then removeChildren(jobKey) end
  removeJobWithEvent(Q, jobKey, id)
end

local jobKey = P .. jobId
if isCurrentSchedulerIteration(P, jobId) then return -8 end
if isLocked(jobKey) then return 0 end
removeTree(jobKey, true)
return 1
