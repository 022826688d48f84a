"""Passages: 1-based paragraph numbers (title excluded), exact spans, long paragraphs split."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import helpers
from citebot.retrieval import Library
from citebot.retrieval.analyzer import sentence_spans
from citebot.retrieval.loader import parse_article
from citebot.retrieval.passages import MAX_PASSAGE_CHARS, paragraph_spans, passage_spans

ROOT = helpers.ROOT
FIXTURES = helpers.FIXTURES / "library"
CARD_FILE = "north-korea-kim-orders-second-trump-summit-preparations.txt"


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.open(FIXTURES)


def passages_of(library: Library, path: str):
    snap = library.snapshot
    return [p for p in (snap.passage(i) for i in range(snap.n_passages)) if p.article.path == path]


def test_paragraphs_are_numbered_from_one_after_the_title(library: Library) -> None:
    passages = passages_of(library, "bridge-reopens.txt")
    assert [p.paragraph for p in passages] == [1, 2, 3]
    assert passages[0].text.startswith("The Wexley harbour bridge reopened")
    assert passages[2].text.startswith("Council leader Ines Farrow")
    assert all("reopens after repairs" not in p.text for p in passages)  # the title line


def test_front_matter_and_title_are_not_paragraphs(library: Library) -> None:
    passages = passages_of(library, "apple-harvest.md")
    assert [p.paragraph for p in passages] == [1, 2]
    assert passages[0].text.startswith("Growers in the Ashby valley")


def test_title_terms_are_indexed_with_every_passage(library: Library) -> None:
    # "Wexley" is in paragraph 1 only, "reopens" in the title only: both find all passages.
    hits = library.search("reopens", 10)
    assert {(h.passage.article.path, h.passage.paragraph) for h in hits} == {
        ("bridge-reopens.txt", 1), ("bridge-reopens.txt", 2), ("bridge-reopens.txt", 3),
    }


def test_every_passage_is_an_exact_slice_of_its_article(library: Library, seeds: Library) -> None:
    for lib in (library, seeds):
        snap = lib.snapshot
        assert snap.n_passages > 0
        for i in range(snap.n_passages):
            passage = snap.passage(i)
            assert passage.article.text[passage.start : passage.end] == passage.text
            assert passage.text == passage.text.strip() and passage.text


def test_card_paragraph_is_number_13(seeds: Library) -> None:
    (vietnam,) = [p for p in passages_of(seeds, CARD_FILE) if "Vietnam" in p.text]
    assert vietnam.paragraph == 13
    assert vietnam.text.startswith("North Korea observers say Vietnam is likely")


def test_blank_lines_with_spaces_separate_paragraphs_and_single_newlines_do_not() -> None:
    text = "\nFirst line\nsame paragraph.\n  \t \nSecond.\n\n\n\nThird.\n"
    assert [text[s:e] for s, e in paragraph_spans(text)] == ["First line\nsame paragraph.", "Second.", "Third."]
    assert [s.paragraph for s in passage_spans(text)] == [1, 2, 3]


def test_crlf_article_spans_match_the_normalised_text() -> None:
    article = parse_article("crlf.txt", b"Title\r\n\r\nOne two.\r\nThree.\r\n\r\nFour.\r\n")
    spans = passage_spans(article.text)
    assert [(s.paragraph, article.text[s.start : s.end]) for s in spans] == [(1, "One two.\nThree."), (2, "Four.")]


def long_paragraph(n: int = 60) -> str:
    return " ".join(
        f"Sentence {i} reports that the harbour committee met {i} times about Dr. Reyes and the 2.5 km pier."
        for i in range(n)
    )


def test_long_paragraphs_split_at_sentence_boundaries_within_the_cap() -> None:
    paragraph = long_paragraph()
    assert len(paragraph) > 3 * MAX_PASSAGE_CHARS
    text = f"Short first paragraph.\n\n{paragraph}\n\nShort last paragraph."
    spans = passage_spans(text)
    middle = [s for s in spans if s.paragraph == 2]
    assert len(middle) >= 3
    assert [s.paragraph for s in spans] == [1] + [2] * len(middle) + [3]
    sentence_ends = {e for _, e in sentence_spans(paragraph)}
    offset = text.index(paragraph)
    for span in middle:
        piece = text[span.start : span.end]
        assert len(piece) <= MAX_PASSAGE_CHARS
        assert piece.startswith("Sentence ") and piece.endswith("pier.")
        assert span.end - offset in sentence_ends  # cut where a sentence ends
    # Nothing is lost or duplicated: the pieces, in order, rebuild the paragraph.
    assert " ".join(text[s.start : s.end] for s in middle) == paragraph
    assert all(a.end <= b.start for a, b in zip(middle, middle[1:]))


def test_pieces_are_packed_up_to_the_limit() -> None:
    paragraph = long_paragraph(10)
    spans = passage_spans(paragraph, limit=250)
    pieces = [paragraph[s.start : s.end] for s in spans]
    assert all(len(p) <= 250 for p in pieces)
    # Greedy packing: adding the next sentence to any piece would break the limit.
    for piece, following in zip(pieces, pieces[1:]):
        next_sentence = following[: following.index("pier.") + len("pier.")]
        assert len(piece) + 1 + len(next_sentence) > 250


def test_a_single_sentence_longer_than_the_cap_is_cut_at_white_space() -> None:
    sentence = "word " * 700 + "end."
    spans = passage_spans(sentence.strip(), limit=500)
    pieces = [sentence.strip()[s.start : s.end] for s in spans]
    assert len(pieces) >= 7
    assert all(0 < len(p) <= 500 for p in pieces)
    assert all(re.fullmatch(r"(word )*(word|end\.)", p) for p in pieces)  # never inside a word
    assert " ".join(pieces) == sentence.strip()


def test_library_passages_respect_the_cap(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("Long report\n\n" + long_paragraph() + "\n")
    library = Library.open(tmp_path)
    snap = library.snapshot
    lengths = [snap.passage(i).end - snap.passage(i).start for i in range(snap.n_passages)]
    assert snap.n_passages >= 3 and max(lengths) <= MAX_PASSAGE_CHARS
    assert {snap.passage(i).paragraph for i in range(snap.n_passages)} == {1}
