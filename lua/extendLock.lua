--[[
  Extends the lock of one job held by token (BullMQ's extendLock) and takes
  the job off the stalled candidates.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] jobId        ARGV[3] token
  ARGV[4] duration in ms
  Returns 1 when extended, 0 when the lock is missing or held by another token.
]]
local P, jobId, token = ARGV[1], ARGV[2], ARGV[3]
local lockKey = P .. jobId .. ':lock'
if rcall('GET', lockKey) == token then
  rcall('SET', lockKey, token, 'PX', tonumber(ARGV[4]))
  rcall('SREM', P .. 'stalled', jobId)
  return 1
end
return 0
