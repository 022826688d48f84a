"""``citebot run``: token in, bot up, SIGTERM/Ctrl-C -> clean close, exit status out.

``Client.run`` only handles Ctrl-C; under systemd the stop signal is SIGTERM, so both set one
event and the bot is closed the same way (watcher stopped, gateway closed). The token is a
``SecretStr`` until the moment it is handed to discord.py, and a logging filter blanks it
should any library ever put it in a log line.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

import discord

from citebot.bot.compose import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, UsageError, exit_status
from citebot.retrieval.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from discord.ext import commands

    from citebot.config import Settings

log = logging.getLogger("citebot.discord")
NO_TOKEN = ("no Discord token: set DISCORD_TOKEN (or CITEBOT_DISCORD__TOKEN) in the environment "
            "or in .env")
BAD_TOKEN = "Discord rejected the token: check DISCORD_TOKEN (Developer Portal > Bot > Reset Token)"
NO_INTENT = ("Discord refused the Message Content intent: enable it in the Developer Portal (Bot > "
             "Privileged Gateway Intents) or set CITEBOT_DISCORD__MESSAGE_CONTENT_INTENT=false")


class RedactToken(logging.Filter):
    """Replace the token wherever it might appear in a log record."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.token:
            return True
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "[token]"), None
        if record.exc_info and record.exc_info[1] is not None and self.token in str(record.exc_info[1]):
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} (traceback withheld: it contained the token)"
        return True


def _install_redaction(token: str) -> RedactToken:
    redactor = RedactToken(token)
    for handler in logging.getLogger().handlers:  # handler filters see every propagated record
        handler.addFilter(redactor)
    return redactor


def _remove_redaction(redactor: RedactToken) -> None:
    for handler in logging.getLogger().handlers:
        handler.removeFilter(redactor)


def _fail(message: str) -> None:
    print(f"citebot: {message}", file=sys.stderr, flush=True)


def _failed(error: UserError) -> int:
    """Say a ``UserError`` in one line; its exit status from the one mapping (``exit_status``)."""
    _fail(str(error))
    return exit_status(error)


def run_bot(settings: "Settings", *, sync_global: bool = False) -> int:
    """Start the bot and block until it stops; returns the process exit status."""
    secret = settings.token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        return _failed(UsageError(NO_TOKEN))
    redactor = _install_redaction(token)
    try:
        from citebot.bot.client import create_bot

        try:
            bot = create_bot(settings, sync_global=sync_global)
        except UserError as exc:  # no articles folder, a broken install
            return _failed(exc)
        stats = bot.library.stats()
        log.info("serving %d articles (%d passages) from %s; %d skipped", stats.articles, stats.passages,
                 settings.articles_dir, len(stats.skipped))
        try:
            return asyncio.run(serve(bot, token))
        except KeyboardInterrupt:  # a second Ctrl-C while closing
            return EXIT_INTERRUPTED
    finally:
        _remove_redaction(redactor)


async def serve(bot: "commands.Bot", token: str, stop: asyncio.Event | None = None) -> int:
    """Run ``bot`` until it fails or ``stop`` is set (SIGTERM/SIGINT set it); always close it."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: dict[signal.Signals, object] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, stop.set)
            installed[sig] = previous
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    try:
        async with bot:
            runner = asyncio.create_task(bot.start(token), name="citebot-gateway")
            stopper = asyncio.create_task(stop.wait(), name="citebot-stop")
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner not in done:
                log.info("stopping: closing the gateway connection")
                await bot.close()
                await asyncio.gather(runner, return_exceptions=True)
                return EXIT_OK
            stopper.cancel()
            return _exit_status(runner, token)
    finally:
        for sig, previous in installed.items():  # hand the signals back as we found them
            loop.remove_signal_handler(sig)
            if previous is not None:
                signal.signal(sig, previous)  # type: ignore[arg-type]


def _exit_status(runner: asyncio.Task, token: str) -> int:
    if runner.cancelled():
        return EXIT_OK
    error = runner.exception()
    if error is None:
        return EXIT_OK
    if isinstance(error, discord.LoginFailure):
        return _failed(UsageError(BAD_TOKEN))
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return _failed(UsageError(NO_INTENT))
    log.error("the bot stopped: %s", error.__class__.__name__, exc_info=(type(error), error, error.__traceback__))
    _fail(f"the bot stopped: {error.__class__.__name__}: {str(error).replace(token, '[token]')}")
    return EXIT_ERROR
