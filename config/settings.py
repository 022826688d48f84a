"""Typed settings, layered: init kwargs > CITEBOT_* env > .env > config/settings.toml > defaults.

Nothing here is built at import time: composition roots call ``load_settings()`` once and pass
plain values down, so tests can build ``Settings(articles_dir=..., watch=False)`` directly.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOML = Path(__file__).resolve().parent / "settings.toml"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citebot"


class DiscordSettings(BaseModel):
    """Discord front-end settings; the token is a secret and never printed."""

    token: SecretStr | None = None
    command_prefix: str = Field(default="!", min_length=1)
    message_content_intent: bool = True
    guild_ids: list[int] = Field(default_factory=list)
    allowed_channel_ids: list[int] = Field(default_factory=list)
    allow_dms: bool = True
    admin_role_ids: list[int] = Field(default_factory=list)
    cooldown_seconds: float = Field(default=10.0, ge=0)  # 0 turns the cooldown off
    cooldown_rate: int = Field(default=3, ge=1)
    max_question_chars: int = Field(default=500, ge=1)
    shard_count: int | None = Field(default=None, ge=1)
    max_upload_bytes: int = Field(default=2_000_000, ge=1)


class Settings(BaseSettings):
    """All of citebot's knobs. Unknown keys are ignored so an old .env never breaks a start."""

    model_config = SettingsConfigDict(
        env_prefix="CITEBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        toml_file=DEFAULT_TOML,
    )

    articles_dir: Path = PROJECT_ROOT / "seeds"
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    use_cache: bool = True
    top_k: int = 5
    # A zero or negative cap would skip every file / refuse every question: reject it at load.
    max_file_bytes: int = Field(default=20_000_000, ge=1)
    max_question_chars: int = Field(default=500, ge=1)
    # Read links whose real path leaves articles_dir (off: anyone who can drop a link in the
    # folder could make the bot quote any file it can read, its own .env included).
    follow_outside_links: bool = False
    watch: bool = True
    watch_debounce_ms: int = Field(default=300, ge=0)
    watch_stable_ms: int = Field(default=200, ge=0)
    log_level: str = "INFO"
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    # DISCORD_TOKEN (the conventional name) is accepted as well as CITEBOT_DISCORD__TOKEN.
    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "CITEBOT_DISCORD_TOKEN")
    )

    @field_validator("top_k")
    @classmethod
    def _positive_top_k(cls, value: int) -> int:
        if value < 1:
            raise ValueError("top_k must be at least 1")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # toml_file alone loads nothing: the TOML source has to be listed explicitly.
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    @property
    def token(self) -> SecretStr | None:
        """The Discord token from DISCORD_TOKEN or CITEBOT_DISCORD__TOKEN."""
        return self.discord_token or self.discord.token


def load_settings(**overrides: Any) -> Settings:
    """Build settings once at a composition root; flags arrive as ``overrides`` (None = unset)."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})
