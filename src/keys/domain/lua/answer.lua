--[[
  answer: law.ts `answered` (with `classify`, `learnHeaders`, `served`, `refused`, `cut`).
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
    if state.lastRefused and not roomShown(sample.headers) then return 'refused' end
    return 'error'
  end
  return sample.status < 400 and 'served' or 'error'
end

--- law.ts learnHeaders
local function learnHeaders(state, sample, sentAt)
  local h = sample.headers
  if not h or (not h.requests and not h.tokens and not h.inputTokens and not h.requestsLong) then return end
  if sample.seq < state.headersSeq then return end
  state.headers = h
  state.headersChanged = true
  state.headersSeq = sample.seq
  state.headersAt = sentAt
end

--- law.ts served
local function served(state, sample, ticket)
  state.refusalRun = 0
  state.servedSinceEvent = state.servedSinceEvent + 1
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
  if not ticket or sample.seq <= state.cutSeq then return end
  -- Served with the pace binding: climb, faster the longer no refusal came (CUBIC's shape: slow
  -- near the last cut, then probing for a limit that rose).
  local climb = LAW_climb * math.min(LAW_maxSpeedup, 1 + state.servedSinceEvent / LAW_probeAfter)
  if ticket.paceBound and state.rate > 0 then state.rate = state.rate * (1 + climb) end
  -- Served with the in-flight bound binding and latency not climbing: one more in flight.
  local warm = state.sent > 1 / LAW_slowWeight
  if ticket.capBound and (not warm or state.latencyFast <= LAW_gradient * state.latencySlow) then
    state.cap = state.cap + 1
  end
end

--- law.ts cut
local function cut(state, now, factor)
  -- What the server took since the last event: sent and not refused; a pause since is not time the
  -- server could take any.
  local span = math.max(1, now - math.max(state.eventAt, math.min(now, state.pausedUntil)))
  local taken = state.sent - state.sentAtEvent - state.refusedSinceEvent
  local servedRate = math.max(1, taken) / span
  local pace = paceOf(state)
  -- (Over less than a round trip since the event, too little was seen to say the pace was not it.)
  local seen = span >= state.latencySlow
  local base = servedRate
  if pace > 0 and (servedRate >= 0.5 * pace or not seen) then base = pace end
  if state.latencySlow > 0 then base = math.min(base, (state.inFlight + 1) / state.latencySlow) end
  state.rate = factor * base
  state.cutSeq = state.sent
  state.eventAt = now
  state.servedSinceEvent = 0
  state.sentAtEvent = state.sent
  state.refusedSinceEvent = 0
  state.nextAt = math.max(state.nextAt, now + intervalOf(state, 1))
end

--- law.ts refused
local function refused(state, now, sample, ticket)
  state.refusedSinceEvent = state.refusedSinceEvent + 1
  if sample.seq <= state.cutSeq then return end
  local run = state.refusalRun
  state.refusalRun = state.refusalRun + 1
  cut(state, now, LAW_cut ^ (1 + run))
  -- Refused again with nothing served since: the limit is spent for now. Wait, doubling, unless
  -- the server said how long.
  if run > 0 and (not sample.headers or sample.headers.retryAfterMs == nil) then
    local base = math.max(intervalOf(state, ticket and ticket.tokens or 1), 1)
    pause(state, now + math.min(MAX_WAIT_MS, base * 2 ^ math.min(30, run)))
  end
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
  learnHeaders(state, sample, ticket and ticket.sentAt or now)
  if verdict == 'served' then
    served(state, sample, ticket)
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
