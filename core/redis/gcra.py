"""The one GCRA (generic cell rate algorithm) of paycore's rate limits, as a Lua function.

Both Redis scripts that spend a merchant's rate limit define it from here: the request
gate's (one token per write, core/redis/request_gate.py) and the read leases' (up to
``want`` tokens at once, core/redis/read_leases.py). Both therefore read and move the same
state the same way: the key holds the theoretical arrival time (TAT) in microseconds of
Redis' own clock; ``interval`` is 1e6 / rate, ``tolerance`` (burst - 1) x interval.
"""

GCRA_LUA = """
local function gcra(key, interval, tolerance, want, now)
  local tat = tonumber(redis.call('GET', key))
  if (not tat) or tat < now then tat = now end
  if tat - now > tolerance then
    return 0, tat - now - tolerance
  end
  local granted = math.min(want, math.floor((tolerance - (tat - now)) / interval) + 1)
  local next_tat = tat + granted * interval
  redis.call('SET', key, string.format('%.0f', next_tat),
             'PX', math.ceil((next_tat - now) / 1000) + 1)
  return granted, 0
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
"""
"""Defines ``gcra(key, interval_us, tolerance_us, want, now_us)`` and ``now`` (Redis' TIME).

``gcra`` returns ``granted, 0`` with 1 <= granted <= want (as many tokens as GCRA admits
one after the other at ``now``, the state moved past them), or ``0, retry_after_us`` when
none is admitted (the state unchanged).
"""
