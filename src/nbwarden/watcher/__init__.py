"""The runtime watcher: what actually runs, whatever the code looked like.

Code checks can be dodged (a renamed binary, a payload fetched at run time, a miner hidden
in a hijacked PyPI release); the watcher looks at processes instead: command lines through
the engine, where the executable lives, sustained CPU, connections, listeners and GPU use.
It decides with the same policy as every other layer, never signals anything outside the
watched users' process trees, and attributes a miner started by an installed package to
that package, so the user whose dependency was hijacked gets no strike.

    procfs      reading /proc safely          net         TCP tables and socket owners
    process     per-process memory            attribution owner, role, lineage
    dependency  "a package started it"        signals     findings from runtime signals
    gpu         NVML, absent gracefully       actions     stop / terminate, safely
    agent       the loop                      output      human and JSON lines
"""
from .agent import Verdict, WatchConfig, Watcher, once

__all__ = ["Verdict", "WatchConfig", "Watcher", "once"]
