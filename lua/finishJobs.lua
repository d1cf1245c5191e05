--[[
  Completes or finally fails several active jobs in one call, each followed by
  its own fetch-next when asked: the results, keys, fields and events (in
  their order) are those of one moveToFinished call per job, made in the
  given order with the same timestamp. The events stream is trimmed once;
  the stalled set and the completed / failed sets are written once
  (newFinishBatch).
  Needs: common.lua, fetch.lua, finish.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] timestamp
  ARGV[3] lockDuration   ARGV[4] limiter max   ARGV[5] limiter duration
  ARGV[6] worker name
  ARGV[7..] 10 per job:
    jobId, token, target ('completed' | 'failed'),
    value (returnvalue JSON | failedReason), stacktrace JSON ('' = leave as is),
    keep count (-1 = keep all, 0 = remove), keep age in seconds (0 = none),
    age removal limit, attempts (the job's opts.attempts), fetchNext '1' | '0'
  Returns one result per job, as moveToFinished: 0, a negative code, or the
  fetch result of the job's fetch-next (its jobFields as JSON text, as
  fetchJobs.lua returns them).
]]
local P, timestamp = ARGV[1], tonumber(ARGV[2])
local lockDuration, limiterMax, limiterDuration = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local workerName = ARGV[6]
local results = {}
local trim = true
local st = nil
local batch = newFinishBatch()
for i = 7, #ARGV - 9, 10 do
  local token = ARGV[i + 1]
  local result = finishJob(P, ARGV[i], token, ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5]),
    tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7]), tonumber(ARGV[i + 8]) or 0, timestamp, trim, batch)
  if result == 0 then
    trim = false
    local next = nil
    if ARGV[i + 9] == '1' then
      st = st or newFetchState(P, limiterMax, limiterDuration)
      next = fetchAfterFinish(P, st, timestamp, token, lockDuration, workerName)
    end
    if next then
      if next[1] ~= 0 then next[1] = cjson.encode(next[1]) end
      result = next
    else
      addDrainedEventIfEmpty(P)
    end
  end
  results[#results + 1] = result
end
flushFinishBatch(P, batch, timestamp)
return results
