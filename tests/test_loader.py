"""Loader: formats and titles, front matter, encodings, skipped and ignored files, the size cap.

The article folder in ``fixtures/library`` holds the well-formed formats; files whose exact bytes
matter (BOM, cp1252, CRLF, empty, binary) are written into a temporary copy by the tests.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

from retrieval import Library
from retrieval.loader import (
    SkipFile,
    decode,
    is_ignored_name,
    load_folder,
    parse_article,
    read_article,
    scan,
)
from retrieval.models import Article, Skipped

FIXTURES = Path(__file__).parent / "fixtures" / "library"
GOOD = {
    "apple-harvest.md",
    "bridge-reopens.txt",
    "markets/coffee-prices.md",
    "nested/region/island-ferry.txt",
    "reading-room.html",
}
# Words that only the hidden and temp files in the fixture hold.
IGNORED_WORDS = ["narwhalparade", "pangolinrally", "axolotlgala", "ocelotfair", "tapirfete", "lemurparty"]


def load(folder: Path, **kwargs) -> tuple[dict[str, Article], dict[str, str]]:
    articles: dict[str, Article] = {}
    skipped: dict[str, str] = {}
    for item in load_folder(folder, **kwargs):
        if isinstance(item, Skipped):
            skipped[item.path] = item.reason
        else:
            articles[item.path] = item
    return articles, skipped


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(FIXTURES, target)
    return target


@pytest.fixture(scope="module")
def fixture_articles() -> dict[str, Article]:
    articles, skipped = load(FIXTURES)
    assert skipped == {}
    return articles


# --- formats and titles ------------------------------------------------------------------------


def test_every_format_in_every_subfolder_is_loaded_with_posix_relative_paths(fixture_articles) -> None:
    assert set(fixture_articles) == GOOD


def test_plain_text_title_is_the_first_line_and_not_part_of_the_body(fixture_articles) -> None:
    article = fixture_articles["bridge-reopens.txt"]
    assert article.title == "Wexley harbour bridge reopens after repairs"
    assert "reopens after repairs" not in article.text
    assert article.text.strip().startswith("The Wexley harbour bridge reopened")


def test_markdown_heading_marks_are_stripped_from_the_title(fixture_articles) -> None:
    article = fixture_articles["markets/coffee-prices.md"]
    assert article.title == "Coffee prices climb to a ten-year high"
    assert "#" not in article.text


@pytest.mark.parametrize(
    "source, title",
    [
        ("## Closing heading ##\n\nBody.", "Closing heading"),
        ("\n\n   # Indented heading\n\nBody.", "Indented heading"),
        ("Setext title\n============\n\nBody.", "Setext title"),
        ("Setext two\n----------\n\nBody.", "Setext two"),
    ],
)
def test_markdown_title_variants(source: str, title: str) -> None:
    article = parse_article("a.md", source.encode())
    assert article.title == title
    assert article.text.strip() == "Body."


def test_html_title_body_and_dropped_scripts_styles_nav(fixture_articles) -> None:
    article = fixture_articles["reading-room.html"]
    assert article.title == "Calder library opens a night reading room"
    paragraphs = [p for p in article.text.split("\n\n") if p.strip()]
    assert paragraphs == [
        "The Calder public library will keep its reading room open until midnight from next month.",
        "Librarian Tomas Reyes said students had asked for a quiet place to work & study late.",
    ]
    for dropped in ("quokkaclick", "marmosetbanner", "font-family", "Weatherdesk", "Home"):
        assert dropped not in article.text


def test_html_without_title_takes_the_h1() -> None:
    article = parse_article("x.htm", b"<body><h1>Ferry strike ends</h1><p>Crews return today.</p></body>")
    assert article.title == "Ferry strike ends"
    assert article.text == "Crews return today."


def test_html_entities_are_decoded_once_and_svg_titles_ignored() -> None:
    data = (
        b"<html><head><title>Tom &amp;lt;3 Jerry &amp; friends</title></head><body>"
        b"<svg><title>share icon</title></svg><p>Body &lt;b&gt; text.</p></body></html>"
    )
    article = parse_article("x.html", data)
    assert article.title == "Tom &lt;3 Jerry & friends"
    assert article.text == "Body <b> text."


def test_file_name_is_the_title_of_last_resort() -> None:
    article = parse_article("notes/untitled.html", b"<p>Just a paragraph.</p>")
    assert article.title == "untitled.html"


# --- front matter ---------------------------------------------------------------------------------


def test_front_matter_feeds_citation_metadata_and_keeps_the_first_body_line(fixture_articles) -> None:
    article = fixture_articles["apple-harvest.md"]
    assert article.title == "Orchard growers report a record apple harvest"
    assert article.url == "https://example.test/news/apple-harvest"
    assert article.published == "2024-09-14"
    assert article.source == "Valley Gazette"
    assert article.text.startswith("Growers in the Ashby valley picked 28,500 tonnes")
    assert "---" not in article.text and "url:" not in article.text


def test_front_matter_title_replaces_a_repeated_heading() -> None:
    data = b'---\ntitle: "Quoted title"\n---\n# Quoted title\n\nBody line.\n'
    article = parse_article("a.md", data)
    assert article.title == "Quoted title"
    assert article.text.strip() == "Body line."


def test_front_matter_with_crlf_and_closing_at_end_of_file() -> None:
    article = parse_article("a.md", b"---\r\ntitle: CRLF title\r\nsource: Wire\r\n---\r\nOnly line.\r\n")
    assert (article.title, article.source, article.text.strip()) == ("CRLF title", "Wire", "Only line.")
    bare = parse_article("b.txt", b"Heading\n\nBody.\n---\ntitle: not front matter\n---")
    assert bare.title == "Heading"  # front matter only counts at the very start


def test_a_horizontal_rule_pair_is_not_front_matter() -> None:
    article = parse_article("a.md", b"---\nJust a rule, not metadata\n---\n\nBody.\n")
    assert "Just a rule, not metadata" in article.text


# --- encodings -------------------------------------------------------------------------------------


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "bom.txt").write_bytes("\ufeffCafé owners protest\n\nThe café closed.\n".encode("utf-8"))
    article = read_article(tmp_path, "bom.txt")
    assert article.title == "Café owners protest"
    assert "\ufeff" not in article.title + article.text


def test_cp1252_fallback_decodes_curly_quotes_and_warns_naming_the_file(tmp_path: Path, caplog) -> None:
    data = "Mayor’s “fresh start”\n\nThe café reopened — at last.\n".encode("cp1252")
    (tmp_path / "windows.txt").write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        article = read_article(tmp_path, "windows.txt")
    assert article.title == "Mayor’s “fresh start”"
    assert article.text.strip() == "The café reopened — at last."
    assert any("windows.txt" in r.getMessage() and "UTF-8" in r.getMessage() for r in caplog.records)


def test_latin1_fallback_when_cp1252_cannot_decode(tmp_path: Path, caplog) -> None:
    # 0x81 is undefined in cp1252: latin-1 takes every byte.
    (tmp_path / "odd.txt").write_bytes(b"Title \x81 here\n\nNa\xefve text.\n")
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        article = read_article(tmp_path, "odd.txt")
    assert article.text.strip() == "Naïve text."
    assert any("odd.txt" in r.getMessage() and "Latin-1" in r.getMessage() for r in caplog.records)


def test_bom_followed_by_cp1252_bytes_leaves_no_mojibake_in_the_title() -> None:
    article = parse_article("mixed.txt", b"\xef\xbb\xbfHeadline\n\nCaf\xe9 \x93news\x94.\n")
    assert article.title == "Headline"
    assert article.text.strip() == "Café “news”."


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_crlf_and_cr_line_ends_are_normalised(newline: bytes) -> None:
    data = newline.join([b"Ferry news", b"", b"First paragraph", b"still first.", b"", b"Second."])
    article = parse_article("crlf.txt", data)
    assert article.title == "Ferry news"
    assert "\r" not in article.title + article.text
    assert [p.strip() for p in article.text.split("\n\n") if p.strip()] == ["First paragraph\nstill first.", "Second."]


# --- skipped and ignored files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b" \n\t\n  \n", "empty"),
        ("bom-only.txt", b"\xef\xbb\xbf", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "binary"),
        ("noise.html", bytes(range(1, 32)) * 40, "binary"),
    ],
)
def test_bad_files_are_skipped_with_a_reason_and_a_warning_naming_them(
    folder: Path, caplog, name: str, data: bytes, reason: str
) -> None:
    (folder / name).write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        articles, skipped = load(folder)
    assert set(articles) == GOOD  # one bad file never stops the rest
    assert set(skipped) == {name}
    assert reason in skipped[name]
    assert any(name in r.getMessage() and reason in r.getMessage() for r in caplog.records)


def test_hidden_and_temp_files_are_ignored_silently(fixture_articles) -> None:
    files, problems = scan(FIXTURES)
    assert set(files) == GOOD and problems == []
    everything = " ".join(a.title + " " + a.text for a in fixture_articles.values())
    for word in IGNORED_WORDS:
        assert word not in everything


@pytest.mark.parametrize(
    "relative, candidate",
    [
        ("a.txt", True), ("b.MD", True), ("c.markdown", True), ("d.html", True), ("e.HTM", True),
        (".x.txt", False), ("a.txt~", False), ("x.swp", False), ("x.txt.swp", False),
        ("y.part", False), ("y.txt.part", False), ("z.tmp", False), ("~$draft.txt", False),
        ("#autosave.txt#", False), (".git/notes.txt", False), ("sub/.cache/a.txt", False),
        ("photo.jpg", False), ("data.json", False), ("nested/deep/ok.txt", True),
    ],
)
def test_article_and_ignored_names(tmp_path: Path, relative: str, candidate: bool) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("A title\n\nA paragraph of text.\n", encoding="utf-8")
    files, problems = scan(tmp_path)
    assert set(files) == ({relative} if candidate else set())
    assert problems == []


def test_ignored_names_are_not_even_reported(folder: Path) -> None:
    for name in (".x.txt", "a.txt~", "x.swp", "y.part", "z.tmp"):
        assert is_ignored_name(name)
        (folder / name).write_bytes(b"")  # empty: would be "skipped" if it were looked at
    (folder / ".hidden-dir").mkdir()
    (folder / ".hidden-dir" / "inside.txt").write_text("Hidden\n\nInside a hidden folder.\n")
    articles, skipped = load(folder)
    assert set(articles) == GOOD and skipped == {}


def test_oversized_file_is_skipped_at_the_cap(tmp_path: Path, caplog) -> None:
    body = b"Big news\n\n" + b"word " * 30
    (tmp_path / "at-cap.txt").write_bytes(body[:120])
    (tmp_path / "over-cap.txt").write_bytes(body[:121])
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        articles, skipped = load(tmp_path, max_bytes=120)
    assert set(articles) == {"at-cap.txt"}
    assert set(skipped) == {"over-cap.txt"} and "too large" in skipped["over-cap.txt"]
    assert any("over-cap.txt" in r.getMessage() for r in caplog.records)


def test_library_applies_the_same_cap_and_reasons(folder: Path) -> None:
    largest = max(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    (folder / "over-cap.txt").write_bytes(b"Big news\n\n" + b"word " * largest)
    (folder / "empty.txt").write_bytes(b"")
    library = Library.open(folder, max_file_bytes=largest + 1)
    reasons = {s.path: s.reason for s in library.stats().skipped}
    assert set(reasons) == {"over-cap.txt", "empty.txt"}
    assert "too large" in reasons["over-cap.txt"] and "empty" in reasons["empty.txt"]
    assert library.stats().articles == len(GOOD)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_an_article_is_skipped_not_opened(folder: Path) -> None:
    fifo = folder / "pipe.txt"
    os.mkfifo(fifo)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(load=load(folder)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # the loader blocked in open(): unblock it before failing
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(timeout=5)
        pytest.fail("the loader opened a FIFO and blocked")
    articles, skipped = result["load"]
    assert set(articles) == GOOD
    assert skipped == {"pipe.txt": "not a regular file"}


def test_a_failure_in_one_file_never_stops_the_rest(folder: Path, monkeypatch) -> None:
    import retrieval.loader as loader

    real = loader.parse_article

    def flaky(relative: str, data: bytes) -> Article:
        if relative == "markets/coffee-prices.md":
            raise SkipFile("unreadable: simulated I/O error")
        return real(relative, data)

    monkeypatch.setattr(loader, "parse_article", flaky)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.md").write_bytes(b"\x00" * 64)
    articles, skipped = load(folder)
    assert set(articles) == GOOD - {"markets/coffee-prices.md"}
    assert set(skipped) == {"markets/coffee-prices.md", "empty.txt", "binary.md"}


def test_decode_refuses_binary_but_tolerates_a_stray_control_character() -> None:
    with pytest.raises(SkipFile, match="binary"):
        decode(b"Title\n\n" + b"\x00" + b"text", "nul.txt")
    assert decode(b"Title\n\nA form feed \x0c and a bell \x07 in prose.", "ok.txt").startswith("Title")


@pytest.mark.parametrize("name", [
    "a.txt", "A.TXT", "a.b.md", "a..md", "b.markdown", "c.html", "d.HTM", ".txt", "..txt", "...md",
    ".a.md", "a", "a.", "a.txt.bak", "notes.swp", "txt", "x.text",
])
def test_article_suffix_check_matches_splitext(name: str) -> None:
    from retrieval.loader import ARTICLE_SUFFIXES, has_article_suffix

    assert has_article_suffix(name) == (os.path.splitext(name)[1].lower() in ARTICLE_SUFFIXES)
