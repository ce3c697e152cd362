"""Fixtures for the Jupyter tests: one real server with nbwarden (policy and tier chosen by
the test), kernels on it, and a marker-file helper to prove whether a cell ran."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

pytest.importorskip("jupyter_server", reason="the Jupyter tests need nbwarden[jupyter]")

from harness import JupyterServer  # noqa: E402

TEST_POLICY = """\
version: 1
name: nbwarden test policy
url: https://policy.test/nbwarden
threshold: 0.5
honour_waivers: []
tiers: [blockme, warnme, killme, logme]
default_tier: blockme
actions:
  mining: {blockme: block, warnme: warn, killme: terminate, logme: log}
ladder:
  window_days: 30
  steps:
    - {strikes: 1, standing: warned, consequence: "This is your first warning."}
    - {strikes: 2, standing: restricted, consequence: "GPU access is restricted for 7 days."}
    - {strikes: 3, standing: suspended, consequence: "The account is suspended until a reviewer looks at it."}
"""
LADDER = ("This is your first warning.", "GPU access is restricted for 7 days.",
          "The account is suspended until a reviewer looks at it.")
MINER = "!./xmrig -o stratum+tcp://pool.example.net:3333 -u WALLET -p x --donate-level 1"


def write_policy(folder: Path) -> Path:
    path = folder / "policy.yaml"
    path.write_text(TEST_POLICY)
    return path


class Setup:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.policy = write_policy(tmp)
        self.tier_file = tmp / "tier"
        self.tier_file.write_text("blockme")

    def config(self, **settings) -> str:
        lines = ["import pathlib",
                 f"_tier = pathlib.Path({str(self.tier_file)!r})",
                 "c.NbwardenConfig.tier_for = lambda *, user, **kw: _tier.read_text().strip()",
                 f"c.NbwardenConfig.policy_path = {str(self.policy)!r}"]
        lines += [f"c.NbwardenConfig.{k} = {v!r}" for k, v in settings.items()]
        return "\n".join(lines)


@pytest.fixture(scope="session")
def setup(tmp_path_factory) -> Setup:
    return Setup(tmp_path_factory.mktemp("nbw-setup"))


@pytest.fixture(scope="session")
def server(setup):
    config = setup.config(on_engine_error="closed", max_cell_bytes=11_000_000,
                          disable_terminals_for_tiers=["killme"])
    config += "\nc.ServerApp.tornado_settings = {'websocket_max_message_size': 32 * 1024 * 1024}\n"
    # kernels inherit this environment: the kernel extension decides with the same policy,
    # on a stricter tier than the server's, so the tests can see it act on its own
    env = {"NBWARDEN_POLICY": str(setup.policy), "NBWARDEN_TIER": "blockme"}
    with JupyterServer(config=config, env=env) as srv:
        yield srv


@pytest.fixture
def tier(setup):
    """tier("warnme") puts the server's user on that tier from the next cell on."""
    def set_tier(name: str) -> None:
        setup.tier_file.write_text(name)
    yield set_tier
    setup.tier_file.write_text("blockme")


@pytest.fixture(scope="session")
def shared_kernel(server) -> str:
    return server.start_kernel()


@pytest.fixture
def fresh_kernel(server):
    kid = server.start_kernel()
    yield kid
    server.request("DELETE", f"/api/kernels/{kid}")


@pytest.fixture
def marker(server):
    """A path a cell writes to prove it ran: marker.code() is that cell's code."""
    class Marker:
        path = server.root / f"ran-{uuid.uuid4().hex}"

        def code(self, text: str = "ran") -> str:
            return f"open({str(self.path)!r}, 'a').write({text!r})"

        def exists(self) -> bool:
            return self.path.exists()

        def read(self) -> str:
            return self.path.read_text()
    return Marker()
