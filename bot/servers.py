"""Per-server settings: what admins change with /settings, over the TOML/env defaults.

The overrides live in the record database (table ``server_settings``) and, once loaded off the
event loop, in memory here, so a gate check never touches the database. A server without
overrides uses the defaults object itself (``settings.discord``).
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from citebot.bot.checks import Cooldowns
from citebot.config import DiscordSettings

# What a server can change (the rest: token, prefix, intents, shards, sizes, stay global).
SERVER_KEYS = ("allowed_channel_ids", "help_desk_channel_ids", "thread_mode", "admin_role_ids",
               "cooldown_rate", "cooldown_seconds")


class SettingsError(ValueError):
    """A value a server may not set; the message names it and the allowed range."""


class ServerSettings:
    def __init__(self, defaults: DiscordSettings, cooldowns: Cooldowns) -> None:
        self.defaults = defaults
        self.default_cooldowns = cooldowns
        self.overrides: dict[int, dict[str, Any]] = {}
        self._cooldowns: dict[int, Cooldowns] = {}

    def load(self, overrides: dict[int, dict[str, Any]]) -> None:
        self.overrides = {g: {k: v for k, v in o.items() if k in SERVER_KEYS} for g, o in overrides.items()}
        self._cooldowns.clear()

    def get(self, guild_id: int | None) -> DiscordSettings:
        """The settings in force in a server (the defaults in DMs and untouched servers)."""
        mine = self.overrides.get(guild_id) if guild_id is not None else None
        if not mine:
            return self.defaults
        return self.defaults.model_copy(update=mine)

    def cooldowns(self, guild_id: int | None) -> Cooldowns:
        mine = self.overrides.get(guild_id) if guild_id is not None else None
        if not mine or not ({"cooldown_rate", "cooldown_seconds"} & mine.keys()):
            return self.default_cooldowns
        if guild_id not in self._cooldowns:
            d = self.get(guild_id)
            self._cooldowns[guild_id] = Cooldowns(d.cooldown_rate, d.cooldown_seconds)
        return self._cooldowns[guild_id]

    def check(self, guild_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """The server's overrides after ``changes`` (None = back to the default), validated with
        the same bounds as the TOML/env settings."""
        merged = {**self.overrides.get(guild_id, {}), **changes}
        merged = {k: v for k, v in merged.items() if v is not None}
        current = {k: getattr(self.defaults, k) for k in SERVER_KEYS}
        try:
            checked = DiscordSettings(**{**current, **merged})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error.get("loc", ())) or "settings"
            raise SettingsError(f"{where}: {str(error.get('msg')).removeprefix('Value error, ')}") from None
        return {k: getattr(checked, k) for k in merged}

    def apply(self, guild_id: int, overrides: dict[str, Any]) -> None:
        if overrides:
            self.overrides[guild_id] = overrides
        else:
            self.overrides.pop(guild_id, None)
        self._cooldowns.pop(guild_id, None)
