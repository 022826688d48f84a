"""Admin commands: `/articles`, `/reload`, `/add` (Manage Server or a configured admin role).

Everyone else, also in DMs, gets a polite ephemeral refusal from the error handler. Disk and
index work runs in a thread; the saving rules for uploads live in ``retrieval.intake``. Loaded
as an extension: ``setup(bot)`` gives the cog its collaborators from the bot's ``Services``.
"""
from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from citebot.bot.checks import NotAdmin, is_admin
from citebot.bot.cogs import respond
from citebot.bot.render import CONTENT_MAX, added_text, clip, refresh_text, stats_text
from citebot.bot.servers import SERVER_KEYS, ServerSettings, SettingsError
from citebot.bot.services import OffLoop, Records, services_of
from citebot.retrieval.errors import UserError
from citebot.retrieval.intake import ALLOWED_SUFFIXES, add_article, clean_name

if TYPE_CHECKING:  # pragma: no cover
    from citebot.config import Settings
    from citebot.retrieval import Library


class AdminCog(commands.Cog, name="Admin"):
    """Admin commands over the collaborators it is given (never looked up on the bot)."""

    def __init__(self, *, library: "Library", settings: "Settings", servers: ServerSettings,
                 off_loop: OffLoop, records: Records) -> None:
        self.library = library
        self.top_k = settings.top_k
        self.servers = servers
        self.off_loop = off_loop
        self.records = records
        # An upload must pass both the Discord cap and the engine's per-file cap.
        self.max_upload = min(settings.discord.max_upload_bytes, settings.max_file_bytes)

    async def cog_check(self, ctx: commands.Context) -> bool:  # type: ignore[override]
        roles = self.servers.get(ctx.guild.id if ctx.guild else None).admin_role_ids
        if not is_admin(ctx.author, roles):
            raise NotAdmin(in_dm=ctx.guild is None)
        return True

    @commands.hybrid_command(name="articles", description="Admin: how many articles and passages, last refresh, skipped files")
    async def articles(self, ctx: commands.Context) -> None:
        await ctx.defer(ephemeral=True)
        stats = await asyncio.to_thread(self.library.stats)
        await respond(ctx, stats_text(stats), ephemeral=True)

    @commands.hybrid_command(name="reload", description="Admin: re-read the articles folder now")
    async def reload(self, ctx: commands.Context) -> None:
        await ctx.defer(ephemeral=True)
        result = await asyncio.to_thread(self.library.refresh)
        stats = await asyncio.to_thread(self.library.stats)
        text = refresh_text(len(result.added), len(result.changed), len(result.removed), stats)
        await respond(ctx, text, ephemeral=True)

    @commands.hybrid_command(name="add", description="Admin: add an article file (text, HTML, PDF, DOCX, EPUB, feed) to the articles folder")
    @app_commands.describe(file=f"The article file ({' '.join(ALLOWED_SUFFIXES)})",  # what the loader reads
                           replace="Overwrite an existing file with the same name (default: no)")
    async def add(self, ctx: commands.Context, file: discord.Attachment, replace: bool = False) -> None:
        name = clean_name(file.filename)  # refuse bad names and oversized files before downloading
        if file.size > self.max_upload:
            raise UserError(f"The file is too large ({file.size:,} bytes; the limit is {self.max_upload:,}).")
        await ctx.defer(ephemeral=True)
        data = await file.read()
        result = await asyncio.to_thread(
            add_article, self.library, name, data, replace=replace, max_bytes=self.max_upload
        )  # an IntakeError is worded by the error handler
        text = added_text(result.name, replaced=result.replaced, title=result.title,
                          passages=result.passages, reason=result.reason)
        answered = await recheck_gaps(self.library, self.top_k, self.off_loop, self.records, result.name)
        if answered:
            text += f"\nIt answers {answered} question{'s' if answered != 1 else ''} listed in /gaps."
        await respond(ctx, text, ephemeral=True)

    @commands.hybrid_command(name="gaps", description="Admin: questions the articles could not answer, and answers voted down")
    async def gaps(self, ctx: commands.Context) -> None:
        await ctx.defer(ephemeral=True)
        record = self.records.record
        gaps = await self.records.call(record.gaps) if record is not None else None
        if gaps is None:
            why = self.records.problem or "no record is kept (set record_path, or use_cache = true)"
            await respond(ctx, f"No record of questions: {why}.", ephemeral=True)
            return
        await respond(ctx, gaps_message(gaps), ephemeral=True)


    @commands.hybrid_command(name="settings", description="Admin: this server's answer channels, thread mode, admin roles, cooldown")
    @app_commands.describe(
        answer_channels="Channels to answer in (mention them), or 'all'",
        help_desk_channels="Channels where every message is a question (mention them), or 'none'",
        thread_mode="Answer each question in a new thread",
        admin_roles="Roles that may use admin commands besides Manage Server (mention them), or 'none'",
        cooldown_rate="Questions per user per cooldown window (1-1000)",
        cooldown_seconds="Cooldown window in seconds (0-86400; 0 = off)",
        reset="Forget this server's settings: back to the defaults",
    )
    async def settings(self, ctx: commands.Context, answer_channels: str | None = None,
                       help_desk_channels: str | None = None, thread_mode: bool | None = None,
                       admin_roles: str | None = None, cooldown_rate: int | None = None,
                       cooldown_seconds: float | None = None, reset: bool = False) -> None:
        await ctx.defer(ephemeral=True)
        guild_id = ctx.guild.id  # admin commands only run in servers (cog_check)
        servers = self.servers
        record = self.records.record
        changes: dict = {}
        for key, text in (("allowed_channel_ids", answer_channels), ("help_desk_channel_ids", help_desk_channels),
                          ("admin_role_ids", admin_roles)):
            if text is not None:
                changes[key] = parse_ids(text)
        for key, value in (("thread_mode", thread_mode), ("cooldown_rate", cooldown_rate),
                           ("cooldown_seconds", cooldown_seconds)):
            if value is not None:
                changes[key] = value
        if changes or reset:
            if record is None:
                why = self.records.problem or "no record database is kept (set record_path, or use_cache = true)"
                raise UserError(f"Server settings can't be saved: {why}.")
            try:
                overrides = {} if reset else servers.check(guild_id, changes)
            except SettingsError as exc:
                raise UserError(f"Not changed: {exc}.") from None
            stored = {k: overrides.get(k) for k in SERVER_KEYS}
            saved = await self.records.call(_save_settings, record, guild_id, stored, reset)
            if saved is None:
                raise UserError(f"Server settings can't be saved: {self.records.problem}.")
            servers.apply(guild_id, overrides)
        await respond(ctx, settings_message(servers, guild_id, changed=bool(changes or reset)), ephemeral=True)


def _save_settings(record, guild_id: int, stored: dict, reset: bool) -> bool:
    if reset:
        record.clear_server_settings(guild_id)
    else:
        record.set_server_settings(guild_id, stored)
    return True


def parse_ids(text: str) -> list[int]:
    """Channel/role mentions or ids in ``text``; 'all', 'none' or '-' mean an empty list."""
    return [int(x) for x in re.findall(r"\d{15,20}", text)]


def settings_message(servers, guild_id: int, *, changed: bool) -> str:
    d = servers.get(guild_id)
    mine = servers.overrides.get(guild_id, {})

    def src(key: str) -> str:
        return " *(this server)*" if key in mine else " *(default)*"

    def ids(values, mark: str, empty: str) -> str:
        return ", ".join(f"<{mark}{v}>" for v in values[:20]) or empty

    lines = ["**Settings saved.**" if changed else "**Settings for this server**",
             f"Answer channels: {ids(d.allowed_channel_ids, '#', 'all')}{src('allowed_channel_ids')}",
             f"Help-desk channels: {ids(d.help_desk_channel_ids, '#', 'none')}{src('help_desk_channel_ids')}",
             f"Thread mode: {'on' if d.thread_mode else 'off'}{src('thread_mode')}",
             f"Admin roles: {ids(d.admin_role_ids, '@&', 'none')} (plus Manage Server){src('admin_role_ids')}",
             f"Cooldown: {d.cooldown_rate} questions per {d.cooldown_seconds:g} s"
             f"{src('cooldown_rate') if 'cooldown_rate' in mine else src('cooldown_seconds')}"]
    return "\n".join(lines)


def gaps_message(gaps) -> str:
    """The /gaps reply: most frequent first, questions escaped, within Discord's 2,000."""
    if not gaps:
        return "No unanswered or downvoted questions recorded."
    lines = ["**What the articles could not answer** (most frequent first):"]
    for i, g in enumerate(gaps):
        what = "unanswered" if g.kind == "unanswered" else "voted down"
        line = f"{g.count}× {what}: {clip(g.question, 200)}"
        if g.answered_by:
            line += f" — ✅ now answered by {clip(g.answered_by, 150)}"
        if sum(len(x) + 1 for x in lines) + len(line) > CONTENT_MAX - 60:
            lines.append(f"…and {len(gaps) - i} more")
            break
        lines.append(line)
    return "\n".join(lines)


async def recheck_gaps(library: "Library", top_k: int, off_loop: OffLoop, records: Records, added: str) -> int:
    """Re-ask the listed unanswered questions after ``added`` was indexed (scoring and record off
    the loop); mark those now answered from that article. Returns how many."""
    record = records.record
    if record is None:
        return 0
    open_questions = await records.call(record.open_questions)
    if not open_questions:
        return 0

    def ask_all() -> dict[str, str]:
        found: dict[str, str] = {}
        for key, question in open_questions:
            answer = library.ask(question, top_k)
            source = next((c for c in answer.citations if c.path == added), None) if answer.found else None
            if source is not None:
                found[key] = f"{source.title} ({source.path})"
        return found

    answered = await off_loop.run_blocking(ask_all)
    if answered:
        await records.call(record.mark_answered, answered)
    return len(answered)


async def setup(bot: commands.Bot) -> None:
    """discord.py extension entry point: the Admin cog with the collaborators the bot built."""
    s = services_of(bot)
    await bot.add_cog(AdminCog(library=s.library, settings=s.settings, servers=s.servers,
                               off_loop=s.off_loop, records=s.records))
