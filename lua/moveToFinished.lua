--[[
  Completes or finally fails an active job (BullMQ's moveToFinished), then
  optionally fetches the next job with the same token.
  Needs: common.lua, fetch.lua, finish.lua.

  KEYS[1] meta
  ARGV[1] P            ARGV[2] jobId        ARGV[3] timestamp
  ARGV[4] target: 'completed' | 'failed'
  ARGV[5] value: returnvalue JSON (completed) or failedReason (failed)
  ARGV[6] fetchNext '1' | '0'
  ARGV[7] token
  ARGV[8] keep count (-1 = keep all, 0 = remove)
  ARGV[9] keep age in seconds (0 = no age limit)
  ARGV[10] age removal limit per call
  ARGV[11] attempts (the job's opts.attempts)
  ARGV[12] lockDuration   ARGV[13] limiter max   ARGV[14] limiter duration
  ARGV[15] worker name
  ARGV[16] stacktrace JSON ('' = leave as is)
  ARGV[17] metrics maxDataPoints (0 = no metrics)
  Returns 0, a negative code, or the fetch result of the next job.
]]
local P, jobId, timestamp = ARGV[1], ARGV[2], ARGV[3]
local token = ARGV[7]

local code = finishJob(finishKeys(P, tonumber(ARGV[17]) or 0), jobId, token, ARGV[4], ARGV[5], ARGV[16], tonumber(ARGV[8]),
  tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]) or 0, timestamp, true)
if code < 0 then return code end

if ARGV[6] == '1' then
  local st = newFetchState(P, tonumber(ARGV[13]), tonumber(ARGV[14]))
  local next = fetchAfterFinish(P, st, timestamp, token, ARGV[12], ARGV[15])
  if next then return next end
end

addDrainedEventIfEmpty(P)
return 0
