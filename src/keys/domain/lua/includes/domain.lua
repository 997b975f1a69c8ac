--[[
  What every transition shares: the clock, one domain's state read from and written to Redis, its
  tickets, the reply, and the law's helpers used by more than one transition (law.ts: `paceOf`,
  `intervalOf`, `pause`, `average`, `cancelled`). The constants (LAW_*, MAX_WAIT_MS) come first, generated from law.ts by
  lua-loader.ts, so the two stores cannot disagree on a number.

  KEYS[1] the domain's state (a hash, one field per number of `DomainState`, `h.*` its headers),
  KEYS[2] its tickets (a hash: seq -> "sentAt tokens paceBound capBound tokensAt inFlightAt"),
  KEYS[3] its tickets by send time (a sorted set, for their expiry).
  ARGV[1] the caller's now (ms), ARGV[2] 'caller' (use it) or 'redis' (use Redis's TIME).

  Numbers are written with %.17g, which reads back as the same double: the two stores never drift
  (cjson would print 14 digits). An infinite number (law.ts `good` after the gate's first shut) is
  written `inf`, which `tonumber` reads back as math.huge.
]]

local function num(x)
  return string.format('%.17g', x)
end

--- The script's clock, and the shift that turns an instant on the caller's clock into one on it.
local function clockOf()
  local callerNow = tonumber(ARGV[1])
  if ARGV[2] == 'caller' then return callerNow, 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
  return now, now - (callerNow or now)
end

-- The fields of DomainState, in law.ts's order: numbers, then flags.
local NUMBERS = { 'rate', 'ceiling', 'tokenRate', 'nextAt', 'pausedUntil', 'cap', 'inFlight', 'sent',
  'cutSeq', 'eventAt', 'servedSinceEvent', 'sentAtEvent', 'refusedSinceEvent', 'good', 'servedAfterCut',
  'refusalRun', 'sendGap', 'servedCount', 'servedGap', 'lastSentAt', 'lastServedAt', 'refusalCost',
  'latencyFast', 'latencySlow', 'share503', 'headersSeq', 'headersAt', 'headersTokens', 'tokensSent', 'capGood',
  'inFlightMean', 'servedHigh', 'slots', 'capBeforeSlots', 'slotsSeen' }
local FLAGS = { 'waited', 'gateShut', 'lastRefused' }
-- The headers the law reads (NormalizedLimits): the dialect and four windows.
local WINDOWS = { 'requests', 'requestsLong', 'tokens', 'inputTokens' }
local WINDOW_FIELDS = { 'limit', 'remaining', 'resetMs', 'resetAt', 'windowMs' }

--- law.ts initialState
local function initialState(now, config)
  return {
    rate = 0,
    ceiling = (config.rpm and config.rpm ~= 0) and config.rpm / 60000 or 0,
    tokenRate = (config.tpm and config.tpm ~= 0) and config.tpm / 60000 or 0,
    nextAt = now,
    pausedUntil = 0,
    cap = LAW_initialCap,
    inFlight = 0,
    sent = 0,
    cutSeq = 0,
    eventAt = now,
    servedSinceEvent = 0,
    sentAtEvent = 0,
    refusedSinceEvent = 0,
    good = 0,
    servedAfterCut = 0,
    refusalRun = 0,
    refusalCost = 0,
    sendGap = 0,
    servedCount = 0,
    servedGap = 0,
    lastSentAt = now,
    lastServedAt = now,
    waited = false,
    gateShut = false,
    latencyFast = 0,
    latencySlow = 0,
    lastRefused = false,
    share503 = 0,
    headers = nil,
    headersSeq = 0,
    headersAt = 0,
    headersTokens = 0,
    tokensSent = 0,
    capGood = 0,
    inFlightMean = 0,
    servedHigh = 0,
    slots = 0,
    capBeforeSlots = 0,
    slotsSeen = 0,
  }
end

--- Headers from name/value pairs ('dialect', 'retryAfterMs', '<window>.<field>'); nil when none.
local function headersOf(pairs, from, shift)
  local h = nil
  for i = from, #pairs - 1, 2 do
    local name, value = pairs[i], pairs[i + 1]
    h = h or {}
    if name == 'dialect' then
      h.dialect = value
    else
      local window, field = string.match(name, '^(%a+)%.(%a+)$')
      if window then
        h[window] = h[window] or {}
        local n = tonumber(value)
        -- An instant on the caller's clock, on the script's.
        if field == 'resetAt' then n = n + shift end
        h[window][field] = n
      else
        h[name] = tonumber(value)
      end
    end
  end
  return h
end

--- The domain's state; a domain not open yet starts afresh (MemoryStore's `state`).
local function loadState(now)
  local raw = redis.call('HGETALL', KEYS[1])
  if #raw == 0 then return initialState(now, {}) end
  local stored, headers = {}, {}
  for i = 1, #raw, 2 do
    local name = raw[i]
    if string.sub(name, 1, 2) == 'h.' then
      headers[#headers + 1] = string.sub(name, 3)
      headers[#headers + 1] = raw[i + 1]
    else
      stored[name] = raw[i + 1]
    end
  end
  -- (A field missing or not a number, written by anyone but these scripts, reads as a new domain's.)
  local fresh = initialState(now, {})
  local state = {}
  for _, name in ipairs(NUMBERS) do state[name] = tonumber(stored[name]) or fresh[name] end
  for _, name in ipairs(FLAGS) do state[name] = stored[name] == '1' end
  state.headers = headersOf(headers, 1, 0)
  return state
end

local function saveState(state)
  local fields = {}
  for _, name in ipairs(NUMBERS) do
    fields[#fields + 1] = name
    fields[#fields + 1] = num(state[name])
  end
  for _, name in ipairs(FLAGS) do
    fields[#fields + 1] = name
    fields[#fields + 1] = state[name] and '1' or '0'
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  if state.headersChanged then
    local gone = { 'h.dialect' }
    for _, window in ipairs(WINDOWS) do
      for _, field in ipairs(WINDOW_FIELDS) do gone[#gone + 1] = 'h.' .. window .. '.' .. field end
    end
    redis.call('HDEL', KEYS[1], unpack(gone))
    local h, kept = state.headers, {}
    if h.dialect then
      kept[#kept + 1] = 'h.dialect'
      kept[#kept + 1] = h.dialect
    end
    for _, window in ipairs(WINDOWS) do
      for _, field in ipairs(WINDOW_FIELDS) do
        if h[window] and h[window][field] then
          kept[#kept + 1] = 'h.' .. window .. '.' .. field
          kept[#kept + 1] = num(h[window][field])
        end
      end
    end
    if #kept > 0 then redis.call('HSET', KEYS[1], unpack(kept)) end
  end
end

--- Every key of the domain lives MAX_WAIT_MS after its last touch: the longest thing the state
--- holds is a pause, at most that long; a domain idle longer has nothing left worth keeping.
local function touch()
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], MAX_WAIT_MS) end
end

-- Tickets (law.ts `state.tickets`): requests in flight.
local function getTicket(seq)
  local text = redis.call('HGET', KEYS[2], num(seq))
  if not text then return nil end
  local sentAt, tokens, paceBound, capBound, tokensAt, inFlightAt =
    string.match(text, '^(%S+) (%S+) (%d) (%d) (%S+) (%S+)$')
  return { sentAt = tonumber(sentAt), tokens = tonumber(tokens), paceBound = paceBound == '1',
    capBound = capBound == '1', tokensAt = tonumber(tokensAt), inFlightAt = tonumber(inFlightAt) }
end

local function setTicket(seq, ticket)
  redis.call('HSET', KEYS[2], num(seq), num(ticket.sentAt) .. ' ' .. num(ticket.tokens) .. ' '
    .. (ticket.paceBound and '1' or '0') .. ' ' .. (ticket.capBound and '1' or '0') .. ' ' .. num(ticket.tokensAt)
    .. ' ' .. num(ticket.inFlightAt))
  redis.call('ZADD', KEYS[3], num(ticket.sentAt), num(seq))
end

--- `tickets.delete(seq)`: whether there was one.
local function deleteTicket(seq)
  redis.call('ZREM', KEYS[3], num(seq))
  return redis.call('HDEL', KEYS[2], num(seq)) == 1
end

--- law.ts paceOf
local function paceOf(state)
  if state.ceiling > 0 then
    if state.rate > 0 then return math.min(state.rate, state.ceiling) end
    return state.ceiling
  end
  return state.rate
end

--- law.ts intervalOf
local function intervalOf(state, tokens)
  local pace = paceOf(state)
  local byRequests = pace > 0 and 1 / pace or 0
  local byTokens = state.tokenRate > 0 and tokens / state.tokenRate or 0
  return math.min(MAX_WAIT_MS, math.max(byRequests, byTokens))
end

--- law.ts pause
local function pause(state, untilAt)
  state.pausedUntil = math.max(state.pausedUntil, untilAt)
end

--- law.ts average: a running mean over about the last `1 / gapWeight` values (the plain mean of
--- the first ones).
local function average(mean, value, count)
  return mean + math.max(LAW_gapWeight, 1 / math.max(1, count)) * (value - mean)
end

--- law.ts cancelled
local function cancelled(state, seq)
  if deleteTicket(seq) then state.inFlight = math.max(0, state.inFlight - 1) end
end

--[[
  The reply: the transition's own result (`head`), then what `status` shows, so each process knows
  the domain as of its last call: now, the pace, in flight, the bound, the slow latency, the pause,
  then the headers as name/value pairs.
]]
local function reply(state, now, head)
  local out = head
  out[#out + 1] = num(now)
  out[#out + 1] = num(paceOf(state))
  out[#out + 1] = num(state.inFlight)
  out[#out + 1] = num(math.floor(state.cap))
  out[#out + 1] = num(state.latencySlow)
  out[#out + 1] = num(state.pausedUntil)
  local h = state.headers
  if h then
    if h.dialect then
      out[#out + 1] = 'dialect'
      out[#out + 1] = h.dialect
    end
    for _, window in ipairs(WINDOWS) do
      for _, field in ipairs(WINDOW_FIELDS) do
        if h[window] and h[window][field] then
          out[#out + 1] = window .. '.' .. field
          out[#out + 1] = num(h[window][field])
        end
      end
    end
  end
  return out
end
