"""What nbwarden's server extension adds to running a cell, measured over the real thing:
two `jupyter server` processes (with and without nbwarden), a real ipykernel each, the v1
websocket protocol JupyterLab uses.

Printed side by side:
  * round trip of an allowed cell (send execute_request -> execute_reply and status idle),
    without nbwarden (the floor) and with it, p50 / p99, and the difference;
  * the check itself in-process (frame parse + policy decision), p50 / p99, which is the
    part of the difference nbwarden is responsible for (round-trip differences on a shared
    2-core machine are mostly noise);
  * time to the refusal reply for a disallowed cell, beside the allowed round trip;
  * the kernel extension's audit hooks on `import numpy` in a fresh interpreter, with and
    without the hooks, and how many audit events the import raises.

    python bench/bench_jupyter_latency.py [--cells 400] [--imports 7]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "jupyter"))
from harness import JupyterServer  # noqa: E402

POLICY = """version: 1
name: bench
url: https://policy.test/bench
tiers: [free]
actions:
  mining: {free: block}
"""
ALLOWED = "x = 1"
DISALLOWED = "!./xmrig -o stratum+tcp://pool.example.net:3333 -u WALLET -p x --donate-level 1"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def round_trips(k, code, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = k.run(code)
        out.append(time.perf_counter() - t)
        assert r["reply"] is not None
    return out


def in_process_check(n):
    """The work nbwarden adds on the event loop for one allowed cell: parse the v1 frame,
    check the cell in the kernel's context, decide by the policy."""
    from harness import KernelSocket

    from nbwarden.engine import Engine
    from nbwarden.jupyter import messages
    from nbwarden.jupyter.guard import Guard
    from nbwarden.jupyter.tokens import OverrideTokens
    from nbwarden.policy import Policy
    from nbwarden.reporting import Reporter

    tmp = Path(tempfile.mkdtemp())
    (tmp / "p.yaml").write_text(POLICY)
    guard = Guard(engine=Engine.default(), policy=Policy.load(tmp / "p.yaml"),
                  reporter=Reporter.from_config(tmp / "e.sqlite"), tokens=OverrideTokens())
    ks = KernelSocket.__new__(KernelSocket)
    ks.protocol, ks.session = "v1", "bench"
    frame = ks.encode("shell", ks.header("execute_request"), {"code": ALLOWED, "silent": False})
    out = []
    for i in range(n + 100):
        t = time.process_time()  # CPU time: robust to other load on a shared machine
        m = messages.parse(frame, v1=True)
        v = guard.check_execute(kernel_id="k", code=m.content["code"], user="bench")
        dt = time.process_time() - t
        assert v.run
        if i >= 100:
            out.append(dt)
    return out


def import_numpy(hooks: bool):
    """CPU time of `import numpy` in a fresh interpreter that has loaded the same nbwarden
    modules either way; only whether the hooks are installed differs."""
    code = ("from nbwarden.kernel.settings import KernelSettings\n"
            "from nbwarden.kernel.audit import install_audit_hooks\n"
            "s = KernelSettings.from_env(); s.engine, s.policy, s.reporter\n"
            + ("install_audit_hooks(s)\n" if hooks else "")
            + "import sys, time\nn = [0]\nsys.addaudithook(lambda e, a: n.__setitem__(0, n[0] + 1))\n"
              "t = time.process_time()\nimport numpy\nprint(time.process_time() - t, n[0])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"NBWARDEN_DATA_DIR": tempfile.mkdtemp(), "PATH": "/usr/bin:/bin"})
    t, events = out.stdout.split()
    return float(t), int(events)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=400, help="allowed cells per server (bounded)")
    ap.add_argument("--refusals", type=int, default=50)
    ap.add_argument("--imports", type=int, default=11, help="fresh interpreters per numpy import measurement")
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp())
    (tmp / "policy.yaml").write_text(POLICY)
    config = f"c.NbwardenConfig.policy_path = {str(tmp / 'policy.yaml')!r}\n"
    with JupyterServer(extension=False) as plain, JupyterServer(config=config) as guarded:
        kp, kg = plain.kernel(plain.start_kernel()), guarded.kernel(guarded.start_kernel())
        for k in (kp, kg):
            round_trips(k, ALLOWED, 50)  # warm up both paths
        without, with_ = [], []
        for _ in range(4):  # interleave blocks so drift on a shared machine hits both alike
            without += round_trips(kp, ALLOWED, a.cells // 4)
            with_ += round_trips(kg, ALLOWED, a.cells // 4)
        refusals = round_trips(kg, DISALLOWED, a.refusals)
        r = kg.run(DISALLOWED)
        assert r["reply"]["content"]["ename"] == "PolicyViolation", r
        kp.close()
        kg.close()
    check = in_process_check(2000)
    plain_runs, hook_runs = [], []
    for _ in range(a.imports):  # alternate, so the page cache and other load hit both alike
        t, n_events = import_numpy(False)
        plain_runs.append(t)
        hook_runs.append(import_numpy(True)[0])
    np_plain, np_hooks = statistics.median(plain_runs), statistics.median(hook_runs)

    ms = lambda x: f"{x * 1e3:.2f} ms"  # noqa: E731
    us = lambda x: f"{x * 1e6:.0f} µs"  # noqa: E731
    print(f"Allowed cell `{ALLOWED}`, {len(with_)} round trips each over the v1 websocket, real ipykernel")
    print("| | p50 | p99 |\n|---|---|---|")
    print(f"| round trip without nbwarden (floor) | {ms(pct(without, 50))} | {ms(pct(without, 99))} |")
    print(f"| round trip with nbwarden | {ms(pct(with_, 50))} | {ms(pct(with_, 99))} |")
    print(f"| difference | {ms(pct(with_, 50) - pct(without, 50))} | {ms(pct(with_, 99) - pct(without, 99))} |")
    print(f"| nbwarden's check in-process, CPU time (parse + check + decide) | {us(pct(check, 50))} | {us(pct(check, 99))} |")
    print(f"added p99 target < 1 ms (in-process check): {'met' if pct(check, 99) < 1e-3 else 'NOT met'}")
    print()
    print(f"Disallowed cell, {len(refusals)} refusals: time to the refusal reply")
    print("| | p50 | p99 |\n|---|---|---|")
    print(f"| refusal reply (nbwarden; the kernel only raises the refusal) | {ms(pct(refusals, 50))} | {ms(pct(refusals, 99))} |")
    print(f"| allowed round trip without nbwarden (floor) | {ms(pct(without, 50))} | {ms(pct(without, 99))} |")
    print(f"refusal target < 100 ms: {'met' if pct(refusals, 99) < 0.1 else 'NOT met'}")
    print()
    print(f"`import numpy` in a fresh interpreter, CPU time, median of {a.imports} ({n_events} audit events)")
    print("| | time |\n|---|---|")
    print(f"| without audit hooks (floor) | {ms(np_plain)} |")
    print(f"| with nbwarden's audit hooks | {ms(np_hooks)} |")
    print(f"| overhead | {ms(np_hooks - np_plain)} ({(np_hooks / np_plain - 1) * 100:+.1f}%) |")


if __name__ == "__main__":
    main()
