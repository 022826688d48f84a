"""👍 / 👎 and "More sources" under every answer: one persistent view, registered in setup_hook.

The buttons have fixed ``custom_id``s and the view no timeout, so after a restart discord.py
still routes clicks on old answers here; which answer was clicked is the interaction's message
id, looked up in the record. Every database call runs in a thread (``Records.call``); the view
gets the library, the record and the scoring threads through its constructor.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from citebot.bot.render import DESCRIPTION_MAX, clip

if TYPE_CHECKING:  # pragma: no cover
    from citebot.retrieval import Library

    from citebot.bot.services import OffLoop, Records

NO_MENTIONS = discord.AllowedMentions.none()
UP, DOWN, MORE = "citebot:vote:up", "citebot:vote:down", "citebot:more"
MORE_PASSAGES = 5
FAILED = "Sorry, something went wrong with that button. The error has been logged."
log = logging.getLogger("citebot.discord")


class FeedbackView(discord.ui.View):
    """The buttons under an answer."""

    def __init__(self, *, library: "Library", top_k: int, off_loop: "OffLoop", records: "Records") -> None:
        super().__init__(timeout=None)
        self.library = library
        self.top_k = top_k
        self.off_loop = off_loop
        self.records = records

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
        await vote(self.records, interaction, 1)

    @discord.ui.button(emoji="👎", style=discord.ButtonStyle.secondary, custom_id=DOWN)
    async def down(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await vote(self.records, interaction, -1)

    @discord.ui.button(label="More sources", style=discord.ButtonStyle.secondary, custom_id=MORE)
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await more_sources(self, interaction)


async def _say(interaction: discord.Interaction, text: str = "", embed: discord.Embed | None = None) -> None:
    kwargs: dict[str, Any] = {"ephemeral": True, "allowed_mentions": NO_MENTIONS}
    if embed is not None:
        kwargs["embed"] = embed
    await interaction.response.send_message(text or None, **kwargs)


async def vote(records: "Records", interaction: discord.Interaction, value: int) -> None:
    """Record (or change) this user's vote on this answer; tell only them."""
    message = interaction.message
    record = records.record
    if message is None or record is None:
        await _say(interaction, f"Thanks! Votes aren't being recorded here{_why(records)}.")
        return
    counts = await records.call(record.vote, message.id, interaction.user.id, value)
    if counts is None:
        await _say(interaction, f"Thanks! This answer isn't in the record, so the vote wasn't kept{_why(records)}.")
        return
    ups, downs = counts
    mark = "👍" if value > 0 else "👎"
    await _say(interaction, f"Thanks, your {mark} is recorded (click the other button to change it). "
                            f"This answer has {ups} 👍 and {downs} 👎.")


def _why(records: "Records") -> str:
    return f" ({records.problem_public})" if records.problem else ""


async def more_sources(view: FeedbackView, interaction: discord.Interaction) -> None:
    """The next passages for the answer's question, beyond those it already cites."""
    message = interaction.message
    question, searched, cited = "", "", set()
    record = view.records.record
    if message is not None and record is not None:
        row = await view.records.call(record.question_for, message.id)
        if row is not None:
            question, searched, citations = row
            cited = {(c.get("path"), c.get("paragraph")) for c in citations}
    if not searched and message is not None and message.embeds:
        question = searched = message.embeds[0].title or ""  # not recorded: the question is the title
    if not searched:
        await _say(interaction, "I can't tell which question this answer was for.")
        return
    hits = await view.off_loop.run_blocking(view.library.search, searched, view.top_k + len(cited) + MORE_PASSAGES)
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
