--[[
  Extends the locks of several jobs (BullMQ's extendLocks), one call per
  renewal tick of a worker.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] duration in ms
  ARGV[3], ARGV[4] ... pairs of jobId, token
  Returns the ids whose lock is missing or held by another token.
]]
local P, duration = ARGV[1], tonumber(ARGV[2])
local failed = {}
for i = 3, #ARGV - 1, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  local lockKey = P .. jobId .. ':lock'
  if rcall('GET', lockKey) == token then
    rcall('SET', lockKey, token, 'PX', duration)
    rcall('SREM', P .. 'stalled', jobId)
  else
    failed[#failed + 1] = jobId
  end
end
return failed
