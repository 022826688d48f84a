"""Every bad setting is one line on stderr naming the setting and its source, and exit status 2
(which the systemd unit does not restart), for every subcommand; no setting is accepted that
silently breaks the bot (issue 12, section 5).

The CLI is driven through ``bot.cli.main`` in process (a scratch working directory, so the only
``.env`` is the one a test writes) and, for the exit status of a real process, ``python -m citebot.bot``.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import typing
from pathlib import Path

import annotated_types
import pytest
from pydantic import ValidationError

import helpers
from citebot.bot import cli
from citebot.config import DiscordSettings, Settings

ROOT = helpers.ROOT
COMMANDS = [
    ["index", "--no-cache"],
    ["ask", "--no-cache", "Where might the second summit be held?"],
    ["search", "--no-cache", "summit"],
    ["run"],
]


pytestmark = pytest.mark.usefixtures("in_process")  # conftest: scratch cwd, no CITEBOT_*, no token, no watching


@pytest.fixture
def toml_file(tmp_path: Path, monkeypatch) -> Path:
    """Point the settings at a settings.toml of the test's own (the bundled one stays untouched)."""
    path = tmp_path / "conf" / "settings.toml"
    path.parent.mkdir()
    path.write_text("top_k = 5\n", "utf-8")
    monkeypatch.setitem(Settings.model_config, "toml_file", path)
    return path


def one_line_exit_2(args: list[str], capsys) -> str:
    """Run the CLI; assert exit 2, nothing on stdout, exactly one line on stderr; return it."""
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 2, (code, captured.err)
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("citebot: ") and "Traceback" not in captured.err
    return lines[0]


# --- the cases of the issue, through every subcommand ------------------------------------------------


ENV_CASES = {
    # name: (variable, value, words the one line must contain)
    "bad-json": ("CITEBOT_DISCORD__GUILD_IDS", "[1,", ["CITEBOT_DISCORD__GUILD_IDS", "environment", "JSON"]),
    "debounce-huge": ("CITEBOT_WATCH_DEBOUNCE_MS", "99999999999999999999",
                      ["watch_debounce_ms", "CITEBOT_WATCH_DEBOUNCE_MS", "environment"]),
    "cooldown-inf": ("CITEBOT_DISCORD__COOLDOWN_SECONDS", "inf",
                     ["discord.cooldown_seconds", "CITEBOT_DISCORD__COOLDOWN_SECONDS", "finite"]),
    "cooldown-nan": ("CITEBOT_DISCORD__COOLDOWN_SECONDS", "nan", ["CITEBOT_DISCORD__COOLDOWN_SECONDS", "finite"]),
    "cache-dir-empty": ("CITEBOT_CACHE_DIR", "", ["cache_dir", "CITEBOT_CACHE_DIR", "empty"]),
    "articles-dir-empty": ("CITEBOT_ARTICLES_DIR", "", ["articles_dir", "CITEBOT_ARTICLES_DIR", "empty"]),
    "articles-dir-blank": ("CITEBOT_ARTICLES_DIR", "   ", ["articles_dir", "CITEBOT_ARTICLES_DIR", "empty"]),
    "not-utf8": ("CITEBOT_DISCORD__COMMAND_PREFIX", "\udcff!", ["CITEBOT_DISCORD__COMMAND_PREFIX", "UTF-8"]),
    "top-k-huge": ("CITEBOT_TOP_K", "99999999999999999999", ["top_k", "CITEBOT_TOP_K"]),
    "guild-id-huge": ("CITEBOT_DISCORD__GUILD_IDS", "[99999999999999999999999]",
                      ["discord.guild_ids", "CITEBOT_DISCORD__GUILD_IDS"]),
    "shard-count-zero": ("CITEBOT_DISCORD__SHARD_COUNT", "0", ["discord.shard_count", "CITEBOT_DISCORD__SHARD_COUNT"]),
}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("case", list(ENV_CASES))
def test_bad_environment_variable_is_one_line_and_exit_2(case: str, command: list[str], monkeypatch,
                                                         capsys) -> None:
    variable, value, words = ENV_CASES[case]
    monkeypatch.setenv(variable, value)
    line = one_line_exit_2(command, capsys)
    for word in words:
        assert word in line, (word, line)


DOTENV_CASES = {
    "bad-json": (b"CITEBOT_DISCORD__GUILD_IDS=[1,\n", ["CITEBOT_DISCORD__GUILD_IDS", "JSON"]),
    "bad-json-whole-table": (b"CITEBOT_DISCORD={\"cooldown_rate\": \n", ["CITEBOT_DISCORD", "JSON"]),
    "not-utf8": (b"CITEBOT_TOP_K=3\nCITEBOT_DISCORD__COMMAND_PREFIX=\xff\n", ["UTF-8", "line 2"]),
    "debounce-huge": (b"CITEBOT_WATCH_DEBOUNCE_MS=99999999999999999999\n", ["CITEBOT_WATCH_DEBOUNCE_MS"]),
    "cache-dir-empty": (b"CITEBOT_CACHE_DIR=\n", ["cache_dir", "CITEBOT_CACHE_DIR", "empty"]),
    "log-level": (b"CITEBOT_LOG_LEVEL=chatty\n", ["log_level", "CITEBOT_LOG_LEVEL"]),
}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("case", list(DOTENV_CASES))
def test_bad_dotenv_line_names_the_file_and_exits_2(case: str, command: list[str], in_process: Path,
                                                    capsys) -> None:
    content, words = DOTENV_CASES[case]
    (in_process / ".env").write_bytes(content)
    line = one_line_exit_2(command, capsys)
    assert str(in_process / ".env") in line, line
    for word in words:
        assert word in line, (word, line)


TOML_CASES = {
    "syntax": (b"top_k = 5\nwatch = \n", ["line 2", "TOML"]),
    "not-utf8": (b"# caf\xe9\ntop_k = 5\n", ["UTF-8", "line 1"]),
    "cooldown-inf": (b"[discord]\ncooldown_seconds = inf\n", ["discord.cooldown_seconds", "finite"]),
    "debounce-huge": (b"watch_debounce_ms = 99999999999999999\n", ["watch_debounce_ms"]),
    "articles-dir-empty": (b"articles_dir = \"\"\n", ["articles_dir", "empty"]),
    "wrong-type": (b"[discord]\nguild_ids = \"123\"\n", ["discord.guild_ids"]),
}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("case", list(TOML_CASES))
def test_bad_settings_toml_names_the_file_and_exits_2(case: str, command: list[str], toml_file: Path,
                                                      capsys) -> None:
    content, words = TOML_CASES[case]
    toml_file.write_bytes(content)
    line = one_line_exit_2(command, capsys)
    assert str(toml_file) in line, line
    for word in words:
        assert word in line, (word, line)


def test_the_source_that_wins_is_the_one_named(in_process: Path, toml_file: Path, monkeypatch, capsys) -> None:
    # The same bad key in all three places: the environment wins, then .env, then the TOML file.
    toml_file.write_text("[discord]\ncooldown_seconds = inf\n", "utf-8")
    (in_process / ".env").write_text("CITEBOT_DISCORD__COOLDOWN_SECONDS=1e999\n", "utf-8")
    monkeypatch.setenv("CITEBOT_DISCORD__COOLDOWN_SECONDS", "-inf")
    assert "environment variable CITEBOT_DISCORD__COOLDOWN_SECONDS" in one_line_exit_2(COMMANDS[2], capsys)
    monkeypatch.delenv("CITEBOT_DISCORD__COOLDOWN_SECONDS")
    assert str(in_process / ".env") in one_line_exit_2(COMMANDS[2], capsys)
    (in_process / ".env").unlink()
    assert str(toml_file) in one_line_exit_2(COMMANDS[2], capsys)


def test_the_token_is_never_echoed_in_a_settings_error(in_process: Path, monkeypatch, capsys) -> None:
    (in_process / ".env").write_text("DISCORD_TOKEN=very-secret-token\nCITEBOT_DISCORD={\"token\": \"very-secret-token\"\n")
    line = one_line_exit_2(["run"], capsys)
    assert "very-secret-token" not in line and "CITEBOT_DISCORD" in line


def test_an_empty_articles_flag_is_refused(capsys) -> None:
    # `--articles ""` would be Path("") == "." and index the working directory.
    assert cli.main(["search", "--no-cache", "--articles", "", "summit"]) == 2
    assert "--articles" in capsys.readouterr().err


@pytest.mark.parametrize(
    "env",
    [{"CITEBOT_DISCORD__GUILD_IDS": "[1,"}, {"CITEBOT_WATCH_DEBOUNCE_MS": "99999999999999999999"}],
)
def test_a_real_process_exits_2_with_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("CITEBOT_") and k != "DISCORD_TOKEN"}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
    for command in COMMANDS:
        proc = subprocess.run([sys.executable, "-m", "citebot.bot", *command], cwd=tmp_path, env={**base, **env},
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert next(iter(env)) in proc.stderr


def test_a_real_process_with_a_non_utf8_variable_exits_2(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("CITEBOT_") and k != "DISCORD_TOKEN"}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
    envb = {os.fsencode(k): os.fsencode(v) for k, v in base.items()}
    envb[b"CITEBOT_DISCORD__GUILD_IDS"] = b"[1\xff]"
    proc = subprocess.run([sys.executable, "-m", "citebot.bot", "search", "--no-cache", "x"], cwd=tmp_path, env=envb,
                          capture_output=True, timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "CITEBOT_DISCORD__GUILD_IDS" in err and "UTF-8" in err


# --- bounds on every numeric setting ---------------------------------------------------------------------


def _numeric_fields() -> list[tuple[str, type, object]]:
    out = []
    for model in (Settings, DiscordSettings):
        for name, field in model.model_fields.items():
            kinds = {a for a in typing.get_args(field.annotation) or (field.annotation,) if a is not type(None)}
            if kinds & {int, float} or typing.get_origin(field.annotation) is list and \
                    typing.get_args(field.annotation)[0] is not str:
                out.append((f"{model.__name__}.{name}", model, field))
    return out


def _bounds(metadata) -> tuple[object, object]:
    low = high = None
    for m in metadata:
        if isinstance(m, (annotated_types.Ge, annotated_types.Gt)):
            low = m
        if isinstance(m, (annotated_types.Le, annotated_types.Lt)):
            high = m
    return low, high


@pytest.mark.parametrize("name, model, field", _numeric_fields(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_numeric_setting_has_a_lower_and_an_upper_bound(name: str, model: type, field) -> None:
    metadata = field.metadata
    if typing.get_origin(field.annotation) is list:  # ids: bounds on each item
        (item,) = typing.get_args(field.annotation)
        metadata = getattr(item, "__metadata__", ())
        metadata = [m for meta in metadata for m in (getattr(meta, "metadata", None) or [meta])]
    low, high = _bounds(metadata)
    assert low is not None and high is not None, f"{name} needs ge/le bounds"


@pytest.mark.parametrize(
    "kwargs",
    [{"top_k": 101}, {"max_file_bytes": 10**12}, {"max_question_chars": 10**9},
     {"watch_debounce_ms": 10**20}, {"watch_stable_ms": 10**20},
     {"discord": {"cooldown_seconds": math.inf}}, {"discord": {"cooldown_seconds": 10**9}},
     {"discord": {"cooldown_rate": 10**9}}, {"discord": {"max_question_chars": 10**9}},
     {"discord": {"shard_count": 10**9}}, {"discord": {"max_upload_bytes": 10**12}},
     {"discord": {"guild_ids": [0]}}, {"discord": {"admin_role_ids": [2**64]}},
     {"discord": {"allowed_channel_ids": [-5]}}, {"log_level": "chatty"},
     {"cache_dir": ""}, {"articles_dir": " "}, {"cache_dir": "a\x00b"}],
    ids=repr,
)
def test_out_of_range_values_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        Settings(**kwargs, _env_file=None)


def test_sensible_values_inside_the_bounds_are_kept() -> None:
    settings = Settings(top_k=100, watch_debounce_ms=60_000, watch_stable_ms=0, log_level="debug",
                        discord={"cooldown_seconds": 0, "guild_ids": [2**63 - 1]}, _env_file=None)
    assert settings.top_k == 100 and settings.watch_debounce_ms == 60_000 and settings.log_level == "DEBUG"
    assert settings.discord.cooldown_seconds == 0 and settings.discord.guild_ids == [2**63 - 1]
    assert Settings(log_level=" warn ", _env_file=None).log_level == "WARN"  # what logging accepts
