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
  ARGV[8..] the jobs, in runs of K jobs that share what the run gives once:
    K, target ('completed' | 'failed'), stacktrace JSON ('' = leave as is),
    keep count (-1 = keep all, 0 = remove), keep age in seconds (0 = none),
    age removal limit, attempts (the job's opts.attempts), fetchNext '1' | '0',
  then 3 per job: jobId, token, value (returnvalue JSON | failedReason).
  (Each argument costs Redis a parse and a copy; the jobs of one worker
  mostly share all but these three.)
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
local limiterMax, limiterDuration = toInteger(ARGV[4]), toInteger(ARGV[5])
local workerName = ARGV[6]
-- The queue settings of the finishes (the events max length) and of the
-- fetches, read once.
local meta = rcall('HMGET', P .. 'meta', 'paused', 'concurrency', 'max', 'duration', 'opts.maxLenEvents')
local Q = finishKeys(P, toInteger(ARGV[7]), meta[5])

-- The jobs come in runs (see above); job k is the k-th job of the call. A
-- single job takes the checks of moveToFinished: the same calls, without
-- the tables.
-- (One job is one run of one: 7 arguments, a run header of 8, 3 for the job.)
local fast = #ARGV > 7 + 8 + 3

-- Up-front reads, for a batch of several jobs.
local jobKeys, lockKeys, lockAt, held = {}, {}, {}, {}
local anyChildren = false
if fast then
  local depKeys = {}
  local k, a = 0, 8
  while a <= #ARGV do
    local runLength, completing = toInteger(ARGV[a]), ARGV[a + 1] == 'completed'
    for i = a + 8, a + 5 + 3 * runLength, 3 do
      k = k + 1
      local jobKey = P .. ARGV[i]
      jobKeys[k] = jobKey
      if ARGV[i + 1] ~= '0' then
        lockKeys[#lockKeys + 1] = jobKey .. ':lock'
        lockAt[k] = #lockKeys
      end
      if completing then
        depKeys[#depKeys + 1] = jobKey .. ':dependencies'
        depKeys[#depKeys + 1] = jobKey .. ':unsuccessful'
      end
    end
    a = a + 8 + 3 * runLength
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
local k, a = 0, 8
while a <= #ARGV do
  local runLength, target, stacktrace = toInteger(ARGV[a]), ARGV[a + 1], ARGV[a + 2]
  -- keepLimit only goes back to Redis: it stays text.
  local keepCount, keepAge, keepLimit = toInteger(ARGV[a + 3]), toInteger(ARGV[a + 4]), ARGV[a + 5]
  local attempts, fetchNext = toInteger(ARGV[a + 6]) or 0, ARGV[a + 7] == '1'
  for i = a + 8, a + 5 + 3 * runLength, 3 do
    k = k + 1
    local jobId, token, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local attrs = nil
    local jobKey = jobKeys[k]
    if fast and not touched[jobId] then
      attrs = rcall('HMGET', jobKey, 'ats', 'atm', 'deid', 'parentKey')
      if not attrs[1] or (anyChildren and target == 'completed') then attrs = nil end
    end
    local result
    if attrs then
      -- releaseLock with the lock read up front and its deletion deferred.
      result = 0
      if token ~= '0' then
        result = lockCheck(held[lockAt[k]], token)
        if result == 0 then
          local lockKey = lockKeys[lockAt[k]]
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
      if fetchNext then
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
  a = a + 8 + 3 * runLength
end
if #unlocked > 0 then deleteLocks() end
flushFinishBatch(P, batch, timestamp)
return results
