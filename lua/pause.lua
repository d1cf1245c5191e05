--[[
  Pauses the queue globally (6.x): workers fetch nothing until resume.
  Needs: common.lua.

  KEYS[1] meta
  ARGV[1] P
  Sets meta.paused, deletes the marker so blocked workers stay blocked, and
  emits `paused`. The wait list stays where it is. Returns 0.
]]
local P = ARGV[1]
rcall('HSET', P .. 'meta', 'paused', 1)
rcall('DEL', P .. 'marker')
rcall('XADD', P .. 'events', '*', 'event', 'paused')
return 0
