"""GPU use through NVML. Where there is no GPU, a stand-in ``pynvml``-compatible module
proves the code path (per-process compute and memory reach the verdict); the real-GPU test
says why it skips."""
from __future__ import annotations

import types

import pytest

from nbwarden.watcher.gpu import Gpu
from watchkit import burn_code, renamed_env, tick_until


class NVMLError(Exception):
    pass


def fake_nvml(pid: int, sm: int = 97, memory: int = 2 << 30, fail_init: bool = False) -> types.ModuleType:
    """The subset of pynvml the watcher calls, answering for one process on one GPU."""
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError
    m.calls = []

    def init():
        m.calls.append("init")
        if fail_init:
            raise NVMLError("Driver Not Loaded")

    m.nvmlInit = init
    m.nvmlShutdown = lambda: m.calls.append("shutdown")
    m.nvmlDeviceGetCount = lambda: 1
    m.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: [types.SimpleNamespace(pid=pid, usedGpuMemory=memory)]
    m.nvmlDeviceGetGraphicsRunningProcesses = lambda h: []

    def util(h, last_seen):
        m.calls.append(("util", last_seen))
        return [types.SimpleNamespace(pid=pid, smUtil=sm, memUtil=40, timeStamp=last_seen + 1000)]

    m.nvmlDeviceGetProcessUtilization = util
    return m


def test_gpu_absent_gracefully():
    g = Gpu(nvml=fake_nvml(1, fail_init=True))
    assert not g.available and "Driver Not Loaded" in g.reason and g.usage() == {}
    g = Gpu()  # the real module on this machine: available, or a reason
    assert g.available or g.reason
    g.close()


def test_fake_nvml_reaches_the_verdict(spawn, renamed_python, pool, make_watcher):
    """A hidden executable holding a connection and *sleeping* on the CPU, but busy on the
    (stand-in) GPU: the GPU signal is what makes it the hidden-miner shape."""
    p = spawn([renamed_python, "-c", burn_code(pool.port, busy=False)], env=renamed_env())
    assert pool.connected.wait(10)
    nvml = fake_nvml(p.pid)
    gpu = Gpu(nvml=nvml)
    assert gpu.available and gpu.usage()[p.pid].sm == 97
    w = make_watcher([p.pid], gpu=gpu)
    assert tick_until(w, lambda: w.verdicts, 5)
    v = w.verdicts[0]
    hidden = next(f for f in v.decision.findings if f.rule_id == "NBW901")
    assert any(e.fact.startswith("gpu: busy") for e in hidden.evidence)
    assert not any(e.fact.startswith("cpu:") for e in hidden.evidence), "it was sleeping on the CPU"
    assert v.gpu and "97% compute" in v.gpu
    assert any(c[0] == "util" and c[1] > 0 for c in nvml.calls), "samples are asked for since the last one"
    w.close()
    assert "shutdown" in nvml.calls


def test_fake_nvml_alone_never_flags(spawn, make_watcher):
    """A training process busy on the GPU, nothing else odd: GPU use alone is not a signal."""
    import sys
    p = spawn([sys.executable, "-c", "import time; time.sleep(30)"])
    w = make_watcher([p.pid], gpu=Gpu(nvml=fake_nvml(p.pid)))
    for _ in range(5):
        w.tick()
    assert not w.verdicts and not w.procs[p.pid].suspect


def test_real_gpu():
    g = Gpu()
    if not g.available:
        pytest.skip(f"no usable NVIDIA GPU here: {g.reason}")
    try:
        use = g.usage()
        assert isinstance(use, dict)
        assert all(u.pid > 0 and u.memory >= 0 for u in use.values())
    finally:
        g.close()
