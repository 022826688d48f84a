"""An indexed article's record: frozen, and free of any pointer into index storage.

A ``Doc`` says which file (and feed entry) an article came from, the file's size, time and hash
when it was read, its metadata, and how to get its text. Its passages and term ids live in the
snapshot that indexes it (``Snapshot.doc_passages``): two snapshots can share one ``Doc`` and
neither can change it for the other.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from citebot.retrieval.loader import clean_url
from citebot.retrieval.models import Article


@dataclass(frozen=True, slots=True, eq=False)
class LazyText:
    """An article's text kept as UTF-8 in a read-only (memory-mapped) blob, decoded on demand."""

    blob: Any  # mmap.mmap (read-only), bytes, or a build's TextSpool: anything sliced to bytes
    lo: int
    hi: int

    def raw(self) -> bytes:
        return bytes(self.blob[self.lo : self.hi])

    def __call__(self) -> str:
        return self.raw().decode("utf-8", "surrogatepass")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyText) and self.raw() == other.raw()

    def __hash__(self) -> int:
        return hash((self.lo, self.hi))

    def __deepcopy__(self, memo: dict) -> "LazyText":
        return self  # a read-only blob cannot change: the handle is its own copy


Text = str | LazyText


@dataclass(frozen=True, slots=True)
class Doc:
    """One indexed article: where it came from, its metadata, and its text (a str, or a handle
    into the cache's text blob, decoded each time it is asked for: nothing is memoised here)."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    title: str
    url: str | None
    published: str | None
    source: str | None
    text: Text
    author: str | None = None

    def body(self) -> str:
        text = self.text
        return text if isinstance(text, str) else text()

    def raw_text(self) -> bytes:
        """The text as UTF-8, without decoding it when it lives in a blob."""
        if isinstance(self.text, LazyText):
            return self.text.raw()
        return self.text.encode("utf-8", "surrogatepass")

    def article(self) -> Article:
        # clean_url again: a cache written by an older version may hold a "javascript:" URL.
        return Article(self.path, self.title, self.body(), clean_url(self.url), self.published, self.source,
                       self.author)

    def __repr__(self) -> str:
        return f"Doc({self.path!r}, title={self.title!r}, size={self.size})"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def doc_of(article: Article, size: int, mtime_ns: int, sha256: str, text: Text | None = None) -> Doc:
    """The record of ``article``, read from a file of ``size`` bytes with this mtime and hash
    (``text``: how to hold its text, when not as the string)."""
    return Doc(article.path, size, mtime_ns, sha256, article.title, article.url, article.published,
               article.source, article.text if text is None else text, article.author)
