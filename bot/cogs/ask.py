"""`ask` (prefix and slash), @mentions and `help`: Discord glue over ``Library.ask``.

Every entry point goes through the same gates (channel allowlist / DM switch, per-user
cooldown, question cap) and the same ``answer`` path; failures are raised, not replied to,
so the bot's one error handler words them. @mentions, replies to an answer and help-desk
messages arrive through this cog's own ``on_message`` listener. Loaded as an extension:
``setup(bot)`` gives the cog its collaborators from the bot's ``Services``.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import re
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from citebot.bot.checks import AskingTooFast, ChannelNotAllowed, channel_allowed
from citebot.bot.cogs import embeds_allowed, respond, send_in
from citebot.bot.conversations import followup_note, is_bot_thread, previous_turn, replied_turn
from citebot.bot.render import EXAMPLE, clip, help_text, render_answer, render_help
from citebot.bot.services import OffLoop, Records, services_of
from citebot.retrieval import clean_question
from citebot.retrieval.followup import Resolution, resolve

if TYPE_CHECKING:  # pragma: no cover
    from citebot.config import Settings
    from citebot.retrieval import Library

    from citebot.bot.servers import ServerSettings

THREAD_NAME_MAX = 100  # Discord's limit for a thread name
log = logging.getLogger("citebot.discord")


def thread_name(question: str) -> str:
    """A thread's name from its question: one line, at most 100 characters, never empty."""
    return clip(question, THREAD_NAME_MAX, raw=True) or "Question"


def mention_question(content: str, bot_id: int) -> str | None:
    """The question in a message that @mentions the bot (mention removed), else None."""
    pattern = re.compile(rf"<@!?{bot_id}>")
    if not pattern.search(content or ""):
        return None
    return " ".join(pattern.sub(" ", content).split())


class AskCog(commands.Cog, name="Ask"):
    """Answers questions with the collaborators it is given; the bot is used only as Discord
    (its user, contexts, error dispatch), never as a place to look services up."""

    def __init__(self, bot: commands.Bot, *, library: "Library", settings: "Settings",
                 servers: "ServerSettings", off_loop: OffLoop, records: Records,
                 buttons: discord.ui.View | None = None) -> None:
        self.bot = bot
        self.library = library
        self.settings = settings
        self.discord = settings.discord
        self.servers = servers
        self.off_loop = off_loop
        self.records = records
        self.buttons = buttons
        # The one question cap in force here: Discord's and the engine's, whichever is lower.
        self.max_question_chars = min(settings.discord.max_question_chars, library.max_question_chars)

    # --- gates ------------------------------------------------------------------------------

    def gate(self, channel: discord.abc.Messageable | None) -> None:
        guild = getattr(channel, "guild", None)
        d = self.servers.get(guild.id if guild is not None else None)
        if not channel_allowed(channel, allow_dms=d.allow_dms, allowed_channel_ids=d.allowed_channel_ids):
            in_dm = channel is None or isinstance(channel, discord.DMChannel)
            raise ChannelNotAllowed(in_dm, tuple(d.allowed_channel_ids))

    def spend(self, user: discord.abc.User, guild: discord.Guild | None = None) -> None:
        wait = self.servers.cooldowns(guild.id if guild is not None else None).hit(user.id)
        if wait > 0:
            raise AskingTooFast(wait)

    async def cog_check(self, ctx: commands.Context) -> bool:  # type: ignore[override]
        self.gate(ctx.channel)
        if ctx.command is not None and ctx.command.qualified_name == "ask":
            self.spend(ctx.author, ctx.guild)
        return True

    # --- the one answer path ------------------------------------------------------------------

    async def answer(self, ctx: commands.Context, question: str) -> None:
        """Check the question, defer a slash command at once, read it with the conversation it
        continues, score and render in a thread, reply (in a new thread in thread mode)."""
        limit = self.max_question_chars
        question = clean_question(question, limit)  # a QuestionError is worded by the error handler
        if ctx.interaction is not None:
            await ctx.defer()  # within Discord's 3 s, before any real work
        me = self.bot.user
        message = None if ctx.interaction is not None else ctx.message
        previous = await previous_turn(message, ctx.channel, me.id if me else None)
        history = [previous] if previous is not None else []
        top_k = self.settings.top_k

        def work() -> tuple[Resolution, object]:
            resolution = resolve(question, history, max_chars=limit)
            # Not a follow-up: the search text is the question checked above, handed on as the
            # CleanQuestion it is so the engine does not check it again. A follow-up's search
            # text is new (words carried from the last turn), so the engine checks that.
            searched = resolution.question if resolution.followup else question
            answer = self.library.ask(searched, top_k, meaning=resolution.meaning)  # dates, sources: by ask
            return resolution, answer

        started = time.perf_counter()
        resolution, answer = await self.off_loop.run_blocking(work)
        took_ms = (time.perf_counter() - started) * 1000
        answer = dataclasses.replace(answer, question=question)  # the user's words, not the search text
        note = followup_note(previous.shown, resolution.carried) if resolution.followup and previous else ""
        # Rendering escapes and clips article text: linear, but a huge title or quote is still
        # real work, so it runs on the scoring threads too, never on the event loop.
        render = functools.partial(render_answer, answer, took_ms=took_ms, embeds=embeds_allowed(ctx), note=note)
        reply = await self.off_loop.run_blocking(render)
        thread = await self.open_thread(ctx, question) if message is not None else None
        view = self.buttons
        if thread is not None:
            sent = await send_in(thread, reply, view=view)
        else:
            sent = await respond(ctx, reply, view=view)
            if message is None and sent is not None and self.threads_here(ctx.channel):
                # A slash command has no question message: the thread starts at the answer.
                await self.start_thread(ctx.channel, sent, question)
        await self.keep(ctx, sent, question, resolution.question, answer)

    async def keep(self, ctx: commands.Context, sent: discord.Message | None, question: str, searched: str,
                   answer) -> None:
        """Store the question and what it got (off the loop); if the record is off for a reason
        not yet told, say why once."""
        record = self.records.record
        if record is not None:
            citations = [{"n": c.n, "title": c.title, "path": c.path, "paragraph": c.paragraph}
                         for c in answer.citations]
            await self.records.call(functools.partial(
                record.add, question=question, searched=searched, found=answer.found,
                answer=answer.text if answer.found else "", citations=citations,
                message_id=sent.id if sent is not None else None,
                guild_id=ctx.guild.id if ctx.guild else None, channel_id=getattr(ctx.channel, "id", None),
                user_id=ctx.author.id))
        if self.records.notice_due:
            self.records.notice_due = False
            await respond(ctx, f"Note: questions and votes aren't being recorded ({self.records.problem_public}). "
                               "Answers are not affected.")

    @commands.hybrid_command(name="forget", description="Delete the questions and votes citebot recorded from you")
    async def forget(self, ctx: commands.Context) -> None:
        await ctx.defer(ephemeral=True)
        record = self.records.record
        if record is None:
            await respond(ctx, "Nothing is recorded here.", ephemeral=True)
            return
        removed = await self.records.call(record.forget_user, ctx.author.id)
        text = (f"Deleted {removed} recorded entr{'y' if removed == 1 else 'ies'} of yours." if removed is not None
                else "The record can't be changed right now; please try again later.")
        await respond(ctx, text, ephemeral=True)

    async def open_thread(self, ctx: commands.Context, question: str) -> discord.Thread | None:
        """Thread mode: a new thread from the question's message, in a server text channel (not
        in a thread or a DM). None, and the answer goes in the channel, if the bot may not."""
        if not self.threads_here(ctx.channel):
            return None
        return await self.start_thread(ctx.channel, ctx.message, question)

    def threads_here(self, channel: object) -> bool:
        """Thread mode is on for this server and ``channel`` is a server text channel."""
        return isinstance(channel, discord.TextChannel) and self.servers.get(channel.guild.id).thread_mode

    async def start_thread(self, channel: discord.TextChannel, starter: discord.Message,
                           question: str) -> discord.Thread | None:
        try:
            return await channel.create_thread(name=thread_name(question), message=discord.Object(starter.id))
        except discord.HTTPException as exc:
            log.warning("could not open a thread for a question in channel %s: %s", channel.id, exc)
            return None

    @commands.hybrid_command(name="ask", description="Ask a question about the articles; get the quote and its source")
    @app_commands.describe(question=f"Your question, e.g. “{EXAMPLE}”")
    async def ask(self, ctx: commands.Context, *, question: str) -> None:
        await self.answer(ctx, question)

    @commands.Cog.listener("on_message")
    async def on_plain_message(self, message: discord.Message) -> None:
        """A message that is no command but a question: an @mention, a reply to one of the
        bot's answers, a message in a thread it answers in or in a help-desk channel. Commands
        are left to the bot (which invokes them), so nothing is answered twice."""
        me = self.bot.user
        if message.author.bot or me is None:
            return
        question = mention_question(message.content, me.id)
        if question is None and self.unprompted(message, me.id):
            question = " ".join(message.content.split())
        if question is None:
            return
        ctx = await self.bot.get_context(message)
        if ctx.command is None:
            await self.on_mention(ctx, question)

    def unprompted(self, message: discord.Message, bot_id: int) -> bool:
        """A message answered without a mention or command: a reply to one of the bot's answers,
        a message in a thread the bot answers in, or any message in a help-desk channel."""
        if not (message.content or "").strip():
            return False
        channel = message.channel
        parent = getattr(channel, "parent_id", None)
        desk = set(self.servers.get(message.guild.id if message.guild else None).help_desk_channel_ids)
        if desk and (channel.id in desk or parent in desk):
            return True
        return is_bot_thread(channel, bot_id) or replied_turn(message, bot_id) is not None

    async def on_mention(self, ctx: commands.Context, question: str) -> None:
        """``@citebot <question>``: the same gates and answer path as ``ask``; bare mention = help."""
        message = ctx.message
        try:
            self.gate(message.channel)
            if not question:
                await self.send_help(ctx)
                return
            self.spend(message.author, message.guild)
            await self.answer(ctx, question)
        except Exception as exc:  # noqa: BLE001 - routed to the one error handler
            error = exc if isinstance(exc, commands.CommandError) else commands.CommandInvokeError(exc)
            self.bot.dispatch("command_error", ctx, error)  # the same road as a failed command

    # --- help ---------------------------------------------------------------------------------

    @commands.hybrid_command(name="help", description="How to ask citebot, with examples from the articles")
    async def help(self, ctx: commands.Context) -> None:
        await self.send_help(ctx)

    async def send_help(self, ctx: commands.Context) -> None:
        titles, stats = await self.off_loop.run_blocking(lambda: (self.library.titles()[:50], self.library.stats()))
        d = self.discord
        text = help_text(
            titles, prefix=d.command_prefix, prefix_enabled=d.message_content_intent,
            articles=stats.articles, passages=stats.passages, cooldown_rate=d.cooldown_rate,
            cooldown_seconds=d.cooldown_seconds, max_question_chars=self.max_question_chars,
        )
        await respond(ctx, render_help(text, embeds=embeds_allowed(ctx)), ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    """discord.py extension entry point: the Ask cog with the collaborators the bot built."""
    s = services_of(bot)
    await bot.add_cog(AskCog(bot, library=s.library, settings=s.settings, servers=s.servers,
                             off_loop=s.off_loop, records=s.records, buttons=s.buttons))
