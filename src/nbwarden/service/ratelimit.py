"""Per-token rate limiting: a token bucket in memory (one service process owns its limits;
behind several replicas each enforces its share). A flood from one reporter gets 429 with
Retry-After and does not slow anyone else."""
from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate_per_second, burst, clock
        self._buckets: dict[object, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: object, cost: float = 1.0) -> float:
        """0 when allowed, else the seconds to wait before trying again."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate if self.rate > 0 else 60.0
