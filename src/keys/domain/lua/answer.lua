--[[
  answer: law.ts `answered` (with `classify`, `learnHeaders`, `roomLeft`, `growth`, `served`, `refused`,
  `cut`).
  KEYS[1..3] the domain (includes/domain.lua).
  ARGV[1] the caller's now, ARGV[2] the clock, ARGV[3] the request's seq, ARGV[4] the status,
  ARGV[5] the latency, ms ('' when not finite), ARGV[6..] the headers as name/value pairs
  ('dialect', 'retryAfterMs', '<window>.<field>'; a `resetAt` is on the caller's clock).
  Reply: { the verdict: 'served' | 'refused' | 'error' }, then the status.
]]
--- @include "includes/domain"

--- law.ts roomShown
local function roomShown(h)
  local remaining = nil
  if h then
    remaining = h.requests and h.requests.remaining
    if remaining == nil then remaining = h.tokens and h.tokens.remaining end
  end
  return remaining ~= nil and remaining >= 1
end

--- law.ts classify
local function classify(state, sample)
  if sample.status == 429 then return 'refused' end
  if sample.status == 503 then
    if sample.headers and sample.headers.retryAfterMs ~= nil then return 'refused' end
    local often = state.share503 > LAW_stray503
    if (state.lastRefused or often) and not roomShown(sample.headers) then return 'refused' end
    return 'error'
  end
  return sample.status < 400 and 'served' or 'error'
end

--- law.ts learnHeaders
local function learnHeaders(state, sample, sentAt, tokensAt)
  local h = sample.headers
  if not h or (not h.requests and not h.tokens and not h.inputTokens and not h.requestsLong) then return end
  if sample.seq < state.headersSeq then return end
  state.headers = h
  state.headersChanged = true
  state.headersSeq = sample.seq
  state.headersAt = sentAt
  state.headersTokens = tokensAt
end

--- law.ts roomLeft: requests the answer's headers say are left now (0: none said).
local function roomLeft(h)
  local remaining = h and h.requests and h.requests.remaining
  if remaining == nil then return 0 end
  return remaining
end

--- law.ts probeGrowth
local function probeGrowth(state)
  local probe = LAW_climb * math.min(LAW_maxSpeedup, 1 + state.servedSinceEvent / LAW_probeAfter)
  local cycle = math.log(1 / LAW_cut) / probe
  local needed = LAW_costCycles * state.refusalCost
  if needed > cycle then return (probe * cycle) / needed end
  return probe
end

--- law.ts growth: how much one served answer that waited for its slot raises the pace.
local function growth(state)
  local perTrip = state.rate * state.latencySlow
  if state.rate < state.good then return 1 / math.max(1, perTrip) end
  return probeGrowth(state)
end

--- law.ts served
local function served(state, now, sample, ticket)
  state.servedSinceEvent = state.servedSinceEvent + 1
  state.servedCount = state.servedCount + 1
  local gapFrom = math.max(state.lastServedAt, math.min(now, state.pausedUntil))
  state.servedGap = average(state.servedGap, now - gapFrom, state.servedCount)
  state.lastServedAt = now
  local latency = sample.latencyMs
  if latency ~= nil and latency >= 0 then
    if state.latencyFast == 0 then
      state.latencyFast = latency
    else
      state.latencyFast = state.latencyFast + LAW_fastWeight * (latency - state.latencyFast)
    end
    if state.latencySlow == 0 then
      state.latencySlow = latency
    else
      state.latencySlow = state.latencySlow + LAW_slowWeight * (latency - state.latencySlow)
    end
  end
  if ticket then state.servedHigh = math.max(state.servedHigh, ticket.inFlightAt) end
  if not ticket or sample.seq <= state.cutSeq then return end
  state.servedAfterCut = state.servedAfterCut + 1
  state.refusalRun = 0
  if ticket.paceBound and state.rate > 0 then state.rate = state.rate * (1 + growth(state)) end
  -- Served with the in-flight bound binding and latency not climbing: one more in flight.
  local warm = state.sent > 1 / LAW_slowWeight
  if not ticket.capBound or (warm and state.latencyFast > LAW_gradient * state.latencySlow) then return end
  if state.slots > 0 and state.cap >= state.capGood then
    state.cap = state.cap + probeGrowth(state) / math.log(1 / LAW_cut)
  elseif state.capGood > 0 and state.cap >= state.capGood then
    state.cap = state.cap * (1 + probeGrowth(state))
  else
    state.cap = state.cap + math.max(1, math.min(state.cap, roomLeft(sample.headers) - state.inFlight))
  end
end

--- law.ts cut
local function cut(state, now, roundTripMs)
  -- What went and what was served lately (each over its last ~16), whichever is higher.
  local lately = math.max(1 / math.max(state.sendGap, 1e-3), state.servedGap > 0 and 1 / state.servedGap or 0)
  -- (Before anything was served, the only rate the refusals vouch for is one request per round trip,
  -- the refusal's own. A latency that is not a finite number arrives as nil: 0 here, where law.ts
  -- would compute with NaN.)
  local going = lately
  if state.servedCount == 0 then going = 1 / math.max(1, roundTripMs or 0) end
  local pace = paceOf(state)
  local base = going
  if pace > 0 then base = math.min(pace, going) end
  local inRun = state.refusalRun > 0
  local slowStart = pace > 0 and pace < state.good
  -- (At most halved per event: the interval at most doubles, as exponential backoff does.)
  state.rate = base * math.max(0.5, LAW_cut ^ (1 + state.refusalRun))
  -- (Nothing served yet: the pace is a guess, and slow start goes on until a refusal after a serve.)
  if state.servedCount == 0 then
    state.good = math.huge
  elseif slowStart and not inRun then
    state.good = pace / 2
  elseif not inRun then
    state.good = state.rate
  end
  state.refusalRun = state.refusalRun + 1
  state.servedAfterCut = 0
  state.cutSeq = state.sent
  state.eventAt = now
  state.servedSinceEvent = 0
  state.sentAtEvent = state.sent
  state.refusedSinceEvent = 0
  state.servedHigh = 0
  state.nextAt = math.max(state.nextAt, now + intervalOf(state, 1))
end

--- law.ts fullAt
local function fullAt(state, k)
  if k < 2 or state.servedCount < 2 * k or k - 1 >= state.cap then return false end
  return k > state.inFlightMean and k > state.servedHigh
end

--- law.ts backToSlots
local function backToSlots(state)
  state.cap = state.slots
  state.capGood = state.cap
  state.servedSinceEvent = 0
  return true
end

--- law.ts refuteSlots
local function refuteSlots(state)
  state.cap = math.max(state.cap, state.capBeforeSlots)
  state.capGood = 0
  state.slots = -1
  return false
end

--- law.ts slotsRefusal: rule 8, a server with slots.
local function slotsRefusal(state, ticket)
  local k = ticket.inFlightAt
  if state.slots > 0 then
    if k > state.slots then return backToSlots(state) end
    return refuteSlots(state)
  end
  if state.slots < 0 or not fullAt(state, k) then return false end
  if state.slotsSeen ~= k - 1 then
    state.slotsSeen = k - 1
    return false
  end
  state.capBeforeSlots = state.cap
  state.slots = k - 1
  state.servedHigh = 0
  return backToSlots(state)
end

--- law.ts servedRate
local function servedRate(state)
  local pace = paceOf(state)
  if state.servedGap <= 0 then return pace end
  if pace > 0 then return math.min(1 / state.servedGap, pace) end
  return 1 / state.servedGap
end

--- law.ts refused
local function refused(state, now, sample, ticket)
  state.refusedSinceEvent = state.refusedSinceEvent + 1
  if sample.seq <= state.cutSeq then return end
  local pauseMs = sample.headers and sample.headers.retryAfterMs or 0
  if ticket and slotsRefusal(state, ticket) then
    state.refusalCost = pauseMs * servedRate(state)
    return
  end
  cut(state, now, sample.latencyMs)
  if ticket and not ticket.paceBound and ticket.capBound and state.servedCount > 0 then
    local floor = math.max(1, state.slots)
    state.cap = math.max(floor, math.min(state.cap, LAW_cut * ticket.inFlightAt))
    state.capGood = state.cap
  end
  state.refusalCost = pauseMs * paceOf(state)
end

--- law.ts answered
local function answered(state, now, sample)
  local ticket = getTicket(sample.seq)
  if ticket then
    deleteTicket(sample.seq)
    state.inFlight = math.max(0, state.inFlight - 1)
  end
  local verdict = classify(state, sample)
  state.lastRefused = verdict == 'refused' or sample.status == 503
  state.share503 = state.share503 + LAW_gapWeight * ((sample.status == 503 and 1 or 0) - state.share503)
  learnHeaders(state, sample, ticket and ticket.sentAt or now, ticket and ticket.tokensAt or state.tokensSent)
  if verdict == 'served' then
    served(state, now, sample, ticket)
  elseif verdict == 'refused' then
    refused(state, now, sample, ticket)
  end
  -- After the cut (which measures what the server took before this pause): wait as told.
  local retryAfter = sample.headers and sample.headers.retryAfterMs
  if retryAfter ~= nil and (sample.status == 429 or sample.status == 503) then
    pause(state, now + retryAfter)
  end
  return verdict
end

local now, shift = clockOf()
local state = loadState(now)
local sample = {
  seq = tonumber(ARGV[3]),
  status = tonumber(ARGV[4]),
  latencyMs = tonumber(ARGV[5]),
  headers = headersOf(ARGV, 6, shift),
}
local verdict = answered(state, now, sample)
saveState(state)
touch()
return reply(state, now, { verdict })
