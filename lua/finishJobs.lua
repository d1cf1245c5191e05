--[[
  Completes or finally fails several active jobs in one call, each followed by
  its own fetch-next when asked: the results, keys, fields and events (in
  their order) are those of one moveToFinished call per job, made in the
  given order with the same timestamp. The events stream is trimmed once;
  the stalled set and the completed / failed sets are written once
  (newFinishBatch).
  Needs: common.lua, fetch.lua, parent.lua, finish.lua.

  KEYS[1] meta
  ARGV[1] P
  ARGV[2] timestamp
  ARGV[3] lockDuration   ARGV[4] limiter max   ARGV[5] limiter duration
  ARGV[6] worker name
  ARGV[7] metrics maxDataPoints (0 = no metrics)
  ARGV[8..] 10 per job:
    jobId, token, target ('completed' | 'failed'),
    value (returnvalue JSON | failedReason), stacktrace JSON ('' = leave as is),
    keep count (-1 = keep all, 0 = remove), keep age in seconds (0 = none),
    age removal limit, attempts (the job's opts.attempts), fetchNext '1' | '0'
  Returns one result per job, as moveToFinished: 0, a negative code, or the
  fetch result of the job's fetch-next (its jobFields as JSON text, as
  fetchJobs.lua returns them).

  The checks of all jobs are read up front: their locks with one MGET, and
  whether any job to complete has pending or failed children with one
  EXISTS; the locks released are deleted with one DEL at the end. Those
  reads stay true for a job until the batch itself touches it: only a job
  finished or fetched earlier in the batch can have its lock changed (the
  job's hash is read when its turn comes, and children only ever go away
  here). Such a job, a job whose hash lacks `ats`, and every job to complete
  when some job has children take the checks of one moveToFinished call,
  after the deferred deletions are made.
]]
local P, timestamp, lockDuration = ARGV[1], ARGV[2], ARGV[3]
local limiterMax, limiterDuration = tonumber(ARGV[4]), tonumber(ARGV[5])
local workerName = ARGV[6]
-- The queue settings of the finishes (the events max length) and of the
-- fetches, read once.
local meta = rcall('HMGET', P .. 'meta', 'paused', 'concurrency', 'max', 'duration', 'opts.maxLenEvents')
local Q = finishKeys(P, tonumber(ARGV[7]), meta[5])
local last = #ARGV - 9

local n = (last - 8) / 10 + 1

-- Up-front reads, for a batch of several jobs (a single job takes the checks
-- of moveToFinished: the same calls, without the tables).
local fast = n > 1
local jobKeys, lockKeys, lockAt, held = {}, {}, {}, {}
local anyChildren = false
if fast then
  local depKeys = {}
  for i = 8, last, 10 do
    local jobKey = P .. ARGV[i]
    jobKeys[i] = jobKey
    if ARGV[i + 1] ~= '0' then
      lockKeys[#lockKeys + 1] = jobKey .. ':lock'
      lockAt[i] = #lockKeys
    end
    if ARGV[i + 2] == 'completed' then
      depKeys[#depKeys + 1] = jobKey .. ':dependencies'
      depKeys[#depKeys + 1] = jobKey .. ':unsuccessful'
    end
  end
  for from = 1, #lockKeys, 1000 do
    local part = rcall('MGET', unpack(lockKeys, from, math.min(from + 999, #lockKeys)))
    for k = 1, #part do held[from + k - 1] = part[k] end
  end
  for from = 1, #depKeys, 1000 do
    if rcall('EXISTS', unpack(depKeys, from, math.min(from + 999, #depKeys))) > 0 then anyChildren = true end
  end
end

-- Lock deletions left for later (with the ids to take off the stalled set,
-- in the finish batch).
local unlocked, unlockedSet = {}, {}
local function deleteLocks()
  for from = 1, #unlocked, 1000 do
    rcall('DEL', unpack(unlocked, from, math.min(from + 999, #unlocked)))
  end
  unlocked, unlockedSet = {}, {}
end

local results = {}
local trim = true
local st = nil
local touched = {}
local batch = newFinishBatch()
for i = 8, last, 10 do
  local jobId, token, target, value, stacktrace = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local keepCount, keepAge, keepLimit = tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7])
  local attempts = tonumber(ARGV[i + 8]) or 0
  local attrs = nil
  local jobKey = jobKeys[i]
  if fast and not touched[jobId] then
    attrs = rcall('HMGET', jobKey, 'ats', 'atm', 'deid', 'parentKey')
    if not attrs[1] or (anyChildren and target == 'completed') then attrs = nil end
  end
  local result
  if attrs then
    -- releaseLock with the lock read up front and its deletion deferred.
    result = 0
    if token ~= '0' then
      result = lockCheck(held[lockAt[i]], token)
      if result == 0 then
        local lockKey = lockKeys[lockAt[i]]
        unlocked[#unlocked + 1] = lockKey
        unlockedSet[lockKey] = true
        batch.unstalled[#batch.unstalled + 1] = jobId
      end
    end
    if result == 0 then
      result = takeOffActive(Q.active, jobKey, jobId, failureFields(value, stacktrace))
    end
    if result == 0 then
      result = completeFinish(Q, jobKey, jobId, target, value, attrs, keepCount, keepAge, keepLimit,
        attempts, timestamp, trim, batch)
    end
  else
    if #unlocked > 0 then deleteLocks() end
    result = finishJob(Q, jobId, token, target, value, stacktrace, keepCount, keepAge, keepLimit,
      attempts, timestamp, trim, batch)
  end
  touched[jobId] = true
  if result == 0 then
    trim = false
    local next = nil
    if ARGV[i + 9] == '1' then
      if not st then
        st = newFetchState(P, limiterMax, limiterDuration, meta)
        if fast then
          st.beforeLock = function(lockKey)
            if unlockedSet[lockKey] then deleteLocks() end
          end
        end
      end
      next = fetchAfterFinish(P, st, timestamp, token, lockDuration, workerName)
    end
    if next then
      if next[1] ~= 0 then
        touched[next[2]] = true
        next[1] = cjson.encode(next[1])
      end
      result = next
    else
      addDrainedEventIfEmpty(P)
    end
  end
  results[#results + 1] = result
end
if #unlocked > 0 then deleteLocks() end
flushFinishBatch(P, batch, timestamp)
return results
