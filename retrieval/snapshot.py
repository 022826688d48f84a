"""The snapshot: everything a query reads, frozen at one moment, and the only owner of index
storage.

A snapshot holds its documents (frozen :class:`~retrieval.docs.Doc` records), the vocabulary
published at the size it had (:class:`~retrieval.vocabulary.Terms`), the BM25 index over its
passages, and the flat arrays of those passages (spans, term ids, offsets) with each document's
passage range. A refresh builds a new snapshot beside the current one and swaps the reference;
nothing a reader holds is ever written again. Its arrays are read-only.

Three things keep large folders fast (figures: benchmarks/speed.py, 1M passages):

* a snapshot built from an unchanged, ordered set of documents (a touch, a new skipped file)
  reuses the previous snapshot's arrays and index without copying;
* a refresh that changes a few articles merges their postings into the previous snapshot's
  (:func:`retrieval.index.merge_postings`: linear passes, no sort) instead of rebuilding them;
  the result is identical to a rebuild;
* a bulk load tokenises in worker processes (:mod:`retrieval.build`).

Persistence is :meth:`Snapshot.save` / :meth:`Snapshot.load`, over the atomic, validated
on-disk format of :mod:`retrieval.cache`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from citebot.retrieval import cache
from citebot.retrieval.build import TRIM_AFTER_PASSAGES, Analysis, Handle, give_back_freed_memory
from citebot.retrieval.docs import Doc, LazyText
from citebot.retrieval.index import BM25Index, BM25Params, Postings, build_postings, merge_postings
from citebot.retrieval.models import Article, Passage, Skipped
from citebot.retrieval.vocabulary import Terms, Vocabulary

# A refresh merges postings when the changed passages hold at most this share of all tokens.
MERGE_SHARE = 0.25

Stamp = tuple[int, int, int, int]  # a file's scan stamp: size, mtime_ns, ctime_ns, inode


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """Everything a query reads, frozen at one moment. Replaced, never mutated.

    Document i's passages are ``doc_first[i] .. doc_first[i + 1]`` (documents sorted by path);
    passage p is ``terms[offsets[p]:offsets[p + 1]]`` with span ``passage_spans[p]``
    (paragraph, start, end) in document ``passage_doc[p]``."""

    docs: tuple[Doc, ...]
    vocab: Terms
    index: BM25Index
    doc_first: np.ndarray
    passage_doc: np.ndarray
    passage_spans: np.ndarray
    terms: np.ndarray
    offsets: np.ndarray
    skipped: tuple[Skipped, ...] = ()
    refreshed_at: float = 0.0
    # Articles already made from docs (derived values only: a cache, never state).
    _articles: dict[int, Article] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for array in (self.doc_first, self.passage_doc, self.passage_spans, self.terms, self.offsets,
                      self.index.term_offsets, self.index.post_docs, self.index.post_tfs):
            _frozen(array)

    def __repr__(self) -> str:
        return f"Snapshot({len(self.docs)} docs, {self.n_passages} passages, {len(self.vocab)} terms)"

    @property
    def n_passages(self) -> int:
        return int(len(self.passage_doc))

    def doc_passages(self, doc_index: int) -> range:
        return range(int(self.doc_first[doc_index]), int(self.doc_first[doc_index + 1]))

    def article(self, doc_index: int) -> Article:
        cached = self._articles.get(doc_index)
        if cached is None:
            cached = self._articles[doc_index] = self.docs[doc_index].article()
        return cached

    def passage_terms(self, passage_id: int) -> np.ndarray:
        return self.terms[self.offsets[passage_id] : self.offsets[passage_id + 1]]

    def passage(self, passage_id: int) -> Passage:
        doc_index = int(self.passage_doc[passage_id])
        paragraph, start, end = self.passage_spans[passage_id].tolist()  # Python ints, one call
        return Passage(passage_id, self.article(doc_index), paragraph, start, end)

    # --- persistence ----------------------------------------------------------------------------

    def save(self, target: Path, articles_dir: Path, stamps: Mapping[str, Stamp] | None = None) -> cache.Base:
        """Write this snapshot to the cache folder ``target`` atomically (see retrieval.cache).

        ``stamps`` are the files' scan stamps as they were read; a file without one is
        re-checked (read and hashed) on the next open."""
        stamps = stamps or {}
        counts = np.diff(self.doc_first)
        files = [
            {
                "path": d.path, "size": d.size, "mtime_ns": d.mtime_ns, **cache.stamp_fields(stamps.get(d.path)),
                "sha256": d.sha256, "title": d.title, "url": d.url, "published": d.published,
                "source": d.source, "author": d.author, "passages": int(n),
            }
            for d, n in zip(self.docs, counts)
        ]
        index = self.index
        arrays = {
            "spans": self.passage_spans, "terms": self.terms, "term_lengths": np.diff(self.offsets),
            "term_offsets": index.term_offsets, "post_docs": index.post_docs, "post_tfs": index.post_tfs,
        }
        contents = cache.Contents(files, (d.raw_text() for d in self.docs), arrays, self.vocab.to_list(),
                                  self.skipped)
        return cache.save(target, articles_dir, index.params, contents)

    def delta_since(self, saved: "Snapshot", saved_stamps: Mapping[str, Stamp],
                    stamps: Mapping[str, Stamp]) -> cache.Delta | None:
        """What a cache holding ``saved`` (with ``saved_stamps``) needs appended to hold this
        snapshot with ``stamps``; None when it cannot say (another vocabulary).

        A doc is written again when it is not the very record ``saved`` holds (a re-read or a
        re-stamp makes a new one) or its stamp changed; its passages and term ids are copied
        from this snapshot's arrays, so nothing is re-tokenised."""
        if self.vocab.vocabulary is not saved.vocab.vocabulary or len(self.vocab) < len(saved.vocab):
            return None
        # By identity, in C-speed passes (both snapshots hold their docs alive, so ids are unique).
        saved_ids = set(map(id, saved.docs))
        ids = list(map(id, self.docs))
        upserts = [k for k, i in enumerate(ids) if i not in saved_ids]
        restamped = {path for path, _ in stamps.items() ^ saved_stamps.items()}
        if restamped:
            position = {d.path: k for k, d in enumerate(self.docs)}
            upserts = sorted(set(upserts) | {position[p] for p in restamped if p in position})
        current_ids = set(ids)
        kept_paths = {d.path for d in self.docs} if len(upserts) else set()
        old = [d.path for d in saved.docs if id(d) not in current_ids and d.path not in kept_paths]
        firsts = self.doc_first
        rows, texts, spans, terms, lengths = [], [], [], [], []
        for k in upserts:
            doc, a, b = self.docs[k], int(firsts[k]), int(firsts[k + 1])
            rows.append({
                "path": doc.path, "size": doc.size, "mtime_ns": doc.mtime_ns,
                **cache.stamp_fields(stamps.get(doc.path)), "sha256": doc.sha256, "title": doc.title,
                "url": doc.url, "published": doc.published, "source": doc.source, "author": doc.author,
                "passages": b - a,
            })
            texts.append(doc.raw_text())
            spans.append(self.passage_spans[a:b])
            terms.append(self.terms[int(self.offsets[a]) : int(self.offsets[b])])
            lengths.append(np.diff(self.offsets[a : b + 1]))
        start, end = len(saved.vocab), len(self.vocab)
        return cache.Delta(
            old, rows, texts,
            np.concatenate(spans).reshape(-1, 3) if spans else np.zeros((0, 3), np.int32),
            np.concatenate(terms) if terms else np.zeros(0, np.int32),
            np.concatenate(lengths) if lengths else np.zeros(0, np.int64),
            start, self.vocab.vocabulary.terms[start:end], self.skipped,
        )

    @classmethod
    def load(cls, target: Path, articles_dir: Path, params: BM25Params) -> "Loaded":
        """The snapshot saved at ``target`` (texts stay in the mapped blob until asked for), with
        the files' scan stamps. Raises cache.NoCache or cache.CacheError: the caller rebuilds."""
        stored = cache.load(target, articles_dir, params)
        bounds = stored.text_bounds
        docs = tuple(
            Doc(f["path"], f["size"], f["mtime_ns"], f["sha256"], f["title"], f["url"], f["published"],
                f["source"], LazyText(stored.blob, bounds[i], bounds[i + 1]), f["author"])
            for i, f in enumerate(stored.files)
        )
        arrays = stored.arrays
        vocab = Vocabulary(stored.vocab_terms)
        spans = arrays["spans"].astype(np.int32, copy=False)
        terms = arrays["terms"].astype(np.int32, copy=False)
        postings = (arrays["term_offsets"], arrays["post_docs"], arrays["post_tfs"])
        index = BM25Index(terms, arrays["offsets"], len(vocab), params, postings=postings)
        counts = np.array([f["passages"] for f in stored.files], np.int64)
        snapshot = _assemble(docs, vocab.published(), index, counts, spans, terms, arrays["offsets"],
                             stored.skipped, time.time())
        stamps = dict(stored.stamps)
        if stored.deltas:
            snapshot = _apply_deltas(snapshot, vocab, stamps, stored.deltas)
        return Loaded(snapshot, stamps, stored.base, len(stored.deltas), sum(d.size for d in stored.deltas))


class Loaded(NamedTuple):
    snapshot: Snapshot
    stamps: dict[str, Stamp]
    base: cache.Base | None = None
    deltas: int = 0  # deltas applied after the base
    delta_bytes: int = 0


def _apply_deltas(base: Snapshot, vocab: Vocabulary, stamps: dict[str, Stamp],
                  deltas: Sequence[cache.Delta]) -> Snapshot:
    """``base`` with ``deltas`` applied in order, built as one refresh builds it (merged into the
    base's postings: the same snapshot a rebuild gives). Updates ``stamps`` and ``vocab``."""
    docs = {d.path: d for d in base.docs}
    fresh: dict[str, Analysis] = {}
    skipped = base.skipped
    for delta in deltas:
        ids = vocab.add_all(delta.vocab_terms)
        if delta.vocab_from + len(delta.vocab_terms) != len(vocab) or ids != list(range(delta.vocab_from, len(vocab))):
            raise cache.CacheError("a delta's terms do not follow the vocabulary")
        if len(delta.terms) and (int(delta.terms.min()) < 0 or int(delta.terms.max()) >= len(vocab)):
            raise cache.CacheError("a delta's term ids are out of range")
        for path in delta.removed:
            docs.pop(path, None)
            fresh.pop(path, None)
            stamps.pop(path, None)
        p = t = 0
        for row, text in zip(delta.rows, delta.texts):
            n = row["passages"]
            lengths = delta.term_lengths[p : p + n].astype(np.int64)
            offsets = np.zeros(n + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            path = row["path"]
            docs[path] = Doc(path, row["size"], row["mtime_ns"], row["sha256"], row["title"], row["url"],
                             row["published"], row["source"], LazyText(text, 0, len(text)), row["author"])
            fresh[path] = Analysis(delta.spans[p : p + n].astype(np.int32),
                                   delta.terms[t : t + int(offsets[-1])].astype(np.int32), offsets)
            if "ctime_ns" in row:
                stamps[path] = (row["size"], row["mtime_ns"], row["ctime_ns"], row["ino"])
            else:
                stamps.pop(path, None)
            p, t = p + n, t + int(offsets[-1])
        skipped = delta.skipped
    return build_snapshot(list(docs.values()), vocab, base.index.params, skipped, time.time(),
                          previous=base, fresh=fresh)


def _assemble(docs: tuple[Doc, ...], vocab: Terms, index: BM25Index, counts: np.ndarray, spans: np.ndarray,
              terms: np.ndarray, offsets: np.ndarray, skipped: Sequence[Skipped], refreshed_at: float,
              passage_doc: np.ndarray | None = None) -> Snapshot:
    doc_first = np.zeros(len(docs) + 1, np.int64)
    np.cumsum(counts, out=doc_first[1:])
    if passage_doc is None:
        passage_doc = np.repeat(np.arange(len(docs), dtype=np.int32), counts)
    return Snapshot(docs, vocab, index, doc_first, passage_doc, spans, terms, offsets, tuple(skipped), refreshed_at)


# --- building ------------------------------------------------------------------------------------

# Where a run of consecutive passages of the new snapshot comes from: the previous snapshot's
# passages ``first .. first + count`` (analysis None), or one fresh article's analysis.
@dataclass(frozen=True, slots=True)
class _Run:
    first: int
    count: int
    analysis: Analysis | None = None
    fresh: bool = False  # from an analysis (kept when the analysis is dropped)


def _runs(docs: Sequence[Doc], previous: Snapshot | None, fresh: Mapping[str, Analysis]) -> tuple[list[_Run], np.ndarray]:
    """The runs the sorted ``docs``' passages come from, and each doc's passage count. A doc
    not in ``fresh`` must be in ``previous`` (by path): its passages are taken from there.

    Vectorised over the kept docs (a refresh of one file on a 26k-file folder keeps the rest):
    a Python step per run, not per doc."""
    position = {d.path: i for i, d in enumerate(previous.docs)} if previous is not None else {}
    n = len(docs)
    if previous is None and any(d.path not in fresh for d in docs):
        raise AssertionError("a doc has no analysis and there is no previous snapshot")
    old = np.fromiter((-1 if d.path in fresh else position[d.path] for d in docs), np.int64, n)
    kept = old >= 0
    counts = np.zeros(n, np.int64)
    starts = np.zeros(n, np.int64)
    if previous is not None and kept.any():
        first = previous.doc_first
        starts[kept] = first[old[kept]]
        counts[kept] = first[old[kept] + 1] - starts[kept]
    fresh_at = np.flatnonzero(~kept)
    for k in fresh_at.tolist():
        counts[k] = fresh[docs[k].path].n_passages
    # A kept doc continues the run before it when that run is kept too and ends where it starts.
    joins = np.zeros(n, bool)
    if n > 1:
        joins[1:] = kept[1:] & kept[:-1] & (starts[1:] == starts[:-1] + counts[:-1])
    heads = np.flatnonzero(~joins)
    ends = np.append(heads[1:], n)
    runs: list[_Run] = []
    for head, end in zip(heads.tolist(), ends.tolist()):
        if kept[head]:
            runs.append(_Run(int(starts[head]), int(starts[end - 1] + counts[end - 1] - starts[head])))
        else:
            analysis = fresh[docs[head].path]
            runs.append(_Run(0, analysis.n_passages, analysis, fresh=True))
    return runs, counts


def _flat(runs: Sequence[_Run], previous: Snapshot | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spans (n, 3) int32, terms int32, offsets (n + 1) int64) of the runs' passages in order."""
    spans_parts, terms_parts, length_parts = [], [], []
    for run in runs:
        if run.analysis is not None:
            spans, terms, offsets = run.analysis.spans, run.analysis.terms, run.analysis.offsets
        else:
            assert previous is not None
            a, n = run.first, run.count
            lo, hi = int(previous.offsets[a]), int(previous.offsets[a + n])
            spans, terms, offsets = previous.passage_spans[a : a + n], previous.terms[lo:hi], previous.offsets[a : a + n + 1]
        spans_parts.append(spans)
        terms_parts.append(terms)
        length_parts.append(np.diff(offsets))
    if not runs:
        return np.zeros((0, 3), np.int32), np.zeros(0, np.int32), np.zeros(1, np.int64)
    spans = np.concatenate(spans_parts).astype(np.int32, copy=False).reshape(-1, 3)
    terms = np.concatenate(terms_parts).astype(np.int32, copy=False)
    lengths = np.concatenate(length_parts)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return spans, terms, offsets


def _added_postings(terms: np.ndarray, offsets: np.ndarray, new_ids: np.ndarray, vocab_size: int) -> Postings:
    """Postings of the passages ``new_ids`` (ascending ids of the new snapshot) alone."""
    if not len(new_ids):
        return np.zeros(vocab_size + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16)
    # The added passages' own token stream, under local ids 0..len(new_ids)-1.
    starts, ends = offsets[new_ids], offsets[new_ids + 1]
    lengths = ends - starts
    local_offsets = np.zeros(len(new_ids) + 1, np.int64)
    np.cumsum(lengths, out=local_offsets[1:])
    pick = np.repeat(starts - local_offsets[:-1], lengths) + np.arange(int(local_offsets[-1]))
    local = build_postings(terms[pick], local_offsets, vocab_size)
    return local[0], new_ids[local[1]], local[2]


def _merged_postings(runs: Sequence[_Run], previous: Snapshot | None, terms: np.ndarray, offsets: np.ndarray,
                     vocab_size: int) -> Postings | None:
    """The new postings by merging into the previous snapshot's, when most passages come from it
    unchanged; None when a rebuild is the better (or only) way."""
    kept = [run for run in runs if not run.fresh]
    if previous is None or not kept:
        return None
    total_tokens = int(offsets[-1])
    kept_tokens = sum(int(previous.offsets[r.first + r.count] - previous.offsets[r.first]) for r in kept)
    if total_tokens and (total_tokens - kept_tokens) > MERGE_SHARE * total_tokens:
        return None
    remap = np.full(previous.n_passages, -1, np.int32)
    added_ids: list[np.ndarray] = []
    p = 0
    for run in runs:
        if not run.fresh:
            remap[run.first : run.first + run.count] = np.arange(p, p + run.count, dtype=np.int32)
        else:
            added_ids.append(np.arange(p, p + run.count, dtype=np.int32))
        p += run.count
    new_ids = np.concatenate(added_ids) if added_ids else np.zeros(0, np.int32)
    added = _added_postings(terms, offsets, new_ids, vocab_size)
    index = previous.index
    return merge_postings((index.term_offsets, index.post_docs, index.post_tfs), remap, added, vocab_size)


def _unchanged(runs: Sequence[_Run], previous: Snapshot | None, vocab_size: int) -> bool:
    """True when the passages are exactly the previous snapshot's, in order, over the same
    vocabulary: its arrays and index serve as they are."""
    return (previous is not None and len(runs) <= 1 and previous.index.vocab_size == vocab_size
            and all(not r.fresh and r.first == 0 and r.count == previous.n_passages for r in runs)
            and (len(runs) == 1 or previous.n_passages == 0))


def build_snapshot(
    docs: Sequence[Doc],
    vocab: Vocabulary,
    params: BM25Params,
    skipped: Sequence[Skipped] = (),
    refreshed_at: float = 0.0,
    *,
    previous: Snapshot | None = None,
    fresh: Mapping[str, Handle] | None = None,
) -> Snapshot:
    """A new snapshot of ``docs``: those in ``fresh`` (path -> analysis) are indexed from it,
    every other one must be in ``previous``, whose passages it keeps. Nothing in ``previous``
    changes; its arrays and postings are reused or merged when that is cheaper than a rebuild.
    ``fresh`` is consumed (a dict is emptied once read), so its analyses can be freed as soon
    as they are copied into the new arrays."""
    analyses = {path: handle.get() for path, handle in (fresh or {}).items()}  # waits for workers
    if isinstance(fresh, dict):
        fresh.clear()  # consumed: see below
    docs = tuple(sorted(docs, key=lambda d: d.path))
    vocab_size = len(vocab)
    runs, counts = _runs(docs, previous, analyses)
    terms_view = vocab.published()
    if _unchanged(runs, previous, vocab_size) and previous is not None:
        same_docs = len(docs) == len(previous.docs)  # then each keeps its number, too
        return _assemble(docs, terms_view, previous.index, counts, previous.passage_spans, previous.terms,
                         previous.offsets, skipped, refreshed_at, previous.passage_doc if same_docs else None)
    spans, terms, offsets = _flat(runs, previous)
    # The fresh analyses are in the new arrays now: drop them before the postings are built (a
    # million-passage build held every article's arrays twice at its peak).
    analyses.clear()
    runs = [replace(run, analysis=None) for run in runs]
    if sum(run.count for run in runs if run.fresh) > TRIM_AFTER_PASSAGES:
        give_back_freed_memory()
    postings = _merged_postings(runs, previous, terms, offsets, vocab_size)
    index = BM25Index(terms, offsets, vocab_size, params, postings=postings)
    return _assemble(docs, terms_view, index, counts, spans, terms, offsets, skipped, refreshed_at)
