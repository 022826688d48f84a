"""citebot.retrieval.intake: `/add`'s saving rules, with plain asserts (no Discord involved)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from citebot.retrieval import Library
from citebot.retrieval.intake import IntakeError, add_article, check_upload, clean_name, save_upload

ARTICLE = b"Otters return to the Wenlow river\n\nVolunteers counted eleven otters below the old mill.\n"


@pytest.mark.parametrize("name", ["otters.txt", "Otters Report.MD", "ünïcode-été.html", "page.htm", "a.b.txt",
                                  "한글 기사.txt", "⠁⠃⠉ braille.md", "日本語\u3000記事.txt"])
def test_clean_names_are_kept(name):
    assert clean_name(name) == name


@pytest.mark.parametrize("name, why", [
    ("../x.txt", "path separators"), ("a/b.txt", "path separators"), ("a\\b.txt", "path separators"),
    ("/etc/x.txt", "path separators"), ("..", "“..”"), ("x..txt", "“..”"), (".x.txt", "Hidden"),
    (".txt", "Hidden"), ("~$x.txt", "Hidden"), ("#x.txt", "Hidden"), ("x.txt~", "Hidden"),
    ("x.exe", "Only text"), ("x", "Only text"), ("x.txt.part", "Hidden"), ("", "no name"), ("   ", "no name"),
    ("a\nb.txt", "control"), ("a\u202eb.txt", "control"), ("a\x00.txt", "path separators"),
    ("x" * 300 + ".txt", "too long"),
    # Blank-looking names: no visible character before the extension.
    ("\u3164.txt", "visible"), ("\u115f.txt", "visible"), ("\u2800.txt", "visible"), ("\u3000.txt", "visible"),
    ("\u00a0.txt", "visible"), ("\uffa0\u1160.md", "visible"), ("\u2800 \u3164.html", "visible"),
    ("\u034f.txt", "visible"), ("\ufe0f.txt", "visible"), ("\u200b\u3164.txt", "visible"), ("\ue000.txt", "visible"),
])
def test_unsafe_names_are_refused(name, why):
    with pytest.raises(IntakeError, match=why):
        clean_name(name)


def test_save_writes_atomically_and_leaves_no_temp(tmp_path):
    saved = save_upload(tmp_path, "otters.txt", ARTICLE)
    assert saved.path == tmp_path / "otters.txt" and not saved.replaced
    assert saved.path.read_bytes() == ARTICLE
    assert [p.name for p in tmp_path.iterdir()] == ["otters.txt"]


def test_existing_file_is_kept_unless_replace(tmp_path):
    (tmp_path / "otters.txt").write_bytes(b"Old title\n\nOld text.\n")
    with pytest.raises(IntakeError, match="already exists"):
        save_upload(tmp_path, "otters.txt", ARTICLE)
    assert (tmp_path / "otters.txt").read_bytes().startswith(b"Old title")
    assert save_upload(tmp_path, "otters.txt", ARTICLE, replace=True).replaced
    assert (tmp_path / "otters.txt").read_bytes() == ARTICLE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["otters.txt"]


def test_a_symlink_in_the_folder_is_never_written_through(tmp_path):
    folder, victim = tmp_path / "articles", tmp_path / "victim.txt"
    folder.mkdir()
    victim.write_bytes(b"keep me")
    (folder / "link.txt").symlink_to(victim)
    with pytest.raises(IntakeError, match="already exists"):
        save_upload(folder, "link.txt", ARTICLE)
    save_upload(folder, "link.txt", ARTICLE, replace=True)
    assert victim.read_bytes() == b"keep me"
    assert not (folder / "link.txt").is_symlink() and (folder / "link.txt").read_bytes() == ARTICLE


def test_size_cap_and_content_are_checked_before_writing(tmp_path):
    with pytest.raises(IntakeError, match="too large"):
        save_upload(tmp_path, "big.txt", ARTICLE, max_bytes=10)
    with pytest.raises(IntakeError, match="binary"):
        save_upload(tmp_path, "bin.txt", b"\x00\x01\x02")
    with pytest.raises(IntakeError, match="empty"):
        save_upload(tmp_path, "empty.md", b"  \n\n")
    assert list(tmp_path.iterdir()) == []
    assert check_upload("ok.md", ARTICLE) == "ok.md"


def test_a_missing_folder_is_reported(tmp_path):
    with pytest.raises(IntakeError, match="does not exist"):
        save_upload(tmp_path / "nope", "otters.txt", ARTICLE)


def test_concurrent_adds_of_one_name_let_exactly_one_win(tmp_path):
    outcomes: list[str] = []

    def add(i: int) -> None:
        try:
            save_upload(tmp_path, "race.txt", ARTICLE.replace(b"eleven", str(i).encode()))
            outcomes.append("saved")
        except IntakeError:
            outcomes.append("refused")

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("saved") == 1 and outcomes.count("refused") == 7
    assert [p.name for p in tmp_path.iterdir()] == ["race.txt"]


names = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(["..", ".", "/", "\\", "a", "b.txt", ".md", "~", "\x00", "%2e", " "]),
             max_size=8).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, replace=st.booleans())
def test_no_name_ever_writes_outside_the_folder(tmp_path, name, replace):
    root = tmp_path / "root"
    folder = root / "articles"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        saved = save_upload(folder, name, ARTICLE, replace=replace)
    except IntakeError:
        pass
    else:
        assert saved.path.parent == folder and saved.path.resolve().parent == folder.resolve()
        saved.path.unlink()
    assert list(root.iterdir()) == [folder]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_add_article_reports_title_and_passages_and_is_answerable(tmp_path):
    library = Library.open(tmp_path)
    result = add_article(library, "otters.txt", ARTICLE)
    assert result.indexed and result.title == "Otters return to the Wenlow river" and result.passages == 1
    assert not result.replaced
    answer = library.ask("How many otters did volunteers count?")
    assert answer.found and "eleven otters" in answer.text
    again = add_article(library, "otters.txt", ARTICLE.replace(b"eleven", b"twelve"), replace=True)
    assert again.replaced and again.indexed
    assert "twelve otters" in library.ask("How many otters did volunteers count?").text


def test_add_article_parses_the_upload_once(tmp_path, monkeypatch):
    """Checked before saving, indexed after: one parse, not two (a 2 MB upload is parsed once)."""
    import citebot.retrieval.loader as loader

    library = Library.open(tmp_path)
    parses: list[str] = []
    real = loader.decode

    def counting(data: bytes, name: str) -> str:
        parses.append(name)
        return real(data, name)

    monkeypatch.setattr(loader, "decode", counting)
    result = add_article(library, "otters.txt", ARTICLE)
    assert result.indexed and result.title == "Otters return to the Wenlow river"
    assert parses == ["otters.txt"]
    assert loader._parsed is None  # nothing of the upload is kept afterwards
    again = add_article(library, "otters.txt", ARTICLE.replace(b"eleven", b"twelve"), replace=True)
    assert again.indexed and parses == ["otters.txt", "otters.txt"]
    assert "twelve otters" in library.ask("How many otters did volunteers count?").text


def test_a_refused_upload_keeps_nothing(tmp_path):
    import citebot.retrieval.loader as loader

    library = Library.open(tmp_path)
    with pytest.raises(IntakeError, match="no text"):
        add_article(library, "empty.html", b"<script>only()</script>")
    assert loader._parsed is None and list(tmp_path.iterdir()) == []


def test_add_article_obeys_the_engine_file_cap(tmp_path):
    library = Library.open(tmp_path, max_file_bytes=20)
    with pytest.raises(IntakeError, match="too large"):
        add_article(library, "otters.txt", ARTICLE, max_bytes=10_000)


def test_retrieval_never_imports_discord():
    code = ("import sys, citebot.retrieval, citebot.retrieval.intake, citebot.retrieval.library; "
            "sys.exit(1 if any(m == 'discord' or m.startswith('discord.') for m in sys.modules) else 0)")
    root = helpers.ROOT
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0
