--[[
  Moves an active job to waiting-children (BullMQ's moveToWaitingChildren):
  the step of a processor that added children and waits for them.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] jobId        ARGV[3] timestamp
  ARGV[4] token
  ARGV[5] child job key ('' = any child)
  Returns 0 moved, 1 not moved (no pending child, or the given child is not
  pending), or a negative code (-1 missing, -2 no lock, -3 not active,
  -6 lock mismatch, -9 failed children).
]]
local P, jobId, timestamp, token, childKey = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jobKey = P .. jobId

if rcall('EXISTS', jobKey) == 0 then return -1 end
if rcall('ZCARD', jobKey .. ':unsuccessful') ~= 0 then return -9 end

local depsKey = jobKey .. ':dependencies'
local pending
if childKey ~= '' then
  pending = rcall('SISMEMBER', depsKey, childKey) ~= 0
else
  pending = rcall('SCARD', depsKey) ~= 0
end
if not pending then return 1 end

local left = leaveActive(P, jobKey, jobId, token, nil)
if left < 0 then return left end

rcall('ZADD', P .. 'waiting-children', timestamp, jobId)
rcall('XADD', P .. 'events', '*', 'event', 'waiting-children', 'jobId', jobId, 'prev', 'active')
return 0
