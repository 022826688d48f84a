"""Which earlier turn a message continues, read back from Discord itself: the answer a message
replies to (Discord sends it along with the reply), or the bot's last answer in a thread the bot
opened. Nothing is kept in memory, so follow-ups work the same after a restart and on every shard.

An answer message carries its turn: the embed title is the question as the user asked it, the
description the quoted answer, and a footer "follow-up to “…”" names the question it was read
with, which keeps a three-turn chain on its subject.
"""
from __future__ import annotations

import re
from typing import Any

import discord

from citebot.retrieval.followup import Turn

_QUOTE_MARKS = re.compile(r"^> |\*\*\[\d+\]\*\*|[“”]")
_READ_WITH = re.compile(r"follow-up to “(.*?)”(?: · about (.*))?$")
_ESCAPES = re.compile(r"\\(.)")
THREAD_LOOKBACK = 20  # messages read back in a thread to find the bot's last answer


def turn_of(message: Any, bot_id: int | None) -> Turn | None:
    """The turn one of the bot's answer messages carries, or None for any other message."""
    if not isinstance(message, discord.Message) or bot_id is None or message.author.id != bot_id:
        return None
    if not message.embeds or not message.embeds[0].title:
        return None
    embed = message.embeds[0]
    footer = embed.footer.text or ""
    if not footer.startswith(("Answered", "Searched")):
        return None  # help, admin replies
    asked = _unescape(embed.title or "")
    answer = _QUOTE_MARKS.sub("", embed.description or "") if footer.startswith("Answered") else ""
    before = _READ_WITH.search(footer)
    question = f"{asked} {_unescape(before.group(1))} {_unescape(before.group(2) or '')}" if before else asked
    return Turn(question, _unescape(answer), asked=asked)


def followup_note(previous: str, carried: tuple[str, ...]) -> str:
    """The footer of a follow-up's answer: the question it was read with and the names carried,
    so the next reply in the chain can read the subject back from this message."""
    subject = ", ".join(t for t in carried if t[:1].isupper())[:60]
    return f"follow-up to “{previous[:60]}”" + (f" · about {subject}" if subject else "")


def _unescape(text: str) -> str:
    """Rendered text back to plain words (the renderer escapes markdown)."""
    return _ESCAPES.sub(r"\1", text)


def replied_turn(message: discord.Message | None, bot_id: int | None) -> Turn | None:
    """The turn of the answer ``message`` replies to (from the reply's resolved reference)."""
    reference = getattr(message, "reference", None)
    if reference is None:
        return None
    return turn_of(reference.resolved, bot_id)


def is_bot_thread(channel: Any, bot_id: int | None) -> bool:
    """A thread the bot opened for a question (thread mode): every message in it is a question."""
    return isinstance(channel, discord.Thread) and bot_id is not None and channel.owner_id == bot_id


async def previous_turn(message: discord.Message | None, channel: Any, bot_id: int | None) -> Turn | None:
    """The turn a question continues: the answer it replies to, else the bot's last answer in
    the bot's thread it is asked in (one history read of at most THREAD_LOOKBACK messages)."""
    turn = replied_turn(message, bot_id)
    if turn is not None or not is_bot_thread(channel, bot_id):
        return turn
    try:
        async for earlier in channel.history(limit=THREAD_LOOKBACK):
            turn = turn_of(earlier, bot_id)
            if turn is not None:
                return turn
        # A thread started from the answer itself (a slash command in thread mode): the starter
        # message lives in the parent channel, with the thread's id.
        parent = channel.parent
        if parent is not None:
            return turn_of(await parent.fetch_message(channel.id), bot_id)
    except discord.HTTPException:
        return None  # no history permission, or the starter was deleted: the question stands alone
    return None
