"""Who may ask where, how often, and who is an admin: the bot's gates, in one place.

The errors here are ``commands.CheckFailure`` subclasses so that prefix, slash and @mention
paths all end in the one error handler (``CiteBot.on_command_error``), which words the reply.
Failures whose message is written for people are ``retrieval.errors.UserError``s, raised as
they are (engine and bot alike) and said as they are by that handler.
"""
from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable, Iterable

import discord
from discord.ext import commands


class NotAdmin(commands.CheckFailure):
    """The invoker lacks Manage Server and every configured admin role."""

    def __init__(self, in_dm: bool) -> None:
        self.in_dm = in_dm
        super().__init__("admin command refused")


class ChannelNotAllowed(commands.CheckFailure):
    """The bot does not answer here: outside the channel allowlist, or DMs are switched off."""

    def __init__(self, in_dm: bool, allowed_channel_ids: tuple[int, ...]) -> None:
        self.in_dm = in_dm
        self.allowed_channel_ids = allowed_channel_ids
        super().__init__("channel not allowed")


class AskingTooFast(commands.CheckFailure):
    """Per-user cooldown hit; ``retry_after`` seconds until the next question is accepted."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"cooldown: retry in {retry_after:.1f}s")

    @property
    def seconds(self) -> int:
        return max(1, math.ceil(self.retry_after))


def is_admin(user: discord.abc.User, admin_role_ids: Iterable[int]) -> bool:
    """Manage Server, or any configured role. In DMs nobody is: there is no server to manage."""
    if not isinstance(user, discord.Member):
        return False
    if user.guild_permissions.manage_guild:
        return True
    wanted = set(admin_role_ids)
    return any(role.id in wanted for role in user.roles)


def channel_allowed(
    channel: discord.abc.Messageable | None, *, allow_dms: bool, allowed_channel_ids: Iterable[int]
) -> bool:
    """DMs follow the DM switch; guild channels the allowlist (a thread counts as its parent)."""
    if channel is None or isinstance(channel, (discord.DMChannel, discord.GroupChannel)):
        return allow_dms
    allowed = set(allowed_channel_ids)
    if not allowed:
        return True
    ids = {getattr(channel, "id", None), getattr(channel, "parent_id", None)}
    return bool(ids & allowed)


class Cooldowns:
    """``rate`` questions per ``per`` seconds for each user, shared by !ask, /ask and @mentions.

    A sliding window over ``time.monotonic`` (looked up at call time so simcord's virtual clock
    drives it in tests). Refused attempts are not counted, so waiting always helps.
    """

    def __init__(self, rate: int, per: float, clock: Callable[[], float] | None = None) -> None:
        self.rate = max(1, int(rate))
        self.per = max(0.0, float(per))
        self._clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._noticed: dict[int, float] = {}

    def _now(self) -> float:
        return self._clock() if self._clock is not None else time.monotonic()

    def hit(self, user_id: int) -> float:
        """Record a question; 0.0 if accepted, else the seconds to wait (nothing recorded)."""
        if self.per <= 0:
            return 0.0
        now = self._now()
        window = self._seen.setdefault(user_id, deque())
        while window and now - window[0] >= self.per:
            window.popleft()
        if len(window) >= self.rate:
            return self.per - (now - window[0])
        window.append(now)
        if len(self._seen) > 10_000:  # forget idle users so memory stays flat in big servers
            self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < self.per}
            self._noticed = {k: t for k, t in self._noticed.items() if now - t < self.per}
        return 0.0

    def notice_due(self, user_id: int) -> bool:
        """True at most once per window: a user hammering !ask gets one "slow down", not many."""
        now = self._now()
        last = self._noticed.get(user_id)
        if last is not None and now - last < self.per:
            return False
        self._noticed[user_id] = now
        return True
