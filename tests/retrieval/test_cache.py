"""Index cache: an unchanged folder opens from the cache without reading files; a change re-reads
only what changed; a damaged, foreign or outdated cache is rebuilt with a warning; no pickle;
never inside the articles folder."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import helpers
import citebot.retrieval.library as library_module
from citebot.retrieval import Library, cache
from citebot.retrieval.analyzer import ANALYZER_VERSION

FIXTURES = helpers.FIXTURES / "library"
QUESTION = "When did the Wexley harbour bridge reopen?"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(FIXTURES, target)
    return target


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every article file the library reads from disk, in order."""
    import citebot.retrieval.library as library_module

    seen: list[str] = []
    real = library_module.read_bytes

    def counting(folder, path: str, max_bytes: int, **kwargs) -> bytes:
        seen.append(path)
        return real(folder, path, max_bytes, **kwargs)

    monkeypatch.setattr(library_module, "read_bytes", counting)
    return seen


@pytest.fixture
def tokenized(monkeypatch) -> list[str]:
    """Every article the library splits and tokenises (make_doc), by path."""
    seen: list[str] = []
    real = library_module.make_doc

    def counting(article, *args, **kwargs):
        seen.append(article.path)
        return real(article, *args, **kwargs)

    monkeypatch.setattr(library_module, "make_doc", counting)
    return seen


def fingerprint(library: Library) -> list:
    """What a user sees: search results and the answer, with their citations."""
    hits = [(h.passage.article.path, h.passage.paragraph, h.passage.text, round(h.score, 9))
            for q in ("harbour bridge", "coffee frost Brazil", "ferry Marrow Island", "apples tonnes")
            for h in library.search(q, 5)]
    answer = library.ask(QUESTION)
    return [hits, answer.found, answer.text, [(c.path, c.paragraph, c.quote) for c in answer.citations]]


def bump_mtime(path: Path, seconds: int = 5) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def target_of(folder: Path, cache_dir: Path) -> Path:
    return cache.cache_folder(cache_dir, folder)


# --- persistence -------------------------------------------------------------------------------------


def test_second_open_of_an_unchanged_folder_reads_no_files(folder, cache_dir, reads, tokenized) -> None:
    first = Library.open(folder, cache_dir=cache_dir)
    assert not first.loaded_from_cache
    assert sorted(reads) == sorted(tokenized) and len(reads) == 5
    expected = fingerprint(first)
    reads.clear(), tokenized.clear()

    second = Library.open(folder, cache_dir=cache_dir)
    assert second.loaded_from_cache and second.stats().from_cache
    assert reads == [] and tokenized == []
    assert fingerprint(second) == expected


def test_only_the_changed_file_is_reread(folder, cache_dir, reads, tokenized) -> None:
    Library.open(folder, cache_dir=cache_dir)
    changed = folder / "markets" / "coffee-prices.md"
    changed.write_text("# Coffee prices fall\n\nArabica prices fell after heavy rain in Vietnam.\n")
    bump_mtime(changed)
    reads.clear(), tokenized.clear()

    library = Library.open(folder, cache_dir=cache_dir)
    assert library.loaded_from_cache
    assert reads == ["markets/coffee-prices.md"] and tokenized == ["markets/coffee-prices.md"]
    hit = library.search("Arabica rain Vietnam", 1)[0]
    assert hit.passage.article.path == "markets/coffee-prices.md"
    assert hit.passage.article.title == "Coffee prices fall"
    assert not library.search("Brazil", 5)

    # The refreshed cache is saved: the next open reads nothing.
    reads.clear()
    assert Library.open(folder, cache_dir=cache_dir).loaded_from_cache and reads == []


def test_added_and_deleted_files_are_picked_up(folder, cache_dir, reads) -> None:
    Library.open(folder, cache_dir=cache_dir)
    (folder / "nested" / "region" / "island-ferry.txt").unlink()
    (folder / "new.txt").write_text("Skate park opens\n\nThe skate park at Dunmore opened on Friday.\n")
    reads.clear()
    library = Library.open(folder, cache_dir=cache_dir)
    assert reads == ["new.txt"]
    assert library.search("skate park Dunmore", 1)[0].passage.article.path == "new.txt"
    assert not library.search("Marrow Island ferry", 5)
    assert library.stats().articles == 5


def test_a_touched_but_unchanged_file_is_not_reread_on_every_open(folder, cache_dir, reads) -> None:
    Library.open(folder, cache_dir=cache_dir)
    bump_mtime(folder / "bridge-reopens.txt")
    reads.clear()
    Library.open(folder, cache_dir=cache_dir)
    assert reads == ["bridge-reopens.txt"]  # the hash shows nothing changed
    reads.clear()
    Library.open(folder, cache_dir=cache_dir)
    assert reads == []  # ...and the cache now knows the new mtime


def test_manifest_records_path_size_mtime_and_content_hash(folder, cache_dir) -> None:
    Library.open(folder, cache_dir=cache_dir)
    manifest = json.loads((target_of(folder, cache_dir) / "manifest.json").read_text("utf-8"))
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == {"apple-harvest.md", "bridge-reopens.txt", "markets/coffee-prices.md",
                          "nested/region/island-ferry.txt", "reading-room.html"}
    for path, entry in files.items():
        data = (folder / path).read_bytes()
        st = (folder / path).stat()
        assert entry["size"] == len(data) and entry["mtime_ns"] == st.st_mtime_ns
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["analyzer"] == ANALYZER_VERSION and manifest["version"] == cache.VERSION


def test_no_pickle_anywhere(folder, cache_dir) -> None:
    Library.open(folder, cache_dir=cache_dir)
    target = target_of(folder, cache_dir)
    names = sorted(p.name for p in target.iterdir())
    assert all(Path(n).suffix in {".npy", ".json", ".bin"} for n in names), names
    for path in target.glob("*.npy"):
        array = np.load(path, allow_pickle=False)
        assert array.dtype.kind in "iu"
    for path in target.glob("*.json"):
        json.loads(path.read_text("utf-8"))


# --- damaged caches ----------------------------------------------------------------------------------


def truncate(target: Path) -> None:
    path = target / "terms.npy"
    path.write_bytes(path.read_bytes()[:-7])


def truncate_texts(target: Path) -> None:
    path = target / "texts.bin"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_text_bytes(target: Path) -> None:
    # Same size, bytes that are not UTF-8: without a checksum this surfaces as a decode error
    # (or a wrong quote) in the middle of a question.
    path = target / "texts.bin"
    data = bytearray(path.read_bytes())
    data[40:44] = b"\xff\xfe\xff\xfe"
    path.write_bytes(bytes(data))


def flip_term_ids(target: Path) -> None:
    # Same size, still valid term ids: only a checksum can tell.
    path = target / "terms.npy"
    array = np.load(path, allow_pickle=False)
    np.save(path, array[::-1].copy(), allow_pickle=False)


def garbage_manifest(target: Path) -> None:
    (target / "manifest.json").write_bytes(b"\x00\x01 not json {")


def foreign_manifest(target: Path) -> None:
    (target / "manifest.json").write_text(json.dumps({"format": "someone-else", "version": 1}))


def old_version(target: Path) -> None:
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    manifest["version"] = cache.VERSION - 1
    (target / "manifest.json").write_text(json.dumps(manifest))


def old_analyzer(target: Path) -> None:
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    manifest["analyzer"] = ANALYZER_VERSION - 1
    (target / "manifest.json").write_text(json.dumps(manifest))


def wrong_types(target: Path) -> None:
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    manifest["sizes"] = ["texts.bin"]
    manifest["files"] = ["not", "a", "dict"]
    (target / "manifest.json").write_text(json.dumps(manifest))


def float_array(target: Path) -> None:
    # A well-formed .npy of the wrong kind, with the manifest's size updated to match.
    path = target / "spans.npy"
    array = np.load(path, allow_pickle=False)
    np.save(path, array.astype(np.float64), allow_pickle=False)
    manifest = json.loads((target / "manifest.json").read_text("utf-8"))
    manifest["sizes"]["spans.npy"] = path.stat().st_size
    (target / "manifest.json").write_text(json.dumps(manifest))


def missing_array(target: Path) -> None:
    (target / "post_docs.npy").unlink()


@pytest.mark.parametrize(
    "damage",
    [truncate, truncate_texts, flip_text_bytes, flip_term_ids, garbage_manifest, foreign_manifest,
     old_version, old_analyzer, wrong_types, float_array, missing_array],
)
def test_damaged_foreign_or_outdated_cache_is_rebuilt_with_a_warning(folder, cache_dir, caplog, damage) -> None:
    expected = fingerprint(Library.open(folder, cache_dir=cache_dir))
    target = target_of(folder, cache_dir)
    damage(target)
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval"):
        library = Library.open(folder, cache_dir=cache_dir)
    assert not library.loaded_from_cache
    assert any("cache" in r.getMessage() and "rebuild" in r.getMessage() for r in caplog.records)
    assert fingerprint(library) == expected
    again = Library.open(folder, cache_dir=cache_dir)
    assert again.loaded_from_cache  # rewritten whole
    assert fingerprint(again) == expected


def test_load_reports_problems_as_cache_errors_only(folder, cache_dir) -> None:
    from citebot.retrieval.index import BM25Params

    Library.open(folder, cache_dir=cache_dir)
    target = target_of(folder, cache_dir)
    wrong_types(target)
    with pytest.raises(cache.CacheError):
        cache.load(target, folder, BM25Params())
    with pytest.raises(cache.NoCache):  # its own type: callers need not read the message
        cache.load(target.with_name("absent"), folder, BM25Params())
    with pytest.raises(cache.CacheError):  # and still a CacheError to those who only rebuild
        cache.load(target.with_name("absent"), folder, BM25Params())


def test_a_first_open_builds_the_cache_without_a_warning(folder, cache_dir, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval"):
        library = Library.open(folder, cache_dir=cache_dir)
    assert not library.loaded_from_cache and caplog.records == []
    assert Library.open(folder, cache_dir=cache_dir).loaded_from_cache


def test_a_cache_for_one_folder_is_not_used_for_another(tmp_path, folder, cache_dir) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "solo.txt").write_text("Solo article\n\nA lone report about lighthouses.\n")
    Library.open(folder, cache_dir=cache_dir)
    library = Library.open(other, cache_dir=cache_dir)
    assert not library.loaded_from_cache
    assert library.stats().articles == 1
    assert target_of(folder, cache_dir) != target_of(other, cache_dir)


# --- location ----------------------------------------------------------------------------------------


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*")}


def test_cache_is_never_written_inside_the_articles_folder(folder, caplog) -> None:
    before = files_under(folder)
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval"):
        library = Library.open(folder, cache_dir=folder / "cache")
        reopened = Library.open(folder, cache_dir=folder)
    assert files_under(folder) == before
    assert not reopened.loaded_from_cache
    assert library.search("harbour bridge", 1)  # still answers, from memory
    assert any("inside the articles folder" in r.getMessage() for r in caplog.records)


def test_default_cache_folder_is_outside_the_articles_folder(folder, cache_dir) -> None:
    target = target_of(folder, cache_dir)
    assert not cache.is_inside(target, folder)
    assert cache.is_inside(folder / "a" / "b", folder) and cache.is_inside(folder, folder)
    link = folder.parent / "link-to-articles"
    link.symlink_to(folder, target_is_directory=True)
    assert cache.is_inside(link / "cache", folder)  # symlinks are resolved
