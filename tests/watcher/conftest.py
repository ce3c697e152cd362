"""Real processes, real sockets on 127.0.0.1, and a watcher scoped to the processes each
test starts (``roots``), so that nothing else on the machine is ever judged or signalled.
Every process a test starts is killed at teardown, its whole session with it."""
from __future__ import annotations

import pytest

from nbwarden.policy import Policy
from nbwarden.reporting import Reporter
from nbwarden.watcher import WatchConfig, Watcher
from watchkit import FakePool, NoGpu, Spawner, renamed_python_path


@pytest.fixture
def pool():
    p = FakePool()
    yield p
    p.close()


@pytest.fixture
def pool_on_pool_port():
    """A fake pool on a real pool port (14444, else another from the list), or skip."""
    for port in (14444, 45700, 3956, 13333):
        try:
            p = FakePool(port)
        except OSError:
            continue
        yield p
        p.close()
        return
    pytest.skip("no pool port (14444, 45700, 3956, 13333) free on 127.0.0.1")


@pytest.fixture
def spawn():
    s = Spawner()
    yield s
    s.cleanup()


@pytest.fixture
def renamed_python():
    """A copy of the Python executable under a hidden name in /dev/shm: the renamed miner."""
    path = renamed_python_path()
    yield str(path)
    path.unlink(missing_ok=True)


@pytest.fixture
def events(tmp_path):
    rep = Reporter.from_config(tmp_path / "events.sqlite")
    yield rep
    rep.close()


@pytest.fixture
def make_watcher(events):
    made = []

    def make(roots, *, enforce=False, policy=None, gpu=None, **cfg) -> Watcher:
        cfg = {"interval": 0.2, "cpu_window": 1.0, "long_lived": 1.0, "grace": 1.0, **cfg}
        config = WatchConfig(roots=tuple(roots), enforce=enforce, **cfg)
        w = Watcher(config, policy=policy or Policy.load(), reporter=events, gpu=gpu or NoGpu())
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()
