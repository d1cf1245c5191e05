--[[
  Removes a job scheduler (BullMQ's removeJobScheduler), with its pending
  iteration when that is delayed (`removed` event, prev `delayed`).
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] scheduler id
  Returns 0 when removed, 1 when there was no such scheduler.
]]
local P, schedulerId = ARGV[1], ARGV[2]
local repeatKey = P .. 'repeat'
local millis = rcall('ZSCORE', repeatKey, schedulerId)
if millis then
  local jobId = 'repeat:' .. schedulerId .. ':' .. millis
  if rcall('ZREM', P .. 'delayed', jobId) == 1 then
    removeJobKeys(P .. jobId)
    rcall('XADD', P .. 'events', '*', 'event', 'removed', 'jobId', jobId, 'prev', 'delayed')
  end
end
if rcall('ZREM', repeatKey, schedulerId) == 1 then
  rcall('DEL', repeatKey .. ':' .. schedulerId)
  return 0
end
return 1
