"""Prometheus metrics. Counters are kept in the process, or, when ``PROMETHEUS_MULTIPROC_DIR``
is set (``nbwarden serve --workers N`` sets it), in files there that every worker of one
service adds up at scrape time, so any worker answers the service's totals. The appeal queue
is read from the database at scrape time so every replica reports the same truth."""
from __future__ import annotations

import os
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.core import GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _QueueCollector:
    def __init__(self, read: Callable[[], tuple[int, float]]):
        self.read = read

    def collect(self):
        try:
            depth, age = self.read()
        except Exception:  # database away: report nothing rather than fail the scrape
            return
        yield GaugeMetricFamily("nbwarden_appeal_queue_depth", "Appeals waiting for a reviewer", value=depth)
        yield GaugeMetricFamily("nbwarden_appeal_oldest_age_seconds", "Age of the oldest open appeal, seconds",
                                value=age)


class Metrics:
    def __init__(self, queue_stats: Callable[[], tuple[int, float]]):
        self.registry = CollectorRegistry()
        self.events = Counter("nbwarden_events", "Events stored, by category and action",
                              ["category", "action"], registry=self.registry)
        self.duplicates = Counter("nbwarden_event_duplicates", "Events refused as already stored (retries)",
                                  registry=self.registry)
        self.strikes = Counter("nbwarden_strikes", "Strikes given", registry=self.registry)
        self.ingest_seconds = Histogram("nbwarden_ingest_seconds", "Time to store one POST /api/events, seconds",
                                        buckets=(.001, .0025, .005, .01, .02, .03, .05, .1, .25, .5, 1, 2.5),
                                        registry=self.registry)
        self.answer_seconds = Histogram("nbwarden_appeal_answer_seconds", "Time from appeal to review decision, "
                                        "seconds", buckets=(60, 600, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400),
                                        registry=self.registry)
        self.queue = _QueueCollector(queue_stats)
        self.registry.register(self.queue)
        self.shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")

    def render(self) -> bytes:
        if not self.shared_dir:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, self.shared_dir)
        every_worker.register(self.queue)
        return generate_latest(every_worker)
