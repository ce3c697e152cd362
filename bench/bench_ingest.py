"""Event ingest into the policy service on PostgreSQL, beside a floor measured in the same
run: a bare INSERT loop of the same rows, in the same batches, into the same database.

    .venv/bin/python bench/bench_ingest.py                       # paced at 2,500 events/s, then saturated
    .venv/bin/python bench/bench_ingest.py --rate 4000 --only paced
    .venv/bin/python bench/bench_ingest.py --only saturated --batch 50
    .venv/bin/python bench/bench_ingest.py --database-url postgresql+psycopg://...

Concurrent reporters (threads, one API token and one keep-alive connection each) POST
batches to /api/events on a real ``nbwarden serve`` process over loopback, in two runs:

* **paced** (open loop with fixed batches, the way wrk2 measures): the offered rate
  (``--rate`` events/s) is split across the reporters, each sends its batches on a fixed
  schedule (starts staggered across one interval), and a request's latency is counted from
  the moment it was *scheduled* to go, not from when it went. A service that falls behind
  makes later requests leave late, and that lateness is part of their latency, so a stall
  cannot hide by holding the reporters back (no coordinated omission).
* **spooled** (open loop, as nbwarden's own reporters send; this run is judged): events
  arrive at each reporter on a fixed schedule (``--rate`` split across the reporters), and
  the reporter posts what has arrived, up to 200, as soon as its previous post is answered,
  which is what ``nbwarden.reporting.delivery`` does with its spool. An event's latency runs
  from its arrival to the answer that stores it, waiting in the spool included, so a
  service that falls behind is charged for it here too; batches grow while it does.
* **saturated** (closed loop): each reporter sends its next batch as soon as the last is
  answered: the most this machine gets through. Its latency is queueing at full load
  (about reporters / throughput), so it shows capacity, not the latency target.

Why this is the honest reading of "ingest >= 2,000 events/s with p99 < 30 ms from
concurrent reporters": the target is a latency *at* a throughput. A closed loop at
saturation has no fixed throughput, and its p99 is set by how many requests wait, not by
the service; an open-loop run offers more than the target rate (2,500 > 2,000 events/s) and
asks whether the service keeps up with it (achieved >= 2,000) with every event, lateness
included, stored fast (p99 < 30 ms). The spooled run is judged because it is the load
nbwarden's reporters put on the service; the paced run is printed beside it.

Batch size: a real reporter's batch is its event rate times one round trip, so it is not
fixed: at 2,500 events/s over 4 reporters (625 each) and a round trip of 10-16 ms it is
6-10 events, and it grows when the service slows. The spooled run lets it; the paced run
holds it at ``--batch`` (default 10), a stricter load than any nbwarden reporter makes.

Afterwards the database is checked: every event stored once, one strike per counting
event, one notification per standing transition. Bounded: a fixed number of events, every
request with a timeout. Also printed: the CPU each party used per request (service,
PostgreSQL, reporters), which the shared machine's load distorts far less than wall time.
"""
from __future__ import annotations

import argparse
import http.client
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
import psycopg
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.service.pg import Cluster  # noqa: E402  (the same throwaway cluster the tests use)
from tests.service.server import ServerProcess  # noqa: E402  (and the same way to run the service)

from nbwarden.cli.serve import default_workers  # noqa: E402
from nbwarden.events import Event  # noqa: E402
from nbwarden.policy import Policy  # noqa: E402
from nbwarden.service import crud  # noqa: E402
from nbwarden.service.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from nbwarden.watcher import procfs  # noqa: E402

OUTCOMES = [("logged", "log")] * 12 + [("warned", "warn")] * 6 + [("blocked", "block")]  # ~5% strikes
TARGET_RATE, TARGET_P99 = 2000, 0.030
SPOOL_BATCH = 200  # what nbwarden.reporting.delivery posts at most at once
MODES = ("spooled", "paced", "saturated")


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
    """CPU time (user + system) of a process and all its descendants, from /proc (Linux,
    through the watcher's reader); 0 elsewhere or when the process is gone."""
    if root is None:
        return 0.0
    stats = [s for s in map(procfs.read_stat, procfs.list_pids()) if s is not None]
    children: dict[int, list[int]] = {}
    for s in stats:
        children.setdefault(s.ppid, []).append(s.pid)
    tree, todo = set(), [root]
    while todo:
        p = todo.pop()
        if p not in tree:
            tree.add(p)
            todo.extend(children.get(p, ()))
    return sum(s.cpu_ticks for s in stats if s.pid in tree) / procfs.CLK_TCK


@dataclass
class Run:
    """One run of the reporters: the latency counted from each request's scheduled send (the
    same as its actual send in a closed loop; from each event's arrival in the spooled run)
    and the service time alone."""
    name: str
    events: int
    requests: int = 0
    wall: float = 0.0
    latency: list[float] = field(default_factory=list)
    service_time: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)  # spooled run: events per post
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # service, PostgreSQL, reporters

    @property
    def rate(self) -> float:
        return self.events / self.wall


def run_reporters(name: str, port: int, tokens: list[str], chunks: list[tuple[bytes, int]], *,
                  rate: float | None, pids: tuple[int, int | None]) -> Run:
    """Every event of the chunks (body, events in it) posted once. ``rate``: events/s offered
    in total, each reporter on its own fixed schedule (chunk by chunk, or event by event
    for the spooled run); None: closed loop, as fast as answered."""
    n = len(tokens)
    run = Run(name, sum(k for _, k in chunks), requests=len(chunks))
    lock = threading.Lock()
    batch = max(k for _, k in chunks)
    interval = n * batch / rate if rate else 0.0  # one reporter's period between requests
    start = 0.0  # set just before the threads start: reading /proc for CPU first takes a while

    def spooled(k: int) -> None:
        """Events arrive every n/rate s; post all that have arrived (<= SPOOL_BATCH) once the
        previous post is answered, as delivery.Deliverer does; latency per event from arrival."""
        headers = {"Authorization": f"Bearer {tokens[k]}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        parts = events_of[k]
        gap = n / rate
        first = start + k * gap / n
        i = 0
        try:
            while i < len(parts):
                wait = first + i * gap - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                now = time.perf_counter()
                j = min(len(parts), i + SPOOL_BATCH, max(i + 1, int((now - first) / gap) + 1))
                sent = time.perf_counter()
                conn.request("POST", "/api/events", body=b"[" + b",".join(parts[i:j]) + b"]", headers=headers)
                r = conn.getresponse()
                r.read()
                done = time.perf_counter()
                with lock:
                    run.latency.extend(done - (first + e * gap) for e in range(i, j))
                    run.service_time.append(done - sent)
                    run.batches.append(j - i)
                    if r.status != 200:
                        run.errors.append(r.status)
                i = j
        finally:
            conn.close()

    def reporter(k: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[k]}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        first = start + k * interval / n  # staggered: the reporters do not all send at once
        try:
            for j, (body, _) in enumerate(chunks[k::n]):
                due = first + j * interval
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent = time.perf_counter()
                conn.request("POST", "/api/events", body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                done = time.perf_counter()
                with lock:
                    run.latency.append(done - (due if rate else sent))
                    run.service_time.append(done - sent)
                    if r.status != 200:
                        run.errors.append(r.status)
        finally:
            conn.close()

    # each reporter's events encoded one by one before the clock starts, like its bodies
    events_of = [[orjson.dumps(e) for body, _ in chunks[k::n] for e in orjson.loads(body)]
                 for k in range(n)] if name == "spooled" else []
    threads = [threading.Thread(target=spooled if name == "spooled" else reporter, args=(k,)) for k in range(n)]
    cpu0 = (cpu_seconds(pids[0]), cpu_seconds(pids[1]), time.process_time())
    start = time.perf_counter() + 0.05
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.wall = time.perf_counter() - start
    if run.batches:
        run.requests = len(run.batches)
    run.cpu = (cpu_seconds(pids[0]) - cpu0[0], cpu_seconds(pids[1]) - cpu0[1], time.process_time() - cpu0[2])
    return run


def floor(conninfo: str, events: list[dict], batch: int,
          pg_root: int | None) -> tuple[float, list[float], tuple[float, float]]:
    """The same rows in the same batches, bare executemany INSERTs into a copy of the
    events table, one connection, a commit per batch: what the database alone costs.
    Returns (events/s, seconds per batch, CPU seconds of PostgreSQL and of this client)."""
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
        cpu0 = (cpu_seconds(pg_root), time.process_time())  # while its server process lives
        start = time.perf_counter()
        with c.cursor() as cur:
            for i in range(0, len(rows), batch):
                t = time.perf_counter()
                cur.executemany(sql, rows[i:i + batch])
                c.commit()
                took.append(time.perf_counter() - t)
        wall = time.perf_counter() - start
        cpu = (cpu_seconds(pg_root) - cpu0[0], time.process_time() - cpu0[1])
        c.execute("DROP TABLE events_floor")
        c.commit()
    return len(rows) / wall, took, cpu


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
    ap.add_argument("--rate", type=float, default=2500,
                    help="events/s offered in the spooled and paced runs (default 2500)")
    ap.add_argument("--only", choices=MODES, help="one run instead of all three")
    ap.add_argument("--events", type=int, default=20000, help="events per run (default 20000)")
    ap.add_argument("--reporters", type=int, default=4)
    ap.add_argument("--batch", type=int, default=10,
                    help="events per request in the paced and saturated runs (default 10; see above)")
    ap.add_argument("--workers", type=int, default=None,
                    help="service worker processes (default: what `nbwarden serve` picks on this machine)")
    args = ap.parse_args()
    modes = [args.only] if args.only else list(MODES)

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

    tmp = tempfile.TemporaryDirectory(prefix="nbw-bench-")
    srv = ServerProcess(url, Path(tmp.name), "--workers", str(workers))
    runs: list[Run] = []
    try:
        srv.start()
        events = make_events(args.events * len(modes))
        warm = make_events(20 * args.reporters * workers)
        for i in range(0, len(warm), 10):  # every worker's pool and prepared statements warm
            httpx.post(f"{srv.url}/api/events", json=warm[i:i + 10], headers={"Authorization": f"Bearer {tokens[0]}"},
                       timeout=30)
        pg_root = int((cluster.data / "postmaster.pid").read_text().split()[0]) if cluster else None
        load_before = os.getloadavg()[0]
        for k, mode in enumerate(modes):
            mine = events[k * args.events:(k + 1) * args.events]
            # bodies encoded before the clock starts, and a plain keep-alive http.client per
            # reporter: the reporters' own CPU should not be what the machine spends its time on
            chunks = [(orjson.dumps(mine[i:i + args.batch]), len(mine[i:i + args.batch]))
                      for i in range(0, len(mine), args.batch)]
            runs.append(run_reporters(mode, srv.port, tokens, chunks, rate=None if mode == "saturated" else args.rate,
                                      pids=(srv.proc.pid, pg_root)))
        load_after = os.getloadavg()[0]
        metrics = httpx.get(f"{srv.url}/metrics", headers={"Authorization": f"Bearer {prom}"}, timeout=10).text
        m = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in metrics.splitlines() if ln.startswith("nbwarden_ingest")}
        inside = m["nbwarden_ingest_seconds_sum"] / m["nbwarden_ingest_seconds_count"] * 1000
        with psycopg.connect(conninfo) as c:
            stored, strikes, notes = c.execute(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM strikes), "
                "(SELECT count(*) FROM notifications WHERE kind = 'standing')").fetchone()
        floor_rate, floor_batches, floor_cpu = floor(conninfo, events[:args.events], args.batch, pg_root)
    finally:
        srv.stop()
        tmp.cleanup()
        if cluster:
            cluster.destroy()

    want_strikes, want_notes = expected_notifications(warm + events, Policy.load())
    ms = lambda xs, p: f"{pct(xs, p) * 1000:6.1f}"  # noqa: E731
    print(f"policy service ingest, PostgreSQL: {args.events:,} events per run, {args.reporters} concurrent "
          f"reporters, batches of {args.batch}, {workers} service worker{'s' if workers != 1 else ''}")
    print(f"machine: {os.cpu_count()} cores, load average (1 min) {load_before:.2f} before, {load_after:.2f} after")
    print(f"{'':<26}{'events/s':>9}{'requests/s':>12} | latency per request, ms:   p50    p90    p99    max")
    since = {"spooled": "event from arrival", "paced": "from scheduled send", "saturated": ""}
    for r in runs:
        label = "saturated" if r.name == "saturated" else f"{r.name} {args.rate:,.0f}/s"
        print(f"  service, {label:<15} {r.rate:8,.0f} {r.requests / r.wall:11,.1f} |"
              f"{since[r.name]:>24} {ms(r.latency, 50)} {ms(r.latency, 90)} "
              f"{ms(r.latency, 99)} {ms(r.latency, 100)}")
        if r.batches:
            print(f"{'':<47} |{'per post':>24} {ms(r.service_time, 50)} {ms(r.service_time, 90)} "
                  f"{ms(r.service_time, 99)} {ms(r.service_time, 100)}   (events per post: mean "
                  f"{sum(r.batches) / len(r.batches):.1f}, max {max(r.batches)})")
        if r.name == "paced":
            st = r.service_time
            print(f"{'':<47} |{'from actual send':>24} {ms(st, 50)} {ms(st, 90)} {ms(st, 99)} {ms(st, 100)}")
    fb = floor_batches
    print(f"  {'floor':<24} {floor_rate:8,.0f} {floor_rate / args.batch:11,.1f} |{'':>24} "
          f"{ms(fb, 50)} {ms(fb, 90)} {ms(fb, 99)} {ms(fb, 100)}")
    print("  (floor: bare executemany INSERT of the same rows in the same batches, one connection, a commit per batch)")
    for r in runs:
        per = ", ".join(f"{who} {s:.1f} ({s / r.requests * 1000:.2f} ms/request)"
                        for who, s in zip(("service", "PostgreSQL", "reporters"), r.cpu))
        print(f"  CPU seconds, {r.name} run ({r.wall:.1f} s wall): {per}")
    nb = len(floor_batches)
    print(f"  CPU seconds, floor: PostgreSQL {floor_cpu[0]:.1f} ({floor_cpu[0] / nb * 1000:.2f} ms/batch), "
          f"its client {floor_cpu[1]:.1f} ({floor_cpu[1] / nb * 1000:.2f} ms/batch)")
    print(f"  mean time inside the ingest handler (both runs): {inside:.1f} ms")
    sent = len(events) + len(warm)
    errors = [e for r in runs for e in r.errors]
    print(f"  stored {stored:,} of {sent:,} events sent; strikes {strikes:,} (expected {want_strikes:,}); "
          f"standing notifications {notes:,} (expected {want_notes:,}, one per transition); "
          f"errors: {len(errors)} {sorted(set(errors))}")
    exact = stored == sent and strikes == want_strikes and notes == want_notes and not errors
    judged = next((r for r in runs if r.name == "spooled"), None)
    if judged is None or args.rate <= TARGET_RATE:
        print(f"  target not judged: it needs a spooled run offering more than {TARGET_RATE:,} events/s")
        return 0 if exact else 1
    ok = judged.rate >= TARGET_RATE and pct(judged.latency, 99) < TARGET_P99 and exact
    print(f"  target (spooled at {args.rate:,.0f}/s: achieved >= {TARGET_RATE:,} events/s, p99 from each event's "
          f"arrival < {TARGET_P99 * 1000:.0f} ms, all stored exactly):", "met" if ok else "NOT met")
    paced = next((r for r in runs if r.name == "paced"), None)
    if paced is not None:
        held = paced.rate >= TARGET_RATE and pct(paced.latency, 99) < TARGET_P99
        print(f"  the same target with batches fixed at {args.batch} (paced run): {'met' if held else 'not met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
