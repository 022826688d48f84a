"""Indexed articles and the immutable snapshot that queries read.

Per-article records (``Doc``) make a refresh cheap: only changed files are re-read and
re-tokenised; a new ``Snapshot`` is then built off to the side and swapped in whole, so a query
never sees a half-built index.

Three things keep large folders fast (figures: benchmarks/speed.py, 1M passages):

* A snapshot's passages live in flat arrays (spans, term ids, offsets) that its docs *view*; a doc
  holds no arrays of its own once indexed, and a snapshot built from an unchanged, ordered set of
  docs (a cache load) reuses the arrays without copying.
* A refresh that changes a few articles merges their postings into the previous snapshot's
  (:func:`retrieval.index.merge_postings`: linear passes, no sort) instead of rebuilding them;
  the result is identical to a rebuild.
* A bulk load (many files before the next snapshot: a first start, a large copy into the folder)
  tokenises in worker processes, one per core, while the caller goes on reading files. Term ids
  come out as a sequential build assigns them, so the index is the same either way.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from retrieval.analyzer import tokenize
from retrieval.index import BM25Index, BM25Params, Postings, build_postings, merge_postings
from retrieval.loader import clean_url
from retrieval.models import Article, Passage, Skipped
from retrieval.passages import passage_spans

log = logging.getLogger(__name__)

# Files tokenised in-process before a bulk load moves to worker processes, and files per task.
BULK_AFTER = 48
BATCH_FILES = 48
# A refresh merges postings when the changed passages hold at most this share of all tokens.
MERGE_SHARE = 0.25
# An article's title terms ride along with its first TITLE_FREE passages, and with each later
# one while, all told, they stay within TITLE_SHARE times the article's own tokens so far. Real
# articles never come near that (a title is a few words, a paragraph dozens), so every passage
# carries them; thousands of one-word paragraphs under a 300-character title would otherwise
# cost passages x title (the index of one such file must stay linear in its size).
TITLE_FREE = 64
TITLE_SHARE = 2


def tokenize_workers() -> int:
    """Worker processes for bulk tokenising: CITEBOT_TOKENIZE_WORKERS, else one per core (0 or
    1 = in-process). Only forked, on Linux, from a process with no other threads running."""
    value = os.environ.get("CITEBOT_TOKENIZE_WORKERS", "")
    try:
        wanted = int(value) if value else (os.cpu_count() or 1)
    except ValueError:
        wanted = 1
    if wanted < 2 or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 0
    return wanted


# --- tokenising ---------------------------------------------------------------------------------

# One article's analysis: spans (n, 3) int32, term ids in the batch's local numbering, offsets.
_Analysed = tuple[np.ndarray, np.ndarray, np.ndarray]


def analyse_batch(items: Sequence[tuple[str, str]]) -> tuple[list[str], list[_Analysed]]:
    """Split (title, text) articles into passages and tokenise each (title terms ride along with
    every passage, within the TITLE_FREE / TITLE_SHARE bound). Terms are numbered locally, in
    order of first appearance, so the caller can map them to vocabulary ids in the order a
    one-by-one build would add them."""
    local: dict[str, int] = {}
    number = local.setdefault
    out: list[_Analysed] = []
    for title, text in items:
        spans = passage_spans(text)
        title_terms = tokenize(title)
        ids: list[int] = []
        lengths: list[int] = []
        own = carried = 0  # the article's own tokens so far, and title tokens added so far
        for k, span in enumerate(spans):
            terms = tokenize(text[span.start : span.end])
            own += len(terms)
            if k < TITLE_FREE or carried + len(title_terms) <= TITLE_SHARE * own:
                carried += len(title_terms)
                terms += title_terms
            ids.extend([number(t, len(local)) for t in terms])
            lengths.append(len(terms))
        offsets = np.zeros(len(spans) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        out.append((np.array(spans, dtype=np.int32).reshape(-1, 3), np.array(ids, dtype=np.int32), offsets))
    return list(local), out


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the process that forked it ends, however it
    ends. A forked worker holds both ends of the task pipe, so it never sees EOF: after a
    SIGKILL, SIGTERM or SIGHUP of its parent it would wait for work forever."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the getppid() check below still helps
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class _Bulk:
    """Pending articles of one vocabulary, tokenised by a process pool, resolved in order."""

    def __init__(self, workers: int) -> None:
        # Forked (Linux only, see tokenize_workers) from this thread, which is the process's
        # only one: PR_SET_PDEATHSIG fires when the forking thread ends, i.e. with the process.
        self.pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"),
            initializer=_die_with_parent, initargs=(os.getpid(),),
        )
        self.batches: list[tuple[list[Doc], Future | None]] = []
        self.open: list[Doc] = []

    def add(self, doc: "Doc") -> None:
        self.open.append(doc)
        if len(self.open) >= BATCH_FILES:
            self._submit()

    def _submit(self) -> None:
        docs, self.open = self.open, []
        items = [(d.title, d.body()) for d in docs]
        try:
            future: Future | None = self.pool.submit(analyse_batch, items)
        except Exception:  # a broken pool: tokenise this batch here at resolve time
            future = None
        self.batches.append((docs, future))

    def resolve(self, vocab: "Vocabulary") -> None:
        if self.open:
            self._submit()
        try:
            for docs, future in self.batches:
                try:
                    result = future.result() if future is not None else None
                except Exception as exc:  # a worker died (OOM kill...): do it here instead
                    log.warning("tokenising worker failed (%s); continuing in-process", exc)
                    result = None
                if result is None:
                    result = analyse_batch([(d.title, d.body()) for d in docs])
                _assign(docs, result, vocab)
        finally:
            self.batches = []
            self.pool.shutdown(wait=False, cancel_futures=True)


def _assign(docs: Sequence["Doc"], result: tuple[list[str], list[_Analysed]], vocab: "Vocabulary") -> None:
    local_terms, analysed = result
    ids = np.array(vocab.add_all(local_terms), dtype=np.int32)
    for doc, (spans, local_ids, offsets) in zip(docs, analysed):
        doc._set_arrays(spans, ids[local_ids] if len(local_ids) else local_ids, offsets)


class Vocabulary:
    """Append-only term -> id map shared by every snapshot (ids never change meaning)."""

    def __init__(self, terms: Sequence[str] = ()) -> None:
        self.terms: list[str] = list(terms)
        self.ids: dict[str, int] = {t: i for i, t in enumerate(self.terms)}
        self._made = 0  # make_doc calls since the last snapshot
        self._bulk: _Bulk | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.terms)

    def add(self, term: str) -> int:
        found = self.ids.get(term)
        if found is None:
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

    def resolve_pending(self) -> None:
        """Give every doc made so far its term ids (waits for worker processes, if any)."""
        with self._lock:
            bulk, self._bulk = self._bulk, None
            self._made = 0
            if bulk is not None:
                bulk.resolve(self)


# --- articles ----------------------------------------------------------------------------------


class LazyText:
    """An article text kept as UTF-8 in a (memory-mapped) blob and decoded when needed."""

    __slots__ = ("blob", "lo", "hi")

    def __init__(self, blob, lo: int, hi: int) -> None:
        self.blob, self.lo, self.hi = blob, lo, hi

    def raw(self) -> bytes:
        return bytes(self.blob[self.lo : self.hi])

    def __call__(self) -> str:
        return self.raw().decode("utf-8", "surrogatepass")


class _Flat:
    """The passages of a run of docs, flat: spans (n, 3), term ids, offsets (n + 1), and the
    postings built over them (kept so the next snapshot can merge instead of rebuilding)."""

    __slots__ = ("spans", "terms", "offsets", "postings", "__weakref__")

    def __init__(self, spans: np.ndarray, terms: np.ndarray, offsets: np.ndarray,
                 postings: Postings | None = None) -> None:
        self.spans, self.terms, self.offsets, self.postings = spans, terms, offsets, postings

    @property
    def n_passages(self) -> int:
        return len(self.spans)


class Doc:
    """One indexed article: metadata, text, passage spans and each passage's term ids.

    ``spans`` (n, 3: paragraph, start, end), ``terms`` (term ids of all its passages,
    concatenated) and ``offsets`` ((n + 1,) into ``terms``) are views into the snapshot's flat
    arrays once the doc is indexed; a doc fresh from :func:`make_doc` may still be waiting for a
    worker process, and reading them then waits for it.
    """

    __slots__ = ("path", "size", "mtime_ns", "sha256", "title", "url", "published", "source", "text",
                 "author", "_own", "_flat", "_first", "_count", "_vocab")

    def __init__(
        self, path: str, size: int, mtime_ns: int, sha256: str, title: str, url: str | None,
        published: str | None, source: str | None, text: str | Callable[[], str],
        spans: np.ndarray, terms: np.ndarray, offsets: np.ndarray, *, author: str | None = None,
    ) -> None:
        self.path, self.size, self.mtime_ns, self.sha256 = path, size, mtime_ns, sha256
        self.title, self.url, self.published, self.source = title, url, published, source
        self.author = author
        self.text = text
        self._own: tuple[np.ndarray, np.ndarray, np.ndarray] | None = (spans, terms, offsets)
        self._flat: _Flat | None = None
        self._first = self._count = 0
        self._vocab: Vocabulary | None = None  # set while tokenising is pending

    @classmethod
    def in_flat(
        cls, path: str, size: int, mtime_ns: int, sha256: str, title: str, url: str | None,
        published: str | None, source: str | None, text: str | Callable[[], str],
        flat: _Flat, first: int, count: int, *, author: str | None = None,
    ) -> "Doc":
        """A doc whose passages are ``flat``'s passages ``first .. first + count``."""
        doc = cls.__new__(cls)
        doc.path, doc.size, doc.mtime_ns, doc.sha256 = path, size, mtime_ns, sha256
        doc.title, doc.url, doc.published, doc.source = title, url, published, source
        doc.author = author
        doc.text = text
        doc._own, doc._flat, doc._first, doc._count, doc._vocab = None, flat, first, count, None
        return doc

    def _set_arrays(self, spans: np.ndarray, terms: np.ndarray, offsets: np.ndarray) -> None:
        self._own, self._flat, self._vocab = (spans, terms, offsets), None, None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._vocab is not None:
            self._vocab.resolve_pending()
        if self._own is not None:
            return self._own
        flat, a, n = self._flat, self._first, self._count
        lo, hi = int(flat.offsets[a]), int(flat.offsets[a + n])
        return flat.spans[a : a + n], flat.terms[lo:hi], flat.offsets[a : a + n + 1] - lo

    @property
    def spans(self) -> np.ndarray:
        return self._arrays()[0]

    @property
    def terms(self) -> np.ndarray:
        return self._arrays()[1]

    @property
    def offsets(self) -> np.ndarray:
        return self._arrays()[2]

    @property
    def n_passages(self) -> int:
        if self._own is None and self._vocab is None:
            return self._count
        return len(self._arrays()[0])

    def body(self) -> str:
        if callable(self.text):
            self.text = self.text()
        return self.text

    def raw_text(self) -> bytes:
        """The text as UTF-8, without decoding (and keeping) it when it lives in a blob."""
        if isinstance(self.text, LazyText):
            return self.text.raw()
        return self.body().encode("utf-8", "surrogatepass")

    def article(self) -> Article:
        # clean_url again: a cache written by an older version may hold a "javascript:" URL.
        return Article(self.path, self.title, self.body(), clean_url(self.url), self.published, self.source,
                       self.author)

    def __repr__(self) -> str:
        return f"Doc({self.path!r}, title={self.title!r}, size={self.size})"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_doc(article: Article, size: int, mtime_ns: int, sha256: str, vocab: Vocabulary) -> Doc:
    """Split into passages and tokenise each (title terms ride along with every passage, within
    the TITLE_FREE / TITLE_SHARE bound).

    In a bulk load the tokenising goes to worker processes and the doc's arrays arrive by the
    next :func:`build_snapshot` (or on first access)."""
    doc = Doc(
        article.path, size, mtime_ns, sha256, article.title, article.url, article.published,
        article.source, article.text, None, None, None,  # type: ignore[arg-type]
        author=article.author,
    )
    with vocab._lock:
        vocab._made += 1
        if vocab._bulk is None and vocab._made > BULK_AFTER:
            workers = tokenize_workers()
            if workers:
                try:
                    vocab._bulk = _Bulk(workers)
                except (OSError, ValueError) as exc:
                    log.warning("no worker processes for tokenising (%s)", exc)
        if vocab._bulk is not None:
            doc._own, doc._vocab = None, vocab
            vocab._bulk.add(doc)
            return doc
    _assign([doc], analyse_batch([(article.title, article.text)]), vocab)
    return doc


# --- snapshots -----------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """Everything a query reads, frozen at one moment. Replaced, never mutated."""

    docs: list[Doc]
    vocab: Vocabulary
    index: BM25Index
    passage_doc: np.ndarray  # passage id -> index into ``docs``
    passage_spans: np.ndarray  # passage id -> (paragraph, start, end)
    terms: np.ndarray  # all passages' term ids, concatenated
    offsets: np.ndarray  # passage i is terms[offsets[i]:offsets[i + 1]]
    skipped: tuple[Skipped, ...] = ()
    refreshed_at: float = 0.0
    _articles: dict[int, Article] = field(default_factory=dict, repr=False)

    @property
    def n_passages(self) -> int:
        return int(len(self.passage_doc))

    def article(self, doc_index: int) -> Article:
        cached = self._articles.get(doc_index)
        if cached is None:
            cached = self._articles[doc_index] = self.docs[doc_index].article()
        return cached

    def passage_terms(self, passage_id: int) -> np.ndarray:
        return self.terms[self.offsets[passage_id] : self.offsets[passage_id + 1]]

    def passage(self, passage_id: int) -> Passage:
        doc_index = int(self.passage_doc[passage_id])
        paragraph, start, end = (int(v) for v in self.passage_spans[passage_id])
        return Passage(passage_id, self.article(doc_index), paragraph, start, end)


def _runs(docs: Sequence[Doc]) -> list[tuple[_Flat | None, int, int, list[Doc]]]:
    """Consecutive docs viewing consecutive passages of one flat array set, grouped:
    (flat, first passage, passage count, docs); docs with arrays of their own form runs of one."""
    runs: list[tuple[_Flat | None, int, int, list[Doc]]] = []
    for doc in docs:
        flat = doc._flat if doc._own is None else None
        if flat is not None and runs:
            last_flat, first, count, members = runs[-1]
            if last_flat is flat and first + count == doc._first:
                runs[-1] = (flat, first, count + doc._count, members)
                members.append(doc)
                continue
        if flat is not None:
            runs.append((flat, doc._first, doc._count, [doc]))
        else:
            runs.append((None, 0, len(doc._own[0]), [doc]))  # type: ignore[index]
    return runs


def flat_arrays(docs: Sequence[Doc]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spans (n, 3) int32, terms int32, offsets (n + 1) int64) of ``docs``' passages in order,
    without copying when the docs are exactly one flat array set."""
    runs = _runs(docs)
    if len(runs) == 1 and runs[0][0] is not None:
        flat, first, count, _ = runs[0]
        if first == 0 and count == flat.n_passages:
            return flat.spans, flat.terms, flat.offsets
    spans_parts, terms_parts, length_parts = [], [], []
    for flat, first, count, members in runs:
        if flat is not None:
            lo, hi = int(flat.offsets[first]), int(flat.offsets[first + count])
            spans_parts.append(flat.spans[first : first + count])
            terms_parts.append(flat.terms[lo:hi])
            length_parts.append(np.diff(flat.offsets[first : first + count + 1]))
        else:
            spans, terms, offsets = members[0]._own  # type: ignore[misc]
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


def concatenate(docs: Sequence[Doc]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(terms, offsets, passage_doc, passage_spans) over ``docs`` in order."""
    spans, terms, offsets = flat_arrays(docs)
    counts = np.fromiter((d.n_passages for d in docs), np.int64, count=len(docs))
    passage_doc = np.repeat(np.arange(len(docs), dtype=np.int32), counts)
    return terms, offsets, passage_doc, spans


def _merged_postings(
    docs: Sequence[Doc], terms: np.ndarray, offsets: np.ndarray, vocab_size: int
) -> Postings | None:
    """The new postings by merging into the previous snapshot's, when most passages come from it
    unchanged; None when a rebuild is the better (or only) way."""
    runs = _runs(docs)
    sources = {id(r[0]): r[0] for r in runs if r[0] is not None and r[0].postings is not None}
    if len(sources) != 1:
        return None
    (previous,) = sources.values()
    total_tokens = int(offsets[-1])
    kept_tokens = sum(int(f.offsets[a + n] - f.offsets[a]) for f, a, n, _ in runs if f is previous)
    if total_tokens and (total_tokens - kept_tokens) > MERGE_SHARE * total_tokens:
        return None
    remap = np.full(previous.n_passages, -1, np.int32)
    added_ids: list[np.ndarray] = []
    p = 0
    for flat, first, count, _ in runs:
        if flat is previous:
            remap[first : first + count] = np.arange(p, p + count, dtype=np.int32)
        else:
            added_ids.append(np.arange(p, p + count, dtype=np.int32))
        p += count
    if added_ids:
        new_ids = np.concatenate(added_ids)
        # The added passages' own token stream, under local ids 0..len(new_ids)-1.
        starts, ends = offsets[new_ids], offsets[new_ids + 1]
        lengths = ends - starts
        local_offsets = np.zeros(len(new_ids) + 1, np.int64)
        np.cumsum(lengths, out=local_offsets[1:])
        pick = np.repeat(starts - local_offsets[:-1], lengths) + np.arange(int(local_offsets[-1]))
        local = build_postings(terms[pick], local_offsets, vocab_size)
        added = (local[0], new_ids[local[1]], local[2])
    else:
        added = (np.zeros(vocab_size + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.uint16))
    return merge_postings(previous.postings, remap, added, vocab_size)


def build_snapshot(
    docs: Sequence[Doc],
    vocab: Vocabulary,
    params: BM25Params,
    skipped: Sequence[Skipped] = (),
    refreshed_at: float = 0.0,
    postings: Postings | None = None,
) -> Snapshot:
    vocab.resolve_pending()
    docs = sorted(docs, key=lambda d: d.path)
    terms, offsets, passage_doc, spans = concatenate(docs)
    if postings is None:
        postings = _merged_postings(docs, terms, offsets, len(vocab))
    index = BM25Index(terms, offsets, len(vocab), params, postings=postings)
    # Every doc now views the new flat arrays, so older copies can be freed.
    flat = _Flat(spans, terms, offsets, (index.term_offsets, index.post_docs, index.post_tfs))
    p = 0
    for doc in docs:
        n = doc.n_passages
        doc._own, doc._flat, doc._first, doc._count = None, flat, p, n
        p += n
    return Snapshot(
        list(docs), vocab, index, passage_doc, spans, terms, offsets, tuple(skipped), refreshed_at
    )
