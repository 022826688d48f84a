"""Drop in what people really have: PDF, DOCX, EPUB, RSS/Atom and .rst files are read, each
answers a question with the right quote and citation; every file not read is listed with a reason.

The fixtures are made here (tests/helpers/formats.py): a hand-written PDF, a python-docx
document, a zip-built EPUB and two feeds. Each is dropped into a watched folder and asked about.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

import pytest

import helpers
from citebot.bot import format as fmt
from citebot.bot import render
from helpers.formats import ATOM, RSS, make_docx, make_epub, make_pdf, make_pdf_with_stream
from citebot.retrieval import Library, formats
from citebot.retrieval.intake import IntakeError, add_article
from citebot.retrieval.loader import SkipFile, load_folder, parse_articles
from citebot.retrieval.models import Article, Skipped
from citebot.retrieval.sources import with_sources
from citebot.retrieval.watch import FolderWatcher

ROOT = helpers.ROOT
BASE = helpers.FIXTURES / "watch" / "base"


wait_for = helpers.wait_for


pytestmark = pytest.mark.usefixtures("own_word_cache")  # these tests bring new words (conftest)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(BASE, target)
    return target


def indexed(library: Library, path: str) -> bool:
    return any(d.path == path for d in library.snapshot.docs)


def skipped(library: Library) -> dict[str, str]:
    return {s.path: s.reason for s in library.stats().skipped}


REPORT_PAGES = [
    ["Harbour Council Annual Report", "The council met eleven times during the year."],
    [],  # a page with no text (a full-page photo): it keeps its place
    ["Breakwater repairs", "The Quillon breakwater will reopen to walkers in August after the storm repairs."],
]


# --- every file is accounted for ---------------------------------------------------------------


def test_files_not_read_are_listed_with_a_reason_hidden_and_temp_stay_silent(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    shutil.copytree(BASE, folder)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    (folder / "data.json").write_text("{}")
    (folder / "NOTES").write_text("no suffix")
    (folder / "renamed.txt").write_bytes(make_pdf(REPORT_PAGES))  # a PDF renamed .txt
    (folder / "scan.pdf").write_bytes(make_pdf([[], []]))  # no text layer
    (folder / ".hidden.jpg").write_bytes(b"x")
    (folder / "draft.txt.swp").write_bytes(b"x")
    (folder / "~$report.docx").write_bytes(b"x")
    proc = subprocess.run(
        [sys.executable, "-m", "citebot.bot", "index", "--json", "--articles", str(folder), "--cache-dir", str(tmp_path / "c")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")},
             "PYTHONPATH": str(ROOT), "CITEBOT_WATCH": "false"},
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    obj = json.loads(proc.stdout.splitlines()[-1])
    reasons = {s["path"]: s["reason"] for s in obj["skipped"]}
    assert reasons == {
        "photo.jpg": "unsupported format .jpg",
        "data.json": "unsupported format .json",
        "NOTES": "unsupported format (no file extension)",
        "renamed.txt": "content is a PDF, not text (rename it .pdf)",
        "scan.pdf": "PDF has no text layer (a scan?); run OCR on it first",
    }
    assert obj["articles"] == 3  # the base articles; the renamed PDF is not indexed as text


# --- each format, dropped into a watched folder, answers a question ---------------------------


def test_pdf_answers_with_the_page_in_every_citation(folder: Path, watched: Library) -> None:
    (folder / "report.pdf").write_bytes(make_pdf(REPORT_PAGES, title="Harbour Council Annual Report 2026"))
    wait_for(lambda: indexed(watched, "report.pdf"), what="the dropped PDF")
    answer = watched.ask("When will the Quillon breakwater reopen?")
    assert answer.found, answer
    c = answer.citations[0]
    assert c.path == "report.pdf" and c.title == "Harbour Council Annual Report 2026"
    assert "will reopen to walkers in August" in c.quote
    assert c.page == 3  # page 2 has no text, yet page 3 is still called page 3
    assert fmt.answer_json(answer)["citations"][0]["page"] == 3
    assert "report.pdf, page 3" in fmt.answer_text(answer)
    assert "report.pdf, page 3" in render._where(c)
    hit = watched.search("Quillon breakwater", 1)
    assert fmt.hits_json("q", hit)["hits"][0]["page"] == 3
    # Not a PDF: no page, and the paragraph still shown.
    other = watched.ask("What did residents say about the tram line?")
    for cite in other.citations + other.see_also:
        assert cite.page is None and fmt.citation_json(cite)["page"] is None


def test_docx_answers(folder: Path, watched: Library) -> None:
    (folder / "library.docx").write_bytes(make_docx("Marlow library reopens", [
        "The new Marlow library opened its doors on Friday morning.",
        "The building holds twelve thousand books and a maker space run by the Tinworth trust.",
    ]))
    wait_for(lambda: indexed(watched, "library.docx"), what="the dropped DOCX")
    answer = watched.ask("How many books does the new Marlow library hold?")
    assert answer.found
    c = answer.citations[0]
    assert (c.path, c.title, c.page) == ("library.docx", "Marlow library reopens", None)
    assert "twelve thousand books" in c.quote
    shown = with_sources(answer, watched.snapshot).citations[0]
    assert shown.author == "Jo Reporter" and "library.docx, paragraph 2 (Jo Reporter)" in fmt.answer_text(
        with_sources(answer, watched.snapshot))


def test_epub_answers_and_reads_chapters_in_spine_order(folder: Path, watched: Library) -> None:
    (folder / "guide.epub").write_bytes(make_epub("The Fenmoor Walking Guide", [
        ("Getting there", ["The Fenmoor trail starts at the old mill in Brackwater village."]),
        ("The route", ["The full Fenmoor loop is nineteen kilometres long and takes about six hours."]),
    ]))
    wait_for(lambda: indexed(watched, "guide.epub"), what="the dropped EPUB")
    answer = watched.ask("How long is the Fenmoor loop?")
    assert answer.found
    c = answer.citations[0]
    assert (c.path, c.title) == ("guide.epub", "The Fenmoor Walking Guide")
    assert with_sources(answer, watched.snapshot).citations[0].author == "Ada Walker"
    assert "nineteen kilometres" in c.quote
    text = next(d for d in watched.snapshot.docs if d.path == "guide.epub").body()
    assert text.index("old mill") < text.index("nineteen")


def test_feed_entries_are_articles_with_their_link_and_date(folder: Path, watched: Library) -> None:
    (folder / "gazette.rss").write_bytes(RSS.encode())
    (folder / "wire.atom").write_bytes(ATOM.encode())
    wait_for(lambda: indexed(watched, "gazette.rss#entry-2") and indexed(watched, "wire.atom#entry-1"),
             what="the dropped feeds")
    answer = watched.ask("Who restored the Kestrel Point lighthouse?")
    assert answer.found
    c = answer.citations[0]
    assert (c.path, c.title, c.url) == ("gazette.rss#entry-2", "Lighthouse restored", "https://gazette.example/lighthouse")
    assert "volunteers from the island of Marrow" in c.quote
    assert f"<{c.url}>" in fmt.answer_text(answer)
    article = next(d.article() for d in watched.snapshot.docs if d.path == "gazette.rss#entry-2")
    assert article.published == "2026-05-05T09:30:00+00:00" and article.source == "Harbour Gazette"
    # Every front end shows the entry's date and the feed's name with the citation.
    dated = with_sources(answer, watched.snapshot)
    shown = dated.citations[0]
    assert (shown.published, shown.source) == ("2026-05-05T09:30:00+00:00", "Harbour Gazette")
    assert "gazette.rss#entry-2, paragraph 1 (Harbour Gazette, 2026-05-05T09:30:00+00:00)" in fmt.answer_text(dated)
    cited = fmt.answer_json(dated)["citations"][0]
    assert (cited["published"], cited["source"]) == ("2026-05-05T09:30:00+00:00", "Harbour Gazette")
    assert "Harbour Gazette, 2026" in render._where(shown)
    atom = watched.ask("How many tonnes of apples did Pellow Farm yield?")
    assert atom.found and atom.citations[0].path == "wire.atom#entry-1"
    assert atom.citations[0].url == "https://wire.example/orchard"
    # Rewriting the feed with one entry fewer drops that entry's article, keeps the other.
    (folder / "gazette.rss").write_text(RSS.split("<item>")[0] + "<item>" + RSS.split("<item>")[1]
                                        + "</channel></rss>\n")
    wait_for(lambda: not indexed(watched, "gazette.rss#entry-2"), what="the shortened feed")
    assert indexed(watched, "gazette.rss#entry-1")


def test_rst_is_read_as_text(folder: Path, watched: Library) -> None:
    (folder / "notes.rst").write_text("Ferry notes\n===========\n\nThe Tollan ferry carries ninety cars.\n")
    wait_for(lambda: indexed(watched, "notes.rst"), what="the dropped .rst")
    answer = watched.ask("How many cars does the Tollan ferry carry?")
    assert answer.found and answer.citations[0].path == "notes.rst"
    assert answer.citations[0].title == "Ferry notes"


def test_feed_articles_survive_the_cache_and_an_unchanged_refresh(folder: Path, tmp_path: Path) -> None:
    (folder / "gazette.rss").write_bytes(RSS.encode())
    (folder / "bylined.md").write_text("---\ntitle: Bylined\nauthor: Ann Example\n---\nThe Orrin mill reopened.\n")
    first = Library.open(folder, cache_dir=tmp_path / "cache")
    assert indexed(first, "gazette.rss#entry-1") and indexed(first, "gazette.rss#entry-2")
    again = Library.open(folder, cache_dir=tmp_path / "cache")
    assert again.loaded_from_cache
    result = again.refresh()
    assert not result.any_change
    assert again.ask("Who restored the Kestrel Point lighthouse?").citations[0].path == "gazette.rss#entry-2"
    byline = next(d for d in again.snapshot.docs if d.path == "bylined.md")
    assert byline.author == "Ann Example" and byline.article().author == "Ann Example"  # kept by the cache
    (folder / "gazette.rss").unlink()
    result = again.refresh()
    assert set(result.removed) == {"gazette.rss#entry-1", "gazette.rss#entry-2"}


# --- /add accepts what the loader reads ----------------------------------------------------------


def test_add_accepts_a_pdf_and_a_feed_and_refuses_what_is_not_read(folder: Path) -> None:
    library = Library.open(folder)
    result = add_article(library, "report.pdf", make_pdf(REPORT_PAGES))
    assert result.indexed and result.title == "Harbour Council Annual Report" and result.passages == 3
    feed = add_article(library, "gazette.xml", RSS.encode())
    assert feed.indexed and feed.title == "Ferry timetable changes" and feed.passages == 2
    with pytest.raises(IntakeError, match="Only text"):
        add_article(library, "photo.jpg", b"\xff\xd8")
    with pytest.raises(IntakeError, match="no text layer"):
        add_article(library, "scan.pdf", make_pdf([[]]))
    with pytest.raises(IntakeError, match="content is a PDF"):
        add_article(library, "sneaky.txt", make_pdf(REPORT_PAGES))
    assert not (folder / "scan.pdf").exists() and not (folder / "sneaky.txt").exists()


# --- hostile and broken files are skipped, never crash ---------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_bomb_docx_or_epub_is_refused_from_its_declared_size(monkeypatch) -> None:
    bomb = _zip({"word/document.xml": b"\0" * 5_000_000})  # ~5 KB on disk
    monkeypatch.setattr(formats, "MAX_UNZIPPED_BYTES", 1_000_000)
    for name in ("bomb.docx", "bomb.epub"):
        with pytest.raises(SkipFile, match="unpacks to over 1,000,000 bytes"):
            parse_articles(name, bomb)


def test_too_many_zip_entries_or_pdf_pages_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(formats, "MAX_ZIP_ENTRIES", 10)
    with pytest.raises(SkipFile, match="holds 11 files"):
        parse_articles("many.epub", _zip({f"f{i}.xhtml": b"<p>x</p>" for i in range(11)}))
    monkeypatch.setattr(formats, "MAX_PDF_PAGES", 2)
    with pytest.raises(SkipFile, match="PDF has 3 pages"):
        parse_articles("long.pdf", make_pdf(REPORT_PAGES))


def test_a_pdf_whose_page_inflates_past_the_cap_is_skipped_not_inflated() -> None:
    """A 150 KB content stream that inflates to 150 MB: pypdf stops at its 75 MB output cap."""
    squeeze = zlib.compressobj(9)
    parts = [squeeze.compress(b"BT /F1 12 Tf 72 720 Td (Boom) Tj ET ")]
    parts += [squeeze.compress(b" " * 1_000_000) for _ in range(150)]
    bomb = make_pdf_with_stream(b"".join(parts) + squeeze.flush())
    assert len(bomb) < 300_000
    with pytest.raises(SkipFile, match="unreadable PDF"):
        parse_articles("bomb.pdf", bomb)
    # The same stream at a sane size is read.
    fine = zlib.compress(b"BT /F1 12 Tf 72 720 Td (The Varrow dam holds.) Tj ET " + b" " * 1000)
    assert parse_articles("fine.pdf", make_pdf_with_stream(fine))[0].text == "The Varrow dam holds."


@pytest.mark.parametrize("name, data, reason", [
    ("cut.pdf", make_pdf(REPORT_PAGES)[:200], "unreadable PDF"),
    ("junk.pdf", b"%PDF-1.4\n" + os.urandom(2000), "PDF"),
    ("notpdf.pdf", b"hello", "not a PDF"),
    ("junk.docx", b"PK\x03\x04" + os.urandom(500), "not a valid DOCX"),
    ("plain.docx", _zip({"hello.txt": b"hi"}), "unreadable DOCX"),
    ("junk.epub", os.urandom(500), "not a valid EPUB"),
    ("plain.xml", b"<config><a>1</a></config>", "not an RSS or Atom feed"),
    ("junk.rss", os.urandom(300), ""),
])
def test_broken_files_are_skipped_with_a_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(data)
    (tmp_path / "ok.txt").write_text("Fine\n\nA fine article.\n")
    out = list(load_folder(tmp_path))
    assert [a.path for a in out if isinstance(a, Article)] == ["ok.txt"]
    (skip,) = [s for s in out if isinstance(s, Skipped)]
    assert skip.path == name and reason in skip.reason


# --- front matter: real YAML and TOML ---------------------------------------------------------------


def test_yaml_front_matter_folded_values_dates_and_jekyll_keys() -> None:
    data = (b"---\n"
            b"title: 'Bridge: the reopening'\n"
            b"source: >\n  Valley\n  Gazette\n"
            b"date: 2024-03-02\n"
            b"link: https://gazette.example/bridge\n"
            b"author: Ann Example\n"
            b"tags: [roads, bridges]\n"
            b"---\n"
            b"The bridge reopens in August.\n")
    article = parse_articles("a.md", data)[0]
    assert (article.title, article.source, article.published, article.url, article.author) == (
        "Bridge: the reopening", "Valley Gazette", "2024-03-02", "https://gazette.example/bridge", "Ann Example")
    assert article.text == "The bridge reopens in August.\n"


def test_hugo_toml_front_matter() -> None:
    data = (b'+++\ntitle = "Harbour dredging starts"\ndate = 2024-05-01T10:00:00Z\n'
            b'url = "https://wire.example/dredging"\nsource = "Valley Wire"\n[params]\nx = 1\n+++\n'
            b"Dredging of the harbour starts on Monday.\n")
    article = parse_articles("post.md", data)[0]
    assert article.title == "Harbour dredging starts" and article.source == "Valley Wire"
    assert article.published == "2024-05-01T10:00:00+00:00" and article.url == "https://wire.example/dredging"
    assert article.text == "Dredging of the harbour starts on Monday.\n"


def test_front_matter_yaml_cannot_parse_is_read_line_by_line_and_aliases_stay_small() -> None:
    broken = parse_articles("a.md", b"---\ntitle: [unclosed\nsource: Wire\n---\nBody line.\n")[0]
    assert broken.source == "Wire" and broken.text == "Body line.\n"
    # A billion-laughs block: YAML aliases share objects; only scalar values are taken.
    laughs = "---\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20)) + "title: Laughs\n---\nBody.\n"
    article = parse_articles("l.md", laughs.encode())[0]
    assert article.title == "Laughs" and article.text == "Body.\n"


def test_cli_json_and_text_show_the_date_and_source_from_front_matter(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "strike.md").write_text("---\ntitle: Bakery workers vote to strike\ndate: 2024-03-02\n"
                                      "source: Example News\n---\n"
                                      "Workers at the Dunmore bakery voted to strike from 9 March.\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")},
           "PYTHONPATH": str(ROOT), "CITEBOT_WATCH": "false"}
    base = [sys.executable, "-m", "citebot.bot", "ask", "When will the Dunmore bakery workers strike?",
            "--articles", str(folder), "--cache-dir", str(tmp_path / "c")]
    proc = subprocess.run(base + ["--json"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cited = json.loads(proc.stdout.splitlines()[-1])["citations"][0]
    assert (cited["path"], cited["published"], cited["source"], cited["page"]) == (
        "strike.md", "2024-03-02", "Example News", None)
    text = subprocess.run(base, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120).stdout
    assert "strike.md, paragraph 1 (Example News, 2024-03-02)" in text


@pytest.mark.slow
@pytest.mark.parametrize("name, data", [
    ("lt.rss", b"<" * 2_000_000),
    ("open-a.rss", b'<rss version="2.0"><channel><item><description>' + b"<a" * 500_000),
    ("endtags.xml", b'<rss version="2.0"><channel><item><title>x</title><description>' + b"</" * 1_000_000),
])
def test_hostile_feeds_of_megabytes_finish_and_are_skipped_or_read(name: str, data: bytes) -> None:
    """feedparser falls back to its loose parser on broken XML: linear (about 5 s per MB here),
    so 1-2 MB finish well within 60 s; a quadratic parser would take hours."""
    started = time.monotonic()
    try:
        articles = parse_articles(name, data)
    except SkipFile as exc:
        assert "feed" in str(exc)
    else:
        assert all(len(a.text) <= len(data) for a in articles)
    assert time.monotonic() - started < 60
