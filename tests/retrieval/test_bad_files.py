"""Hostile folders: every bad file is skipped with a reason or read correctly; the rest index."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from citebot.retrieval import Library

GOOD = "Harbour festival returns\n\nThe lantern festival returns to Port Calder harbour this spring.\n"


def reasons(library: Library) -> dict[str, str]:
    return {s.path: s.reason for s in library.stats().skipped}


def good_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD, encoding="utf-8")
    return folder


def assert_good_answerable(library: Library) -> None:
    hits = library.search("lantern festival Port Calder", 3)
    assert hits and hits[0].passage.article.path == "good.txt"


def test_nul_bytes_binary_and_empty_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    (folder / "nul.txt").write_bytes(b"Title\n\nsome\x00text\x00here")
    (folder / "random.txt").write_bytes(bytes(range(256)) * 20)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_bytes(b"  \n\n \t\n")
    library = Library.open(folder)
    skipped = reasons(library)
    assert set(skipped) == {"nul.txt", "random.txt", "empty.txt", "blank.md"}
    assert "binary" in skipped["nul.txt"] and "binary" in skipped["random.txt"]
    assert "empty" in skipped["empty.txt"] and "empty" in skipped["blank.md"]
    assert_good_answerable(library)


def test_huge_file_is_skipped_without_reading_it_all(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    with open(folder / "huge.txt", "wb") as handle:  # sparse: 200 MB on paper, nothing on disk
        handle.truncate(200 * 1024 * 1024)
    library = Library.open(folder, max_file_bytes=1_000_000)
    assert "too large" in reasons(library)["huge.txt"]
    assert_good_answerable(library)


def test_deep_trees_and_symlink_loops(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    deep = folder
    for i in range(60):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("Deep article\n\nA kingfisher nests in the deepest folder.\n")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (deep / "back").symlink_to(folder / "d0", target_is_directory=True)
    (folder / "dangling.txt").symlink_to(folder / "missing.txt")
    library = Library.open(folder)
    paths = {d.path for d in library.snapshot.docs}
    assert "good.txt" in paths
    assert any(p.endswith("deep.txt") for p in paths)
    assert len([p for p in paths if p.endswith("deep.txt")]) == 1, "a loop must not index twice"
    assert "dangling.txt" in reasons(library)
    assert library.search("kingfisher", 1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    secret = folder / "secret.txt"
    secret.write_text("Secret\n\nhidden words\n")
    secret.chmod(0)
    library = Library.open(folder)
    assert "unreadable" in reasons(library)["secret.txt"]
    assert_good_answerable(library)


def test_file_vanishing_between_scan_and_read(tmp_path: Path, monkeypatch) -> None:
    import citebot.retrieval.library as library_module

    folder = good_folder(tmp_path)
    (folder / "gone.txt").write_text("Gone\n\nThis file disappears before it is read.\n")
    real_scan = library_module.scan

    def scan_then_delete(path: Path, **kwargs):
        found = real_scan(path, **kwargs)
        (folder / "gone.txt").unlink()
        return found

    monkeypatch.setattr(library_module, "scan", scan_then_delete)
    library = Library.open(folder)
    assert "vanished" in reasons(library)["gone.txt"]
    assert_good_answerable(library)


def test_odd_file_names(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    (folder / "line\nbreak.txt").write_text("Newline name\n\nA name with a line break.\n")
    bad_name = os.fsencode(str(folder)) + b"/caf\xe9.txt"  # not valid UTF-8
    with open(bad_name, "wb") as handle:
        handle.write(b"Latin name\n\nAn otter swims past the mill.\n")
    (folder / "ünïcödé 名前.txt").write_text("Unicode name\n\nA heron waits by the weir.\n")
    library = Library.open(folder, cache_dir=tmp_path / "cache")
    skipped = reasons(library)
    assert skipped["line\\nbreak.txt"] == "file name contains a line break"
    assert "not valid UTF-8" in skipped["caf\ufffd.txt"]
    for path in skipped:  # every reported name is printable and JSON-safe
        path.encode("utf-8")
    assert library.search("heron weir", 1)[0].passage.article.path == "ünïcödé 名前.txt"
    assert not library.search("otter mill", 1)
    again = Library.open(folder, cache_dir=tmp_path / "cache")  # the cache round-trips names
    assert again.loaded_from_cache
    assert again.search("heron weir", 1)[0].passage.article.path == "ünïcödé 名前.txt"
    assert_good_answerable(again)


def test_one_bad_file_among_many(tmp_path: Path) -> None:
    folder = good_folder(tmp_path)
    for i in range(30):
        (folder / f"a{i:02d}.txt").write_text(f"Article {i}\n\nParagraph about topic{i} here.\n")
    (folder / "a15.txt").write_bytes(b"\x00\x01\x02" * 100)
    library = Library.open(folder)
    assert library.stats().articles == 30  # 29 numbered + good.txt
    assert "a15.txt" in reasons(library)
