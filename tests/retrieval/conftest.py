"""Fixtures only the engine's tests use (shared ones are in tests/conftest.py)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

import helpers
from citebot.retrieval import Library
from citebot.retrieval.watch import FolderWatcher


@pytest.fixture(scope="module")
def seeds() -> Library:
    """The engine over seeds/ (the two seed articles), once per test module."""
    return Library.open(helpers.ROOT / "seeds")


@pytest.fixture
def watched(folder: Path) -> Iterator[Library]:
    """A library over the test's ``folder`` (the module's own, if it has one) with a running
    folder watcher."""
    library = Library.open(folder)
    with FolderWatcher(library, debounce_ms=50, stable_ms=100):
        time.sleep(0.1)  # let the OS watch arm
        yield library


@pytest.fixture
def own_word_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """New words go into a copy of the analyzer's process-wide word cache, so the dict later tests
    see (test_load measures its memory around it) is left as it was."""
    import citebot.retrieval.analyzer as analyzer

    monkeypatch.setattr(analyzer, "_WORD_TERMS", dict(analyzer._WORD_TERMS))
