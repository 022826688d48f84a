"""FolderWatcher: dropped, edited, renamed and deleted files are answered live, with real watchfiles.

Every test works in a temp folder seeded from ``fixtures/watch/base`` and waits with a deadline
(``wait_for``), never a long fixed sleep. Articles the tests add are made up here, each around an
invented word no other article holds, so a search for that word names exactly one file.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pytest

import helpers
import citebot.retrieval.watch as watch_module
from citebot.retrieval import Library
from citebot.retrieval.library import RefreshResult
from citebot.retrieval.watch import FolderWatcher

FIXTURES = helpers.FIXTURES / "watch"
BASE_ARTICLES = 3
DEBOUNCE_MS, STABLE_MS = 50, 100  # low, for quick tests; production defaults are 300/200


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll until ``predicate()`` is truthy; returns the monotonic time it became so."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def article(word: str, n: int = 0) -> str:
    """A tiny article about an invented word (title, two paragraphs)."""
    return (
        f"Council debates the {word} plan, notice {n}\n\n"
        f"The town council discussed the {word} proposal at length on Monday evening.\n\n"
        f"Residents said the {word} scheme would reshape the old market square.\n"
    )


def paths_for(library: Library, word: str) -> set[str]:
    return {hit.passage.article.path for hit in library.search(word, top_k=10)}


def found_in(library: Library, word: str, path: str) -> bool:
    return paths_for(library, word) == {path}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(FIXTURES / "base", target)
    return target


@pytest.fixture
def library(folder: Path) -> Library:
    return Library.open(folder)


class Recorder:
    """on_refresh callback that keeps every result (called on the refresh thread)."""

    def __init__(self) -> None:
        self.results: list[RefreshResult] = []
        self.lock = threading.Lock()

    def __call__(self, result: RefreshResult) -> None:
        with self.lock:
            self.results.append(result)

    def count(self) -> int:
        with self.lock:
            return len(self.results)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def watcher(library: Library, recorder: Recorder) -> Iterator[FolderWatcher]:
    w = FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=STABLE_MS, on_refresh=recorder)
    with w:
        wait_for(lambda: recorder.count() >= 1, what="the catch-up refresh")
        yield w
    assert not w.running


# --- drop, edit, delete, rename --------------------------------------------------------------


def test_dropped_file_is_answerable_with_default_settings(folder: Path) -> None:
    """The 2-second promise is a speed figure (benchmarks/dropin.py, medians); here: it happens."""
    library = Library.open(folder)
    with FolderWatcher(library):  # debounce 300 ms, stable 200 ms: what users get
        time.sleep(0.1)  # let inotify arm (start() returns at once)
        assert library.ask("How far did the Veldmark glacier retreat?").found is False
        shutil.copy(FIXTURES / "dropin" / "glacier-survey.txt", folder / "glacier-survey.txt")
        wait_for(lambda: "glacier-survey.txt" in paths_for(library, "Veldmark"), timeout=10,
                 what="the dropped article")
        answer = library.ask("How far did the Veldmark glacier retreat?")
        assert answer.found
        assert answer.citations[0].path == "glacier-survey.txt"
        assert "retreated 42 metres" in answer.text


def test_edit_answers_new_text_and_forgets_old(folder: Path, library: Library, watcher: FolderWatcher) -> None:
    target = folder / "notice.txt"
    target.write_text(article("quillorb"))
    wait_for(lambda: found_in(library, "quillorb", "notice.txt"), what="first version")
    target.write_text(article("zanthivex"))
    wait_for(lambda: found_in(library, "zanthivex", "notice.txt"), what="edited version")
    assert paths_for(library, "quillorb") == set()
    assert library.stats().articles == BASE_ARTICLES + 1


def test_delete_removes_the_article(folder: Path, library: Library, watcher: FolderWatcher) -> None:
    target = folder / "notice.md"
    target.write_text(article("brimwhistle"))
    wait_for(lambda: found_in(library, "brimwhistle", "notice.md"), what="added article")
    target.unlink()
    wait_for(lambda: not paths_for(library, "brimwhistle"), what="deleted article to vanish")
    assert library.stats().articles == BASE_ARTICLES
    assert library.ask("What did the council say about the brimwhistle plan?").found is False


def test_rename_moves_the_citation(folder: Path, library: Library, watcher: FolderWatcher) -> None:
    (folder / "draft.txt").write_text(article("corvandel"))
    wait_for(lambda: found_in(library, "corvandel", "draft.txt"), what="original name")
    os.rename(folder / "draft.txt", folder / "final.txt")
    wait_for(lambda: found_in(library, "corvandel", "final.txt"), what="new name")
    (folder / "archive" / "2024").mkdir(parents=True)
    os.rename(folder / "final.txt", folder / "archive" / "2024" / "final.txt")
    wait_for(lambda: found_in(library, "corvandel", "archive/2024/final.txt"), what="moved into a subfolder")
    assert library.stats().articles == BASE_ARTICLES + 1


def test_temp_name_renamed_into_place_is_picked_up(folder: Path, library: Library, watcher: FolderWatcher) -> None:
    """How `/add` and careful editors save: write a hidden temp file, then rename it."""
    temp = folder / ".upload-1234.txt.tmp"
    temp.write_text(article("plinkarrow"))
    library.refresh()  # a full rescan sees the temp file: still not an article
    assert paths_for(library, "plinkarrow") == set()  # hidden temp files are never articles
    os.replace(temp, folder / "upload.txt")
    wait_for(lambda: found_in(library, "plinkarrow", "upload.txt"), what="renamed upload")


def test_folder_moved_in_whole_is_picked_up(tmp_path: Path, folder: Path, library: Library,
                                            watcher: FolderWatcher) -> None:
    outside = tmp_path / "incoming"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "one.txt").write_text(article("dorrimaze"))
    (outside / "two.txt").write_text(article("fenwoggle"))
    os.rename(outside, folder / "incoming")  # one event for the folder, none for its files
    wait_for(lambda: found_in(library, "dorrimaze", "incoming/deep/one.txt")
             and found_in(library, "fenwoggle", "incoming/two.txt"), what="moved-in folder")
    shutil.rmtree(folder / "incoming")
    wait_for(lambda: library.stats().articles == BASE_ARTICLES, what="removed folder")


# --- bursts and files still being written ------------------------------------------------------


class GatedRefresh:
    """Holds the watcher's next refresh at a gate until the test opens it (no timing involved)."""

    def __init__(self, library: Library) -> None:
        self.real = library.refresh
        self.armed = threading.Event()
        self.waiting = threading.Event()
        self.open = threading.Event()

    def __call__(self, **kwargs: object) -> RefreshResult:
        if self.armed.is_set() and not self.open.is_set():
            self.waiting.set()
            self.open.wait(60)
        return self.real(**kwargs)


def age(paths: Iterable[Path], seconds: float = 60.0) -> None:
    """Stamp files as written ``seconds`` ago, so the stability window never holds them back."""
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


@pytest.mark.slow
def test_burst_of_200_files_is_indexed_in_one_rebuild(folder: Path, library: Library, watcher: FolderWatcher,
                                                     recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events that arrive while a refresh is held up fold into one more refresh, not one each."""
    gate = GatedRefresh(library)
    monkeypatch.setattr(library, "refresh", gate)
    before = recorder.count()
    gate.armed.set()
    written = []
    for i in range(200):
        path = folder / f"burst-{i:03d}.txt"
        path.write_text(article(f"burstword{i:03d}", i))
        written.append(path)
    age(written)
    wait_for(gate.waiting.is_set, timeout=30, what="the watcher to start a refresh for the burst")
    gate.open.set()
    wait_for(lambda: library.stats().articles == BASE_ARTICLES + 200, timeout=30, what="all 200 files")
    wait_for(lambda: sum(len(r.added) for r in recorder.results[before:]) >= 200, timeout=30,
             what="the refresh that added them to be reported")
    refreshes = recorder.results[before:]
    rebuilds = [r for r in refreshes if r.any_change]
    assert sum(len(r.added) for r in refreshes) == 200
    assert len(rebuilds) == 1, [len(r.added) for r in rebuilds]
    assert found_in(library, "burstword137", "burst-137.txt")


@pytest.mark.slow
def test_half_written_file_is_never_indexed_half_written(folder: Path) -> None:
    library = Library.open(folder)
    head = "Harbour dredging contract awarded\n\nThe port authority awarded the dredging contract to a firm from Kessock.\n\n"
    tail = "Dredgers will deepen the channel to nine metres by the spring tides of next year.\n"
    full_size = len((head + tail).encode())
    seen_sizes: list[int] = []

    def observe(_result: RefreshResult) -> None:
        for doc in library.snapshot.docs:
            if doc.path == "dredging.txt":
                seen_sizes.append(doc.size)

    stable_ms = 3000  # far longer than the pause below, even on a loaded machine
    with FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=stable_ms, on_refresh=observe):
        time.sleep(0.1)
        with open(folder / "dredging.txt", "w") as handle:
            handle.write(head)
            handle.flush()
            time.sleep(0.1)  # a pause, mid-write, much shorter than stable_ms
            handle.write(tail)
        wait_for(lambda: found_in(library, "dredgers", "dredging.txt"), timeout=30, what="complete file")
    assert seen_sizes and set(seen_sizes) == {full_size}, seen_sizes


@pytest.mark.slow
def test_slow_writer_is_indexed_once_complete(folder: Path) -> None:
    """A file that grows in chunks for a while (a slow download) only appears once whole."""
    library = Library.open(folder)
    seen_sizes: list[int] = []

    def observe(_result: RefreshResult) -> None:
        seen_sizes.extend(d.size for d in library.snapshot.docs if d.path == "slow.txt")

    chunks = [article("trundlewick")] + [f"Further line {i} about the tide tables.\n\n" for i in range(8)]
    # stable_ms far above the 0.1 s between chunks, so a loaded machine cannot split the writes.
    with FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=3000, on_refresh=observe):
        time.sleep(0.1)
        with open(folder / "slow.txt", "w") as handle:
            for chunk in chunks:
                handle.write(chunk)
                handle.flush()
                time.sleep(0.1)
        wait_for(lambda: found_in(library, "trundlewick", "slow.txt"), timeout=30, what="slow file")
    assert set(seen_sizes) == {len("".join(chunks).encode())}


# --- bad files ---------------------------------------------------------------------------------


def skipped_reasons(library: Library) -> dict[str, str]:
    return {s.path: s.reason for s in library.stats().skipped}


def test_binary_skipped_with_reason_then_picked_up_when_fixed(
    folder: Path, library: Library, watcher: FolderWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval"):
        (folder / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
        wait_for(lambda: "scan.txt" in skipped_reasons(library), what="binary file skipped")
    assert "binary" in skipped_reasons(library)["scan.txt"]
    assert any("scan.txt" in r.getMessage() and "binary" in r.getMessage() for r in caplog.records)
    assert library.stats().articles == BASE_ARTICLES

    (folder / "scan.txt").write_text(article("glimmerhook"))  # fixed
    wait_for(lambda: found_in(library, "glimmerhook", "scan.txt"), what="fixed file")
    assert "scan.txt" not in skipped_reasons(library)


def test_cp1252_file_is_decoded(folder: Path, library: Library, watcher: FolderWatcher) -> None:
    text = "Caf\u00e9 owners rally\n\nThe caf\u00e9 owners\u2019 association said \u201cthe rent rise is unfair\u201d on Friday.\n"
    (folder / "cafe.txt").write_bytes(text.encode("cp1252"))
    wait_for(lambda: found_in(library, "café owners rent", "cafe.txt"), what="cp1252 article")
    hit = library.search("café rent", top_k=1)[0]
    assert "\u201cthe rent rise is unfair\u201d" in hit.passage.text
    assert "cafe.txt" not in skipped_reasons(library)


def test_empty_file_skipped_then_filled(folder: Path, library: Library, watcher: FolderWatcher) -> None:
    (folder / "todo.md").write_text("")
    wait_for(lambda: "todo.md" in skipped_reasons(library), what="empty file skipped")
    (folder / "todo.md").write_text(article("vexillarum"))
    wait_for(lambda: found_in(library, "vexillarum", "todo.md"), what="filled file")


# --- concurrency ------------------------------------------------------------------------------


@pytest.mark.slow
def test_100_concurrent_questions_during_refreshes_see_complete_indexes(folder: Path, library: Library) -> None:
    """Stable articles must be found by every question, whatever refresh is under way; every
    hit must be a passage that really is in its article. Refreshes are driven directly on their
    own thread (files aged past any stability window), and questions keep coming until several
    index swaps have happened, so the overlap does not depend on how fast this machine is."""
    stable = {f"stable-{i}.txt": f"steadyword{i}" for i in range(10)}
    for name, word in stable.items():
        (folder / name).write_text(article(word))
    library.refresh()
    assert library.stats().articles == BASE_ARTICLES + 10

    stop = threading.Event()
    swaps: list[RefreshResult] = []
    min_swaps, min_questions = 5, 100

    def churn() -> None:
        n = 0
        while not stop.is_set():
            paths = [folder / f"churn-{j}.txt" for j in range(20)]
            for j, path in enumerate(paths):
                path.write_text(article(f"churnword{j}", n))
            age(paths)
            swaps.append(library.refresh())
            for path in paths[::2]:
                path.unlink()
            swaps.append(library.refresh())
            n += 1

    def ask(k: int) -> tuple[str, bool, list[str], bool]:
        word = stable[f"stable-{k % 10}.txt"]
        answer = library.ask(f"What did residents say about the {word} scheme?")
        hits = library.search(f"{word} churnword{k % 20}", top_k=10)
        consistent = all(h.passage.article.text[h.passage.start : h.passage.end] == h.passage.text
                         for h in hits)
        return f"stable-{k % 10}.txt", answer.found, [c.path for c in answer.citations], consistent

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        wait_for(lambda: len(swaps) >= 1, timeout=60, what="the first refresh")
        first_swap = len(swaps)
        outcomes = []
        with ThreadPoolExecutor(max_workers=16) as pool:
            k = 0
            while k < min_questions or len(swaps) < first_swap + min_swaps:
                batch = [pool.submit(ask, k + i) for i in range(16)]
                outcomes.extend(f.result() for f in batch)  # re-raises any exception from ask()
                k += len(batch)
                assert k < 100_000, "refreshes stopped happening"
    finally:
        stop.set()
        writer.join()
    assert sum(1 for r in swaps if r.any_change) >= min_swaps  # the questions really overlapped swaps
    for expected, found, cited, consistent in outcomes:
        assert found and cited and cited[0] == expected, (expected, found, cited)
        assert consistent


# --- the folder itself --------------------------------------------------------------------------


def test_deleting_everything_leaves_no_articles_and_no_crash(
    folder: Path, library: Library, watcher: FolderWatcher
) -> None:
    for path in list(folder.iterdir()):
        path.unlink()
    wait_for(lambda: library.stats().articles == 0, what="empty library")
    answer = library.ask("How many tonnes of apples did the Brackenford orchards supply?")
    assert answer.found is False and answer.citations == ()
    assert library.search("Brackenford") == []
    assert watcher.running
    (folder / "fresh.txt").write_text(article("pomfrazzle"))
    wait_for(lambda: found_in(library, "pomfrazzle", "fresh.txt"), what="article after emptying")


def test_folder_deleted_and_recreated_is_watched_again(
    folder: Path, library: Library, watcher: FolderWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        shutil.rmtree(folder)
        wait_for(lambda: library.stats().articles == 0, what="folder gone")
        wait_for(lambda: any("missing" in r.getMessage() for r in caplog.records), what="a clear warning")
        assert library.ask("Brackenford cider").found is False
        folder.mkdir()
        (folder / "back.txt").write_text(article("snorkelbay"))
        wait_for(lambda: found_in(library, "snorkelbay", "back.txt"), what="article in recreated folder")
        # The new folder is really watched, not just rescanned once.
        (folder / "later.txt").write_text(article("mizzlecrag"))
        wait_for(lambda: found_in(library, "mizzlecrag", "later.txt"), what="later article")


def test_missing_folder_is_created_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "not-yet" / "articles"
    library = Library(folder, create=True)
    folder.rmdir()
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval.watch"):
        with FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=STABLE_MS):
            wait_for(folder.is_dir, what="folder created")
            (folder / "first.txt").write_text(article("hobnailer"))
            wait_for(lambda: found_in(library, "hobnailer", "first.txt"), what="first article")
    assert any("did not exist; created it" in r.getMessage() and str(folder) in r.getMessage()
               for r in caplog.records)


def test_missing_folder_without_create_waits_for_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "articles"
    library = Library(folder, create=True)
    folder.rmdir()
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval.watch"):
        with FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=STABLE_MS, create_folder=False):
            wait_for(lambda: any("is missing" in r.getMessage() for r in caplog.records), what="warning")
            assert not folder.exists()
            folder.mkdir()
            (folder / "first.txt").write_text(article("wendlebury"))
            wait_for(lambda: found_in(library, "wendlebury", "first.txt"), what="article once folder exists")


# --- lifecycle and faults ----------------------------------------------------------------------


def test_start_stop_are_idempotent_and_stop_is_prompt(folder: Path, library: Library) -> None:
    w = FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=STABLE_MS)
    w.stop()  # never started: no-op
    assert w.start() is w
    w.start()
    assert w.running and len([t for t in threading.enumerate() if t.name == "citebot-watch"]) == 1
    w.stop(timeout=60)  # the catch-up refresh may still be running: let it finish
    assert not w.running  # both threads ended within stop()'s join: not stuck waiting on the folder
    w.stop()
    # Restartable, and still works after a restart.
    with w:
        (folder / "again.txt").write_text(article("rumbletack"))
        wait_for(lambda: found_in(library, "rumbletack", "again.txt"), what="after restart")
    assert not w.running
    assert not [t for t in threading.enumerate() if t.name in ("citebot-watch", "citebot-refresh")]


def test_exceptions_are_logged_and_watching_goes_on(
    folder: Path, library: Library, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_refresh = library.refresh
    failures = {"left": 2}

    def flaky_refresh(**kwargs: object) -> RefreshResult:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError("disk on fire")
        return real_refresh(**kwargs)

    def bad_callback(_result: RefreshResult) -> None:
        raise RuntimeError("callback bug")

    monkeypatch.setattr(watch_module, "ERROR_BACKOFF_S", 0.05)
    monkeypatch.setattr(library, "refresh", flaky_refresh)
    with caplog.at_level(logging.ERROR, logger="citebot.retrieval.watch"):
        with FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=STABLE_MS, on_refresh=bad_callback) as w:
            (folder / "survivor.txt").write_text(article("grumbleton"))
            wait_for(lambda: found_in(library, "grumbleton", "survivor.txt"), what="article after failures")
            assert isinstance(w.last_error, OSError)
    messages = [r.getMessage() for r in caplog.records]
    assert any("failed; will retry" in m for m in messages)
    assert any("on_refresh callback failed" in m for m in messages)


def test_notification_failure_falls_back_to_polling(
    folder: Path, library: Library, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_watch = watch_module.watchfiles.watch

    def no_inotify(*args: object, **kwargs: object):
        if not kwargs.get("force_polling"):
            raise OSError("OS file watch limit reached")
        return real_watch(*args, **kwargs)

    monkeypatch.setattr(watch_module.watchfiles, "watch", no_inotify)
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval.watch"):
        with FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=STABLE_MS, poll_delay_ms=50) as w:
            wait_for(lambda: w.polling, what="fallback")
            time.sleep(0.2)  # first poll records the baseline
            (folder / "polled.txt").write_text(article("pollywhirl"))
            wait_for(lambda: found_in(library, "pollywhirl", "polled.txt"), what="article seen by polling")
    assert any("falling back to polling" in r.getMessage() for r in caplog.records)


def test_force_polling_environment_variable(folder: Path, library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")
    monkeypatch.setenv("WATCHFILES_POLL_DELAY_MS", "50")
    with FolderWatcher(library, debounce_ms=DEBOUNCE_MS, stable_ms=STABLE_MS) as w:
        assert w.polling
        time.sleep(0.2)
        (folder / "env.txt").write_text(article("quorndash"))
        wait_for(lambda: found_in(library, "quorndash", "env.txt"), what="article via polling")
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "false")
    assert FolderWatcher(library).polling is False


def test_only_hidden_and_temp_events_are_dropped(library: Library) -> None:
    w = FolderWatcher(library)
    root = os.path.abspath(library.folder)
    keep = lambda p: w._keep(None, os.path.join(root, p))  # noqa: E731
    assert keep("new.txt") and keep("sub/dir/new.md") and keep("sub") and keep("notes.pdf")
    assert not keep(".hidden.txt") and not keep("draft.txt.swp") and not keep("file.txt~")
    assert not keep(".git/index") and not keep("sub/.upload-1.txt.tmp") and not keep("big.txt.part")
    assert w._keep(None, root)  # the folder itself (deleted or replaced)


def test_future_mtime_file_is_still_indexed(folder: Path, library: Library, watcher: FolderWatcher) -> None:
    """A file stamped in the future (clock skew, unpacked archives) must not stay pending forever."""
    target = folder / "skewed.txt"
    target.write_text(article("tomorrowland"))
    future = time.time() + 3600
    os.utime(target, (future, future))
    wait_for(lambda: found_in(library, "tomorrowland", "skewed.txt"), what="future-dated article")


def test_watch_module_does_not_import_discord() -> None:
    code = "import sys, citebot.retrieval.watch; sys.exit('discord' in sys.modules)"
    root = helpers.ROOT
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
