"""``create_bot(settings)``: the Discord bot, built without connecting (the seam tests use).

Dependencies come in through the constructor (discord.py's advanced_startup example); the
cogs are added and commands synced in ``setup_hook``; ``close`` stops the folder watcher
before the gateway. All shards of an ``AutoShardedBot`` share the one ``Library``.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import discord
from discord.ext import commands

from bot.checks import AskingTooFast, ChannelNotAllowed, Cooldowns, NotAdmin, UserFacingError
from bot.cogs import respond
from bot.cogs.admin import AdminCog
from bot.cogs.ask import EXAMPLE, AskCog, mention_question
from bot.conversations import is_bot_thread, replied_turn
from bot.feedback import FeedbackView
from bot.record import Record, RecordUnavailable
from bot.servers import ServerSettings

if TYPE_CHECKING:  # pragma: no cover
    from config import Settings
    from retrieval import Library

log = logging.getLogger("citebot.discord")

T = TypeVar("T")
SCORING_THREADS = max(2, min(4, os.cpu_count() or 1))

NOT_ADMIN = "Sorry, only server admins (Manage Server, or a configured admin role) can use this command."
NOT_ADMIN_DM = "Admin commands only work inside a server, for members with Manage Server or an admin role."
FAILED = "Sorry, something went wrong while answering that. The error has been logged."


def build_intents(message_content: bool) -> discord.Intents:
    """Default intents; the privileged message-content one only when prefix commands are on."""
    intents = discord.Intents.default()
    intents.message_content = message_content
    return intents


class _CiteBotMixin:
    """Shared by the plain and the auto-sharded bot."""

    def __init__(self, settings: "Settings", library: "Library", *, sync_global: bool = False, **kwargs: Any) -> None:
        d = settings.discord
        super().__init__(  # type: ignore[call-arg]
            command_prefix=commands.when_mentioned_or(d.command_prefix),
            intents=build_intents(d.message_content_intent),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            case_insensitive=True,
            max_messages=None,  # citebot never reads old messages; the 1,000-message cache is dead weight
            activity=discord.Activity(type=discord.ActivityType.listening, name="/ask"),
            **kwargs,
        )
        self.settings = settings
        self.library = library
        self.sync_global = sync_global
        self.cooldowns = Cooldowns(d.cooldown_rate, d.cooldown_seconds)
        self.servers = ServerSettings(d, self.cooldowns)
        self.watcher: Any = None
        self.record: Record | None = None
        self.record_problem: str | None = None  # why there is no record (with its path: admins, log)
        self.record_notice_due = False
        self.feedback_buttons: discord.ui.View | None = None
        # Questions are scored here, not in asyncio's default pool (cores + 4 threads): scoring is
        # Python code holding the GIL, so threads beyond the core count add no throughput, only
        # more contenders the event loop must win the GIL from before it can send a reply.
        self.scoring = ThreadPoolExecutor(max_workers=SCORING_THREADS, thread_name_prefix="citebot-score")

    async def score(self, func: Callable[..., T], *args: Any) -> T:
        """Run blocking engine work (scoring, stats) on the scoring threads, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.scoring, functools.partial(func, *args))

    # --- lifecycle ----------------------------------------------------------------------------

    async def db(self, func: Callable[..., T], *args: Any) -> T | None:
        """Run a record call in a thread, never on the event loop. If the record fails (a
        read-only or full disk), it is switched off, the reason logged and said once in Discord,
        and None returned: answering goes on."""
        try:
            return await asyncio.to_thread(func, *args)
        except RecordUnavailable as exc:
            record = self._record_failed(str(exc))
            if record is not None:
                await asyncio.to_thread(record.close)
            return None

    @property
    def record_problem_public(self) -> str:
        """The reason as said in a channel: no file paths, the details are in the log."""
        problem = (self.record_problem or "").lower()
        kind = "read-only" if "read-only" in problem or "readonly" in problem else "not writable"
        return f"the record database is {kind}; the details are in the bot's log"

    def _record_failed(self, reason: str) -> Record | None:
        """Switch the record off (once said why); returns the record to close, off the loop."""
        if self.record_problem is None:
            log.warning("questions are not being recorded: %s", reason)
            self.record_problem = reason
            self.record_notice_due = True
        record, self.record = self.record, None
        return record

    async def _open_record(self) -> None:
        path = self.settings.record_file
        if path is None:
            return
        record = Record(path, retention_days=self.settings.record_retention_days)
        try:
            self.record = await asyncio.to_thread(record.open)
        except RecordUnavailable as exc:
            self._record_failed(str(exc))
            return
        overrides = await self.db(record.server_settings)
        if overrides:
            self.servers.load(overrides)

    async def setup_hook(self) -> None:
        await self._open_record()
        # One persistent view answers every click, on any answer, also after a restart (matched
        # by custom_id). Answers are sent with a stopped copy: its buttons are shown, but
        # discord.py does not keep a view per message (memory would grow with every answer).
        self.add_view(FeedbackView(self))  # type: ignore[attr-defined]
        self.feedback_buttons = FeedbackView(self)
        self.feedback_buttons.stop()
        await self.add_cog(AskCog(self))  # type: ignore[attr-defined,arg-type]
        await self.add_cog(AdminCog(self))  # type: ignore[attr-defined,arg-type]
        await self._start_watcher()
        await self.sync_commands()

    async def _start_watcher(self) -> None:
        if not self.settings.watch:
            return
        try:
            from retrieval.watch import FolderWatcher
        except ImportError as exc:
            log.warning("folder watching unavailable (%s); use /reload after changing articles", exc)
            return
        watcher = FolderWatcher(
            self.library, debounce_ms=self.settings.watch_debounce_ms, stable_ms=self.settings.watch_stable_ms
        )
        await asyncio.to_thread(watcher.start)
        self.watcher = watcher

    async def sync_commands(self) -> None:
        """Guild sync is instant, so it runs each start; global sync only when asked."""
        tree = self.tree  # type: ignore[attr-defined]
        if self.sync_global:
            synced = await tree.sync()
            log.info("synced %d slash commands globally (may take up to an hour to appear)", len(synced))
            return
        guild_ids = self.settings.discord.guild_ids
        if not guild_ids:
            log.info("slash commands not synced: set discord.guild_ids or run with --sync-global once")
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            tree.copy_global_to(guild=guild)
            try:
                synced = await tree.sync(guild=guild)
            except discord.HTTPException as exc:
                log.warning("could not sync slash commands to server %s: %s", guild_id, exc)
            else:
                log.info("synced %d slash commands to server %s", len(synced), guild_id)

    async def close(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            try:
                await asyncio.to_thread(watcher.stop)
            except Exception:  # noqa: BLE001 - closing must go on
                log.exception("folder watcher did not stop cleanly")
        await super().close()  # type: ignore[misc]
        await asyncio.to_thread(self.scoring.shutdown, wait=True, cancel_futures=True)
        record, self.record = self.record, None
        if record is not None:
            await asyncio.to_thread(record.close)

    async def on_ready(self) -> None:
        user = self.user  # type: ignore[attr-defined]
        log.info("connected as %s (id %s) to %d servers", user, getattr(user, "id", "?"),
                 len(self.guilds))  # type: ignore[attr-defined]

    # --- messages: commands first, then @mentions ---------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        ctx = await self.get_context(message)  # type: ignore[attr-defined]
        if ctx.command is not None:
            await self.invoke(ctx)  # type: ignore[attr-defined]
            return
        me = self.user  # type: ignore[attr-defined]
        question = mention_question(message.content, me.id) if me is not None else None
        if question is None and self._unprompted(message):
            question = " ".join(message.content.split())
        if question is not None:
            cog = self.get_cog("Ask")  # type: ignore[attr-defined]
            await cog.on_mention(message, question)

    def _unprompted(self, message: discord.Message) -> bool:
        """A message answered without a mention or command: a reply to one of the bot's answers,
        a message in a thread the bot answers in, or any message in a help-desk channel."""
        if not (message.content or "").strip():
            return False
        channel = message.channel
        parent = getattr(channel, "parent_id", None)
        desk = set(self.servers.get(message.guild.id if message.guild else None).help_desk_channel_ids)
        if desk and (channel.id in desk or parent in desk):
            return True
        me = self.user  # type: ignore[attr-defined]
        bot_id = me.id if me is not None else None
        return is_bot_thread(channel, bot_id) or replied_turn(message, bot_id) is not None

    # --- the one error handler ----------------------------------------------------------------

    async def on_command_error(self, ctx: commands.Context, error: Exception) -> None:  # type: ignore[override]
        """Every failure -> one short, polite message; unexpected ones also -> a logged traceback."""
        error = _unwrap(error)
        slash = ctx.interaction is not None
        text: str
        if isinstance(error, commands.CommandNotFound):
            return
        if isinstance(error, ChannelNotAllowed):
            if not slash:
                return  # no chatter in channels the bot is not meant to answer in
            if error.in_dm:
                text = "I don't answer direct messages here; please ask in the server."
            else:
                where = ", ".join(f"<#{c}>" for c in error.allowed_channel_ids[:10])
                text = f"I only answer in {where}."
        elif isinstance(error, AskingTooFast):
            if not slash and not self.servers.cooldowns(ctx.guild.id if ctx.guild else None).notice_due(ctx.author.id):
                return  # one "slow down" per window, not one per message
            text = f"You're asking quickly; please try again in {error.seconds} s."
        elif isinstance(error, NotAdmin):
            text = NOT_ADMIN_DM if error.in_dm else NOT_ADMIN
        elif isinstance(error, UserFacingError):
            text = str(error)
        elif isinstance(error, (commands.MissingRequiredArgument, commands.BadArgument, commands.TooManyArguments)):
            text = self._usage(ctx)
        elif isinstance(error, commands.CheckFailure):
            text = "You can't use that command here."
        else:
            name = ctx.command.qualified_name if ctx.command else "mention"
            log.error("%s failed", name, exc_info=(type(error), error, error.__traceback__))
            text = FAILED
        try:
            await respond(ctx, text, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("could not send an error reply: %s", exc)

    def _usage(self, ctx: commands.Context) -> str:
        name = ctx.command.qualified_name if ctx.command else "ask"
        prefix = self.settings.discord.command_prefix
        if name == "add":
            return "Attach the article file: `/add file:` (text, Markdown, HTML, PDF, DOCX, EPUB or RSS/Atom), optionally `replace:` true."
        return f"Ask like this: `/ask question: {EXAMPLE}` or `{prefix}ask {EXAMPLE}`."


def _unwrap(error: BaseException) -> BaseException:
    """The exception a person should hear about, out of discord.py's invoke wrappers."""
    wrappers = (commands.CommandInvokeError, commands.HybridCommandError, discord.app_commands.CommandInvokeError)
    for _ in range(5):
        inner = getattr(error, "original", None)
        if not isinstance(error, wrappers) or not isinstance(inner, BaseException):
            break
        error = inner
    return error


class CiteBot(_CiteBotMixin, commands.Bot):
    """citebot on one gateway connection (fine up to 2,500 servers)."""


class ShardedCiteBot(_CiteBotMixin, commands.AutoShardedBot):
    """citebot over ``shard_count`` shards (Discord requires sharding past 2,500 servers)."""


def create_bot(settings: "Settings", *, library: "Library | None" = None, sync_global: bool = False) -> commands.Bot:
    """Build the bot, opening the engine on ``settings.articles_dir`` unless one is given.

    Nothing connects here: ``bot.start(token)`` (see ``bot.runner``) or simcord does that.
    """
    if library is None:
        from retrieval import Library

        library = Library.open(
            settings.articles_dir,
            cache_dir=settings.cache_dir if settings.use_cache else None,
            max_file_bytes=settings.max_file_bytes,
            follow_outside_links=settings.follow_outside_links,
            max_question_chars=settings.max_question_chars,
        )
    shard_count = settings.discord.shard_count
    if shard_count:
        return ShardedCiteBot(settings, library, sync_global=sync_global, shard_count=shard_count)
    return CiteBot(settings, library, sync_global=sync_global)
