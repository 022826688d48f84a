"""Fixtures more than one test module needs (one copy each, not one per module)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DISCORD_ARTICLES = Path(__file__).resolve().parent / "fixtures" / "discord" / "articles"


@pytest.fixture(autouse=True, scope="session")
def _no_user_settings_file(tmp_path_factory: pytest.TempPathFactory):
    """No test (nor any citebot it starts as a subprocess) reads the developer's own settings
    file: the platform config folders point at an empty scratch folder for the whole run."""
    empty = tmp_path_factory.mktemp("config-home")
    saved = {key: os.environ.get(key) for key in ("XDG_CONFIG_HOME", "APPDATA")}
    os.environ.update(XDG_CONFIG_HOME=str(empty), APPDATA=str(empty))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def scratch_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch working directory (so no stray .env) and no CITEBOT_* or DISCORD_TOKEN from
    the outside (matched without regard to case, as pydantic-settings reads them)."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))  # no user settings file
    for key in list(os.environ):
        if key.upper().startswith("CITEBOT_") or key.upper() == "DISCORD_TOKEN":
            monkeypatch.delenv(key)
    return work


@pytest.fixture
def in_process(scratch_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For bot.cli.main(...) calls: ``scratch_env`` and no folder watching."""
    monkeypatch.setenv("CITEBOT_WATCH", "false")
    return scratch_env


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A writable copy of the Discord tests' articles (tests/fixtures/discord/articles)."""
    target = tmp_path / "articles"
    shutil.copytree(DISCORD_ARTICLES, target)
    return target
