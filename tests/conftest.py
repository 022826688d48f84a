"""Fixtures more than one test module needs (one copy each, not one per module)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For bot.cli.main(...) calls: a scratch cwd, no CITEBOT_* from the outside, no watching."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    for key in list(os.environ):
        if key.startswith("CITEBOT_") or key == "DISCORD_TOKEN":
            monkeypatch.delenv(key)
    monkeypatch.setenv("CITEBOT_WATCH", "false")
    return work
