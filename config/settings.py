"""Typed settings, layered: init kwargs > CITEBOT_* env > .env > the user's settings file (``--config
FILE``, else ``user_config_file()`` when it exists) > config/settings.toml (shipped) > defaults.

Nothing here is built at import time: composition roots call ``load_settings()`` once and pass
plain values down, so tests can build ``Settings(articles_dir=..., watch=False)`` directly.

Every number has bounds and every path must be non-empty: a setting that would silently break
the bot (a watcher that never fires, a cooldown of ``inf``, the working directory indexed) is
refused at load. ``load_settings`` words any refusal as one line naming the setting and where it
came from (the environment variable, the ``.env`` file or the TOML file), raised as
``SettingsLoadError`` so the CLI can exit 2 (which the systemd unit does not restart).
"""
from __future__ import annotations

import io
import json
import logging
import os
import sys
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar, Literal, Mapping, Sequence

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOML = Path(__file__).resolve().parent / "settings.toml"

# Discord ids are 64-bit snowflakes; 0, negatives and anything wider can only be a typo.
Snowflake = Annotated[int, Field(ge=1, le=2**64 - 1)]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsLoadError(Exception):
    """A setting that cannot be used, worded in one line naming it and its source."""


def user_config_file() -> Path:
    """Where a user's own settings file lives: the platform's config folder, as other tools keep
    theirs (``$XDG_CONFIG_HOME/citebot/settings.toml``, else ``~/.config/...``; macOS
    ``~/Library/Application Support/citebot/``; Windows ``%APPDATA%\\citebot\\``)."""
    try:
        if sys.platform == "win32" and os.environ.get("APPDATA"):
            base = Path(os.environ["APPDATA"])
        elif sys.platform == "darwin":
            base = Path.home() / "Library" / "Application Support"
        else:
            base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (a container's --user N)
        base = Path("/nonexistent")
    return base / "citebot" / "settings.toml"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citebot"


class DiscordSettings(BaseModel):
    """Discord front-end settings; the token is a secret and never printed."""

    token: SecretStr | None = None
    command_prefix: str = Field(default="!", min_length=1)
    message_content_intent: bool = True
    guild_ids: list[Snowflake] = Field(default_factory=list)
    allowed_channel_ids: list[Snowflake] = Field(default_factory=list)
    allow_dms: bool = True
    admin_role_ids: list[Snowflake] = Field(default_factory=list)
    # 0 turns the cooldown off; inf/nan would refuse a rate-limited user without a reply.
    cooldown_seconds: float = Field(default=10.0, ge=0, le=86_400, allow_inf_nan=False)
    cooldown_rate: int = Field(default=3, ge=1, le=1_000)
    max_question_chars: int = Field(default=500, ge=1, le=100_000)
    shard_count: int | None = Field(default=None, ge=1, le=10_000)
    max_upload_bytes: int = Field(default=2_000_000, ge=1, le=100_000_000)
    # Answer each @mention/prefix question in a new thread made from the question.
    thread_mode: bool = False
    # Channels where every message is a question (no mention or command needed).
    help_desk_channel_ids: list[Snowflake] = Field(default_factory=list)


class Settings(BaseSettings):
    """All of citebot's knobs. Unknown keys are ignored so an old .env never breaks a start."""

    # The user's settings file, read above the shipped settings.toml (see ``with_user_file``).
    user_toml: ClassVar[Path | None] = None

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
    top_k: int = Field(default=5, ge=1, le=100)
    # A zero or negative cap would skip every file / refuse every question: reject it at load.
    max_file_bytes: int = Field(default=20_000_000, ge=1, le=1_000_000_000)
    max_question_chars: int = Field(default=500, ge=1, le=100_000)
    # Read links whose real path leaves articles_dir (off: anyone who can drop a link in the
    # folder could make the bot quote any file it can read, its own .env included).
    follow_outside_links: bool = False
    watch: bool = True
    # watchfiles takes the debounce as an integer: an enormous one overflows and the watcher dies.
    watch_debounce_ms: int = Field(default=300, ge=0, le=60_000)
    watch_stable_ms: int = Field(default=200, ge=0, le=60_000)
    # Worker processes that tokenise a large folder when it is first indexed (Linux; 0 or 1 = in
    # this process). Unset: one per core. The composition root hands it to Library.open.
    tokenize_workers: int | None = Field(default=None, ge=0, le=1_024)
    # The semantic check (pip install 'citebot[semantic]'): "auto" uses it when installed, "on"
    # refuses to start without it, "off" decides on word overlap alone (~20 ms less a question).
    semantic_check: Literal["auto", "on", "off"] = "auto"
    # Unset: INFO for `citebot run`, WARNING for the one-shot commands (ask, search, index, report).
    log_level: str | None = None
    # The record of questions, answers and votes (SQLite). Unset: <cache_dir>/record.sqlite3 when
    # use_cache is on, else no record.
    record_path: Path | None = None
    record_retention_days: int = Field(default=90, ge=1, le=36_500)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    # DISCORD_TOKEN (the conventional name) is accepted as well as CITEBOT_DISCORD__TOKEN.
    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "CITEBOT_DISCORD_TOKEN")
    )

    @field_validator("articles_dir", "cache_dir", "record_path", mode="before")
    @classmethod
    def _non_empty_path(cls, value: Any, info: ValidationInfo) -> Any:
        # Path("") is ".": an empty value would index, or write the cache into, the working
        # directory. "No cache" is said with use_cache = false (or --no-cache), not an empty path.
        if isinstance(value, str) and not value.strip():
            hint = "; to run without a cache set use_cache = false" if info.field_name == "cache_dir" else ""
            raise ValueError(f"must not be empty (leave it unset for the default{hint})")
        if "\x00" in str(value):
            raise ValueError("must not contain a NUL character")
        if isinstance(value, (str, Path)):
            return Path(value).expanduser()  # "~/news" in a settings file means the home folder
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_log_level(cls, value: Any) -> Any:
        # The names logging knows (WARN and FATAL too), as the CLI accepts CITEBOT_LOG_LEVEL.
        if value is None:
            return None
        if isinstance(value, str) and isinstance(logging.getLevelName(value.strip().upper()), int):
            return value.strip().upper()
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # toml_file alone loads nothing: the TOML source has to be listed explicitly. The user's
        # file (``load_settings(config_file=...)``) sits above the shipped one, table by table.
        user = getattr(settings_cls, "user_toml", None)
        users = (TomlConfigSettingsSource(settings_cls, toml_file=user),) if user is not None else ()
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            *users,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    @property
    def record_file(self) -> Path | None:
        """Where the record of questions lives, or None for no record."""
        if self.record_path is not None:
            return self.record_path
        return self.cache_dir / "record.sqlite3" if self.use_cache else None

    @property
    def token(self) -> SecretStr | None:
        """The Discord token from DISCORD_TOKEN or CITEBOT_DISCORD__TOKEN."""
        return self.discord_token or self.discord.token


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings once at a composition root; flags arrive as ``overrides`` (None = unset).

    ``config_file`` (``--config``) is the user's settings file and must exist; without it,
    ``user_config_file()`` is read when it exists. Raises ``SettingsLoadError`` (one line: the
    setting, its source, what is wrong) for anything pydantic-settings would otherwise report as
    a traceback or a message naming neither.
    """
    init = {key: value for key, value in overrides.items() if value is not None}
    return _load(with_user_file(Settings, _user_file(config_file)), init)


def _user_file(config_file: Path | str | None) -> Path | None:
    if config_file is None:
        default = user_config_file()
        return default if default.is_file() else None
    path = Path(config_file).expanduser()
    if path.is_dir():
        raise SettingsLoadError(f"settings file {path} is a folder (given with --config)")
    if not path.is_file():
        raise SettingsLoadError(f"settings file {path} not found (given with --config)")
    return path


def with_user_file(cls: type[Settings], path: Path | None) -> type[Settings]:
    """``cls`` reading ``path`` as the user's settings file (a subclass: no global state)."""
    if path is None:
        return cls
    return type(cls.__name__, (cls,), {"user_toml": path, "__module__": cls.__module__})


# --- where a bad value came from ------------------------------------------------------------------


def _load(cls: type[Settings], init: dict[str, Any]) -> Settings:
    env = {name: value for name, value in os.environ.items() if _var_path(cls, name) is not None}
    dotenv_file, dotenv = _read_dotenv(cls)
    toml_file, toml = _read_toml(cls)
    user_file = getattr(cls, "user_toml", None)
    user = _read_toml_file(user_file) if user_file is not None else {}
    _check_vars(cls, env, _in_environment)
    _check_vars(cls, dotenv, lambda name: f"{name} in {dotenv_file}")
    try:
        return cls(**init)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error.get("loc", ()))
        where = _origin(cls, loc, init, env, dotenv, dotenv_file, toml, toml_file, user, user_file)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        raise SettingsLoadError(_one_line(f"invalid setting {_dotted(loc)} from {where}: {message}{more}")) from None
    except (SettingsError, UnicodeDecodeError, tomllib.TOMLDecodeError, OSError) as exc:
        # Not foreseen by the checks above; still one line and a usage error, never a traceback.
        cause = f" ({exc.__cause__.__class__.__name__}: {exc.__cause__})" if exc.__cause__ else ""
        raise SettingsLoadError(_one_line(f"invalid settings: {exc}{cause}")) from None


def _in_environment(name: str) -> str:
    return f"environment variable {name}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _dotted(loc: Sequence[Any]) -> str:
    """``('discord', 'guild_ids', 0)`` -> ``discord.guild_ids[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "settings"


def _field_at(cls: type[BaseModel], path: Sequence[str]) -> Any | None:
    """The FieldInfo at a dotted path through nested models, or None if there is none."""
    model: type[BaseModel] | None = cls
    field = None
    for part in path:
        if model is None or part not in model.model_fields:
            return None
        field = model.model_fields[part]
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return field


def _var_path(cls: type[Settings], name: str) -> tuple[str, ...] | None:
    """The setting an environment / .env variable feeds (case-insensitive, as pydantic-settings
    reads them), or None for a variable citebot ignores."""
    low = name.lower()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        if any(isinstance(c, str) and c.lower() == low for c in choices):
            return (field_name,)
    prefix = str(cls.model_config.get("env_prefix") or "").lower()
    if not low.startswith(prefix):
        return None
    path = tuple(low[len(prefix):].split(str(cls.model_config.get("env_nested_delimiter") or "__")))
    field = _field_at(cls, path)
    if field is None or field.validation_alias is not None:
        return None
    return path


def _is_json(field: Any) -> bool:
    """Lists and tables arrive from the environment as JSON text."""
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return typing.get_origin(annotation) in (list, dict, tuple, set)


def _check_vars(cls: type[Settings], variables: Mapping[str, str], where: Callable[[str], str]) -> None:
    """Per variable, before pydantic-settings sees it: UTF-8 text, and JSON where JSON is expected."""
    for name, value in variables.items():
        path = _var_path(cls, name)
        if path is None or value is None:
            continue
        setting = ".".join(path)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # os.environ keeps undecodable bytes as lone surrogates
            raise SettingsLoadError(f"invalid setting {setting} from {where(name)}: not valid UTF-8 text") from None
        field = _field_at(cls, path)
        if field is not None and _is_json(field) and value.strip():
            try:
                json.loads(value)
            except ValueError as exc:
                example = '{"key": value}' if not typing.get_origin(field.annotation) else "[123, 456]"
                raise SettingsLoadError(_one_line(
                    f"invalid setting {setting} from {where(name)}: not valid JSON ({exc}); "
                    f"write it like {example}")) from None


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _read_file(path: Path, what: str) -> str | None:
    """A settings file's text, or None if it does not exist; unreadable or non-UTF-8 -> one line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SettingsLoadError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsLoadError(
            f"{what} {path} is not valid UTF-8 (line {_line_of(data, exc.start)})") from None


def _read_dotenv(cls: type[Settings]) -> tuple[Path | None, dict[str, str]]:
    env_file = cls.model_config.get("env_file")
    if not isinstance(env_file, (str, os.PathLike)):
        return None, {}
    path = Path(env_file).absolute()
    if not path.is_file():
        return path, {}
    text = _read_file(path, ".env file")
    if text is None:
        return path, {}
    from dotenv import dotenv_values

    values = dotenv_values(stream=io.StringIO(text))
    return path, {k: v for k, v in values.items() if v is not None and _var_path(cls, k) is not None}


def _read_toml(cls: type[Settings]) -> tuple[Path | None, dict[str, Any]]:
    toml_file = cls.model_config.get("toml_file")
    if not isinstance(toml_file, (str, os.PathLike)):
        return None, {}
    path = Path(toml_file)
    return path, _read_toml_file(path)


def _read_toml_file(path: Path) -> dict[str, Any]:
    text = _read_file(path, "settings file")
    if text is None:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsLoadError(_one_line(f"settings file {path} is not valid TOML: {exc}")) from None


def _origin(cls: type[Settings], loc: tuple[Any, ...], init: Mapping[str, Any], env: Mapping[str, str],
            dotenv: Mapping[str, str], dotenv_file: Path | None, toml: Mapping[str, Any],
            toml_file: Path | None, user: Mapping[str, Any] | None = None, user_file: Path | None = None) -> str:
    """Which source supplied the value at ``loc``, in the order they win."""
    keys = tuple(part for part in loc if isinstance(part, str))
    if not keys:
        return "the settings"
    if keys[0] in init:
        return "the command line"
    for variables, where in ((env, _in_environment), (dotenv, lambda name: f"{name} in {dotenv_file}")):
        for name in variables:
            path = _var_path(cls, name)
            if path is not None and keys[: len(path)] == path:
                return where(name)
    if user_file is not None and _holds(user or {}, keys):
        return str(user_file)
    if toml_file is not None and keys[0] in toml:
        return str(toml_file)
    return "the defaults"


def _holds(table: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    """Whether the TOML ``table`` sets the value at ``keys`` (or a table holding it)."""
    for key in keys:
        if not isinstance(table, Mapping) or key not in table:
            return False
        table = table[key]
    return True
