"""Where enforcement points send their events: always a local SQLite store (so a decision
is never lost and standing can be shown without a service), and, when a policy service is
configured, the service too (see ``delivery``; events spool on disk while it is away).

    rep = Reporter.from_config(store_path=None, service_url=None, token=None)
    rep.report(event)          # never raises
    rep.recent(user="ada")     # newest first
    rep.strike_times("ada")    # for the policy ladder
"""
from .reporter import Reporter
from .store import LocalStore

__all__ = ["LocalStore", "Reporter"]
