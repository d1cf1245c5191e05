--[[
  Removes the children a job still waits for (BullMQ's
  removeUnprocessedChildren), with their own pending children, depth first:
  each leaves its state, loses its keys and its deduplication id and emits
  `removed`. Locked children (active) and failed ones stay. A parent left
  with nothing pending and waiting for its children goes to wait.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId    ARGV[3] timestamp
  Returns 0.
]]
local P, jobId, timestamp = ARGV[1], ARGV[2], ARGV[3]

local removePending

local function removeChild(childKey, parentKey)
  local Q, id = splitJobKey(childKey)
  if not Q then return end
  if rcall('EXISTS', childKey .. ':lock') == 1 then return end
  if rcall('ZSCORE', Q .. 'failed', id) then return end
  detachFromParent(childKey, timestamp, parentKey)
  removePending(childKey)
  removeJobWithEvent(Q, childKey, id)
end

removePending = function(jobKey)
  for _, childKey in ipairs(rcall('SMEMBERS', jobKey .. ':dependencies')) do
    removeChild(childKey, jobKey)
  end
end

removePending(P .. jobId)
return 0
