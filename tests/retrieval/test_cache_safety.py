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

import contextlib
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

import helpers
from citebot.bot import cli
from citebot.retrieval import Library, cache
from citebot.retrieval.watch import FolderWatcher

ROOT = helpers.ROOT
FIXTURES = helpers.FIXTURES / "library"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(FIXTURES, target)
    return target


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_") and k != "DISCORD_TOKEN"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["CITEBOT_WATCH"] = "false"
    env["CITEBOT_TOKENIZE_WORKERS"] = "1"  # no worker processes unless a test asks for them
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
            [sys.executable, "-m", "citebot.bot", *args, "--articles", str(folder), "--cache-dir", str(tmp_path / "cache")],
            capture_output=True, text=True, cwd=tmp_path, env=child_env(), timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr and "Error" not in proc.stderr


def test_the_bot_starts_on_an_empty_folder_with_the_cache_on(tmp_path) -> None:
    from citebot.bot.client import create_bot
    from citebot.config import load_settings

    folder = tmp_path / "articles"
    folder.mkdir()
    settings = load_settings(_env_file=None, articles_dir=folder, cache_dir=tmp_path / "cache", watch=False)
    assert settings.use_cache
    bot = create_bot(settings)  # what `citebot run` does before it connects
    assert bot.library.stats().articles == 0


def test_crc_of_empty_arrays() -> None:
    import numpy as np

    assert cache._crc_of(np.zeros(0, np.int64)) == cache._crc_of(np.zeros((0, 3), np.int32)) == 0
    assert cache._crc_of(np.arange(4, dtype=np.int32)) != 0


# --- 4. a same-size edit that keeps the old mtime ----------------------------------------------------

STALE = "Harbour budget\n\nThe council set aside 41 million for the harbour works.\n"
FRESH = "Harbour budget\n\nThe council set aside 47 million for the harbour works.\n"
BUDGET_Q = "How much did the council set aside for the harbour works?"


def rewrite_keeping_mtime(path: Path, text: str) -> None:
    """What `cp -p`, `rsync -t` and `tar x` do: new bytes, same size, the old mtime put back."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def quoted(library: Library) -> str:
    answer = library.ask(BUDGET_Q)
    assert answer.found
    return " ".join(c.quote for c in answer.citations)


@pytest.mark.parametrize("use_cache", [True, False])
def test_same_size_edit_with_the_old_mtime_is_seen_by_a_live_refresh(folder, cache_dir, use_cache) -> None:
    path = folder / "budget.txt"
    path.write_text(STALE)
    library = Library.open(folder, cache_dir=cache_dir if use_cache else None)
    assert "41 million" in quoted(library)
    rewrite_keeping_mtime(path, FRESH)
    result = library.refresh()
    assert result.changed == ("budget.txt",)
    assert "47 million" in quoted(library) and "41 million" not in quoted(library)


def test_same_size_edit_with_the_old_mtime_is_seen_across_restarts(folder, cache_dir) -> None:
    path = folder / "budget.txt"
    path.write_text(STALE)
    assert "41 million" in quoted(Library.open(folder, cache_dir=cache_dir))
    rewrite_keeping_mtime(path, FRESH)
    reopened = Library.open(folder, cache_dir=cache_dir)
    assert reopened.loaded_from_cache
    assert "47 million" in quoted(reopened) and "41 million" not in quoted(reopened)
    # ...and the rewritten cache holds the new text too.
    again = Library.open(folder, cache_dir=cache_dir)
    assert again.loaded_from_cache and "47 million" in quoted(again)


def test_manifest_records_ctime_and_inode_and_an_unchanged_folder_is_not_reread(folder, cache_dir, monkeypatch) -> None:
    import citebot.retrieval.library as library_module

    Library.open(folder, cache_dir=cache_dir)
    manifest = json.loads((cache.cache_folder(cache_dir, folder) / "manifest.json").read_text("utf-8"))
    for entry in manifest["files"]:
        st = (folder / entry["path"]).stat()
        assert (entry["ctime_ns"], entry["ino"], entry["mtime_ns"]) == (st.st_ctime_ns, st.st_ino, st.st_mtime_ns)
    reads: list[str] = []
    real = library_module.read_bytes
    monkeypatch.setattr(library_module, "read_bytes", lambda f, p, m, **kw: reads.append(p) or real(f, p, m, **kw))
    library = Library.open(folder, cache_dir=cache_dir)
    library.refresh()
    assert reads == []  # no hashing of every file on every open or refresh


def test_a_file_replaced_by_another_inode_is_reread(folder, cache_dir) -> None:
    path = folder / "budget.txt"
    path.write_text(STALE)
    library = Library.open(folder, cache_dir=cache_dir)
    before = path.stat()
    staged = folder / ".budget.txt.partial"  # ignored name, then renamed over: `rsync -t`'s way
    staged.write_text(FRESH)
    os.utime(staged, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(staged, path)
    library.refresh()
    assert "47 million" in quoted(library)


def test_a_cache_written_before_stamps_is_used_and_each_file_verified_once(folder, cache_dir, monkeypatch) -> None:
    import citebot.retrieval.library as library_module

    Library.open(folder, cache_dir=cache_dir)
    manifest_path = cache.cache_folder(cache_dir, folder) / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    for entry in manifest["files"]:  # as the previous release wrote it
        del entry["ctime_ns"], entry["ino"]
    manifest_path.write_text(json.dumps(manifest))
    reads: list[str] = []
    made: list[str] = []
    real_read, real_make = library_module.read_bytes, library_module.make_doc
    monkeypatch.setattr(library_module, "read_bytes", lambda f, p, m, **kw: reads.append(p) or real_read(f, p, m, **kw))
    monkeypatch.setattr(library_module, "make_doc", lambda a, *r: made.append(a.path) or real_make(a, *r))

    upgraded = Library.open(folder, cache_dir=cache_dir)
    assert upgraded.loaded_from_cache and len(reads) == 5 and made == []  # hashed, not re-tokenised
    reads.clear()
    assert Library.open(folder, cache_dir=cache_dir).loaded_from_cache and reads == []


# --- 4. two processes on one cache -------------------------------------------------------------------

CHILD = textwrap.dedent(r'''
    import json, logging, os, sys, time
    from pathlib import Path

    role, folder, cache_dir, go, rounds = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5])
    warnings = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())

    logging.getLogger().addHandler(Collect())
    logging.getLogger().setLevel(logging.WARNING)
    from citebot.retrieval import Library

    while not go.exists():  # start together
        time.sleep(0.01)
    opened = from_cache = saves = 0
    if role == "writer":  # the bot: a file changes, the refresh saves the cache
        library = Library.open(folder, cache_dir=cache_dir)
        for i in range(rounds):
            staged = folder / f".edit-{os.getpid()}.part"
            staged.write_text("Edited report\n\n" + "The ferry timetable changed again. " * (1 + i % 7) + "\n")
            os.replace(staged, folder / f"edited-{os.getpid()}.txt")  # written whole, then renamed in
            saves += bool(library.refresh().any_change)
    else:
        for _ in range(rounds):
            library = Library.open(folder, cache_dir=cache_dir)
            opened += 1
            from_cache += library.loaded_from_cache
    print(json.dumps({"role": role, "opened": opened, "from_cache": from_cache, "saves": saves,
                      "warnings": warnings}))
''')


def many_articles(folder: Path, count: int) -> Path:
    folder.mkdir(exist_ok=True)
    for i in range(count):
        paragraphs = [f"Report {i} paragraph {j}: the harbour board {i} met council {j} about ferry {i * j}."
                      for j in range(6)]
        (folder / f"report-{i:04d}.txt").write_text(f"Report number {i}\n\n" + "\n\n".join(paragraphs) + "\n")
    return folder


def run_children(tmp_path: Path, folder: Path, cache_dir: Path, roles: list[str], rounds: int) -> list[dict]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, str(script), role, str(folder), str(cache_dir), str(go), str(rounds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=tmp_path)
        for role in roles
    ]
    go.touch()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def test_concurrent_saves_and_loads_share_the_cache_without_corruption_or_rebuilds(tmp_path, cache_dir) -> None:
    folder = many_articles(tmp_path / "articles", 400)
    Library.open(folder, cache_dir=cache_dir)  # a complete cache to start from
    reports = run_children(tmp_path, folder, cache_dir, ["writer", "writer", "reader", "reader", "reader"], 25)
    readers = [r for r in reports if r["role"] == "reader"]
    writers = [r for r in reports if r["role"] == "writer"]
    assert sum(r["opened"] for r in readers) == 75 and sum(r["saves"] for r in writers) == 50
    assert [r["warnings"] for r in reports] == [[]] * len(reports)  # no "corrupt", no "serving from memory"
    assert all(r["from_cache"] == r["opened"] for r in readers)  # no reader rebuilt
    assert Library.open(folder, cache_dir=cache_dir).loaded_from_cache
    leftovers = sorted(p.name for p in cache_dir.iterdir() if ".tmp-" in p.name or p.name.endswith(".old"))
    assert leftovers == []


# --- 4. leftovers of a killed save -----------------------------------------------------------------


def fake_leftovers(target: Path) -> list[Path]:
    made = []
    for name in (target.name + ".tmp-k1ll3d", target.name + ".tmp-x", target.name + ".old"):
        path = target.with_name(name)
        path.mkdir(parents=True)
        (path / "texts.bin").write_bytes(b"x" * 4096)
        (path / "terms.npy").write_bytes(b"y" * 4096)
        made.append(path)
    return made


@pytest.mark.parametrize("cache_exists", [True, False])
def test_leftovers_of_a_killed_save_vanish_on_the_next_open(folder, cache_dir, cache_exists) -> None:
    target = cache.cache_folder(cache_dir, folder)
    if cache_exists:
        Library.open(folder, cache_dir=cache_dir)
    leftovers = fake_leftovers(target)
    other = cache_dir / "index-0123456789abcdef.tmp-other-folder"  # another folder's: not ours to judge
    other.mkdir()
    library = Library.open(folder, cache_dir=cache_dir)
    assert library.stats().articles == 5
    assert [p for p in leftovers if p.exists()] == []
    assert other.exists()
    assert Library.open(folder, cache_dir=cache_dir).loaded_from_cache


LOCK_HOLDER = textwrap.dedent('''
    import fcntl, os, sys, time
    fd = os.open(os.path.join(sys.argv[1], ".writer.lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.read()  # hold it until the parent closes our stdin
''')


def test_a_live_writers_temp_folder_is_left_alone(folder, cache_dir, tmp_path) -> None:
    Library.open(folder, cache_dir=cache_dir)
    target = cache.cache_folder(cache_dir, folder)
    live = target.with_name(target.name + ".tmp-live")
    live.mkdir()
    (live / "texts.bin").write_bytes(b"being written")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(live)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        Library.open(folder, cache_dir=cache_dir)
        assert (live / "texts.bin").exists()  # a writer is still at work on it
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    Library.open(folder, cache_dir=cache_dir)
    assert not live.exists()  # its writer is gone: a leftover now


SAVE_FOREVER = textwrap.dedent('''
    import sys
    from pathlib import Path
    from citebot.retrieval import Library
    library = Library.open(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
    print("saving", flush=True)
    while True:
        library._save_cache()
''')


def test_sigkill_during_saves_leaves_nothing_after_the_next_open(tmp_path, cache_dir) -> None:
    folder = many_articles(tmp_path / "articles", 300)
    target = cache.cache_folder(cache_dir, folder)
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", SAVE_FOREVER, str(folder), str(cache_dir)],
                                 stdout=subprocess.PIPE, text=True, env=child_env(), cwd=tmp_path)
        assert child.stdout.readline().strip() == "saving"
        # Kill it once a save is under way (a temp folder exists), or after a generous wait.
        wait_for(lambda: any(".tmp-" in p.name for p in cache_dir.iterdir()), timeout=30, step=0.005)
        child.kill()
        child.wait(timeout=60)
    library = Library.open(folder, cache_dir=cache_dir)
    assert library.stats().articles == 300
    assert sorted(p.name for p in cache_dir.iterdir() if p.name.startswith(target.name)
                  and (".tmp-" in p.name or p.name.endswith(".old"))) == []


# --- 4. tokenising workers die with their parent ---------------------------------------------------

BULK_FOREVER = textwrap.dedent(r'''
    import signal, sys
    from pathlib import Path
    from citebot.retrieval import Library
    # Die of the test's signal even when started under nohup or a runner that ignores it: the
    # question is whether the workers follow their parent, not whether the parent can be killed.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    print("loading", flush=True)
    while True:
        Library.open(Path(sys.argv[1]))  # no cache: every open is a bulk load with workers
''')


def children_of(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc; zombies count as gone)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and is_alive(int(entry)) and parent_of(int(entry)) == pid:
            found.add(int(entry))
    return found


def proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
    except (OSError, IndexError):
        return None


def parent_of(pid: int) -> int | None:
    fields = proc_stat(pid)
    return int(fields[1]) if fields else None


def is_alive(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are Linux-only")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_tokenising_workers_die_with_their_parent(tmp_path, signum) -> None:
    folder = many_articles(tmp_path / "articles", 600)
    child = subprocess.Popen([sys.executable, "-c", BULK_FOREVER, str(folder)], stdout=subprocess.PIPE,
                             text=True, env=child_env(CITEBOT_TOKENIZE_WORKERS="2"), cwd=tmp_path)
    workers: set[int] = set()
    try:
        assert child.stdout.readline().strip() == "loading"
        assert wait_for(lambda: len(children_of(child.pid)) >= 2, timeout=120, step=0.01)
        workers = children_of(child.pid)  # taken just before the kill: they are its workers
        child.send_signal(signum)
        child.wait(timeout=60)
        assert wait_for(lambda: not any(is_alive(pid) for pid in workers), timeout=60), \
            f"workers {sorted(p for p in workers if is_alive(p))} outlived their parent"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=60)
        for pid in workers:  # only the workers this test's child started
            if is_alive(pid) and parent_of(pid) != child.pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def test_a_worker_asks_for_sigkill_with_its_parent_and_exits_if_the_parent_is_already_gone(monkeypatch) -> None:
    from citebot.retrieval import build

    calls: list[tuple] = []
    exits: list[int] = []

    class FakeLibc:  # never set PDEATHSIG on the test process itself
        def prctl(self, *args):
            calls.append(args)
            return 0

    monkeypatch.setattr(build.ctypes, "CDLL", lambda *a, **k: FakeLibc())
    monkeypatch.setattr(build.os, "_exit", lambda code: exits.append(code))
    build._die_with_parent(os.getppid())
    assert calls == [(build.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)] and exits == []
    build._die_with_parent(os.getppid() + 1)  # forked by a process that has died since
    assert exits == [1]  # the race before prctl took effect is covered by the getppid() check


# --- 6. a file dated in the future ---------------------------------------------------------------

LIGHTHOUSE = "Lighthouse repainted\n\nThe Skerrow lighthouse was repainted crimson in April.\n"
LIGHT_Q = "What colour was the Skerrow lighthouse repainted?"


def future_file(folder: Path, seconds: float = 20, text: str = LIGHTHOUSE, name: str = "lighthouse.txt") -> Path:
    path = folder / name
    path.write_text(text)
    ahead = time.time_ns() + int(seconds * 1e9)
    os.utime(path, ns=(ahead, ahead))
    return path


def sleep_past(seconds: float) -> None:
    """Let at least ``seconds`` pass (waiting for a condition, not measuring anything)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(max(deadline - time.monotonic(), 0.001))


@pytest.mark.parametrize("ahead", [20, 3600])
def test_a_future_dated_file_is_indexed_once_it_stops_changing(folder, ahead) -> None:
    library = Library.open(folder)
    future_file(folder, ahead)
    first = library.refresh(settle_seconds=0.2)
    assert first.pending == ("lighthouse.txt",)  # just seen: it may still be being written
    assert not library.ask(LIGHT_Q).found
    sleep_past(0.2)
    second = library.refresh(settle_seconds=0.2)  # unchanged since the last scan, 0.2 s ago
    assert second.added == ("lighthouse.txt",) and second.pending == ()
    assert library.ask(LIGHT_Q).found


def test_a_future_dated_file_still_changing_stays_pending(folder) -> None:
    library = Library.open(folder)
    path = future_file(folder, 20)
    assert library.refresh(settle_seconds=0.2).pending == ("lighthouse.txt",)
    sleep_past(0.2)
    future_file(folder, 20, LIGHTHOUSE + "\nMore lines arrive.\n")  # still being written: new size
    assert library.refresh(settle_seconds=0.2).pending == ("lighthouse.txt",)
    sleep_past(0.2)
    assert library.refresh(settle_seconds=0.2).added == ("lighthouse.txt",)
    assert "More lines arrive." in library.snapshot.docs[[d.path for d in library.snapshot.docs].index("lighthouse.txt")].body()
    assert path.exists()


def test_the_watcher_retries_a_future_dated_file_when_it_can_be_stable_not_in_a_busy_loop(folder) -> None:
    """The refresh thread's own loop, driven by hand: refresh, wait the delay the watcher asks
    for, refresh. The file is in after the second refresh, and every wait is at least the
    stability window (old: a 0.3 s cap, then 20 s of rescans before the file was taken)."""
    library = Library.open(folder)
    watcher = FolderWatcher(library, debounce_ms=50, stable_ms=200)  # never started: no threads
    future_file(folder, 20)
    result = library.refresh(settle_seconds=watcher.stable_ms / 1000)
    refreshes = 1
    delays = []
    while result.pending and refreshes < 10:
        delays.append(watcher._retry_delay(result.pending))
        sleep_past(delays[-1])
        result = library.refresh(settle_seconds=watcher.stable_ms / 1000)
        refreshes += 1
    assert library.ask(LIGHT_Q).found
    assert refreshes == 2
    assert all(delay >= watcher.stable_ms / 1000 for delay in delays)


def test_a_file_just_written_with_a_past_mtime_still_waits_for_its_mtime(folder) -> None:
    library = Library.open(folder)
    path = folder / "lighthouse.txt"
    path.write_text(LIGHTHOUSE)
    assert library.refresh(settle_seconds=3600).pending == ("lighthouse.txt",)
    old = time.time_ns() - 7200 * 10**9
    os.utime(path, ns=(old, old))  # finished, with its original date (`cp -p`)
    assert library.refresh(settle_seconds=3600).added == ("lighthouse.txt",)
