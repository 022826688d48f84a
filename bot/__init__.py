"""citebot front ends: the CLI and the Discord bot (discord is imported only when needed)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import create_bot

__all__ = ["create_bot"]


def __getattr__(name: str) -> Any:
    # `citebot ask` must not pay for importing discord; only the bot needs it.
    if name == "create_bot":
        from bot.client import create_bot

        return create_bot
    raise AttributeError(name)
