"""The Redis memory benchmark writes through the real velocity script and measures growth.

Shape, not size: payments were written, keys and memory were added.
"""

from __future__ import annotations

from bench.redis_memory import measure


async def test_writing_a_stream_through_velocity_adds_keys_and_memory(redis_url: str) -> None:
    use = await measure(redis_url, customers=5)

    assert use.payments > 5  # several payments per customer, plus attacks
    assert use.keys > 0
    assert use.bytes_added > 0
    assert use.bytes_per_payment == use.bytes_added / use.payments
