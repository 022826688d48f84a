"""The bot's collaborators: built once by ``create_bot``, handed to each cog and view by name.

Cogs and the feedback view receive what they use through their constructors (discord.py's
``advanced_startup`` example) instead of reaching through the bot: ``OffLoop`` runs blocking
engine work on the scoring threads, ``Records`` is the optional record database with its
failure state. Neither knows about cogs, so any cog can be tested with its own copies.
``Services`` is the one typed container the bot builds in ``setup_hook``; each cog extension's
``setup(bot)`` reads it once (``services_of``) and passes the named pieces to its cog.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from citebot.bot.record import Record, RecordUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import discord

    from citebot.bot.servers import ServerSettings
    from citebot.config import Settings
    from citebot.retrieval import Library

log = logging.getLogger("citebot.discord")

T = TypeVar("T")
SCORING_THREADS = max(2, min(4, os.cpu_count() or 1))


class OffLoop:
    """Blocking engine work (scoring, stats, rendering) on a small pool, never on the event loop.

    Not asyncio's default pool (cores + 4 threads): scoring is Python code holding the GIL, so
    threads beyond the core count add no throughput, only more contenders the event loop must
    win the GIL from before it can send a reply.
    """

    def __init__(self, threads: int = SCORING_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="citebot-score")

    async def run_blocking(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` on the scoring threads; the caller awaits its result."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(func, *args))

    async def shutdown(self) -> None:
        """Drop queued work and wait for running work, off the loop."""
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)


class Records:
    """The record of questions and votes, if one is kept, and why not if it failed.

    Every call goes through ``call`` in a thread. A record that fails (a read-only or full
    disk) is switched off, the reason logged and said once in Discord: answering goes on.
    """

    def __init__(self) -> None:
        self.record: Record | None = None
        self.problem: str | None = None  # why there is no record (with its path: admins, log)
        self.notice_due = False

    @property
    def problem_public(self) -> str:
        """The reason as said in a channel: no file paths, the details are in the log."""
        problem = (self.problem or "").lower()
        kind = "read-only" if "read-only" in problem or "readonly" in problem else "not writable"
        return f"the record database is {kind}; the details are in the bot's log"

    async def open(self, path: Path | None, retention_days: int) -> dict[int, dict[str, Any]] | None:
        """Open the record at ``path`` (None: keep none); returns the stored server settings."""
        if path is None:
            return None
        record = Record(path, retention_days=retention_days)
        try:
            self.record = await asyncio.to_thread(record.open)
        except RecordUnavailable as exc:
            self._failed(str(exc))
            return None
        return await self.call(record.server_settings)

    async def call(self, func: Callable[..., T], *args: Any) -> T | None:
        """``func(*args)`` in a thread; None (and the record off) if the record failed."""
        try:
            return await asyncio.to_thread(func, *args)
        except RecordUnavailable as exc:
            record = self._failed(str(exc))
            if record is not None:
                await asyncio.to_thread(record.close)
            return None

    def _failed(self, reason: str) -> Record | None:
        """Switch the record off (once said why); returns the record to close, off the loop."""
        if self.problem is None:
            log.warning("questions are not being recorded: %s", reason)
            self.problem = reason
            self.notice_due = True
        record, self.record = self.record, None
        return record

    async def close(self) -> None:
        record, self.record = self.record, None
        if record is not None:
            await asyncio.to_thread(record.close)


@dataclass(frozen=True)
class Services:
    """Everything a cog may be given, built once per bot: the engine, the settings, per-server
    settings and cooldowns, the scoring threads, the record, and the stopped feedback view whose
    buttons every answer carries. Frozen: reloading an extension hands the new cog the same
    objects, so nothing (cooldowns, the open record) is lost."""

    library: "Library"
    settings: "Settings"
    servers: "ServerSettings"
    off_loop: OffLoop
    records: Records
    buttons: "discord.ui.View | None" = None


def services_of(bot: object) -> Services:
    """The container ``bot`` built in its ``setup_hook``, for an extension's ``setup(bot)``.

    Raises TypeError when there is none (an extension loaded into some other bot, or before
    ``setup_hook``): discord.py reports it as the extension failing to load.
    """
    services = getattr(bot, "services", None)
    if not isinstance(services, Services):
        raise TypeError("citebot's cogs need the bot's services (bot.services, built in setup_hook)")
    return services
