"""Helpers the test modules share, importable as ``helpers`` (pytest puts tests/ on sys.path
for tests/conftest.py): where the repository and the test data are."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
FIXTURES = ROOT / "tests" / "fixtures"  # test data: article folders, pages, the Discord helpers
