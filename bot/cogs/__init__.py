"""The bot's cogs, and the one way they send: ``respond`` (never pings, fits, replies in place)."""
from __future__ import annotations

import discord
from discord.ext import commands

from citebot.bot.render import Reply, fit_content

NO_MENTIONS = discord.AllowedMentions.none()


async def respond(ctx: commands.Context, reply: Reply | str, *, ephemeral: bool = False,
                  view: discord.ui.View | None = None) -> discord.Message | None:
    """Send ``reply`` for ``ctx``: a reply to the question's message (prefix, @mention) or the
    interaction's response/follow-up (slash). ``AllowedMentions.none()`` on every send, also
    for the reply reference, so neither article text nor the asker is ever pinged."""
    if isinstance(reply, str):
        reply = Reply(content=fit_content(reply))
    kwargs: dict = {"allowed_mentions": NO_MENTIONS}
    if reply.embed is not None:
        kwargs["embed"] = reply.embed
    if view is not None:
        kwargs["view"] = view
    if ctx.interaction is not None:
        return await ctx.send(reply.content, ephemeral=ephemeral, **kwargs)
    reference = ctx.message.to_reference(fail_if_not_exists=False)
    return await ctx.send(reply.content, reference=reference, mention_author=False, **kwargs)


def embeds_allowed(ctx: commands.Context) -> bool:
    """Embeds need Embed Links where the bot speaks (interactions: the app's permissions)."""
    try:
        return ctx.bot_permissions.embed_links
    except Exception:  # noqa: BLE001 - a partial channel we cannot resolve: fall back to text
        return False


async def send_in(channel: discord.abc.Messageable, reply: Reply, *, view: discord.ui.View | None = None) -> discord.Message:
    """Post ``reply`` as a new message in ``channel`` (a thread the bot made), never pinging."""
    kwargs: dict = {"allowed_mentions": NO_MENTIONS}
    if view is not None:
        kwargs["view"] = view
    if reply.embed is not None:
        kwargs["embed"] = reply.embed
    return await channel.send(reply.content, **kwargs)
