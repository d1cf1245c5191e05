--[[
  Replaces a job's data (BullMQ's updateData). No event is emitted.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P    ARGV[2] jobId    ARGV[3] data (JSON text)
  Returns 0, or -1 when the job does not exist.
]]
local jobKey = ARGV[1] .. ARGV[2]
if rcall('EXISTS', jobKey) == 0 then return -1 end
rcall('HSET', jobKey, 'data', ARGV[3])
return 0
