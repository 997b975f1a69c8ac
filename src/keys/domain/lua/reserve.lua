--[[
  reserve: law.ts `readyAt`, then `sent` when the request may go now (MemoryStore.reserve).
  KEYS[1..3] the domain (includes/domain.lua).
  ARGV[1] the caller's now, ARGV[2] the clock, ARGV[3] the request's tokens, ARGV[4] the tickets'
  lifetime, ms.
  Reply: { 'seq', its number } or { 'wait', ms until worth asking again, 'inf' after an answer },
  then the status (includes/domain.lua `reply`).
]]
--- @include "includes/domain"

--- law.ts gateAt
local function gateAt(state, now, tokens)
  local h = state.headers
  if not h then return now end
  local at = now
  local sinceRequests = state.sent - state.headersSeq
  -- A reset in whole seconds (every dialect but OpenAI's) says nothing finer than a second: a
  -- gate of a second or less would wait the whole second for what may be milliseconds away.
  local coarse = h.dialect ~= 'openai'
  local function check(window, used, need)
    if not window or window.remaining == nil or window.resetMs == nil then return end
    if coarse and window.resetMs <= 1000 then return end
    local reset = window.resetAt or state.headersAt + window.resetMs
    if reset <= now then return end
    if window.remaining - used >= need then return end
    at = math.max(at, reset + LAW_gatePadMs)
  end
  check(h.requests, sinceRequests, 1)
  check(h.requestsLong, sinceRequests, 1)
  local tokenWindow = h.tokens or h.inputTokens
  if tokenWindow then
    local tokensSince = state.tokensSent - state.headersTokens
    check(tokenWindow, math.max(0, tokensSince), math.min(tokens, tokenWindow.limit))
  end
  return at
end

--- law.ts gateShut
local function gateShut(state, now, opens)
  if paceOf(state) > 0 then return end
  local taken = state.sent - state.sentAtEvent - state.refusedSinceEvent
  state.rate = math.max(1, taken) / math.max(1, opens - state.eventAt)
  -- A guess from one window, not a refusal: it climbs as slow start until a refusal says where the
  -- limit is (the gate holds meanwhile).
  state.good = math.huge
  state.eventAt = now
  state.sentAtEvent = state.sent
  state.refusedSinceEvent = 0
  state.servedSinceEvent = 0
end

--- law.ts readyAt
local function readyAt(state, now, tokens)
  if state.inFlight >= math.floor(state.cap) then return math.huge end
  local gate = gateAt(state, now, tokens)
  if gate > now and not state.gateShut then gateShut(state, now, gate) end
  state.gateShut = gate > now
  local at = math.max(now, state.nextAt, state.pausedUntil, gate)
  if at > now then state.waited = true end
  return at
end

--- law.ts sent
local function sent(state, now, tokens)
  state.sent = state.sent + 1
  state.tokensSent = state.tokensSent + tokens
  setTicket(state.sent, {
    sentAt = now,
    tokens = tokens,
    paceBound = state.waited,
    capBound = state.inFlight + 1 >= state.cap / 2,
    tokensAt = state.tokensSent,
    inFlightAt = state.inFlight + 1,
  })
  state.inFlight = state.inFlight + 1
  state.inFlightMean = average(state.inFlightMean, state.inFlight, state.sent)
  state.waited = false
  -- (A pause is not a gap the pace or the server made: the gap counts from its end.)
  local gapFrom = math.max(state.lastSentAt, math.min(now, state.pausedUntil))
  state.sendGap = average(state.sendGap, now - gapFrom, state.sent)
  state.lastSentAt = now
  local interval = intervalOf(state, tokens)
  -- A send late by a timer's slack keeps the schedule's grid; a later one starts it afresh (catching
  -- up would put two requests closer than the pace, which a leaky bucket without burst refuses).
  local late = now - state.nextAt
  local from = (late > 0 and late <= LAW_timerSlackMs) and state.nextAt or math.max(state.nextAt, now)
  state.nextAt = from + interval
  return state.sent
end

--[[
  Not in law.ts (one process's memory dies with it): a ticket older than ARGV[4] is a request whose
  process died between its send and its answer or cancel. An attempt is aborted at its HTTP timeout
  and then answered or cancelled, so the caller passes a bound well past that timeout; without this,
  a killed process's requests would hold the domain's places in flight for good.
]]
local function expireTickets(state, now)
  local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. num(now - tonumber(ARGV[4])))
  for _, seq in ipairs(old) do cancelled(state, tonumber(seq)) end
end

local now = clockOf()
local state = loadState(now)
expireTickets(state, now)
local tokens = tonumber(ARGV[3])
local at = readyAt(state, now, tokens)
local head
if at <= now then
  head = { 'seq', num(sent(state, now, tokens)) }
else
  head = { 'wait', at == math.huge and 'inf' or num(at - now) }
end
saveState(state)
touch()
return reply(state, now, head)
