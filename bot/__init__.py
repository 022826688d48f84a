"""citebot front ends: the CLI and the Discord bot (discord is imported only when needed)."""
from __future__ import annotations

import sys

# pip refuses to install on an older Python (requires-python); a source checkout run with one
# gets this line instead of a traceback from the first 3.11-only import (tomllib, say).
if sys.version_info < (3, 11):
    raise SystemExit(f"citebot needs Python 3.11 or newer; this is Python {sys.version.split()[0]}")

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from citebot.bot.client import create_bot

__all__ = ["create_bot"]


def __getattr__(name: str) -> Any:
    # `citebot ask` must not pay for importing discord; only the bot needs it.
    if name == "create_bot":
        from citebot.bot.client import create_bot

        return create_bot
    raise AttributeError(name)
