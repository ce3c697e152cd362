"""Which notebook a kernel runs for. Rules weigh where code lives (the ``location`` fact: a
notebook inside a detection benchmark's repository), and a scan of a notebook knows its
path; a cell checked on its way to the kernel must know it too.

Jupyter's session manager maps kernels to notebook paths (relative to the server's root,
as the file browser shows them). Its lookups are coroutines, but the websocket check is
synchronous: its table is read directly, on the event loop, with a cursor of our own so
that a lookup of the session manager's own, suspended between its query and its fetch,
is never disturbed. Any failure (a session manager without that table) means "unknown".
"""
from __future__ import annotations

import logging

log = logging.getLogger("nbwarden.jupyter")


def notebook_path(session_manager, kernel_id: str | None) -> str | None:
    """The path of the notebook (else console or file) whose session runs ``kernel_id``;
    None for a kernel started on its own (``POST /api/kernels``) or when it cannot be known."""
    if session_manager is None or not kernel_id:
        return None
    try:
        rows = session_manager.connection.execute("SELECT path, type FROM session WHERE kernel_id = ?",
                                                  (kernel_id,)).fetchall()
    except Exception as e:  # not jupyter_server's SQLite-backed session manager
        log.debug("nbwarden: cannot read the session of kernel %s: %s", kernel_id, e)
        return None
    paths = sorted((row[1] != "notebook", str(row[0])) for row in rows if row[0])
    return paths[0][1] if paths else None
