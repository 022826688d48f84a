"""``create_bot(settings)``: the Discord bot, built without connecting (the seam tests use).

The bot is the composition root of ``citebot run``: it builds the collaborators once (the
library, per-server settings and cooldowns, the scoring threads, the record) into one
``Services`` container in ``setup_hook`` and loads the cogs as extensions (discord.py's
advanced_startup example): each extension's ``setup(bot)`` reads that container and hands its
cog the pieces it uses, by name. Cogs never reach back through the bot for them. ``close``
stops the folder watcher before the gateway. All shards of an ``AutoShardedBot`` share the one
``Library``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from citebot.bot.checks import AskingTooFast, ChannelNotAllowed, Cooldowns, NotAdmin
from citebot.bot.cogs import respond
from citebot.bot.compose import folder_watcher, open_library
from citebot.bot.feedback import FeedbackView
from citebot.bot.render import EXAMPLE
from citebot.bot.servers import ServerSettings
from citebot.bot.services import OffLoop, Records, Services
from citebot.retrieval.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from citebot.config import Settings
    from citebot.retrieval import Library

    _BotBase = commands.Bot  # what the mixin is mixed into, for the type checker only
else:
    _BotBase = object

log = logging.getLogger("citebot.discord")

# The cog extensions ``setup_hook`` loads (each module's ``setup(bot)`` adds its cog).
EXTENSIONS = ("citebot.bot.cogs.ask", "citebot.bot.cogs.admin")

NOT_ADMIN = "Sorry, only server admins (Manage Server, or a configured admin role) can use this command."
NOT_ADMIN_DM = "Admin commands only work inside a server, for members with Manage Server or an admin role."
FAILED = "Sorry, something went wrong while answering that. The error has been logged."


def build_intents(message_content: bool) -> discord.Intents:
    """Default intents; the privileged message-content one only when prefix commands are on."""
    intents = discord.Intents.default()
    intents.message_content = message_content
    return intents


class _CiteBotMixin(_BotBase):
    """Shared by the plain and the auto-sharded bot."""

    def __init__(self, settings: "Settings", library: "Library", *, sync_global: bool = False, **kwargs: Any) -> None:
        d = settings.discord
        super().__init__(
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
        self.servers = ServerSettings(d, Cooldowns(d.cooldown_rate, d.cooldown_seconds))
        self.watcher: Any = None
        self.records = Records()
        self.off_loop = OffLoop()
        self.services: Services | None = None  # built in setup_hook (views need the running loop)

    # --- lifecycle ----------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        overrides = await self.records.open(self.settings.record_file, self.settings.record_retention_days)
        if overrides:
            self.servers.load(overrides)
        # One persistent view answers every click, on any answer, also after a restart (matched
        # by custom_id). Answers are sent with a stopped copy: its buttons are shown, but
        # discord.py does not keep a view per message (memory would grow with every answer).
        def feedback() -> FeedbackView:
            return FeedbackView(library=self.library, top_k=self.settings.top_k, off_loop=self.off_loop,
                                records=self.records)

        self.add_view(feedback())
        buttons = feedback()
        buttons.stop()
        self.services = Services(library=self.library, settings=self.settings, servers=self.servers,
                                 off_loop=self.off_loop, records=self.records, buttons=buttons)
        for extension in EXTENSIONS:  # each one's setup(bot) hands its cog what it uses
            await self.load_extension(extension)
        await self._start_watcher()
        await self.sync_commands()

    async def _start_watcher(self) -> None:
        try:
            watcher = folder_watcher(self.library, self.settings)
        except ImportError as exc:
            log.warning("folder watching unavailable (%s); use /reload after changing articles", exc)
            return
        if watcher is not None:
            await asyncio.to_thread(watcher.start)
            self.watcher = watcher

    async def sync_commands(self) -> None:
        """Guild sync is instant, so it runs each start; global sync only when asked."""
        tree = self.tree
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
        await super().close()
        await self.off_loop.shutdown()
        await self.records.close()

    async def on_ready(self) -> None:
        user = self.user
        log.info("connected as %s (id %s) to %d servers", user, getattr(user, "id", "?"), len(self.guilds))

    # --- the one error handler ----------------------------------------------------------------

    async def on_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
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
        elif isinstance(error, UserError):  # written for people: said as it is, never re-wrapped
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


def create_bot(settings: "Settings", *, library: "Library | None" = None,
               sync_global: bool = False) -> "CiteBot | ShardedCiteBot":
    """Build the bot, opening the engine on ``settings.articles_dir`` unless one is given.

    Nothing connects here: ``bot.start(token)`` (see ``bot.runner``) or simcord does that.
    """
    if library is None:
        library = open_library(settings)
    shard_count = settings.discord.shard_count
    if shard_count:
        return ShardedCiteBot(settings, library, sync_global=sync_global, shard_count=shard_count)
    return CiteBot(settings, library, sync_global=sync_global)
