"""citebot's one error hierarchy: every engine exception is a ``CitebotError``.

``UserError`` marks the ones whose message is written for people (a refused question, a
missing folder, a refused upload, a broken install): front ends show ``str(exc)`` as it is —
the bot's one error handler replies with it, the CLI prints it and exits 2 — and never
re-wrap them. Anything else is a bug or an outage: logged with its traceback, a generic reply.
"""
from __future__ import annotations


class CitebotError(Exception):
    """Base of every exception citebot raises on purpose."""


class UserError(CitebotError):
    """A failure whose message is short, safe to show and says what to do (no paths to secrets,
    no tracebacks). Subclasses keep their older built-in bases (``ValueError`` …) for callers
    that catch those."""


__all__ = ["CitebotError", "UserError"]
