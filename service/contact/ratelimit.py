"""Messages a second per sending number, held across every worker.

With Redis, one counter per number and wall-clock second (``INCR`` + ``EXPIRE``) is shared by
every process: a sender that has used its second's allowance waits for the next second. Without
Redis (the embedded default, one process) the same rule is kept in memory. The rate is a
physical limit of the provider, so it runs on the wall clock, not the dependencies' clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any, Protocol

import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

KEY = "arrears:send-rate:{sender}:{second}"


class SendRate(Protocol):
    async def acquire(self, sender: str) -> None:
        """Return when ``sender`` may send one more message."""
        ...


class LocalSendRate:
    def __init__(self, per_second: int) -> None:
        self._per_second = per_second
        self._used: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))

    async def acquire(self, sender: str) -> None:
        while True:
            now = time.time()
            second = int(now)
            seen, count = self._used[sender]
            if seen != second:
                count = 0
            if count < self._per_second:
                self._used[sender] = (second, count + 1)
                return
            await asyncio.sleep(second + 1 - now)


class RedisSendRate:
    """Shared through Redis; while Redis is away (restarting), each process keeps the rate on
    its own rather than stop sending: the limit is the provider's courtesy, not the law."""

    def __init__(self, redis: Any, per_second: int) -> None:
        self._redis = redis
        self._per_second = per_second
        self._local = LocalSendRate(per_second)

    async def acquire(self, sender: str) -> None:
        while True:
            now = time.time()
            second = int(now)
            key = KEY.format(sender=sender, second=second)
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, 2)
                    count, _ = await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("dispatch.rate_local", reason=str(exc)[:200])
                await self._local.acquire(sender)
                return
            if int(count) <= self._per_second:
                return
            await asyncio.sleep(second + 1 - now)
