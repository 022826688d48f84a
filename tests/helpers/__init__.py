"""Helpers the test modules share, importable as ``helpers`` (pytest puts tests/ on sys.path
for tests/conftest.py): where the repository and the test data are."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]  # the repository
FIXTURES = ROOT / "tests" / "fixtures"  # test data: article folders, pages, the Discord helpers


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition",
             poll: float = 0.02) -> None:
    """Wait until ``predicate()`` holds; a generous ``timeout`` is a bound, never a speed claim."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)
