--[[
  Makes a delayed job runnable now (BullMQ's promote): it joins the end of
  the wait line, or its priority group when it has a priority.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId
  Returns 0, or -3 when the job is not in the delayed set.
]]
local P, jobId = ARGV[1], ARGV[2]
if rcall('ZREM', P .. 'delayed', jobId) == 0 then return -3 end

local jobKey = P .. jobId
-- Old BullMQ versions kept a "0:..." marker entry at the head of wait; an
-- enqueued job makes it pointless.
local head = rcall('LINDEX', P .. 'wait', 0)
if head and string.sub(head, 1, 2) == '0:' then
  rcall('LPOP', P .. 'wait')
end

local priority = tonumber(rcall('HGET', jobKey, 'priority')) or 0
enqueueReady(P, jobId, priority, 'LPUSH', isPausedOrMaxed(P))
rcall('XADD', P .. 'events', '*', 'event', 'waiting', 'jobId', jobId, 'prev', 'delayed')
rcall('HSET', jobKey, 'delay', 0)
return 0
