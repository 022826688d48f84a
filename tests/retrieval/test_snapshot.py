"""The snapshot owns the index storage and nothing a reader holds ever changes: a refresh that
adds, changes, re-stamps and removes articles leaves the previous snapshot, its docs and every
array of both exactly as they were, and the vocabulary it published stays at its size."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import helpers
from citebot.retrieval import Library
from citebot.retrieval.analyzer import tokenize
from citebot.retrieval.build import BULK_AFTER
from citebot.retrieval.snapshot import Snapshot

SNAPSHOT_ARRAYS = ("doc_first", "passage_doc", "passage_spans", "terms", "offsets")
INDEX_ARRAYS = ("term_offsets", "post_docs", "post_tfs", "idf", "df", "doc_len")
NEW_WORD = "zanzibarquokka"
ROOT = helpers.ROOT


def write(folder: Path, name: str, title: str, *paragraphs: str) -> None:
    (folder / name).write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n", "utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    for i, topic in enumerate(["harbour bridge", "coffee frost", "wheat exports", "rowing record", "school railway"]):
        write(folder, f"a{i}.txt", f"News {i}: {topic}", f"The {topic} story, part one.", f"More about the {topic}.")
    return folder


def state(snap: Snapshot) -> dict:
    """A deep copy of everything a reader of ``snap`` can see."""
    return {
        "docs": copy.deepcopy(snap.docs),
        "fields": [(d.path, d.size, d.mtime_ns, d.sha256, d.title, d.url, d.published, d.source, d.author,
                    d.body()) for d in snap.docs],
        "arrays": {name: np.array(getattr(snap, name), copy=True) for name in SNAPSHOT_ARRAYS},
        "index": {name: np.array(getattr(snap.index, name), copy=True) for name in INDEX_ARRAYS},
        "vocab": (len(snap.vocab), list(snap.vocab.terms)),
        "passages": [snap.passage(i) for i in range(snap.n_passages)],
        "rest": (snap.skipped, snap.refreshed_at, snap.index.vocab_size, snap.index.n_docs),
    }


def assert_unchanged(snap: Snapshot, before: dict) -> None:
    after = state(snap)
    assert after["docs"] == before["docs"] and after["fields"] == before["fields"]
    for group in ("arrays", "index"):
        for name, array in before[group].items():
            assert np.array_equal(after[group][name], array), f"{group}.{name} changed"
    assert after["vocab"] == before["vocab"]
    assert after["passages"] == before["passages"]
    assert after["rest"] == before["rest"]


def change_everything(folder: Path) -> None:
    """Add an article with a word the vocabulary has never seen, change one, remove one, and
    touch one without changing its text (a new stamp: the doc is re-stamped, not re-read)."""
    write(folder, "a0.txt", "News 0: harbour bridge", f"The {NEW_WORD} reopened the bridge.")
    (folder / "a1.txt").unlink()
    write(folder, "b9.txt", "A new arrival", f"Keepers named the {NEW_WORD} Max.", "It eats leaves.")
    stat = (folder / "a2.txt").stat()
    os.utime(folder / "a2.txt", ns=(stat.st_atime_ns, stat.st_mtime_ns + 7_000_000_000))


@pytest.mark.parametrize("from_cache", [False, True], ids=["built", "loaded-from-cache"])
def test_a_refresh_never_changes_an_object_a_reader_holds(folder: Path, tmp_path: Path, from_cache: bool) -> None:
    cache_dir = tmp_path / "cache"
    if from_cache:
        Library.open(folder, cache_dir=cache_dir)
    library = Library.open(folder, cache_dir=cache_dir)
    assert library.loaded_from_cache is from_cache
    held = library.snapshot
    docs = held.docs
    before = state(held)
    (new_term,) = tokenize(NEW_WORD)

    change_everything(folder)
    result = library.refresh()
    assert result.added == ("b9.txt",) and result.changed == ("a0.txt",) and result.removed == ("a1.txt",)

    fresh = library.snapshot
    assert fresh is not held
    assert held.docs is docs
    assert_unchanged(held, before)
    # The touched file is a new record in the new snapshot; the old one kept its stamp.
    old_a2 = next(d for d in held.docs if d.path == "a2.txt")
    new_a2 = next(d for d in fresh.docs if d.path == "a2.txt")
    assert new_a2.mtime_ns == old_a2.mtime_ns + 7_000_000_000 and new_a2 is not old_a2
    # The vocabulary grew, but the old snapshot's readers never see the new term.
    assert fresh.vocab.lookup([new_term]) != [-1]
    assert held.vocab.lookup([new_term]) == [-1]
    assert held.index.top(held.vocab.lookup([new_term]), 5) == []
    assert sorted(h.passage.article.path for h in library.search(NEW_WORD, 5)) == ["a0.txt", "b9.txt"]


def test_snapshot_docs_and_their_arrays_cannot_be_assigned(folder: Path) -> None:
    snap = Library.open(folder).snapshot
    doc = snap.docs[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.docs = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.size = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.vocab.size = 10**6  # type: ignore[misc]
    for name in SNAPSHOT_ARRAYS:
        array = getattr(snap, name)
        with pytest.raises(ValueError):
            array[...] = 0
    with pytest.raises(ValueError):
        snap.index.post_docs[...] = 0


def test_a_doc_keeps_no_index_storage_and_memoises_nothing(folder: Path, tmp_path: Path) -> None:
    Library.open(folder, cache_dir=tmp_path / "cache")
    snap = Library.open(folder, cache_dir=tmp_path / "cache").snapshot
    doc = snap.docs[0]
    assert not any(isinstance(getattr(doc, f.name), np.ndarray) for f in dataclasses.fields(doc))
    text = doc.text
    assert doc.body() == doc.body() and doc.text is text  # decoded each time, never stored back
    passages = snap.doc_passages(0)
    assert [snap.passage(p).article.path for p in passages] == [doc.path] * len(passages)


BULK_CHILD = """
import json, os, sys
import numpy as np
from citebot.retrieval import Library
from citebot.retrieval.build import tokenize_workers

def by_term(library):
    snap, out = library.snapshot, {}
    index = snap.index
    for term_id, term in enumerate(snap.vocab.terms):
        lo, hi = int(index.term_offsets[term_id]), int(index.term_offsets[term_id + 1])
        out[term] = (index.post_docs[lo:hi].tolist(), index.post_tfs[lo:hi].tolist())
    return out

os.environ["CITEBOT_TOKENIZE_WORKERS"] = "2"
workers = tokenize_workers()
bulk = Library.open(sys.argv[1])
os.environ["CITEBOT_TOKENIZE_WORKERS"] = "0"
single = Library.open(sys.argv[1])
names = ("doc_first", "passage_doc", "passage_spans", "terms", "offsets")
print(json.dumps({
    "workers": workers,
    "vocab": list(bulk.snapshot.vocab.terms) == list(single.snapshot.vocab.terms),
    "arrays": [n for n in names if not np.array_equal(getattr(bulk.snapshot, n), getattr(single.snapshot, n))],
    "postings": by_term(bulk) == by_term(single),
    "texts": [d.body() for d in bulk.snapshot.docs] == [d.body() for d in single.snapshot.docs],
    "spooled": sum(type(d.text).__name__ == "LazyText" for d in bulk.snapshot.docs) > len(bulk.snapshot.docs) // 2,
}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are Linux-only")
def test_a_bulk_load_in_worker_processes_equals_a_one_by_one_build(tmp_path: Path) -> None:
    """Analyses that arrive from workers (handles resolved at build time) give the same vocabulary
    numbering, passages and postings as analysing each article in turn. In a fresh interpreter:
    workers are only forked from a process with no other thread running."""
    folder = tmp_path / "many"
    folder.mkdir()
    words = "harbour bridge ferry coffee frost wheat council vote strike bakery river flood".split()
    for i in range(3 * BULK_AFTER):
        write(folder, f"n{i:03d}.txt", f"Item {i} {words[i % len(words)]}",
              " ".join(words[(i * k) % len(words)] for k in range(1, 9)) + f" w{i}.", f"Tail {i}.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env["CITEBOT_TOKENIZE_WORKERS"] = "2"  # two workers on any machine (the default is one per core)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", BULK_CHILD, str(folder)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"workers": 2, "vocab": True, "arrays": [], "postings": True, "texts": True, "spooled": True}


EARLY_CHILD = """
import json, sys, time
from citebot.retrieval.build import BATCH_FILES, BULK_AFTER, Indexer
from citebot.retrieval.models import Article

indexer = Indexer(workers=2)
def article(i):
    return Article(f"n{i}.txt", f"Item {i}", f"Paragraph of item {i} with word w{i}.")
handles = [indexer.analyse(article(i)) for i in range(BULK_AFTER + BATCH_FILES)]
first = handles[BULK_AFTER:]  # the first batch sent to the workers
deadline = time.monotonic() + 120
while not indexer._bulk.batches[0][2].done() and time.monotonic() < deadline:
    time.sleep(0.01)
handles += [indexer.analyse(article(i)) for i in range(BULK_AFTER + BATCH_FILES, BULK_AFTER + 2 * BATCH_FILES)]
early = all(h._value is not None for h in first) and indexer.vocab.lookup([f"w{BULK_AFTER}"])[0] >= 0
print(json.dumps({"early": early}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes are Linux-only")
def test_a_bulk_load_maps_finished_batches_while_files_are_still_read(tmp_path: Path) -> None:
    """A finished worker batch is taken into the vocabulary when the next batch is sent, not
    only once the last file is read (its results held a million-passage build's largest share
    of memory while they waited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", EARLY_CHILD], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"early": True}


def test_building_a_snapshot_consumes_its_fresh_analyses(folder: Path) -> None:
    """Once copied into the snapshot's arrays the analyses are let go (a million-passage build
    held them twice at its peak)."""
    from citebot.retrieval.build import Indexer
    from citebot.retrieval.docs import doc_of
    from citebot.retrieval.index import BM25Params
    from citebot.retrieval.loader import parse_article
    from citebot.retrieval.snapshot import build_snapshot

    indexer = Indexer(workers=0)
    docs, fresh = [], {}
    for path in sorted(folder.glob("*.txt")):
        article = parse_article(path.name, path.read_bytes())
        docs.append(doc_of(article, 0, 0, ""))
        fresh[article.path] = indexer.analyse(article)
    snap = build_snapshot(docs, indexer.vocab, BM25Params(), fresh=fresh)
    assert fresh == {} and snap.n_passages == 10


def test_a_text_spool_gives_back_each_text_as_written() -> None:
    """A bulk load keeps its articles' texts in a temporary file, not in memory."""
    from citebot.retrieval.build import TextSpool

    spool = TextSpool()
    texts = ["Harbour bridge reopens.", "", "Café in Zürich – “quoted” 😀", "x" * 70_000, "broken \udcff byte"]
    held = [spool.add(t) for t in texts]
    assert [h() for h in held] == texts
    assert held[2].raw() == texts[2].encode("utf-8")


def test_without_worker_processes_no_text_is_spooled(tmp_path: Path, monkeypatch) -> None:
    """No pool, no bulk load: articles past the bulk threshold keep their texts as strings, and
    no temporary file (one per article, never closed, was the bug) is opened."""
    from citebot.retrieval import build
    from citebot.retrieval.models import Article

    opened: list[object] = []
    real = build.TextSpool.__init__

    def counting(self, *args, **kwargs):
        opened.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(build.TextSpool, "__init__", counting)
    indexer = build.Indexer(workers=0, spool_dir=tmp_path)
    docs = [build.make_doc(Article(f"n{i}.txt", f"Item {i}", f"Paragraph {i}."), 20, 0, "", indexer)[0]
            for i in range(3 * build.BULK_AFTER)]
    assert opened == [] and all(isinstance(d.text, str) for d in docs)


def test_a_full_disk_keeps_the_texts_in_memory(monkeypatch, caplog) -> None:
    from citebot.retrieval import build

    indexer = build.Indexer(workers=0)
    indexer._spool = build.TextSpool()
    assert type(indexer.keep_text("first")).__name__ == "LazyText"

    def full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build.os, "write", full)
    assert indexer.keep_text("second") == "second" and indexer.keep_text("third") == "third"
    assert "cannot spool article texts" in caplog.text


def test_a_published_vocabulary_shows_only_the_terms_it_had() -> None:
    from citebot.retrieval.vocabulary import Vocabulary

    vocab = Vocabulary(["harbour", "bridge"])
    published = vocab.published()
    new_id = vocab.add("ferry")
    assert vocab.lookup(["ferry"]) == [new_id] and published.lookup(["ferry", "bridge"]) == [-1, 1]
    assert len(published) == 2 and list(published.terms) == ["harbour", "bridge"]
    assert published.names([1, 0]) == ["bridge", "harbour"]
    with pytest.raises(IndexError):
        published.terms[new_id]
    with pytest.raises(IndexError):
        published.names([new_id])
