"""Citations -> citations with their article's date and source, for the front ends to show.

The answer path builds citations from the passage's article title, path and link; the date and
source (front matter ``published``/``source``, a feed entry's date and the feed's title) are
looked up here, by path, in the snapshot the answer came from. Docs are sorted by path, so each
lookup is a binary search, not a scan.
"""
from __future__ import annotations

import dataclasses
from bisect import bisect_left
from typing import TYPE_CHECKING

from citebot.retrieval.models import Answer, Citation

if TYPE_CHECKING:  # pragma: no cover
    from citebot.retrieval.snapshot import Snapshot


def _article_meta(snapshot: "Snapshot", path: str) -> dict[str, str]:
    docs = snapshot.docs
    i = bisect_left(docs, path, key=lambda d: d.path)
    if i < len(docs) and docs[i].path == path:
        doc = docs[i]
        found = {"published": doc.published, "source": doc.source, "author": getattr(doc, "author", None)}
        return {k: v for k, v in found.items() if v}
    return {}  # refreshed away since the answer was made: shown without


def _with(c: Citation, snapshot: "Snapshot") -> Citation:
    if c.published or c.source or c.author:
        return c
    meta = _article_meta(snapshot, c.path)
    return dataclasses.replace(c, **meta) if meta else c


def with_sources(answer: Answer, snapshot: "Snapshot") -> Answer:
    """``answer`` with every citation's ``published``, ``source`` and ``author`` filled in where known."""
    return dataclasses.replace(
        answer,
        citations=tuple(_with(c, snapshot) for c in answer.citations),
        see_also=tuple(_with(c, snapshot) for c in answer.see_also),
    )
