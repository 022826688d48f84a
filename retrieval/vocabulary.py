"""The term -> id map, and the prefix of it a snapshot publishes.

One ``Vocabulary`` grows for the life of a library (append-only: an id never changes meaning),
so a refresh can merge postings instead of renumbering them. Only the refresher adds terms. A
snapshot publishes the vocabulary with the size it had when the snapshot was built (``Terms``);
its readers see ids below that size only, so terms a refresh is adding at the same moment are
never half visible to them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence


class Vocabulary:
    """Append-only term -> id map, written by one refresher at a time."""

    def __init__(self, terms: Sequence[str] = ()) -> None:
        self.terms: list[str] = list(terms)
        self.ids: dict[str, int] = {t: i for i, t in enumerate(self.terms)}

    def __len__(self) -> int:
        return len(self.terms)

    def add(self, term: str) -> int:
        found = self.ids.get(term)
        if found is None:
            # The id is published (dict) before the term list grows; readers bound ids by
            # their snapshot's size, so neither order is ever observed.
            found = self.ids[term] = len(self.terms)
            self.terms.append(term)
        return found

    def add_all(self, terms: Sequence[str]) -> list[int]:
        """``[add(t) for t in terms]``, with the common case (a known term) as one dict lookup:
        a batch of 500 articles holds ~25k distinct terms, and this runs for every batch."""
        get = self.ids.get
        ids = [get(t, -1) for t in terms]
        for i, found in enumerate(ids):
            if found < 0:
                ids[i] = self.add(terms[i])
        return ids

    def lookup(self, terms: Sequence[str]) -> list[int]:
        """Ids of known terms; unknown terms map to -1 (they match nothing)."""
        get = self.ids.get
        return [get(t, -1) for t in terms]

    def published(self) -> "Terms":
        """The vocabulary as it is now, for a snapshot's readers."""
        return Terms(self, len(self.terms))


@dataclass(frozen=True, slots=True, eq=False)
class Terms:
    """A snapshot's view of the vocabulary: ids ``0 .. size - 1``, which never change.

    ``terms`` reads like a list of those terms; ``lookup`` maps any term outside them to -1,
    however far the vocabulary has grown since."""

    vocabulary: Vocabulary
    size: int

    def __len__(self) -> int:
        return self.size

    def lookup(self, terms: Sequence[str]) -> list[int]:
        size = self.size
        return [i if i < size else -1 for i in self.vocabulary.lookup(terms)]

    @property
    def terms(self) -> "TermList":
        return TermList(self.vocabulary.terms, self.size)

    def names(self, ids: Sequence[int]) -> list[str]:
        """The terms of ``ids`` (each below ``size``), in one pass over the list."""
        if len(ids) and not 0 <= min(ids) <= max(ids) < self.size:
            raise IndexError("term id out of range")
        terms = self.vocabulary.terms
        return [terms[i] for i in ids]

    def to_list(self) -> list[str]:
        return self.vocabulary.terms[: self.size]


@dataclass(frozen=True, slots=True, eq=False)
class TermList(Sequence[str]):
    """The first ``size`` terms of a growing list, without copying them."""

    source: list[str]
    size: int

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return self.source[: self.size][i]
        i = int(i)
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError("term id out of range")
        return self.source[i]

    def __iter__(self) -> Iterator[str]:
        source = self.source
        return (source[i] for i in range(self.size))
