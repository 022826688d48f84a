"""👍 / 👎 and "More sources" under every answer: one persistent view, registered in setup_hook.

The buttons have fixed ``custom_id``s and the view no timeout, so after a restart discord.py
still routes clicks on old answers here; which answer was clicked is the interaction's message
id, looked up in the record. Every database call runs in a thread (``bot.db``).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.render import DESCRIPTION_MAX, clip

if TYPE_CHECKING:  # pragma: no cover
    from bot.client import CiteBot

NO_MENTIONS = discord.AllowedMentions.none()
UP, DOWN, MORE = "citebot:vote:up", "citebot:vote:down", "citebot:more"
MORE_PASSAGES = 5
FAILED = "Sorry, something went wrong with that button. The error has been logged."
log = logging.getLogger("citebot.discord")


class FeedbackView(discord.ui.View):
    """The buttons under an answer."""

    def __init__(self, bot: "CiteBot") -> None:
        super().__init__(timeout=None)
        self.bot = bot

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        """As the bot's one error handler words it: a logged traceback, one short private reply."""
        log.error("button %s failed", getattr(item, "custom_id", "?"), exc_info=(type(error), error, error.__traceback__))
        try:
            if interaction.response.is_done():
                await interaction.followup.send(FAILED, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await interaction.response.send_message(FAILED, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("could not send an error reply: %s", exc)

    @discord.ui.button(emoji="👍", style=discord.ButtonStyle.secondary, custom_id=UP)
    async def up(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await vote(self.bot, interaction, 1)

    @discord.ui.button(emoji="👎", style=discord.ButtonStyle.secondary, custom_id=DOWN)
    async def down(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await vote(self.bot, interaction, -1)

    @discord.ui.button(label="More sources", style=discord.ButtonStyle.secondary, custom_id=MORE)
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await more_sources(self.bot, interaction)


async def _say(interaction: discord.Interaction, text: str = "", embed: discord.Embed | None = None) -> None:
    kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": NO_MENTIONS}
    if embed is not None:
        kwargs["embed"] = embed
    await interaction.response.send_message(text or None, **kwargs)


async def vote(bot: "CiteBot", interaction: discord.Interaction, value: int) -> None:
    """Record (or change) this user's vote on this answer; tell only them."""
    message = interaction.message
    record = bot.record
    if message is None or record is None:
        await _say(interaction, f"Thanks! Votes aren't being recorded here{_why(bot)}.")
        return
    counts = await bot.db(record.vote, message.id, interaction.user.id, value)
    if counts is None:
        await _say(interaction, f"Thanks! This answer isn't in the record, so the vote wasn't kept{_why(bot)}.")
        return
    ups, downs = counts
    mark = "👍" if value > 0 else "👎"
    await _say(interaction, f"Thanks, your {mark} is recorded (click the other button to change it). "
                            f"This answer has {ups} 👍 and {downs} 👎.")


def _why(bot: "CiteBot") -> str:
    return f" ({bot.record_problem_public})" if bot.record_problem else ""


async def more_sources(bot: "CiteBot", interaction: discord.Interaction) -> None:
    """The next passages for the answer's question, beyond those it already cites."""
    message = interaction.message
    question, searched, cited = "", "", set()
    if message is not None and bot.record is not None:
        row = await bot.db(bot.record.question_for, message.id)
        if row is not None:
            question, searched, citations = row
            cited = {(c.get("path"), c.get("paragraph")) for c in citations}
    if not searched and message is not None and message.embeds:
        question = searched = message.embeds[0].title or ""  # not recorded: the question is the title
    if not searched:
        await _say(interaction, "I can't tell which question this answer was for.")
        return
    top_k = bot.settings.top_k
    hits = await bot.score(bot.library.search, searched, top_k + len(cited) + MORE_PASSAGES)
    fresh = [h for h in hits if (h.passage.article.path, h.passage.paragraph) not in cited][:MORE_PASSAGES]
    if not fresh:
        await _say(interaction, "No more passages match this question.")
        return
    budget = (DESCRIPTION_MAX - 200) // len(fresh)
    lines = []
    for n, hit in enumerate(fresh, 1):
        p = hit.passage
        head = f"**{n}. {clip(p.article.title, 200)}** — {clip(p.article.path, 200)}, paragraph {p.paragraph}"
        lines.append(f"{head}\n> {clip(p.text, max(50, budget - len(head) - 10))}")
    embed = discord.Embed(title=clip(f"More sources: {question}", 256), description="\n".join(lines)[:DESCRIPTION_MAX])
    await _say(interaction, embed=embed)
