--[[
  unpause: law.ts `unpause`: the domain's pause ends now (a config save, issue 23); the pace, the
  schedule and what the law learned stay.
  KEYS[1..3] the domain (includes/domain.lua).
  ARGV[1] the caller's now, ARGV[2] the clock.
  Reply: the status.
]]
--- @include "includes/domain"

--- law.ts unpause
local function unpause(state, now)
  state.pausedUntil = math.min(state.pausedUntil, now)
end

local now = clockOf()
local state = loadState(now)
unpause(state, now)
saveState(state)
touch()
return reply(state, now, {})
