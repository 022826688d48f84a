"""Admin commands: `/articles`, `/reload`, `/add` (Manage Server or a configured admin role).

Everyone else, also in DMs, gets a polite ephemeral refusal from the error handler. Disk and
index work runs in a thread; the saving rules for uploads live in ``retrieval.intake``.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import NotAdmin, UserFacingError, is_admin
from bot.cogs import respond
from bot.render import added_text, refresh_text, stats_text
from retrieval.intake import IntakeError, add_article, clean_name

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import CiteBot


class AdminCog(commands.Cog, name="Admin"):
    def __init__(self, bot: "CiteBot") -> None:
        self.bot = bot
        self.library = bot.library
        self.discord = bot.settings.discord
        # An upload must pass both the Discord cap and the engine's per-file cap.
        self.max_upload = min(self.discord.max_upload_bytes, bot.settings.max_file_bytes)

    async def cog_check(self, ctx: commands.Context) -> bool:  # type: ignore[override]
        if not is_admin(ctx.author, self.discord.admin_role_ids):
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

    @commands.hybrid_command(name="add", description="Admin: add an article file (.txt, .md, .html) to the articles folder")
    @app_commands.describe(file="The article file (.txt, .md, .html or .htm)",
                           replace="Overwrite an existing file with the same name (default: no)")
    async def add(self, ctx: commands.Context, file: discord.Attachment, replace: bool = False) -> None:
        try:  # refuse bad names and oversized files before downloading anything
            name = clean_name(file.filename)
        except IntakeError as exc:
            raise UserFacingError(str(exc)) from None
        if file.size > self.max_upload:
            raise UserFacingError(f"The file is too large ({file.size:,} bytes; the limit is {self.max_upload:,}).")
        await ctx.defer(ephemeral=True)
        data = await file.read()
        try:
            result = await asyncio.to_thread(
                add_article, self.library, name, data, replace=replace, max_bytes=self.max_upload
            )
        except IntakeError as exc:
            raise UserFacingError(str(exc)) from None
        text = added_text(result.name, replaced=result.replaced, title=result.title,
                          passages=result.passages, reason=result.reason)
        await respond(ctx, text, ephemeral=True)
