"""Drop-in on a big tree (issue 16): a watcher-reported change refreshes only that path.

Work is counted, not timed: spies on the loader's ``scan`` (the full stat walk), on ``os.lstat``
/ ``os.stat`` calls under the folder, and on ``read_bytes`` (files read) show what one refresh
touched. A path-scoped refresh must leave the library exactly as a full rescan would.
"""
from __future__ import annotations

import functools
import json
import os
import random
import threading
from pathlib import Path

import pytest

import helpers
import citebot.retrieval.library as library_module
from citebot.retrieval import Library
from citebot.retrieval.watch import FolderWatcher


wait_for = functools.partial(helpers.wait_for, timeout=30.0, poll=0.01)


def article(word: str, n: int = 0) -> str:
    return (f"Notice {n} about the {word} plan\n\n"
            f"The council discussed the {word} proposal at length on Monday.\n\n"
            f"Residents said the {word} scheme would reshape the square.\n")


WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


def deep_folder(root: Path, files: int = 40) -> Path:
    """Files spread over a few levels of folders, like the deep tree, in miniature."""
    folder = root / "articles"
    for i in range(files):
        sub = folder / f"d{i % 4}" / f"e{i % 3}" / f"f{i}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"a{i:03d}.txt").write_text(article(f"zq{WORDS[i % 10]}{i}", i))
    (folder / "notes.csv").write_text("not an article\n")
    return folder


class Spy:
    """Counts full scans, files read, and stat calls on paths under ``folder``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
        self.scans = 0
        self.reads: list[str] = []
        self.stats: list[str] = []
        self.lock = threading.Lock()
        root = str(folder)
        real_scan, real_read = library_module.scan, library_module.read_bytes
        real_lstat, real_stat = os.lstat, os.stat

        def scan(*args, **kwargs):
            with self.lock:
                self.scans += 1
            return real_scan(*args, **kwargs)

        def read_bytes(folder, path, *args, **kwargs):
            with self.lock:
                self.reads.append(path)
            return real_read(folder, path, *args, **kwargs)

        def spy_stat(real):
            def stat(path, *args, **kwargs):
                text = os.fspath(path) if not isinstance(path, int) else ""
                if isinstance(text, str) and text.startswith(root + os.sep):
                    with self.lock:
                        self.stats.append(os.path.relpath(text, root))
                return real(path, *args, **kwargs)
            return stat

        monkeypatch.setattr(library_module, "scan", scan)
        monkeypatch.setattr(library_module, "read_bytes", read_bytes)
        monkeypatch.setattr(library_module.os, "lstat", spy_stat(real_lstat))

    def reset(self) -> None:
        with self.lock:
            self.scans, self.reads, self.stats = 0, [], []


def state(library: Library) -> tuple:
    """Everything a refresh decides: docs (with metadata and text), passages, skipped files."""
    snap = library.snapshot
    docs = [(d.path, d.size, d.mtime_ns, d.sha256, d.title, d.body()) for d in snap.docs]
    passages = [(p.article.path, p.paragraph, p.start, p.end)
                for p in (snap.passage(i) for i in range(snap.n_passages))]
    terms = [tuple(snap.vocab.names(snap.passage_terms(i).tolist())) for i in range(snap.n_passages)]
    return docs, passages, terms, sorted((s.path, s.reason) for s in snap.skipped), dict(library._stamps)


def test_a_refresh_of_one_path_stats_and_reads_only_that_file(tmp_path, monkeypatch) -> None:
    folder = deep_folder(tmp_path)
    library = Library.open(folder)
    spy = Spy(monkeypatch, folder)
    new = folder / "d1" / "e2" / "f5" / "zzdrop.txt"
    new.write_text(article("zqnewword"))
    old = "d2/e0/f6/a006.txt"
    (folder / old).write_text(article("zqeditedword", 6))

    result = library.refresh(paths=["d1/e2/f5/zzdrop.txt", old])

    assert spy.scans == 0, "a watcher-reported change must not walk the whole tree"
    assert sorted(spy.reads) == sorted(["d1/e2/f5/zzdrop.txt", old])
    on_the_way = {str(Path(p)) for p in ("d1/e2/f5/zzdrop.txt", old) for p in [p, *Path(p).parents]} - {"."}
    assert set(spy.stats) <= on_the_way, "only the reported files and the folders on their way are stat'ed"
    assert result.added == ("d1/e2/f5/zzdrop.txt",) and result.changed == (old,)
    assert {h.passage.article.path for h in library.search("zqnewword", 3)} == {"d1/e2/f5/zzdrop.txt"}
    assert {h.passage.article.path for h in library.search("zqeditedword", 3)} == {old}
    assert library.search("zqgolf6", 3) == []


def test_a_deleted_path_is_dropped_without_a_full_scan(tmp_path, monkeypatch) -> None:
    folder = deep_folder(tmp_path)
    library = Library.open(folder)
    spy = Spy(monkeypatch, folder)
    (folder / "d3/e0/f3/a003.txt").unlink()
    result = library.refresh(paths=["d3/e0/f3/a003.txt"])
    assert spy.scans == 0 and spy.reads == []
    assert result.removed == ("d3/e0/f3/a003.txt",)
    assert library.search("zqdelta3", 3) == []


@pytest.mark.parametrize("event", ["folder", "folder-gone", "outside", "dotdot"])
def test_paths_only_a_full_walk_can_judge_make_it_a_full_scan(tmp_path, monkeypatch, event) -> None:
    folder = deep_folder(tmp_path)
    library = Library.open(folder)
    spy = Spy(monkeypatch, folder)
    if event == "folder":
        (folder / "newdir" / "inner").mkdir(parents=True)
        (folder / "newdir" / "inner" / "x.txt").write_text(article("zqinnerword"))
        paths = ["newdir"]
    elif event == "folder-gone":
        for p in (folder / "d0" / "e0" / "f0").iterdir():
            p.unlink()
        (folder / "d0" / "e0" / "f0").rmdir()
        paths = ["d0/e0/f0"]
    elif event == "outside":
        paths = ["/etc/passwd"]
    else:
        paths = ["../elsewhere.txt"]
    library.refresh(paths=paths)
    assert spy.scans == 1
    full = Library.open(folder)
    assert state(library)[:4] == state(full)[:4]


def test_path_scoped_refreshes_leave_the_library_as_a_full_rescan_would(tmp_path) -> None:
    """Random adds, edits, deletes, unsupported and ignored files, each refreshed by its path
    alone: the library ends exactly where a fresh open (a full scan) of the folder does."""
    folder = deep_folder(tmp_path, files=30)
    library = Library.open(folder)
    rng = random.Random(7)
    existing = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.txt"))
    for step in range(60):
        kind = rng.choice(["add", "edit", "delete", "odd", "hidden", "same"])
        if kind == "add" or not existing:
            relative = f"d{rng.randrange(4)}/e{rng.randrange(3)}/n{step}.md"
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(article(f"zqadded{WORDS[step % 10]}", step))
            existing.append(relative)
        elif kind == "edit":
            relative = rng.choice(existing)
            (folder / relative).write_text(article(f"zqedit{WORDS[step % 10]}", step))
        elif kind == "delete":
            relative = existing.pop(rng.randrange(len(existing)))
            (folder / relative).unlink()
        elif kind == "odd":
            relative = f"d{rng.randrange(4)}/odd{step}.csv"
            (folder / relative).write_text("a,b\n")
        elif kind == "hidden":
            relative = f"d{rng.randrange(4)}/.hidden{step}.txt"
            (folder / relative).write_text(article("zqhiddenword"))
        else:
            relative = rng.choice(existing)
            os.utime(folder / relative)
        library.refresh(paths=[relative])
    full = Library.open(folder)
    assert state(library) == state(full)


def test_the_watcher_refreshes_only_the_paths_its_events_name(tmp_path, monkeypatch) -> None:
    folder = deep_folder(tmp_path)
    library = Library.open(folder)
    with FolderWatcher(library, debounce_ms=50, stable_ms=100, full_scan_s=3600) as watcher:
        wait_for(watcher.armed.is_set, what="the watch armed")
        spy = Spy(monkeypatch, folder)
        wait_for(lambda: watcher.idle, what="the start and arming rescans done")
        spy.reset()
        target = folder / "d1" / "e0" / "f9" / "dropped.txt"
        target.write_text(article("zqdroppedword"))
        wait_for(lambda: {h.passage.article.path for h in library.search("zqdroppedword", 3)}
                 == {"d1/e0/f9/dropped.txt"}, what="the dropped file answerable")
        target.unlink()
        wait_for(lambda: library.search("zqdroppedword", 3) == [], what="the deleted file gone")
        assert spy.scans == 0, "the watcher walked the whole tree for a one-file change"
        assert set(spy.reads) == {"d1/e0/f9/dropped.txt"}


def test_the_watcher_still_rescans_everything_as_a_safety_net(tmp_path, monkeypatch) -> None:
    """A change no event reported (the OS dropped it) is found by the periodic full rescan."""
    folder = deep_folder(tmp_path, files=8)
    library = Library.open(folder)
    with FolderWatcher(library, debounce_ms=50, stable_ms=100, full_scan_s=0.5) as watcher:
        wait_for(lambda: watcher.full_refresh_count >= 1, what="the first refresh")
        before = watcher.full_refresh_count
        wait_for(lambda: watcher.full_refresh_count >= before + 2, what="periodic full rescans")


# --- incremental cache writes ----------------------------------------------------------------------

import logging  # noqa: E402

import numpy as np  # noqa: E402

from citebot.retrieval import cache  # noqa: E402
from citebot.retrieval.snapshot import Snapshot  # noqa: E402


def arrays_of(library: Library) -> dict[str, np.ndarray]:
    snap = library.snapshot
    index = snap.index
    return {"spans": snap.passage_spans, "terms": snap.terms, "offsets": snap.offsets,
            "doc_first": snap.doc_first, "term_offsets": index.term_offsets, "post_docs": index.post_docs,
            "post_tfs": index.post_tfs, "idf": index.idf}


def searches(library: Library) -> list:
    words = ["council", "residents", "square", *(f"zq{w}{i}" for i, w in enumerate(WORDS)),
             *(f"zqadded{w}" for w in WORDS), *(f"zqedit{w}" for w in WORDS)]
    return [[(h.passage.article.path, h.passage.paragraph, round(h.score, 9)) for h in library.search(w, 8)]
            for w in words]


def base_files(target: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every file of the base: unchanged means not rewritten."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in target.iterdir()
            if not p.name.startswith("delta-")}


def random_changes(folder: Path, library: Library, steps: int, seed: int) -> None:
    rng = random.Random(seed)
    existing = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.txt"))
    for step in range(steps):
        kind = rng.choice(["add", "edit", "delete", "touch", "odd"])
        if kind == "add" or not existing:
            relative = f"d{rng.randrange(4)}/n{seed}-{step}.txt"
            (folder / relative).write_text(article(f"zqadded{WORDS[step % 10]}", step))
            existing.append(relative)
        elif kind == "edit":
            relative = rng.choice(existing)
            (folder / relative).write_text(article(f"zqedit{WORDS[step % 10]} newterm{seed}x{step}", step))
        elif kind == "delete":
            relative = existing.pop(rng.randrange(len(existing)))
            (folder / relative).unlink()
        elif kind == "touch":
            relative = rng.choice(existing)
            st = (folder / relative).stat()
            os.utime(folder / relative, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
        else:
            relative = f"d{rng.randrange(4)}/odd{seed}-{step}.csv"
            (folder / relative).write_text("a,b\n")
        library.refresh(paths=[relative])


@pytest.fixture
def many_deltas(monkeypatch) -> None:
    """A tiny test base would be re-saved after a delta or two (deltas may weigh only a share
    of it): let it take many."""
    monkeypatch.setattr(library_module, "DELTA_SHARE", 1000.0)


def test_changes_append_deltas_and_a_load_gives_exactly_what_a_rebuild_gives(tmp_path, many_deltas) -> None:
    folder = deep_folder(tmp_path, files=30)
    cache_dir = tmp_path / "cache"
    writer = Library.open(folder, cache_dir=cache_dir)
    target = cache.cache_folder(cache_dir, folder)
    base = base_files(target)

    random_changes(folder, writer, 25, seed=1)

    deltas = sorted(p.name for p in target.iterdir() if p.name.startswith("delta-"))
    assert len(deltas) >= 15, "each change appends a delta"
    assert base_files(target) == base, "no change rewrote the base"
    loaded = Library.open(folder, cache_dir=cache_dir)
    assert loaded.loaded_from_cache
    # Exactly the writer's snapshot, term ids and postings included...
    for name, array in arrays_of(writer).items():
        assert np.array_equal(arrays_of(loaded)[name], array), name
    assert state(loaded) == state(writer)
    # ...and what a full rebuild of the folder gives (term ids differ there: compare by term).
    rebuilt = Library.open(folder)
    assert state(loaded)[:4] == state(rebuilt)[:4]
    assert searches(loaded) == searches(rebuilt)


def damage_first_delta(target: Path) -> None:
    path = target / cache.delta_name(1)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x20
    path.write_bytes(bytes(data))


def drop_first_delta(target: Path) -> None:
    (target / cache.delta_name(1)).unlink()


def truncate_last_delta(target: Path) -> None:
    last = max(p for p in target.iterdir() if p.name.startswith("delta-"))
    last.write_bytes(last.read_bytes()[:-40])


def foreign_delta(target: Path) -> None:
    """Deltas that follow another base than the one beside them (a base swapped in by hand)."""
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["base"] = "0000000000000000"
    (target / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage", [damage_first_delta, drop_first_delta, truncate_last_delta, foreign_delta])
def test_a_damaged_or_foreign_delta_is_detected_and_the_cache_rebuilt(tmp_path, caplog, damage, many_deltas) -> None:
    folder = deep_folder(tmp_path, files=12)
    cache_dir = tmp_path / "cache"
    writer = Library.open(folder, cache_dir=cache_dir)
    random_changes(folder, writer, 6, seed=2)
    target = cache.cache_folder(cache_dir, folder)
    assert (target / cache.delta_name(2)).exists()
    damage(target)
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval.library"):
        reopened = Library.open(folder, cache_dir=cache_dir)
    assert not reopened.loaded_from_cache
    assert "not used" in caplog.text and "delta" in caplog.text
    assert state(reopened)[:4] == state(Library.open(folder))[:4]
    # The rebuild wrote a fresh base, with no deltas, that loads cleanly.
    assert not any(p.name.startswith("delta-") for p in target.iterdir())
    assert Library.open(folder, cache_dir=cache_dir).loaded_from_cache


def test_deltas_past_their_share_are_folded_into_a_new_base(tmp_path, monkeypatch, many_deltas) -> None:
    monkeypatch.setattr(library_module, "MAX_DELTAS", 3)
    folder = deep_folder(tmp_path, files=12)
    cache_dir = tmp_path / "cache"
    writer = Library.open(folder, cache_dir=cache_dir)
    target = cache.cache_folder(cache_dir, folder)
    for i in range(4):
        (folder / f"x{i}.txt").write_text(article(f"zqfold{i}"))
        writer.refresh(paths=[f"x{i}.txt"])
        names = {p.name for p in target.iterdir() if p.name.startswith("delta-")}
        assert len(names) == (i + 1) % 4, names
    loaded = Library.open(folder, cache_dir=cache_dir)
    assert loaded.loaded_from_cache and state(loaded) == state(writer)


def test_a_writer_whose_base_was_replaced_saves_whole_instead_of_appending(tmp_path, many_deltas) -> None:
    """Two processes on one cache: a delta is only ever appended to the base it follows."""
    folder = deep_folder(tmp_path, files=12)
    cache_dir = tmp_path / "cache"
    first = Library.open(folder, cache_dir=cache_dir)
    second = Library.open(folder, cache_dir=cache_dir)
    (folder / "one.txt").write_text(article("zqfirstword"))
    first.refresh(paths=["one.txt"])          # appends delta 1
    (folder / "two.txt").write_text(article("zqsecondword"))
    second.refresh(paths=["two.txt"])        # its delta 1 is taken: it saves a whole new base
    target = cache.cache_folder(cache_dir, folder)
    assert not any(p.name.startswith("delta-") for p in target.iterdir())
    on_disk = Snapshot.load(target, folder, second.params)
    assert on_disk.deltas == 0
    assert [d.path for d in on_disk.snapshot.docs] == [d.path for d in second.snapshot.docs]
    assert np.array_equal(on_disk.snapshot.index.post_docs, second.snapshot.index.post_docs)


# --- warm open ---------------------------------------------------------------------------------------

import mmap  # noqa: E402


def file_backed(array: np.ndarray) -> bool:
    """True when ``array``'s memory is a file mapping (np.memmap or an mmap under its bases)."""
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc (Linux)")
def test_a_warm_open_maps_the_cached_arrays_instead_of_copying_them(tmp_path) -> None:
    """Mapped read-only, the arrays' pages are the page cache's: a second process serving the
    same cache shares them instead of holding its own copy."""
    folder = deep_folder(tmp_path, files=12)
    cache_dir = tmp_path / "cache"
    Library.open(folder, cache_dir=cache_dir)
    warm = Library.open(folder, cache_dir=cache_dir)
    assert warm.loaded_from_cache
    snap = warm.snapshot
    for name, array in [("terms", snap.terms), ("spans", snap.passage_spans),
                        ("post_docs", snap.index.post_docs), ("post_tfs", snap.index.post_tfs),
                        ("term_offsets", snap.index.term_offsets)]:
        assert file_backed(array), f"{name} was copied into private memory"
    target = cache.cache_folder(cache_dir, folder)
    maps = Path("/proc/self/maps").read_text()
    for name in ("terms.npy", "post_docs.npy", "texts.bin"):
        assert str(target / name) in maps, f"{name} is not mapped"


def resident_kb(path: Path) -> int:
    """This process's resident kB in mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1].isdigit() or line[:1] in "abcdef" and "-" in line.split()[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs /proc (Linux)")
def test_a_warm_open_leaves_only_what_questions_read_resident(tmp_path) -> None:
    """Checking a cache's checksums reads every byte of its mapped files; those pages are let
    go afterwards (they stay in the page cache), so serving memory is what questions touch."""
    folder = deep_folder(tmp_path, files=12)
    cache_dir = tmp_path / "cache"
    Library.open(folder, cache_dir=cache_dir)
    warm = Library.open(folder, cache_dir=cache_dir)
    assert warm.loaded_from_cache
    target = cache.cache_folder(cache_dir, folder)
    for name in ("texts.bin", "terms.npy", "post_docs.npy"):
        assert resident_kb(target / name) == 0, f"{name} stayed resident after the checks"
    hits = warm.search(f"zq{WORDS[3]}3 proposal", 1)
    assert hits and f"zq{WORDS[3]}3" in hits[0].passage.text  # the pages come back when read


def test_the_benchmarks_deep_tree_gives_each_file_a_folder_chain_of_its_own(tmp_path) -> None:
    from benchmarks.dropin import deepen

    folder = tmp_path / "corpus"
    for i in range(10):
        (folder / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        (folder / f"c{i % 2}" / f"{i:03d}.txt").write_text(article(f"zq{WORDS[i]}", i))
    folders = deepen(folder)
    files = sorted(p.relative_to(folder) for p in folder.rglob("*.txt"))
    assert len(files) == 10 and len({f.parent for f in files}) == 10
    assert sorted(len(f.parts) for f in files) == [5] * 4 + [6] * 6  # c?/ + 3 or 4 folders + name
    assert folders == 2 + 4 * 3 + 6 * 4
    assert deepen(folder) == folders  # idempotent
    assert Library.open(folder).stats().articles == 10


@pytest.mark.parametrize("full_scan_s", [0, -1, float("nan")])
def test_a_safety_net_interval_that_would_spin_is_refused(tmp_path, full_scan_s) -> None:
    library = Library.open(deep_folder(tmp_path, files=2))
    with pytest.raises(ValueError, match="full_scan_s"):
        FolderWatcher(library, full_scan_s=full_scan_s)
