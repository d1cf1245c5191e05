--[[
  Retention of finished jobs (removeOnComplete / removeOnFail).
  Needs: common.lua.
]]

-- Removes finished jobs older than maxAge seconds, at most limit of them.
local function removeJobsByMaxAge(P, target, timestamp, maxAge, limit)
  local cutoff = timestamp - maxAge * 1000
  local ids = rcall('ZRANGEBYSCORE', P .. target, 0, cutoff, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    removeJobQuietly(P, id, timestamp)
  end
  if #ids > 0 then
    rcall('ZREM', P .. target, unpack(ids))
  end
end

-- Keeps only the newest maxCount finished jobs.
local function removeJobsByMaxCount(P, target, timestamp, maxCount)
  local ids = rcall('ZREVRANGE', P .. target, maxCount, -1)
  for _, id in ipairs(ids) do
    removeJobQuietly(P, id, timestamp)
  end
  if #ids > 0 then
    rcall('ZREMRANGEBYRANK', P .. target, 0, -(maxCount + 1))
  end
end

-- Records a finished child in its parent and releases the parent when it was
-- the last pending child.
local function updateParentOnCompletion(jobKey, value, timestamp)
  local parentKey = rcall('HGET', jobKey, 'parentKey')
  if not parentKey then return end
  if rcall('SREM', parentKey .. ':dependencies', jobKey) == 1 then
    rcall('HSET', parentKey .. ':processed', jobKey, value)
    if rcall('SCARD', parentKey .. ':dependencies') == 0 then
      releaseParent(parentKey, timestamp)
    end
  end
end
