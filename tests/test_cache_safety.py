"""The index cache is safe on real folders (issue 12, sections 3, 4 and 6):

* an empty folder, or one whose files are all skipped, opens with the cache on (the default);
* a same-size edit that keeps the old mtime is re-read, in a live refresh and across restarts;
* two processes share one cache: no reader calls it corrupt or rebuilds, no writer warns;
* leftovers of a killed save are removed on the next open, a live writer's are not;
* tokenising workers die with their parent;
* a file dated in the future is indexed once it stops changing, without busy rescanning.

Nothing here asserts speed: waits are on conditions, with generous timeouts.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot import cli
from retrieval import Library, cache
from retrieval.watch import FolderWatcher

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "library"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(FIXTURES, target)
    return target


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch) -> Path:
    """For bot.cli.main(...) calls: a scratch cwd, no CITEBOT_* from the outside, no watching."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    for key in list(os.environ):
        if key.startswith("CITEBOT_") or key == "DISCORD_TOKEN":
            monkeypatch.delenv(key)
    monkeypatch.setenv("CITEBOT_WATCH", "false")
    return work


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_") and k != "DISCORD_TOKEN"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["CITEBOT_WATCH"] = "false"
    env.update(extra)
    return env


def wait_for(condition, timeout: float = 60.0, step: float = 0.05) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` passes (a generous bound, not a limit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


# --- 3. empty folders ----------------------------------------------------------------------------


def all_skipped(folder: Path) -> Path:
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.md").write_bytes(b"\x00\x01\x02" * 50)
    return folder


@pytest.mark.parametrize("kind", ["empty", "all-skipped"])
def test_empty_folder_opens_with_the_cache_and_a_file_added_later_is_answerable(tmp_path, cache_dir, kind) -> None:
    folder = tmp_path / "articles"
    folder.mkdir() if kind == "empty" else all_skipped(folder)
    library = Library.open(folder, cache_dir=cache_dir)
    assert library.stats().articles == 0 and library.stats().passages == 0
    assert not library.ask("Who reopened the bridge?").found
    again = Library.open(folder, cache_dir=cache_dir)  # the empty cache was written and loads
    assert again.loaded_from_cache and again.stats().articles == 0
    assert len(again.stats().skipped) == (0 if kind == "empty" else 2)

    (folder / "bridge.txt").write_text("Bridge reopens\n\nThe Wexley bridge reopened on Monday.\n")
    again.refresh()
    assert again.ask("When did the Wexley bridge reopen?").found
    third = Library.open(folder, cache_dir=cache_dir)
    assert third.loaded_from_cache and third.ask("When did the Wexley bridge reopen?").found


@pytest.mark.parametrize("kind", ["empty", "all-skipped"])
def test_cli_index_and_ask_over_an_empty_folder_with_the_cache_on(in_process, tmp_path, capsys, kind) -> None:
    folder = tmp_path / "articles"
    folder.mkdir() if kind == "empty" else all_skipped(folder)
    cache_args = ["--articles", str(folder), "--cache-dir", str(tmp_path / "cache")]

    assert cli.main(["index", "--json", *cache_args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["articles"] == 0 and report["passages"] == 0

    assert cli.main(["index", *cache_args]) == 0
    assert capsys.readouterr().out.startswith("0 articles, 0 passages indexed")

    assert cli.main(["ask", *cache_args, "Who reopened the bridge?"]) == 0
    out = capsys.readouterr().out
    assert "no articles yet" in out.lower() and str(folder) in out
    assert len(out.strip().splitlines()) <= 2  # a short line, not a report

    assert cli.main(["ask", "--json", *cache_args, "Who reopened the bridge?"]) == 0
    answer = json.loads(capsys.readouterr().out)  # still one valid JSON object with the contract keys
    assert {"question", "found", "answer", "citations", "see_also", "took_ms"} <= set(answer)
    assert answer["found"] is False and answer["citations"] == [] and answer["answer"] == ""
    assert "no articles yet" in answer["note"].lower()


def test_cli_subprocess_over_an_empty_folder_exits_0_without_traceback(tmp_path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for args in (["index"], ["ask", "What happened?"], ["ask", "--json", "What happened?"]):
        proc = subprocess.run(
            [sys.executable, "-m", "bot", *args, "--articles", str(folder), "--cache-dir", str(tmp_path / "cache")],
            capture_output=True, text=True, cwd=tmp_path, env=child_env(), timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr and "Error" not in proc.stderr


def test_the_bot_starts_on_an_empty_folder_with_the_cache_on(tmp_path) -> None:
    from bot.client import create_bot
    from config import load_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    settings = load_settings(_env_file=None, articles_dir=folder, cache_dir=tmp_path / "cache", watch=False)
    assert settings.use_cache
    bot = create_bot(settings)  # what `citebot run` does before it connects
    assert bot.library.stats().articles == 0


def test_crc_of_empty_arrays() -> None:
    import numpy as np

    assert cache._crc_array(np.zeros(0, np.int64)) == cache._crc_array(np.zeros((0, 3), np.int32)) == 0
    assert cache._crc_array(np.arange(4, dtype=np.int32)) != 0
