"""Faults around the cache: unwritable or full disk, killed writers, stale formats.

The rule: keep answering from memory, warn once, and never start from a half-written cache.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import helpers
from citebot.retrieval import Library, cache

ROOT = helpers.ROOT


def make_folder(tmp_path: Path, n: int = 20) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    for i in range(n):
        (folder / f"a{i:02d}.txt").write_text(
            f"Report number {i}\n\nThe committee met about widget{i} supplies.\n\n"
            f"Officials said widget{i} deliveries resume in spring.\n"
        )
    return folder


def test_read_only_cache_folder_serves_from_memory_and_warns_once(tmp_path, caplog) -> None:
    folder = make_folder(tmp_path)
    blocked = tmp_path / "cache"
    blocked.write_text("not a folder")  # mkdir under it fails, for root as well
    with caplog.at_level(logging.WARNING):
        library = Library.open(folder, cache_dir=blocked / "sub")
        (folder / "new.txt").write_text("Fresh\n\nA new article about gadgets.\n")
        library.refresh()
    assert library.search("widget3", 1)[0].passage.article.path == "a03.txt"
    assert library.search("gadgets", 1)[0].passage.article.path == "new.txt"
    warnings = [r for r in caplog.records if "cannot write index cache" in r.getMessage()]
    assert len(warnings) == 1


def test_disk_full_while_writing_cache(tmp_path, monkeypatch, caplog) -> None:
    folder = make_folder(tmp_path)
    real = cache._fsync_write

    def full(path, data):
        if path.name == "manifest.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(cache, "_fsync_write", full)
    with caplog.at_level(logging.WARNING):
        library = Library.open(folder, cache_dir=tmp_path / "cache")
    assert library.search("widget7", 1)[0].passage.article.path == "a07.txt"
    assert any("serving from memory" in r.getMessage() for r in caplog.records)
    leftovers = [p for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock"]  # the lock file stays
    assert leftovers == [], f"temporary cache folders left behind: {leftovers}"
    monkeypatch.setattr(cache, "_fsync_write", real)
    again = Library.open(folder, cache_dir=tmp_path / "cache")
    assert not again.loaded_from_cache  # nothing half-written was taken for a cache


KILL_DURING_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from citebot.retrieval import cache, Library
    import citebot.retrieval.library
    citebot.retrieval.library.MAX_DELTAS = {max_deltas}  # 0: the change saves a whole cache, else a delta
    real = cache._fsync_write
    calls = 0
    def dying(path, data):
        global calls
        calls += 1
        if calls == {after}:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, data)
    cache._fsync_write = dying
    Library.open({folder!r}, cache_dir={cache_dir!r})
    """
)


@pytest.mark.parametrize("after, max_deltas", [(1, 0), (2, 0), (3, 0), (1, 64)])
def test_killed_during_cache_write_next_start_is_correct(tmp_path, after: int, max_deltas: int) -> None:
    folder = make_folder(tmp_path)
    cache_dir = tmp_path / "cache"
    # A good cache exists from an earlier run; then the folder changes and the writer dies.
    Library.open(folder, cache_dir=cache_dir)
    (folder / "a05.txt").write_text("Report number 5\n\nThe committee now discusses sprockets.\n")
    script = KILL_DURING_SAVE.format(root=str(ROOT), after=after, folder=str(folder), cache_dir=str(cache_dir),
                                     max_deltas=max_deltas)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    library = Library.open(folder, cache_dir=cache_dir)
    assert library.search("sprockets", 1)[0].passage.article.path == "a05.txt"
    assert not library.search("widget5", 1) or library.search("widget5", 1)[0].passage.article.path != "a05.txt"
    assert library.stats().articles == 20


def test_cache_from_an_older_version_is_rebuilt(tmp_path, caplog) -> None:
    folder = make_folder(tmp_path)
    cache_dir = tmp_path / "cache"
    Library.open(folder, cache_dir=cache_dir)
    target = cache.cache_folder(cache_dir, folder)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = 0
    (target / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        library = Library.open(folder, cache_dir=cache_dir)
    assert not library.loaded_from_cache
    assert any("another version" in r.getMessage() for r in caplog.records)
    assert library.search("widget2", 1)[0].passage.article.path == "a02.txt"
    assert Library.open(folder, cache_dir=cache_dir).loaded_from_cache  # rewritten


def test_cache_holds_no_pickles(tmp_path) -> None:
    folder = make_folder(tmp_path)
    Library.open(folder, cache_dir=tmp_path / "cache")
    target = cache.cache_folder(tmp_path / "cache", folder)
    import numpy as np

    for path in target.iterdir():
        assert path.suffix in {".npy", ".json", ".bin"}
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)  # raises if an object array slipped in
