"""The Lua run by the velocity store (core/redis/velocity.py), apart from the Python around it.

``VELOCITY_FUNCTION`` reads (and on a write, counts) a payment's velocity sets,
decline and lost-dispute sets, the customer's history and the lists' version, in
one round trip; the request gate's script calls it as a rider
(``VelocityRider``), ``VELOCITY_SCRIPT`` runs it alone. ``EVENT_SCRIPT`` adds
one event (a decline, a lost dispute) to sets kept for a window.
"""

# KEYS: velocity sets (ARGV[4] of them), decline sets (ARGV[5]), lost dispute sets
# (ARGV[10]), the customer's history hash (if ARGV[6] == '1'), the list version key
# (always last).
# ARGV: 1 write ('1'/'0'), 2 amount, 3 member id, 4 #velocity, 5 #declines,
#       6 has history, 7 now in ms ('' = Redis' own clock), 8 cap, 9 history TTL ms,
#       10 #lost dispute sets, 11 their window in ms.
# clock_us: Redis' clock as the gate's script already read it (riding), or nil.
#
# Redis commands per velocity set: ZRANGE (the whole set: what fell out of the
# day is trimmed on every write, so it is the day's members and the few that
# aged out since the last payment), ZADD, PEXPIRE, and a ZREMRANGEBYRANK only
# when members fell out of the day or the set is full: the day's oldest members
# are its lowest ranks, so one rank range drops both. A decline set costs one
# ZCOUNT when it has nothing in the day (the common case), two otherwise.
VELOCITY_FUNCTION = """
local function rider(KEYS, ARGV, clock_us)
local now
if ARGV[7] ~= '' then
  now = tonumber(ARGV[7])
elseif clock_us then
  now = math.floor(clock_us / 1000)
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
local write = ARGV[1] == '1'
local amount = tonumber(ARGV[2])
local nv = tonumber(ARGV[4])
local nd = tonumber(ARGV[5])
local cap = tonumber(ARGV[8])
local day = 86400000
local out = {}
for i = 1, nv do
  local key = KEYS[i]
  local c1, s1, c2, s2, c3, s3 = 0, 0, 0, 0, 0, 0
  local expired = 0
  local items = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for j = 1, #items, 2 do
    local at = tonumber(items[j + 1])
    if at <= now - day then expired = expired + 1 end
    if at >= now - day and at <= now then
      local value = tonumber(string.match(items[j], ':(%d+)$')) or 0
      c3 = c3 + 1
      s3 = s3 + value
      if at > now - 3600000 then
        c2 = c2 + 1
        s2 = s2 + value
        if at > now - 60000 then
          c1 = c1 + 1
          s1 = s1 + value
        end
      end
    end
  end
  table.insert(out, c1) table.insert(out, s1)
  table.insert(out, c2) table.insert(out, s2)
  table.insert(out, c3) table.insert(out, s3)
  if write then
    if redis.call('ZADD', key, now, ARGV[3] .. ':' .. ARGV[2]) == 1 then
      local drop = math.max(expired, #items / 2 + 1 - cap)
      if drop > 0 then redis.call('ZREMRANGEBYRANK', key, 0, drop - 1) end
    else
      -- The member was there (the same payment counted again) and has moved
      -- in rank: trim by score and size instead.
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - day)
      local size = redis.call('ZCARD', key)
      if size > cap then redis.call('ZREMRANGEBYRANK', key, 0, size - cap - 1) end
    end
    redis.call('PEXPIRE', key, day)
  end
end
for i = nv + 1, nv + nd do
  local in_day = redis.call('ZCOUNT', KEYS[i], now - day, now)
  local in_hour = 0
  if in_day > 0 then in_hour = redis.call('ZCOUNT', KEYS[i], now - 3600000, now) end
  table.insert(out, in_hour)
  table.insert(out, in_day)
end
local nl = tonumber(ARGV[10])
for i = nv + nd + 1, nv + nd + nl do
  table.insert(out, redis.call('ZCOUNT', KEYS[i], now - tonumber(ARGV[11]), '+inf'))
end
if ARGV[6] == '1' then
  local key = KEYS[nv + nd + nl + 1]
  local history = redis.call('HMGET', key, 'count', 'sum')
  table.insert(out, tonumber(history[1]) or 0)
  table.insert(out, tonumber(history[2]) or 0)
  if write then
    redis.call('HINCRBY', key, 'count', 1)
    redis.call('HINCRBY', key, 'sum', amount)
    redis.call('PEXPIRE', key, ARGV[9])
  end
end
table.insert(out, tonumber(redis.call('GET', KEYS[#KEYS])) or 0)
return out
end
"""
VELOCITY_SCRIPT = VELOCITY_FUNCTION + "return rider(KEYS, ARGV)\n"

# Adds one event (a decline, a lost dispute) to sets kept for a window.
# ARGV: 1 now in ms ('' = Redis' own clock), 2 member, 3 cap, 4 window in ms.
EVENT_SCRIPT = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
local cap = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  local size = redis.call('ZCARD', KEYS[i])
  if size > cap then redis.call('ZREMRANGEBYRANK', KEYS[i], 0, size - cap - 1) end
  redis.call('PEXPIRE', KEYS[i], window)
end
return #KEYS
"""
