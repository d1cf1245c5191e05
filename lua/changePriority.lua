--[[
  Gives a job a new priority (BullMQ's changePriority). A job that is
  runnable (wait or prioritized) is re-queued at once; in any other state
  only the `priority` field changes, which applies on its next enqueue.
  With lifo, priority 0 goes to the front of wait and a positive priority
  to the front of its priority group.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId    ARGV[3] priority    ARGV[4] lifo '1' | '0'
  Returns 0, or -1 when the job does not exist.
]]
local P, jobId = ARGV[1], ARGV[2]
local priority, lifo = tonumber(ARGV[3]), ARGV[4] == '1'
local jobKey = P .. jobId
if rcall('EXISTS', jobKey) == 0 then return -1 end

local runnable = rcall('ZREM', P .. 'prioritized', jobId) > 0 or
  rcall('LREM', P .. 'wait', -1, jobId) > 0
if runnable then
  if priority > 0 and lifo then
    -- Counter 0: ahead of every job of the same priority.
    rcall('ZADD', P .. 'prioritized', priority * 4294967296, jobId)
  else
    local pushCmd = 'LPUSH'
    if lifo then pushCmd = 'RPUSH' end
    enqueueReady(P, jobId, priority, pushCmd, isPausedOrMaxed(P))
  end
end

rcall('HSET', jobKey, 'priority', priority)
return 0
