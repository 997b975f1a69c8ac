--[[
  pause: law.ts `pause` for ARGV[3] ms from now (a retry-after heard elsewhere, a config's pause).
  KEYS[1..3] the domain (includes/domain.lua).
  ARGV[1] the caller's now, ARGV[2] the clock, ARGV[3] ms.
  Reply: the status.
]]
--- @include "includes/domain"

local now = clockOf()
local state = loadState(now)
pause(state, now + tonumber(ARGV[3]))
saveState(state)
touch()
return reply(state, now, {})
