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

import helpers
from citebot.retrieval import Library
from citebot.retrieval.loader import (
    SkipFile,
    decode,
    is_ignored_name,
    load_folder,
    parse_article,
    read_article,
    scan,
)
from citebot.retrieval.models import Article, Skipped

FIXTURES = helpers.FIXTURES / "library"
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
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval"):
        article = read_article(tmp_path, "windows.txt")
    assert article.title == "Mayor’s “fresh start”"
    assert article.text.strip() == "The café reopened — at last."
    assert any("windows.txt" in r.getMessage() and "UTF-8" in r.getMessage() for r in caplog.records)


def test_latin1_fallback_when_cp1252_cannot_decode(tmp_path: Path, caplog) -> None:
    # 0x81 is undefined in cp1252: latin-1 takes every byte.
    (tmp_path / "odd.txt").write_bytes(b"Title \x81 here\n\nNa\xefve text.\n")
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval"):
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
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval"):
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
    # Hidden and temp files stay silent; any other file the loader does not read is listed.
    unsupported = {"photo.jpg": "unsupported format .jpg", "data.json": "unsupported format .json"}
    expected = [Skipped(relative, unsupported[relative])] if relative in unsupported else []
    assert problems == expected


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
    with caplog.at_level(logging.WARNING, logger="citebot.retrieval"):
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
    import citebot.retrieval.loader as loader

    real = loader.parse_articles

    def flaky(relative: str, data: bytes) -> list[Article]:
        if relative == "markets/coffee-prices.md":
            raise SkipFile("unreadable: simulated I/O error")
        return real(relative, data)

    monkeypatch.setattr(loader, "parse_articles", flaky)
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
    from citebot.retrieval.loader import ARTICLE_SUFFIXES, has_article_suffix

    assert has_article_suffix(name) == (os.path.splitext(name)[1].lower() in ARTICLE_SUFFIXES)


# --- long titles: capped, and the text they held stays in the body --------------------------------


LONG_LINE = " ".join(f"word{i} zebrafinch" if i % 97 == 0 else f"word{i}" for i in range(3000))


def test_a_file_that_is_one_long_line_keeps_it_all_as_text_under_a_capped_title() -> None:
    from citebot.retrieval.loader import MAX_TITLE_CHARS

    article = parse_article("line.txt", LONG_LINE.encode())
    assert len(article.title) <= MAX_TITLE_CHARS + 1 and article.title.endswith("…")
    assert LONG_LINE.startswith(article.title[:-1])  # cut at a word boundary, not inside one
    assert LONG_LINE[len(article.title) - 1] == " "
    assert article.text == LONG_LINE  # nothing lost: the whole line is searchable text


def test_a_long_first_line_before_paragraphs_stays_in_the_body() -> None:
    data = f"# {LONG_LINE}\n\nSecond paragraph.\n".encode()
    article = parse_article("a.md", data)
    assert article.title.endswith("…") and len(article.title) <= 301
    assert LONG_LINE in article.text and "Second paragraph." in article.text


def test_front_matter_and_html_titles_are_capped() -> None:
    front = parse_article("a.md", f"---\ntitle: {LONG_LINE}\n---\nBody.\n".encode())
    assert front.title.endswith("…") and len(front.title) <= 301 and front.text.strip() == "Body."
    page = parse_article("a.html", f"<title>{LONG_LINE}</title><p>Body.</p>".encode())
    assert page.title.endswith("…") and len(page.title) <= 301 and page.text == "Body."
    heading = parse_article("b.html", f"<h1>{LONG_LINE}</h1><p>Body.</p>".encode())
    assert heading.title.endswith("…")
    assert heading.text == f"{LONG_LINE}\n\nBody."  # an h1 too long for a title stays in the body


def test_an_unclosed_html_title_ends_at_the_next_tag() -> None:
    article = parse_article("a.html", b"<html><head><title>Ferry news<body><p>Crews return today.</p>")
    assert article.title == "Ferry news"
    assert article.text == "Crews return today."
    only_title = parse_article("b.html", f"<title>{LONG_LINE}".encode())
    assert only_title.title.endswith("…") and only_title.text == LONG_LINE


def test_title_terms_ride_with_every_passage_of_an_article() -> None:
    """Kept as before for real articles: every passage matches a word of its article's title."""
    body = "\n\n".join(f"Paragraph {i} says something about the harbour." for i in range(120))
    library = Library(FIXTURES)
    from citebot.retrieval.build import Indexer, make_doc
    from citebot.retrieval.snapshot import build_snapshot

    indexer = Indexer()
    vocab = indexer.vocab
    doc, analysis = make_doc(Article("a.txt", "Kingfisher survey", body), 1, 1, "x", indexer)
    snapshot = build_snapshot([doc], vocab, library.params, fresh={doc.path: analysis})
    kingfisher = vocab.ids["kingfish"]
    assert all(kingfisher in snapshot.passage_terms(p) for p in range(snapshot.n_passages))
    assert snapshot.n_passages == 120


def test_a_long_title_over_thousands_of_tiny_paragraphs_is_indexed_linearly() -> None:
    """The title is not repeated passages x title times: its terms add at most TITLE_FREE
    passages' worth plus TITLE_SHARE times the article's own tokens."""
    from citebot.retrieval.analyzer import tokenize
    from citebot.retrieval.build import TITLE_FREE, TITLE_SHARE, Indexer, make_doc
    from citebot.retrieval.snapshot import build_snapshot

    title = " ".join(f"headword{i}" for i in range(40))
    body = "\n\n".join(f"w{i}" for i in range(20_000))
    indexer = Indexer()
    vocab = indexer.vocab
    doc, analysis = make_doc(Article("a.txt", title, body), 1, 1, "x", indexer)
    snapshot = build_snapshot([doc], vocab, Library(FIXTURES).params, fresh={doc.path: analysis})
    own = 20_000
    assert snapshot.n_passages == own
    total = int(snapshot.offsets[-1])
    assert total <= own + TITLE_FREE * 40 + TITLE_SHARE * own  # was own + 40 * own
    assert all(vocab.ids["headword0"] in snapshot.passage_terms(p) for p in range(TITLE_FREE))
    assert len(tokenize(title)) == 40


# --- HTML: linear, and never an exception whatever the markup -------------------------------------


@pytest.mark.parametrize(
    "markup, title, text",
    [
        ("<p>Kept.</p><!-- never closed <p>gone</p>", "", "Kept."),
        ("<p>Kept.</p><a href='never closed><p>Also kept</p>", "", "Kept.\n\nAlso kept"),
        ("<p>Kept.</p><a href='never closed", "", "Kept."),
        ("<p>a < b and c > d</p>", "", "a < b and c > d"),
        ("<p>One</p></><p>Two</p>", "", "One\n\nTwo"),
        ("<p>One</p></ bogus comment><p>Two</p>", "", "One\n\nTwo"),
        ("<p title='a > b'>Quoted > kept</p>", "", "Quoted > kept"),
        ("<script>var s = '</p><p>no';</script><p>Yes</p>", "", "Yes"),
        ("<svg viewBox='0 0 1 1'/><p>After an icon</p>", "", "After an icon"),
        ("<!DOCTYPE html><?xml x?><![CDATA[x]]><p>Body</p>", "", "Body"),
        ("<TITLE>Shouted</TITLE><P>Body</P>", "Shouted", "Body"),
        ("<p>Ends with </", "", "Ends with </"),
        ("<p>caf&eacute; &#x263a; &#" + "1" * 5000 + "; &#99999999;</p>", "", "café ☺ \ufffd \ufffd"),
    ],
)
def test_html_markup_left_open_or_odd(markup: str, title: str, text: str) -> None:
    article = parse_article("page.html", markup.encode())
    assert article.text == text
    assert article.title == (title or "page.html")


@pytest.mark.parametrize("junk", ["<![" * 1000 + "x", "&#" + "9" * 5000 + "<p>Text</p>", "<a x=\"'" * 1000])
def test_html_that_made_html_parser_raise_is_read_or_skipped(tmp_path: Path, junk: str) -> None:
    """html.parser raised AssertionError ("<![") or ValueError (a 5,000-digit character
    reference) out of the loader, and so out of a whole refresh."""
    (tmp_path / "junk.html").write_text(junk)
    (tmp_path / "good.txt").write_text("Good article\n\nThe harbour ferry runs every forty minutes.\n")
    library = Library.open(tmp_path)
    assert library.search("ferry", 1)
    assert {d.path for d in library.snapshot.docs} | {s.path for s in library.stats().skipped} == {
        "junk.html", "good.txt"}


# --- URLs: only http(s) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, kept",
    [
        ("https://example.test/a", True), ("http://example.test/a?b=c#d", True), ("HTTPS://EXAMPLE.TEST", True),
        ("javascript:alert(1)", False), (" JavaScript:alert(document.cookie)", False), ("data:text/html,hi", False),
        ("file:///etc/passwd", False), ("   ", False), ('"   "', False), ("//example.test/a", False),
        ("http://", False), ("https://exa mple.test", False), ("https://example.test/\u202e", False),
        ("https://" + "a" * 3000 + ".test", False),
    ],
)
def test_only_http_urls_reach_an_article(url: str, kept: bool) -> None:
    article = parse_article("a.md", f"---\ntitle: T\nurl: {url}\n---\nBody.\n".encode())
    assert article.url == (url.strip() if kept else None)


def test_a_javascript_url_never_reaches_the_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    from citebot.bot import cli

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "ferry.md").write_text(
        "---\ntitle: Ferry timetable\nurl: javascript:alert(1)\n---\n"
        "The harbour ferry will run every forty minutes this winter.\n")
    (folder / "blank.md").write_text(
        '---\ntitle: Bridge news\nurl: "   "\n---\nThe Wexley bridge reopened on Monday after repairs.\n')
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("CITEBOT_") or key == "DISCORD_TOKEN":
            monkeypatch.delenv(key)
    monkeypatch.setenv("CITEBOT_WATCH", "false")
    questions = ["How often will the harbour ferry run?", "When did the Wexley bridge reopen?"]
    for question in questions:
        assert cli.main(["ask", "--articles", str(folder), "--no-cache", question]) == 0
        assert cli.main(["ask", "--json", "--articles", str(folder), "--no-cache", question]) == 0
        assert cli.main(["search", "--json", "--articles", str(folder), "--no-cache", question]) == 0
    out = capsys.readouterr().out
    assert "javascript" not in out.lower() and "<   >" not in out and "<>" not in out
    answers = [json.loads(line) for line in out.splitlines() if line.startswith('{"question"')]
    assert answers and all(c["url"] is None for a in answers for c in a["citations"])


def test_a_url_from_an_older_cache_is_cleaned_too() -> None:
    import dataclasses

    from citebot.retrieval.docs import doc_of

    # As a cache written before the check would hold it:
    doc = dataclasses.replace(doc_of(Article("a.txt", "T", "Body."), 1, 1, "x"), url="javascript:alert(1)")
    assert doc.article().url is None


# --- the rule: every input up to the size limits costs at most linear time and memory ------------
#
# Each worst case from issue 12, at full size, through Library.open and one question. Old code:
# a 2 MB line took 90 s and 3.5 GB, a 4 MB line 195 s and 17.5 GB, 2 MB of "</" 318 s; the HTML
# and sentence cases below were quadratic too (hours at this size), and the initialisms one made a
# single question take hours. The bound is generous (60 s for what takes ~1-5 s here, even under
# tracemalloc); the structural checks (title capped, passage and token counts, peak memory as a
# multiple of the input) are what a quadratic implementation fails by orders of magnitude.

MB = 1_000_000
QUESTION = "What did Quokka Smith say about the zebrafinch report?"


def _words(size: int) -> str:
    parts, total, i = [], 0, 0
    while total < size:
        word = f"word{i % 4999}" if i % 500 else "zebrafinch report"
        parts.append(word)
        total += len(word) + 1
        i += 1
    return " ".join(parts)[:size].rsplit(" ", 1)[0]


WORST_CASES = {  # name: (bytes, measure memory too)
    "line-2mb.txt": (lambda: _words(2 * MB).encode(), True),
    "line-4mb.txt": (lambda: _words(4 * MB).encode(), True),
    "lt-2mb.html": (lambda: b"</" * MB, True),
    "title-2mb.html": (lambda: b"<html><head><title>" + _words(2 * MB).encode(), True),
    "tags-2mb.html": (lambda: b"<a" * MB, False),
    "comments-2mb.html": (lambda: b"<!-- x>" * (2 * MB // 7), False),
    "quotes-2mb.html": (lambda: b"<p>zebrafinch</p>" + b"<a x='" * (2 * MB // 6), False),
    "sentences-4mb.txt": (lambda: b"Zebrafinch report\n\n" + b"Aa. " * MB, False),
    "initialisms-2mb.txt": (lambda: b"Zebrafinch report\n\nThe zebrafinch report.\n\n" + b"x." * MB + b"y", False),
}


# Run in a child process: a C-level regex holding the GIL would also stall a watchdog thread,
# and a killed child frees what a runaway parse took.
_MEASURE = """
import json, sys, tracemalloc
from pathlib import Path
from citebot.retrieval import Library

folder, question, measure = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
if measure:
    tracemalloc.start()
library = Library.open(folder)  # default max_file_bytes: 20 MB
answer = library.ask(question)
peak = tracemalloc.get_traced_memory()[1] if measure else 0
docs = library.snapshot.docs
print(json.dumps({
    "peak": peak, "passages": library.stats().passages, "tokens": int(library.snapshot.offsets[-1]),
    "titles": [d.title for d in docs], "bodies": [len(d.body()) for d in docs],
    "skipped": [s.reason for s in library.stats().skipped], "question": answer.question,
    "found_zebrafinch": bool(library.search("zebrafinch", 1)),
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WORST_CASES))
def test_worst_case_inputs_cost_linear_time_and_memory(tmp_path: Path, name: str) -> None:
    import json
    import subprocess
    import sys

    from citebot.retrieval.loader import MAX_TITLE_CHARS

    make, measure_memory = WORST_CASES[name]
    data = make()
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / name).write_bytes(data)
    root = helpers.ROOT
    env = {**os.environ, "PYTHONPATH": str(root), "CITEBOT_TOKENIZE_WORKERS": "0"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(folder), QUESTION, "1" if measure_memory else "0"],
            capture_output=True, text=True, env=env, timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("still running after 60 s: not linear in the input")
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    assert got["question"] == QUESTION
    if measure_memory:
        assert got["peak"] <= 30 * len(data), f"peak {got['peak']:,} bytes for {len(data):,} bytes of input"
    assert got["passages"] <= len(data) // 1000 + 1
    assert got["tokens"] <= len(data) // 2  # indexed tokens, title terms included
    assert all(len(title) <= MAX_TITLE_CHARS + 1 for title in got["titles"])
    if name.startswith("line-"):
        assert got["bodies"] == [len(data)]  # the line is all kept, as text
        assert got["found_zebrafinch"]
    if name == "lt-2mb.html":
        assert got["skipped"] == ["no text"]


def test_a_folder_tree_deeper_than_the_recursion_limit_is_scanned(tmp_path: Path) -> None:
    """The walk keeps its own stack: 1,200 nested folders (deeper than Python's default
    recursion limit of 1,000 frames) are walked, not a RecursionError."""
    levels = [tmp_path]
    for _ in range(1200):  # one at a time: mkdir(parents=True) itself recurses per level
        levels.append(levels[-1] / "d")
        levels[-1].mkdir()
    (levels[-1] / "bottom.txt").write_text("Bottom\n\nThe deepest article of all.\n", "utf-8")
    (tmp_path / "top.txt").write_text("Top\n\nThe article at the top.\n", "utf-8")
    try:
        found, problems = scan(tmp_path)
        assert problems == []
        assert sorted(found) == ["d/" * 1200 + "bottom.txt", "top.txt"]
    finally:  # bottom up, one by one: shutil.rmtree (pytest's clean-up) would recurse too deep
        (levels[-1] / "bottom.txt").unlink()
        for level in reversed(levels[1:]):
            level.rmdir()
