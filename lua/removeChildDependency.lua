--[[
  Breaks the link of a pending child to its parent (BullMQ's
  removeChildDependency): the parent no longer waits for it, and runs when it
  was the last child it waited for.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId    ARGV[3] parent key    ARGV[4] timestamp
  Returns 0 removed, 1 when the child was not pending for that parent,
  -1 missing job, -5 missing parent.
]]
local P, jobId, parentKey, timestamp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local jobKey = P .. jobId

if rcall('EXISTS', jobKey) == 0 then return -1 end
if rcall('EXISTS', parentKey) == 0 then return -5 end
if rcall('SISMEMBER', parentKey .. ':dependencies', jobKey) == 0 then return 1 end

detachFromParent(jobKey, timestamp, parentKey)
rcall('HDEL', jobKey, 'parentKey', 'parent')
return 0
