"""The guess throttle on Redis: failed authentications counted per source and key prefix.

Only failures are counted and only failures are refused (core.auth.authenticator
checks the key first), so a source address shared by many merchants (a NAT, a
proxy, an ingress) or a key prefix someone else keeps guessing at never locks
a valid key out.

Keys come in (counter, lock) pairs, one pair per subject: the source address,
and the presented key prefix when the key had one. Every pair carries the hash
tag ``{auth}``, so on a Redis Cluster one script reads and updates both.
"""

from __future__ import annotations

from core.auth.authenticator import LockoutPolicy
from core.redis.request_gate import REDIS_UNAVAILABLE, RedisAvailability, RedisClient

# For each subject: a lock still running is reported and not counted again (it
# runs its course rather than grow with every refused guess); otherwise the
# failure is counted in a window that starts at the subject's first failure,
# and reaching the threshold sets the lock and starts counting afresh.
_NOTE_FAILURE = """
local longest = 0
for i = 1, #KEYS, 2 do
  local remaining = redis.call('PTTL', KEYS[i + 1])
  if remaining <= 0 then
    local failures = redis.call('INCR', KEYS[i])
    if failures == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
    if failures >= tonumber(ARGV[2]) then
      redis.call('SET', KEYS[i + 1], '1', 'PX', ARGV[3])
      redis.call('DEL', KEYS[i])
      remaining = tonumber(ARGV[3])
    end
  end
  if remaining > longest then longest = remaining end
end
return longest
"""


def throttle_keys(source: str, prefix: str | None) -> list[str]:
    """The (counter, lock) key pairs of a failure's subjects, flattened."""
    subjects = [f"peer:{source}"] + ([f"key:{prefix}"] if prefix else [])
    return [f"paycore:{{auth}}:{kind}:{who}" for who in subjects for kind in ("fail", "lock")]


class RedisGuessThrottle:
    """GuessThrottle on Redis, failing open (nothing counted, nobody locked) when it is away."""

    def __init__(self, client: RedisClient, availability: RedisAvailability) -> None:
        self._note_failure = client.register_script(_NOTE_FAILURE)
        self._availability = availability

    async def note_failure(self, source: str, prefix: str | None, policy: LockoutPolicy) -> int:
        """Count one failed authentication; the longer remaining lock of its subjects in ms."""
        if self._availability.away():
            return 0
        args = [
            max(1, round(policy.window_s * 1000)),
            policy.failures,
            max(1, round(policy.lockout_s * 1000)),
        ]
        try:
            return int(await self._note_failure(keys=throttle_keys(source, prefix), args=args))
        except REDIS_UNAVAILABLE as exc:
            self._availability.note_failure(exc)
            return 0
