"""The engine's value types. Frozen so a result handed to a front end can never change under it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


PAGED_SUFFIXES = (".pdf",)  # read one paragraph per page (retrieval.formats.read_pdf)


def page_of(path: str, paragraph: int) -> int | None:
    """The page of ``paragraph`` in the file at ``path`` if that file is paged (a PDF), else None."""
    return paragraph if path.lower().endswith(PAGED_SUFFIXES) else None


def where(path: str, paragraph: int) -> str:
    """``page N`` in a PDF, ``paragraph N`` elsewhere."""
    page = page_of(path, paragraph)
    return f"page {page}" if page is not None else f"paragraph {paragraph}"


@dataclass(frozen=True)
class Article:
    """One article file. ``path`` is relative to the articles folder (POSIX style)."""

    path: str
    title: str
    text: str
    url: str | None = None
    published: str | None = None
    source: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class Passage:
    """A paragraph (or a piece of a long one); ``article.text[start:end] == text``."""

    id: int
    article: Article
    paragraph: int
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.article.text[self.start : self.end]


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


@dataclass(frozen=True)
class Citation:
    """A checkable source: ``quote`` stands verbatim in the file at ``path``."""

    n: int
    title: str
    path: str
    paragraph: int
    quote: str
    score: float
    url: str | None = None
    # The article's date and source (front matter, a feed entry's date and feed title), filled
    # in by retrieval.sources.with_sources for the front ends.
    published: str | None = None
    source: str | None = None
    author: str | None = None

    @property
    def dateline(self) -> str | None:
        """``Source, author, date`` (those known), or None."""
        parts = [p for p in (self.source, self.author, self.published) if p]
        return ", ".join(parts) if parts else None

    @property
    def page(self) -> int | None:
        """The PDF page the quote is on, else None: a PDF is read one paragraph per page, so
        there the paragraph number is the page number."""
        return page_of(self.path, self.paragraph)

    @property
    def where(self) -> str:
        """``page N`` for a PDF, else ``paragraph N``: how a person finds the quote in the file."""
        return where(self.path, self.paragraph)


@dataclass(frozen=True)
class Answer:
    question: str
    found: bool
    text: str
    citations: tuple[Citation, ...] = ()
    see_also: tuple[Citation, ...] = ()
    took_ms: float = 0.0


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why (shown by `citebot index` and /articles)."""

    path: str
    reason: str


@dataclass(frozen=True)
class IndexStats:
    articles: int
    passages: int
    skipped: tuple[Skipped, ...] = ()
    refreshed_at: float = 0.0
    took_ms: float = 0.0
    from_cache: bool = False
    folder: Path | None = field(default=None, compare=False)
