"""Event ingest into the policy service on PostgreSQL, beside a floor measured in the same
run: a bare INSERT loop of the same rows into the same database.

    .venv/bin/python bench/bench_ingest.py                  # throwaway PostgreSQL cluster
    .venv/bin/python bench/bench_ingest.py --database-url postgresql+psycopg://...

Concurrent reporters (threads, one API token each) POST batches to /api/events on a real
``nbwarden serve`` process over loopback. Bounded: a fixed number of events, every request
with a timeout. Target: >= 2,000 events/s with p99 request latency < 30 ms.
"""
from __future__ import annotations

import argparse
import http.client
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.service.pg import Cluster, free_port  # noqa: E402  (the same throwaway cluster the tests use)

from nbwarden.events import Event  # noqa: E402
from nbwarden.service import crud  # noqa: E402
from nbwarden.service.db import make_engine, make_sessionmaker, migrate  # noqa: E402

OUTCOMES = [("logged", "log")] * 12 + [("warned", "warn")] * 6 + [("blocked", "block")]  # ~5% strikes


def make_events(n: int, users: int = 500) -> list[dict]:
    now = datetime.now(timezone.utc)
    out = []
    for i in range(n):
        outcome, action = OUTCOMES[i % len(OUTCOMES)]
        e = Event(source="jupyter", outcome=outcome, action=action, user=f"user{i % users}", server="",
                  kernel=uuid.uuid4().hex, tier="free", category="remote.tunnel", confidence=0.8,
                  rules=["NBW301"], content_hash=uuid.uuid4().hex[:32],
                  findings=[{"rule_id": "NBW301", "category": "remote.tunnel", "confidence": 0.8,
                             "evidence": [{"line": 3, "snippet": "ngrok.connect(8888)", "fact": "call: pyngrok.ngrok.connect"}]}])
        e.time = (now - timedelta(seconds=n - i)).isoformat()
        out.append(e.to_dict())
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def floor(conninfo: str, events: list[dict], batch: int) -> float:
    """The same rows, bare executemany INSERTs into a copy of the events table, one
    connection, a commit per batch: what the database alone costs."""
    cols = ["id", "time", "received_at", "user_id", "source", "outcome", "action", "server", "kernel", "tier",
            "category", "confidence", "rules", "content_hash", "findings", "attribution", "detail"]
    sql = f"INSERT INTO events_floor ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
    now = datetime.now(timezone.utc)
    rows = [(e["id"], e["time"], now, None, e["source"], e["outcome"], e["action"], e["server"], e["kernel"],
             e["tier"], e["category"], e["confidence"], Jsonb(e["rules"]), e["content_hash"], Jsonb(e["findings"]),
             e["attribution"], Jsonb(e["detail"])) for e in events]
    with psycopg.connect(conninfo) as c:
        c.execute("DROP TABLE IF EXISTS events_floor")
        c.execute("CREATE TABLE events_floor (LIKE events INCLUDING DEFAULTS INCLUDING INDEXES)")
        c.commit()
        start = time.perf_counter()
        with c.cursor() as cur:
            for i in range(0, len(rows), batch):
                cur.executemany(sql, rows[i:i + batch])
                c.commit()
        took = time.perf_counter() - start
        c.execute("DROP TABLE events_floor")
        c.commit()
    return len(rows) / took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="an existing PostgreSQL (default: a throwaway cluster)")
    ap.add_argument("--events", type=int, default=30000)
    ap.add_argument("--reporters", type=int, default=4)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()

    cluster = None
    if args.database_url:
        url = args.database_url
    else:
        cluster = Cluster()
        cluster.start()
        cluster.admin("CREATE DATABASE bench")
        url = cluster.url("bench")
    engine = make_engine(url)
    migrate(engine)
    with make_sessionmaker(engine)() as db:
        tokens = [crud.create_token(db, name=f"agent{i}", scopes=["events:write"], bound_user=None, bound_server=None,
                                    actor="bench")[0] for i in range(args.reporters)]
        prom = crud.create_token(db, name="prom", scopes=["metrics:read"], bound_user=None, bound_server=None,
                                 actor="bench")[0]
        db.commit()
    engine.dispose()

    port = free_port()
    env = {**os.environ, "NBWARDEN_DATABASE_URL": url, "NBWARDEN_SECRET_KEY": secrets.token_urlsafe(32),
           "NBWARDEN_RATE_PER_SECOND": "100000", "NBWARDEN_RATE_BURST": "100000", "NBWARDEN_DATA_DIR": "/tmp"}
    log = open(os.devnull, "wb")
    srv = subprocess.Popen([sys.executable, "-m", "nbwarden", "serve", "--port", str(port)], env=env, stdout=log,
                           stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the service did not start")
        events = make_events(args.events)
        warm = make_events(500)
        httpx.post(f"{base}/api/events", json=warm, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=30)

        # bodies encoded before the clock starts, and a plain keep-alive http.client per
        # reporter: the reporters' own CPU should not be what the machine spends its time on
        chunks = [orjson.dumps(events[i:i + args.batch]) for i in range(0, len(events), args.batch)]
        latencies: list[float] = []
        errors: list[int] = []
        lock = threading.Lock()

        def reporter(k: int) -> None:
            mine = chunks[k::args.reporters]
            headers = {"Authorization": f"Bearer {tokens[k]}", "Content-Type": "application/json"}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                for body in mine:
                    t = time.perf_counter()
                    conn.request("POST", "/api/events", body=body, headers=headers)
                    r = conn.getresponse()
                    r.read()
                    dt = time.perf_counter() - t
                    with lock:
                        latencies.append(dt)
                        if r.status != 200:
                            errors.append(r.status)
            finally:
                conn.close()
        threads = [threading.Thread(target=reporter, args=(k,)) for k in range(args.reporters)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {prom}"}, timeout=10).text
        m = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in metrics.splitlines() if ln.startswith("nbwarden_ingest")}
        inside = (m["nbwarden_ingest_seconds_sum"] / m["nbwarden_ingest_seconds_count"]) * 1000
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as c:
            stored = c.execute("SELECT count(*) FROM events").fetchone()[0] - len(warm)
        floor_rate = floor(url.replace("postgresql+psycopg", "postgresql"), events, args.batch)
    finally:
        srv.terminate()
        srv.wait(timeout=20)
        if cluster:
            cluster.destroy()

    rate = len(events) / wall
    print(f"policy service ingest, PostgreSQL, {args.reporters} concurrent reporters, batches of {args.batch}, "
          f"{len(events)} events")
    print(f"  service : {rate:8,.0f} events/s   requests p50 {pct(latencies, 50) * 1000:5.1f} ms  "
          f"p99 {pct(latencies, 99) * 1000:5.1f} ms  max {max(latencies) * 1000:5.1f} ms  "
          f"(mean {statistics.mean(latencies) * 1000:.1f} ms)")
    print(f"            mean time inside the ingest handler {inside:.1f} ms (the rest is HTTP, validation, queueing)")
    print(f"  floor   : {floor_rate:8,.0f} events/s   bare executemany INSERT of the same rows, same database, "
          "one connection")
    print(f"  stored {stored} of {len(events)} sent; errors: {len(errors)} {sorted(set(errors))}")
    ok = rate >= 2000 and pct(latencies, 99) < 0.030 and stored == len(events) and not errors
    print("  target (>= 2,000 events/s, p99 < 30 ms, all stored):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
