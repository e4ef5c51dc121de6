"""Messages a second per sending number hold across workers: two limiters sharing one Redis
(two worker processes) never let more than the rate through in any second."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from redis.asyncio import Redis

from service.contact.ratelimit import LocalSendRate, RedisSendRate
from tests.conftest import REDIS_URL


async def _burst(limiters: list[RedisSendRate] | list[LocalSendRate], sends: int) -> Counter[int]:
    seconds: Counter[int] = Counter()

    async def one(index: int) -> None:
        await limiters[index % len(limiters)].acquire("+8610690000")
        seconds[int(time.time())] += 1

    await asyncio.gather(*(one(i) for i in range(sends)))
    return seconds


async def test_two_workers_share_one_number_s_rate_through_redis() -> None:
    first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    try:
        started = time.monotonic()
        seconds = await _burst([RedisSendRate(first, 4), RedisSendRate(second, 4)], 12)
        elapsed = time.monotonic() - started
    finally:
        await first.aclose()
        await second.aclose()
    assert sum(seconds.values()) == 12
    assert max(seconds.values()) <= 4  # never more than the rate in a second, across both
    # Twelve at four a second take three of the clock's seconds (the first may be its end).
    assert len(seconds) >= 3
    assert elapsed >= 1.0


async def test_without_redis_a_process_keeps_the_rate_itself() -> None:
    seconds = await _burst([LocalSendRate(5)], 10)
    assert max(seconds.values()) <= 5
    assert len(seconds) >= 2
