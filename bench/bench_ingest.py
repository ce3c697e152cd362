"""Event ingest into the policy service on PostgreSQL, beside a floor measured in the same
run: a bare INSERT loop of the same rows, in the same batches, into the same database.

    .venv/bin/python bench/bench_ingest.py --events 20000 --reporters 4 --batch 50
    .venv/bin/python bench/bench_ingest.py --batch 10 --workers 1       # one service process
    .venv/bin/python bench/bench_ingest.py --database-url postgresql+psycopg://...

Concurrent reporters (threads, one API token and one keep-alive connection each) POST
batches to /api/events on a real ``nbwarden serve`` process over loopback, each sending its
next batch when the last is answered. Latency is per request, from the reporter's side.
Afterwards the database is checked: every event stored once, one strike per counting
event, one notification per standing transition. Bounded: a fixed number of events, every
request with a timeout. Target: >= 2,000 events/s with p99 request latency < 30 ms.
"""
from __future__ import annotations

import argparse
import http.client
import os
import secrets
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

from nbwarden.cli.serve import default_workers  # noqa: E402
from nbwarden.events import Event  # noqa: E402
from nbwarden.policy import Policy  # noqa: E402
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


def cpu_seconds(root: int | None) -> float:
    """CPU time (user + system) of a process and all its descendants, from /proc (Linux);
    0 elsewhere or when the process is gone."""
    if root is None or not os.path.isdir("/proc"):
        return 0.0
    parent, cpu = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            parent[int(d)], cpu[int(d)] = int(fields[1]), int(fields[11]) + int(fields[12])
    tree, todo = set(), [root]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo.extend(c for c, pp in parent.items() if pp == p and c not in tree)
    return sum(cpu.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def floor(conninfo: str, events: list[dict], batch: int) -> tuple[float, list[float]]:
    """The same rows in the same batches, bare executemany INSERTs into a copy of the
    events table, one connection, a commit per batch: what the database alone costs.
    Returns (events/s, seconds per batch)."""
    cols = ["id", "time", "received_at", "user_id", "source", "outcome", "action", "server", "kernel", "tier",
            "category", "confidence", "rules", "content_hash", "findings", "attribution", "detail"]
    sql = f"INSERT INTO events_floor ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
    now = datetime.now(timezone.utc)
    rows = [(e["id"], e["time"], now, None, e["source"], e["outcome"], e["action"], e["server"], e["kernel"],
             e["tier"], e["category"], e["confidence"], Jsonb(e["rules"]), e["content_hash"], Jsonb(e["findings"]),
             e["attribution"], Jsonb(e["detail"])) for e in events]
    took = []
    with psycopg.connect(conninfo) as c:
        c.execute("DROP TABLE IF EXISTS events_floor")
        c.execute("CREATE TABLE events_floor (LIKE events INCLUDING DEFAULTS INCLUDING INDEXES)")
        c.commit()
        start = time.perf_counter()
        with c.cursor() as cur:
            for i in range(0, len(rows), batch):
                t = time.perf_counter()
                cur.executemany(sql, rows[i:i + batch])
                c.commit()
                took.append(time.perf_counter() - t)
        wall = time.perf_counter() - start
        c.execute("DROP TABLE events_floor")
        c.commit()
    return len(rows) / wall, took


def expected_notifications(events: list[dict], policy: Policy) -> tuple[int, int]:
    """(strikes, standing transitions) these events must give, every strike inside the
    window: one notification per step a user's strike count climbs through."""
    per_user: dict[str, int] = {}
    for e in events:
        if Event.from_dict(e).counts_against_user:
            per_user[e["user"]] = per_user.get(e["user"], 0) + 1
    now = datetime.now(timezone.utc)
    ladder = [policy.standing([now] * k, now).standing for k in range(max(per_user.values(), default=0) + 1)]
    transitions = sum(sum(1 for k in range(1, n + 1) if ladder[k] != ladder[k - 1]) for n in per_user.values())
    return sum(per_user.values()), transitions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="an existing, empty PostgreSQL database (default: a throwaway cluster)")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--reporters", type=int, default=4)
    ap.add_argument("--batch", type=int, default=50, help="events per request")
    ap.add_argument("--workers", type=int, default=None,
                    help="service worker processes (default: what `nbwarden serve` picks on this machine)")
    args = ap.parse_args()

    cluster = None
    if args.database_url:
        url = args.database_url
    else:
        cluster = Cluster()
        cluster.start()
        cluster.admin("CREATE DATABASE bench")
        url = cluster.url("bench")
    workers = args.workers or default_workers(url)
    conninfo = url.replace("postgresql+psycopg", "postgresql")
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
    srv = subprocess.Popen([sys.executable, "-m", "nbwarden", "serve", "--port", str(port), "--workers", str(workers)],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the service did not start")
        events = make_events(args.events)
        warm = make_events(20 * args.reporters * workers)
        for i in range(0, len(warm), 10):  # every worker's pool and prepared statements warm
            httpx.post(f"{base}/api/events", json=warm[i:i + 10], headers={"Authorization": f"Bearer {tokens[0]}"},
                       timeout=30)

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
        pg_root = int((cluster.data / "postmaster.pid").read_text().split()[0]) if cluster else None
        load_before = os.getloadavg()[0]
        cpu0 = (cpu_seconds(srv.pid), cpu_seconds(pg_root), time.process_time())
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        cpu = (cpu_seconds(srv.pid) - cpu0[0], cpu_seconds(pg_root) - cpu0[1], time.process_time() - cpu0[2])
        load_after = os.getloadavg()[0]
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {prom}"}, timeout=10).text
        m = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in metrics.splitlines() if ln.startswith("nbwarden_ingest")}
        inside = m["nbwarden_ingest_seconds_sum"] / m["nbwarden_ingest_seconds_count"] * 1000
        with psycopg.connect(conninfo) as c:
            stored, strikes, notes = c.execute(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM strikes), "
                "(SELECT count(*) FROM notifications WHERE kind = 'standing')").fetchone()
        floor_rate, floor_batches = floor(conninfo, events, args.batch)
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        if cluster:
            cluster.destroy()

    want_strikes, want_notes = expected_notifications(warm + events, Policy.load())
    rate = len(events) / wall
    ms = lambda xs, p: f"{pct(xs, p) * 1000:6.1f}"  # noqa: E731
    print(f"policy service ingest, PostgreSQL: {len(events):,} events, {args.reporters} concurrent reporters, "
          f"batches of {args.batch}, {workers} service worker{'s' if workers != 1 else ''}")
    print(f"machine: {os.cpu_count()} cores, load average (1 min) {load_before:.2f} before, {load_after:.2f} after")
    print("                 events/s   requests/s | latency per request, ms:   p50    p90    p99    max")
    print(f"  service      {rate:10,.0f} {len(latencies) / wall:12,.1f} |                       {ms(latencies, 50)} "
          f"{ms(latencies, 90)} {ms(latencies, 99)} {ms(latencies, 100)}")
    print(f"  floor        {floor_rate:10,.0f} {floor_rate / args.batch:12,.1f} |                       "
          f"{ms(floor_batches, 50)} {ms(floor_batches, 90)} {ms(floor_batches, 99)} {ms(floor_batches, 100)}")
    print(f"  (floor: bare executemany INSERT of the same rows in the same batches, one connection, a commit "
          f"per batch; service = {rate / floor_rate:.0%} of it)")
    print(f"  CPU seconds while the reporters ran ({wall:.1f} s wall): service {cpu[0]:.1f}, PostgreSQL "
          f"{cpu[1]:.1f}, reporters {cpu[2]:.1f}; mean time inside the ingest handler {inside:.1f} ms")
    sent = len(events) + len(warm)
    print(f"  stored {stored:,} of {sent:,} events sent; strikes {strikes:,} (expected {want_strikes:,}); "
          f"standing notifications {notes:,} (expected {want_notes:,}, one per transition); "
          f"errors: {len(errors)} {sorted(set(errors))}")
    exact = stored == sent and strikes == want_strikes and notes == want_notes and not errors
    ok = rate >= 2000 and pct(latencies, 99) < 0.030 and exact
    print("  target (>= 2,000 events/s, p99 < 30 ms, all stored exactly):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
