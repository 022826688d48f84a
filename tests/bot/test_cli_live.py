"""The user-level check for drop-in articles: a running `citebot ask --json -` sees files come and go.

Runs the real CLI as a subprocess (stdin/stdout pipes, real watcher with the default settings),
exactly as a user would: ask, copy the article in, ask again 3 s later, delete it, ask again.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import helpers

ROOT = helpers.ROOT
FIXTURES = helpers.FIXTURES / "watch"
QUESTION = "How far did the Veldmark glacier retreat?"
ARTICLE = "glacier-survey.txt"


class Cli:
    """A `citebot ask --json -` process: one question per line in, one JSON object per line out."""

    def __init__(self, articles: Path, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "WATCHFILES_"))}
        env.update(PYTHONPATH=str(ROOT), CITEBOT_WATCH="true", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "citebot.bot", "ask", "--json", "--articles", str(articles), "--no-cache", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", cwd=cwd, env=env,  # cwd: no stray .env is read
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def ask(self, question: str, timeout: float = 20.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(question + "\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer within {timeout} s; stderr: {self.stderr()}") from None
        return json.loads(line)

    def close(self) -> tuple[int, str]:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, self.stderr()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(FIXTURES / "base", target)
    return target


@pytest.fixture
def cli(articles: Path, tmp_path: Path) -> Iterator[Cli]:
    process = Cli(articles, cwd=tmp_path)
    yield process
    process.close()


@pytest.mark.slow
def test_running_cli_picks_up_added_and_deleted_article(articles: Path, cli: Cli) -> None:
    before = cli.ask(QUESTION)
    assert before["found"] is False, before

    shutil.copy(FIXTURES / "dropin" / ARTICLE, articles / ARTICLE)
    time.sleep(3)
    added = cli.ask(QUESTION)
    assert added["found"] is True, added
    assert added["citations"] and added["citations"][0]["path"] == ARTICLE
    assert "42 metres" in added["citations"][0]["quote"]
    assert added["citations"][0]["quote"] in (FIXTURES / "dropin" / ARTICLE).read_text()

    (articles / ARTICLE).unlink()
    time.sleep(3)
    removed = cli.ask(QUESTION)
    assert removed["found"] is False, removed
    assert all(c["path"] != ARTICLE for c in removed["citations"] + removed.get("see_also", []))

    # The other articles stayed answerable throughout, and the process ends cleanly at EOF.
    other = cli.ask("How many tonnes of fruit did the Brackenford orchards supply?")
    assert other["found"] is True and other["citations"][0]["path"] == "orchard-cider.txt"
    code, stderr = cli.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_running_cli_survives_a_bad_file_and_picks_it_up_when_fixed(articles: Path, cli: Cli) -> None:
    (articles / ARTICLE).write_bytes(b"\x00\x01\x02 not an article \x00" * 50)
    time.sleep(1.5)
    assert cli.ask(QUESTION)["found"] is False
    shutil.copy(FIXTURES / "dropin" / ARTICLE, articles / ARTICLE)
    time.sleep(1.5)
    fixed = cli.ask(QUESTION)
    assert fixed["found"] is True and fixed["citations"][0]["path"] == ARTICLE
    code, stderr = cli.close()
    assert code == 0, stderr
    assert ARTICLE in stderr and "binary" in stderr  # the skip was reported, naming the file
