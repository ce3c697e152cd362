"""The AST transformer that refuses blocked cells inside the kernel.

IPython hands every cell's AST to ``ast_transformers`` after it has turned ``!cmd`` into
``get_ipython().system('cmd')`` and cell magics into ``run_cell_magic(...)``, so the engine
reads what will actually run. Raising ``InputRejected`` stops the cell cleanly (any other
exception would make IPython drop the transformer, so nothing else may escape).
"""
from __future__ import annotations

import ast
import logging

from IPython.core.error import InputRejected

from ..events import Event
from ..jupyter.tokens import code_hash

log = logging.getLogger("nbwarden.kernel")
REFUSED = ("block", "terminate")


class PolicyTransformer(ast.NodeTransformer):
    def __init__(self, settings):
        super().__init__()
        self.settings = settings
        self._context = None

    def visit(self, node):
        if not isinstance(node, ast.Module):
            return node
        try:
            message = self._refusal(node)
        except Exception:  # never let IPython unregister us over our own bug
            log.exception("nbwarden: kernel check failed; cell allowed")
            return node
        if message:
            raise InputRejected(message)
        return node

    def _refusal(self, node: ast.Module) -> str | None:
        from .audit import quiet
        s = self.settings
        with quiet():  # the engine's own parsing must not feed the audit hooks
            source = ast.unparse(node)
            if self._context is None:
                self._context = s.engine.new_context(location=s.location)
            mark = self._context.checkpoint()
            report = s.engine.check_cell(source, self._context)
            if report.error:
                return None
            decision = s.policy.decide(report, s.tier)
            if decision.action not in REFUSED:
                return None
            self._context.rollback(mark)
            s.reporter.report(Event.of_decision(decision, source="kernel", outcome="blocked", user=s.user,
                                                server=s.server, kernel=s.kernel, content_hash=code_hash(source),
                                                detail={"via": "ast_transformer"}))
        return f"nbwarden: {decision.message}"
