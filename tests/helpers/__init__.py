"""Helpers the test modules share, importable as ``helpers`` (pytest puts tests/ on sys.path
for tests/conftest.py): where the repository and the test data are."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]  # the repository
FIXTURES = ROOT / "tests" / "fixtures"  # test data: article folders, pages, the Discord helpers
# (question, gold strings) over the answer-model fixtures (fixtures/answer); gold () = not answered there
ANSWER_QUESTIONS = [
    ("When will the harbour festival be held?", ("14 April",)),
    ("How long did Tomas Brandt take over the 2,000m course?", ("6 minutes 58 seconds",)),
    ("Why did bakery workers vote to strike?", ("pay",)),
    ("Who invented the telephone?", ()),
    ("What is the population of Greenland?", ()),
    ("How much was the museum grant?", ("£",)),
]


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition",
             poll: float = 0.02) -> None:
    """Wait until ``predicate()`` holds; a generous ``timeout`` is a bound, never a speed claim."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def concurrent_mismatches(index, queries: list[list[int]], expected: list, threads: int = 4) -> list[int]:
    """Ask ``index.top(q, 10)`` for every query from ``threads`` threads at once, each starting at
    another offset; the queries whose answer differed from ``expected``."""
    failures: list[int] = []

    def worker(offset: int) -> None:
        for i in range(len(queries)):
            j = (i + offset) % len(queries)
            if index.top(queries[j], 10) != expected[j]:
                failures.append(j)

    running = [threading.Thread(target=worker, args=(n * 7,)) for n in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join(timeout=120)
    return failures
