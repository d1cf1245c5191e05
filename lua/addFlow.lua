--[[
  Adds the jobs of one or more flows (FlowProducer.add / addBulk) in one
  atomic call: every node of every queue and prefix, parents before their
  children, then the release of the parents the flows touched. What it
  leaves, events included, is what BullMQ's flow transaction leaves: one
  add per node in the given order (a node with children as a parent add,
  into waiting-children), then one end-of-flow release per parent.
  Needs: common.lua, parent.lua.

  KEYS[1] meta of the first node's queue (routing)
  ARGV[1] P of that queue (unused: each node names its own queue)
  ARGV[2] timestamp of the release step
  ARGV[3] number of nodes N; then N groups of 11:
    P (the node's queue base "{prefix}:{queue}:"), jobId, name, data (JSON),
    opts (stored-options JSON), timestamp, delay, priority,
    kind: 'p' parent (has children), 'l' lifo job, 'j' job,
    parentKey ('' = none), parent (JSON of the `parent` field, '' = none)
  then the number of parents M and M groups of 3:
    parent's queue base, parent id, parent key
  Returns one code per node: 0 added, 1 a job with that id existed (nothing
  added), -5 missing parent, -7 the job is a child of another live parent.

  A node whose id exists already is handled as BullMQ handles a duplicate
  in a flow: it is attached to its new parent (recorded as processed when it
  completed, else pending), and its parent is released only by the release
  step, once all its children are in.
]]
local releaseTimestamp = ARGV[2]
local count = tonumber(ARGV[3])

-- A node whose job exists: attaches it to the node's parent when it has no
-- other live parent. Returns 1, or -7.
local function attachExisting(P, jobKey, jobId, parentKey, parent, maxEvents)
  local existing = rcall('HGET', jobKey, 'parentKey')
  if existing and existing ~= parentKey and rcall('EXISTS', existing) == 1 then
    if parentKey ~= '' then
      rcall('HSET', parentKey, 'flowAttachmentFailed', '1')
      return -7
    end
  elseif parentKey ~= '' then
    if rcall('ZSCORE', P .. 'completed', jobId) then
      local value = rcall('HGET', jobKey, 'returnvalue') or 'null'
      rcall('HSET', parentKey .. ':processed', jobKey, value)
    else
      rcall('SADD', parentKey .. ':dependencies', jobKey)
    end
    rcall('HSET', jobKey, 'parentKey', parentKey, 'parent', parent)
  end
  rcall('XADD', P .. 'events', 'MAXLEN', '~', maxEvents, '*', 'event', 'duplicated', 'jobId', jobId)
  return 1
end

local function addNode(P, jobId, name, data, opts, timestamp, delay, priority, kind, parentKey, parent)
  if parentKey ~= '' and rcall('EXISTS', parentKey) == 0 then return -5 end
  rcall('INCR', P .. 'id')
  local maxEvents = getMaxEvents(P)
  local jobKey = P .. jobId
  if rcall('EXISTS', jobKey) == 1 then
    return attachExisting(P, jobKey, jobId, parentKey, parent, maxEvents)
  end

  storeNewJob(P, jobKey, jobId, name, data, opts, timestamp, delay, priority, parentKey, parent)
  local events = P .. 'events'

  if kind == 'p' then
    rcall('ZADD', P .. 'waiting-children', timestamp, jobId)
    rcall('XADD', events, 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting-children', 'jobId', jobId)
  elseif tonumber(delay) > 0 then
    local score, due = getDelayedScore(P, tonumber(timestamp), tonumber(delay))
    rcall('ZADD', P .. 'delayed', score, jobId)
    rcall('XADD', events, 'MAXLEN', '~', maxEvents, '*', 'event', 'delayed', 'jobId', jobId, 'delay', due)
    addDelayMarkerIfNeeded(P)
  else
    local pushCmd = 'LPUSH'
    if kind == 'l' then pushCmd = 'RPUSH' end
    enqueueReady(P, jobId, tonumber(priority), pushCmd, isPausedOrMaxed(P))
    rcall('XADD', events, 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting', 'jobId', jobId)
  end

  if parentKey ~= '' then
    rcall('SADD', parentKey .. ':dependencies', jobKey)
  end
  return 0
end

local codes = {}
local a = 4
for i = 1, count do
  codes[i] = addNode(ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5],
    ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10])
  a = a + 11
end

local parents = tonumber(ARGV[a])
a = a + 1
for _ = 1, parents do
  releaseFlowParent(ARGV[a], ARGV[a + 2], ARGV[a + 1], releaseTimestamp)
  a = a + 3
end
return codes
