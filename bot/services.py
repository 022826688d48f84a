"""The bot's collaborators: built once by ``create_bot``, handed to each cog and view by name.

Cogs and the feedback view receive what they use through their constructors (discord.py's
``advanced_startup`` example) instead of reaching through the bot: ``OffLoop`` runs blocking
engine work on the scoring threads, ``Records`` is the optional record database with its
failure state. Neither knows about cogs, so any cog can be tested with its own copies.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TypeVar

from bot.record import Record, RecordUnavailable

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
