"""The engine's value types. Frozen so a result handed to a front end can never change under it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Article:
    """One article file. ``path`` is relative to the articles folder (POSIX style)."""

    path: str
    title: str
    text: str
    url: str | None = None
    published: str | None = None
    source: str | None = None


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
