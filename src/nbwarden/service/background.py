"""A small retrying job runner for calls that must not hold up a request: signed webhooks and
the Hub API call that stops a suspended user's server. Each job is retried with exponential
backoff (``backoff * 2**n`` seconds) up to ``max_attempts`` and then logged as dropped."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

log = logging.getLogger("nbwarden.service")


class Background:
    def __init__(self, max_attempts: int = 6, backoff: float = 1.0, name: str = "nbwarden-bg"):
        self.max_attempts, self.backoff = max_attempts, backoff
        self._heap: list[tuple[float, int, int, str, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = False
        self._busy = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, what: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` soon; an exception means "try again later"."""
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic(), next(self._seq), 1, what, fn))
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cv.wait(timeout=(self._heap[0][0] - time.monotonic()) if self._heap else None)
                if self._stop:
                    return
                _, _, attempt, what, fn = heapq.heappop(self._heap)
                self._busy += 1
            try:
                fn()
                log.info("background job done", extra={"job": what, "attempt": attempt})
            except Exception as e:  # retried below; the job decides what counts as failure
                if attempt < self.max_attempts:
                    delay = self.backoff * 2 ** (attempt - 1)
                    log.warning("background job failed; retrying", extra={"job": what, "attempt": attempt,
                                                                            "retry_in_s": delay, "error": str(e)})
                    with self._cv:
                        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), attempt + 1, what, fn))
                else:
                    log.error("background job dropped", extra={"job": what, "attempts": attempt, "error": str(e)})
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until every job has finished or been dropped (tests, shutdown)."""
        end = time.monotonic() + timeout
        with self._cv:
            while self._busy or self._heap:
                if time.monotonic() > end:
                    return False
                self._cv.wait(timeout=0.05)
        return True

    def pending(self) -> int:
        with self._cv:
            return len(self._heap) + self._busy

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout=5)
