"""Fixtures only the front ends' tests use."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def record_path(tmp_path: Path) -> Path:
    """Where a test's record database goes (its folder does not exist yet)."""
    return tmp_path / "data" / "record.sqlite3"
