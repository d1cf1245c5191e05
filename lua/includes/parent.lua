--[[
  Parent bookkeeping of child jobs (flows) that only some scripts need: what
  a child's final failure does to its parent, and the release of the parents
  of a flow once the whole flow is written.
  Needs: common.lua.

  A child's `parent` field (JSON {id, queueKey, fpof?, cpof?, idof?, rdof?})
  names its parent and says how the parent takes the child's failure, as in
  BullMQ: the flags are read from that field, not from the child's options.
]]

-- A failed child with failParentOnFailure: its parent (PP its queue base)
-- must fail. A parent waiting for its children (or delayed, its delay then
-- dropped) is made runnable with a deferred failure, which the worker that
-- fetches it turns into the parent's failure; an active parent only gets the
-- deferred failure (it cannot complete anyway); a failed one is left alone.
local function failParentOfChild(PP, parentKey, parentId, childKey, timestamp)
  if rcall('EXISTS', parentKey) == 0 then return end
  local reason = 'child ' .. childKey .. ' failed'
  local from = nil
  if rcall('ZSCORE', PP .. 'waiting-children', parentId) then
    from = 'waiting-children'
  elseif rcall('ZSCORE', PP .. 'delayed', parentId) then
    from = 'delayed'
    rcall('HSET', parentKey, 'delay', 0)
  end
  if from then
    rcall('ZREM', PP .. from, parentId)
    rcall('HSET', parentKey, 'defa', reason)
    moveParentToWait(PP, parentKey, parentId, timestamp)
  elseif not rcall('ZSCORE', PP .. 'failed', parentId) then
    rcall('HSET', parentKey, 'defa', reason)
  end
end

-- What a child's final failure does to its parent, by the child's flag:
--   fpof  the child is recorded in the parent's `unsuccessful` and the parent
--         fails (failParentOfChild);
--   cpof  its reason goes to the parent's `failed` and the parent runs now,
--         even with other children pending;
--   idof  its reason goes to `failed` and it no longer counts as pending;
--   rdof  it no longer counts as pending;
--   none  nothing: the parent keeps waiting for it.
-- `parentKey`: the child's parentKey field (false = no parent); the parent
-- itself is read from the child's `parent` field.
local function updateParentOnFailure(childKey, reason, timestamp, parentKey)
  if not parentKey then return end
  local field = rcall('HGET', childKey, 'parent')
  if not field then return end
  local parent = cjson.decode(field)
  local PP, parentId = parent['queueKey'] .. ':', parent['id']
  local key = PP .. parentId
  local deps = key .. ':dependencies'
  if parent['fpof'] then
    if rcall('SREM', deps, childKey) == 1 then
      rcall('ZADD', key .. ':unsuccessful', timestamp, childKey)
      failParentOfChild(PP, key, parentId, childKey, timestamp)
    end
  elseif parent['cpof'] then
    if rcall('SREM', deps, childKey) == 1 then
      rcall('HSET', key .. ':failed', childKey, reason)
      releaseParentOf(PP, key, parentId, timestamp)
    end
  elseif parent['idof'] or parent['rdof'] then
    if rcall('SREM', deps, childKey) == 1 then
      if rcall('SCARD', deps) == 0 then
        releaseParentOf(PP, key, parentId, timestamp)
      end
      if parent['idof'] then
        rcall('HSET', key .. ':failed', childKey, reason)
      end
    end
  end
end

-- The end of a flow insert, per parent the flow touched: a parent left with
-- nothing pending (its children all existed and were completed) is
-- released; one a child could not be attached to (flowAttachmentFailed) only
-- loses that mark.
local function releaseFlowParent(PP, parentKey, parentId, timestamp)
  if rcall('HGET', parentKey, 'flowAttachmentFailed') then
    rcall('HDEL', parentKey, 'flowAttachmentFailed')
    return
  end
  if rcall('SCARD', parentKey .. ':dependencies') == 0 then
    releaseParentOf(PP, parentKey, parentId, timestamp)
  end
end
