"""Article -> passage spans: one per paragraph, long paragraphs cut at sentence boundaries.

Spans index into ``article.text`` so a quote can always be checked against the file.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from citebot.retrieval.analyzer import iter_sentence_spans, trimmed_spans

MAX_PASSAGE_CHARS = 1500
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


class Span(NamedTuple):
    paragraph: int
    start: int
    end: int


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Blocks separated by blank lines, trimmed; a paragraph number is its place in this list."""
    spans = []
    start = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return trimmed_spans(text, spans)


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Greedy packing of whole sentences into pieces of at most ``limit`` characters."""
    pieces: list[tuple[int, int]] = []
    piece_start = piece_end = None
    for s, e in iter_sentence_spans(text[start:end]):
        s, e = s + start, e + start
        # A single sentence longer than the limit is cut at white space.
        while e - s > limit:
            cut = text.rfind(" ", s, s + limit)
            cut = cut if cut > s else s + limit
            if piece_start is not None:
                pieces.append((piece_start, piece_end))
                piece_start = None
            pieces.append((s, cut))
            s = cut
            while s < e and text[s].isspace():
                s += 1
        if s >= e:
            continue
        if piece_start is None:
            piece_start, piece_end = s, e
        elif e - piece_start <= limit:
            piece_end = e
        else:
            pieces.append((piece_start, piece_end))
            piece_start, piece_end = s, e
    if piece_start is not None:
        pieces.append((piece_start, piece_end))
    return pieces


def passage_spans(text: str, limit: int = MAX_PASSAGE_CHARS) -> list[Span]:
    """Passages of an article body: (1-based paragraph number, start, end)."""
    out: list[Span] = []
    for number, (start, end) in enumerate(paragraph_spans(text), start=1):
        if end - start <= limit:
            out.append(Span(number, start, end))
        else:
            out.extend(Span(number, s, e) for s, e in _split_long(text, start, end, limit))
    return out
