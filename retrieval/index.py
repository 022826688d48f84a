"""BM25 over passages, computed on sparse postings so a query touches only passages sharing a term.

The scoring is rank-bm25's ``BM25Okapi`` (same k1, b, tf saturation, length normalisation, the
same floating-point operations in the same order, and with ``idf="okapi"`` the same idf with its
epsilon floor); ``tests/retrieval/test_index.py`` proves the scores are *equal* to
``BM25Okapi.get_scores`` on random corpora, and that ``top`` ranks exactly as a full sort of every
passage's score does. ``BM25Okapi``'s idf is zero for a term in exactly half the passages and
floored above that, which on a small folder silently drops the question's words, so the default
``idf="lucene"`` uses the always-positive ``log(1 + (N - n + 0.5) / (n + 0.5))``; on SciFact and
SQuAD it is also the better of the two (``python -m benchmarks.quality`` runs both on SciFact).

How a query runs (see benchmarks/speed.py for the figures):

* small queries (at most ``PRUNE_MIN_POSTINGS`` postings in all, or any term with idf <= 0, which
  okapi gives on small folders): each query term adds ``idf * tf * (k1 + 1) / (tf + norm[doc])``
  into a dense score buffer over the passages of its postings only (numpy, no Python loop over
  passages); the k-th best score is bounded from below by the scores of the passages holding the
  query's rarest term(s), one vectorised comparison over the buffer leaves a handful of
  candidates, and only those are sorted (score descending, passage id ascending);
* larger queries use MaxScore, term at a time (``_top_pruned``): terms go by their score upper
  bound (the largest contribution the term makes to any passage, computed once per term on first
  use), rarest first, into the buffer, until the bounds of the terms left add up to less than a
  proven lower bound on the k-th best score (the full scores of the best partial candidates).
  The terms left, usually the common ones with most of the postings, are never scanned: they are
  looked up by binary search for the candidates that can still reach that bound. The few
  survivors are rescored exactly, term by term in query order, so ids, scores and ties equal
  exhaustive scoring (``tests/retrieval/test_maxscore.py`` checks this on many random corpora);
* the buffer is reused (one per concurrent query, from a small free list) and cleared by
  writing zeros back where postings touched it, so a query allocates nothing of corpus size.
"""
from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

IdfKind = Literal["okapi", "lucene"]

# Term-major postings: (term_offsets, post_docs, post_tfs); term t's passages are
# post_docs[term_offsets[t]:term_offsets[t + 1]] (ascending) with counts post_tfs[...].
Postings = tuple[np.ndarray, np.ndarray, np.ndarray]

# Build postings over this many tokens at a time: bounds the sort's temporaries (int64 keys).
CHUNK_TOKENS = 1_000_000
_KEEP_BUFFERS = 4  # free score buffers kept for reuse (one per concurrent query)
# Queries whose terms have at most this many postings in all are scored exhaustively: pruning
# would save less than its bookkeeping costs. Tests set it to 0 to run the pruned path.
PRUNE_MIN_POSTINGS = 20_000
_MARGIN = 1e-9  # relative slack on score bounds, far above float rounding, far below real gaps
_SEED_ROUNDS = 3  # at most this many lower-bound estimates per query
_SEED_PER_K, _SEED_MIN = 4, 32  # passages fully scored per estimate: max(4k, 32)
EXACT_BOUND_POSTINGS = 8_192  # shorter terms get an exact score bound on first use
_BATCH_CANDIDATES = 256  # fewer candidates than this: look every unread term up at once


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25
    idf: IdfKind = "lucene"

    def __post_init__(self) -> None:
        if self.idf not in ("okapi", "lucene"):
            raise ValueError(f"idf must be 'okapi' or 'lucene', not {self.idf!r}")
        if not (self.k1 >= 0 and 0 <= self.b <= 1):
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1 (got k1={self.k1}, b={self.b})")


class BM25Index:
    """Immutable postings index. Build once per corpus snapshot; share freely across threads.

    ``doc_terms``/``doc_offsets`` hold each passage's term ids (passage i is
    ``doc_terms[doc_offsets[i]:doc_offsets[i+1]]``) over a vocabulary of ``vocab_size`` ids.
    ``postings`` (term-major, as :func:`build_postings` makes them) may be passed when already
    known, e.g. loaded from the cache or merged incrementally; they must match the passages.

        >>> index = BM25Index(np.array([0, 1, 1, 2], np.int32), np.array([0, 2, 4]), 3)
        >>> [pid for pid, _ in index.top([1], 5)]
        [1, 0]
    """

    def __init__(
        self,
        doc_terms: np.ndarray,
        doc_offsets: np.ndarray,
        vocab_size: int,
        params: BM25Params = BM25Params(),
        *,
        postings: Postings | None = None,
    ) -> None:
        self.params = params
        doc_offsets = np.asarray(doc_offsets)
        self.n_docs = int(len(doc_offsets) - 1)
        self.vocab_size = int(vocab_size)
        # rank-bm25 keeps integer lengths and divides their integer total by N.
        lengths = np.diff(doc_offsets)
        self.doc_len = lengths.astype(np.float64)
        total = int(lengths.sum()) if self.n_docs else 0
        self.avgdl = total / self.n_docs if self.n_docs else 0.0
        if postings is None:
            postings = build_postings(doc_terms, doc_offsets, vocab_size)
        self.term_offsets, self.post_docs, self.post_tfs = postings
        self.df = np.diff(self.term_offsets)
        self._doc_terms = doc_terms  # only read to order terms as rank-bm25 does (okapi floor)
        self.idf = self._compute_idf()
        self._doc_terms = None
        # The length-normalisation part of the denominator, per passage, computed once, with
        # rank-bm25's operation order: k1 * (1 - b + b * len / avgdl).
        if self.n_docs and self.avgdl > 0:
            self._norm = params.k1 * (1 - params.b + params.b * self.doc_len / self.avgdl)
        else:  # no passage holds a term: nothing is ever scored
            self._norm = np.full(self.n_docs, params.k1 * (1 - params.b))
        self._buffers: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._ub = np.full(len(self.df), -1.0)  # per-term score upper bounds, filled on first use
        self._exact = np.zeros(len(self.df), np.uint8)  # 1 where _ub is the exact largest contribution
        # The smallest length normalisation of a passage that holds any term (for score bounds).
        nonempty = self._norm[self.doc_len > 0]
        self._min_norm = float(nonempty.min()) if len(nonempty) else 0.0

    # --- idf ------------------------------------------------------------------------------

    def _compute_idf(self) -> np.ndarray:
        n = self.n_docs
        df = self.df
        if self.params.idf == "lucene":
            return np.log1p((n - df + 0.5) / (df + 0.5))
        # rank-bm25's BM25Okapi: log(N - n + .5) - log(n + .5) for every term that occurs,
        # negatives floored to epsilon * (mean idf over all occurring terms, before flooring).
        # math.log, not np.log: numpy's SIMD log differs from libm in the last bit now and then.
        # idf depends on df only, so it is computed once per distinct df.
        idf = np.zeros(len(df))
        present = np.flatnonzero(df > 0)
        if not len(present):
            return idf
        values, inverse = np.unique(df[present], return_inverse=True)
        table = np.array([math.log(n - int(v) + 0.5) - math.log(int(v) + 0.5) for v in values])
        raw = table[inverse]
        if (table < 0).any():
            # rank-bm25 sums idf in dict order (first appearance in the corpus), one add at a
            # time; np.cumsum adds sequentially too, so the floor is bit-identical.
            total = float(np.cumsum(raw[self._first_seen_order(present)])[-1])
            floor = self.params.epsilon * (total / len(raw))
            raw = np.where(raw < 0, floor, raw)
        idf[present] = raw
        return idf

    def _first_seen_order(self, present: np.ndarray) -> np.ndarray:
        """Order of ``present`` term ids by first occurrence in the passages (rank-bm25's dict
        order); falls back to id order when the token stream is not at hand."""
        terms = self._doc_terms
        if terms is None or len(terms) == 0:
            return np.arange(len(present))
        first = np.full(self.vocab_size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, np.asarray(terms, dtype=np.int64), np.arange(len(terms), dtype=np.int64))
        return np.argsort(first[present], kind="stable")

    def term_idf(self, term_id: int) -> float:
        return float(self.idf[term_id]) if 0 <= term_id < len(self.idf) else 0.0

    # --- scoring ----------------------------------------------------------------------------

    def _known(self, query_ids: Sequence[int]) -> list[int]:
        """Query term ids that have postings, duplicates kept (they count twice, as in rank-bm25)."""
        n_terms = len(self.df)
        df = self.df
        return [int(t) for t in query_ids if 0 <= t < n_terms and df[t] > 0]

    def _add(self, term: int, out: np.ndarray) -> np.ndarray:
        """Add one term's contribution into ``out``; returns the passages it touched."""
        lo, hi = self.term_offsets[term], self.term_offsets[term + 1]
        docs = self.post_docs[lo:hi]
        # Same operations as BM25Okapi.get_scores, idf * (tf * (k1 + 1) / (tf + norm)), done in
        # place (a + b and a * b are exactly b + a and b * a, so every value is the same float).
        values = self.post_tfs[lo:hi].astype(np.float64)
        denominator = self._norm[docs]
        denominator += values
        values *= self.params.k1 + 1
        values /= denominator
        values *= self.idf[term]
        out[docs] += values
        if self._exact[term] == 0 and len(values) and self.idf[term] > 0:
            # Scanned anyway: keep the term's exact score bound for later pruned queries.
            self._ub[term] = values.max()
            self._exact[term] = 1
        return docs

    def score_all(self, query_ids: Sequence[int]) -> np.ndarray:
        """Scores for every passage (0 where no term matches), equal to ``get_scores``."""
        scores = np.zeros(self.n_docs)
        for term in self._known(query_ids):
            self._add(term, scores)
        return scores

    def _take_buffer(self) -> np.ndarray:
        with self._lock:
            if self._buffers:
                return self._buffers.pop()
        return np.zeros(self.n_docs)

    def _give_back(self, buffer: np.ndarray) -> None:
        with self._lock:
            if len(self._buffers) < _KEEP_BUFFERS:
                self._buffers.append(buffer)

    def top(self, query_ids: Sequence[int], k: int) -> list[tuple[int, float]]:
        """Best ``k`` (passage id, score) among passages sharing a query term.

        Ordered by score descending then passage id ascending, which is exactly the order a full
        sort of ``score_all`` gives those passages: scoring only the passages that share a term
        changes nothing about the ranking. With positive idf (always, with lucene idf) the common
        terms are not scanned at all (MaxScore, see :meth:`_top_pruned`); the result is the same.
        """
        if k <= 0 or self.n_docs == 0:
            return []
        terms = self._known(query_ids)
        if not terms:
            return []
        if sum(int(self.df[t]) for t in set(terms)) > PRUNE_MIN_POSTINGS and all(self.idf[t] > 0 for t in terms):
            return self._top_pruned(terms, k)
        return self._top_exhaustive(terms, k)

    def _top_exhaustive(self, terms: list[int], k: int) -> list[tuple[int, float]]:
        """Every posting of every term scored into a dense buffer (any idf, even zero or negative)."""
        buffer = self._take_buffer()
        touched: list[np.ndarray] = []
        try:
            for term in terms:
                touched.append(self._add(term, buffer))
            result = self._select(buffer, terms, touched, k)
        finally:
            self._clear(buffer, touched)
        return result

    def _clear(self, buffer: np.ndarray, touched: list[np.ndarray]) -> None:
        """Zero what a query wrote into ``buffer`` (all of it, when that is cheaper) and return it
        to the pool for the next query."""
        if sum(len(docs) for docs in touched) > self.n_docs // 8:
            buffer.fill(0.0)
        else:
            for docs in touched:
                buffer[docs] = 0.0
        self._give_back(buffer)

    # --- MaxScore -----------------------------------------------------------------------------

    def _upper_bounds(self, terms: list[int]) -> np.ndarray:
        """Each term's largest possible contribution to a passage's score (idf > 0 here).

        Exact (the largest contribution in its postings) for a term already scanned, and for a
        short one (computed now: cheap). A long term not scanned yet gets a bound from its
        largest tf and the shortest passage, which costs one pass over its small tf counts
        instead of a full scoring pass that pruning would mostly make unnecessary."""
        ub, exact = self._ub, self._exact
        k1 = self.params.k1
        for term in terms:
            if exact[term]:
                continue
            lo, hi = self.term_offsets[term], self.term_offsets[term + 1]
            if hi - lo <= EXACT_BOUND_POSTINGS:
                tf = self.post_tfs[lo:hi].astype(np.float64)
                ub[term] = (self.idf[term] * (tf * (k1 + 1) / (tf + self._norm[self.post_docs[lo:hi]]))).max()
                exact[term] = 1
            elif ub[term] < 0:
                top_tf = float(self.post_tfs[lo:hi].max())
                ub[term] = self.idf[term] * (top_tf * (k1 + 1) / (top_tf + self._min_norm)) * (1 + _MARGIN)
        return ub[terms]

    def _contributions(self, terms: list[int], docs: np.ndarray) -> np.ndarray:
        """Each term's contribution to each of ``docs`` (rows: terms; 0 where absent), by binary
        search in the terms' postings, one numpy call per term and the rest batched. The same
        expression as :meth:`_add`, element by element, so a present term's value is identical."""
        lo = self.term_offsets[terms]
        pos = np.empty((len(terms), len(docs)), np.int64)
        for row, term in enumerate(terms):
            pos[row] = self.post_docs[lo[row] : self.term_offsets[term + 1]].searchsorted(docs)
        pos += lo[:, None]
        np.minimum(pos, (self.term_offsets[np.asarray(terms) + 1] - 1)[:, None], out=pos)
        hit = self.post_docs.take(pos) == docs
        tf = self.post_tfs.take(pos).astype(np.float64)
        k1 = self.params.k1
        values = self.idf[terms][:, None] * (tf * (k1 + 1) / (tf + self._norm[docs]))
        values[~hit] = 0.0
        return values

    def _top_pruned(self, terms: list[int], k: int) -> list[tuple[int, float]]:
        """Exact top k without scanning the terms that cannot change it (MaxScore, term at a time).

        Terms go by their score upper bound, highest (rarest) first. ``theta`` is always a lower
        bound on the true k-th best score (the k-th best of some k passages' full or partial
        scores). Once the bounds of the terms not yet read add up to less than ``theta``, a
        passage holding none of the terms read so far cannot reach the top k, so the remaining
        (common, long) terms are only looked up, by binary search, for the candidates whose
        partial score plus the remaining bounds still reaches ``theta``. The survivors are
        rescored exactly, term by term in query order as :meth:`score_all` adds them, and ranked
        by score then id. Bounds and partial sums are compared with a relative margin far above
        rounding error, so rounding never drops a passage.
        """
        plan, weights, rest = self._plan(terms)
        weight = dict(zip(plan, (int(w) for w in weights)))
        m = len(plan)
        theta = 0.0  # scores are compared with theta * (1 - _MARGIN)
        buffer = self._take_buffer()
        touched: list[np.ndarray] = []
        try:
            read = 0
            seeds = 0
            while read < m and rest[read] >= theta * (1 - _MARGIN):
                touched.append(self._add_weighted(plan[read], weight[plan[read]], buffer))
                read += 1
                if read < m and rest[read] >= theta * (1 - _MARGIN) and seeds < _SEED_ROUNDS:
                    seeds += 1
                    theta = max(theta, self._seed_theta(buffer, touched, plan[read:], weights[read:], k))
            # Candidates: passages read so far whose partial score plus the unread bounds
            # reaches theta (all of them while theta is 0).
            floor = theta * (1 - _MARGIN) - rest[read]
            kept = [docs[buffer[docs] >= floor] if floor > 0 else docs for docs in touched]
            candidates = kept[0] if len(kept) == 1 else _distinct(np.concatenate(kept))
            partial = buffer[candidates]
        finally:
            self._clear(buffer, touched)
        i = read
        # The unread terms: one at a time (pruning as it goes) while the candidates are many.
        while i < m and len(candidates) > _BATCH_CANDIDATES:
            partial = partial + self._contributions([plan[i]], candidates)[0] * weights[i]
            i += 1
            if len(partial) > k:  # partial scores bound their full scores from below
                theta = max(theta, float(np.partition(partial, len(partial) - k)[len(partial) - k]))
            keep = partial >= theta * (1 - _MARGIN) - rest[i]
            candidates, partial = candidates[keep], partial[keep]
        if i < m and len(candidates):
            partial = partial + (self._contributions(plan[i:], candidates) * weights[i:, None]).sum(axis=0)
            candidates = candidates[partial >= theta * (1 - _MARGIN)]
        return self._rank_exact(terms, candidates, k)

    def _plan(self, terms: list[int]) -> tuple[list[int], np.ndarray, list[float]]:
        """The distinct terms by score bound, highest first; how often the question repeats each;
        and ``rest[i]``, the bounds of ``plan[i:]`` added up, rounded up."""
        weight = Counter(terms)  # a repeated word counts once per occurrence (linear, not m * m)
        distinct = list(weight)
        ub = self._upper_bounds(distinct) * np.array([weight[t] for t in distinct], dtype=np.float64)
        order = sorted(range(len(distinct)), key=lambda i: (-ub[i], distinct[i]))
        plan = [distinct[i] for i in order]
        rest = [0.0] * (len(plan) + 1)
        for i in range(len(plan) - 1, -1, -1):
            rest[i] = (rest[i + 1] + float(ub[order[i]])) * (1 + _MARGIN)
        return plan, np.array([weight[t] for t in plan], dtype=np.float64), rest

    def _add_weighted(self, term: int, weight: int, out: np.ndarray) -> np.ndarray:
        """Add ``weight`` times one term's contribution into ``out`` (a pruning estimate)."""
        docs = self._add(term, out)
        for _ in range(weight - 1):
            self._add(term, out)
        return docs

    def _seed_theta(
        self, buffer: np.ndarray, touched: list[np.ndarray], unread: list[int], weights: np.ndarray, k: int
    ) -> float:
        """A lower bound on the k-th best score: the k-th best full score among the passages with
        the best partial scores so far (0 when fewer than k distinct passages were read)."""
        pool = touched[0] if len(touched) == 1 else np.concatenate(touched)
        want = max(_SEED_PER_K * k, _SEED_MIN)
        if len(pool) > want:
            pool = pool[np.argpartition(buffer[pool], len(pool) - want)[len(pool) - want:]]
        if len(touched) > 1:
            pool = _distinct(pool)
        if len(pool) < k:
            return 0.0
        full = buffer[pool] + (self._contributions(unread, pool) * weights[:, None]).sum(axis=0)
        return float(np.partition(full, len(full) - k)[len(full) - k])

    def _rank_exact(self, terms: list[int], candidates: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Exact scores of ``candidates`` (added in query order, as :meth:`score_all` does) and the
        best k of them by score descending, passage id ascending."""
        if not len(candidates):
            return []
        distinct = list(dict.fromkeys(terms))
        values = self._contributions(distinct, candidates)
        row = {t: i for i, t in enumerate(distinct)}
        scores = values[row[terms[0]]]
        for term in terms[1:]:
            scores = scores + values[row[term]]
        ranked = np.lexsort((candidates, -scores))[:k]
        return [(int(candidates[i]), float(scores[i])) for i in ranked]

    def _select(
        self, scores: np.ndarray, terms: list[int], touched: list[np.ndarray], k: int
    ) -> list[tuple[int, float]]:
        """The k best touched passages, from the dense ``scores`` (untouched entries are 0)."""
        candidates = None
        # Any k touched passages bound the k-th best score from below; the passages holding the
        # rarest terms, which score high, give a tight bound. If a positive bound leaves at least
        # k passages at or above it, the true top k (and everything tied with the k-th) are among
        # them, and a score above 0 means the passage shares a query term.
        order = sorted(range(len(terms)), key=lambda i: len(touched[i]))
        sample: list[np.ndarray] = []
        size = 0
        for i in order:
            sample.append(touched[i])
            size += len(touched[i])
            if size >= k:
                break
        if size >= k:
            pool = scores[np.concatenate(sample)] if len(sample) > 1 else scores[sample[0]]
            bound = np.partition(pool, len(pool) - k)[len(pool) - k]
            if bound > 0:
                candidates = np.flatnonzero(scores >= bound)
                if len(candidates) < k:  # the pool counted a passage twice
                    candidates = None
        if candidates is None:
            # Few matches, or zero/negative idf (okapi on tiny folders): the exact union.
            candidates = touched[0] if len(touched) == 1 else np.unique(np.concatenate(touched))
        cand_scores = scores[candidates]
        if len(candidates) > k:
            # Keep every candidate tied with the k-th score so the id tie-break is exact.
            kth = np.partition(cand_scores, len(cand_scores) - k)[len(cand_scores) - k]
            keep = cand_scores >= kth
            candidates, cand_scores = candidates[keep], cand_scores[keep]
        ranked = np.lexsort((candidates, -cand_scores))[:k]
        return [(int(candidates[i]), float(cand_scores[i])) for i in ranked]


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: numpy's hashing ``unique`` is slower at these sizes)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


# --- building postings ----------------------------------------------------------------------------


def _tf_dtype(max_tf: int) -> type:
    return np.uint16 if max_tf <= np.iinfo(np.uint16).max else np.int32


def _chunk_pairs(
    doc_terms: np.ndarray, doc_offsets: np.ndarray, d0: int, d1: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (term, passage) pairs of passages d0..d1, sorted by term then passage, with tf."""
    lo, hi = int(doc_offsets[d0]), int(doc_offsets[d1])
    span = d1 - d0
    if hi == lo:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64)
    keys = np.repeat(np.arange(span, dtype=np.int64), np.diff(doc_offsets[d0 : d1 + 1]))
    keys += np.asarray(doc_terms[lo:hi], dtype=np.int64) * span
    keys.sort()
    boundary = np.empty(len(keys), dtype=bool)
    boundary[0] = True
    np.not_equal(keys[1:], keys[:-1], out=boundary[1:])
    starts = np.flatnonzero(boundary)
    tfs = np.diff(np.append(starts, len(keys)))
    unique = keys[starts]
    del keys, boundary, starts
    terms = (unique // span).astype(np.int32)
    docs = (unique - terms.astype(np.int64) * span + d0).astype(np.int32)
    return terms, docs, tfs


def build_postings(doc_terms: np.ndarray, doc_offsets: np.ndarray, vocab_size: int) -> Postings:
    """Term-major postings: for term t, passages ``post_docs[o[t]:o[t+1]]`` (ascending) with
    counts ``post_tfs``. Works through the passages a few million tokens at a time (sort each
    chunk, count its terms; then sort each again and place its pairs by a counting sort on
    term), so memory stays near the output's."""
    doc_offsets = np.asarray(doc_offsets, dtype=np.int64)
    n_docs = len(doc_offsets) - 1
    term_offsets = np.zeros(vocab_size + 1, np.int64)
    if n_docs <= 0 or len(doc_terms) == 0:
        return term_offsets, np.zeros(0, np.int32), np.zeros(0, np.uint16)
    # Chunks of whole passages, about CHUNK_TOKENS tokens each.
    bounds = [0]
    targets = np.arange(CHUNK_TOKENS, int(doc_offsets[-1]), CHUNK_TOKENS)
    for cut in np.searchsorted(doc_offsets, targets, side="right") - 1:
        if cut > bounds[-1]:
            bounds.append(int(cut))
    if bounds[-1] != n_docs:
        bounds.append(n_docs)
    # Two passes over the chunks, the pairs made again in the second: holding every chunk's
    # pairs (10 bytes each) until all are counted cost more memory than the postings themselves.
    chunk_bounds = list(zip(bounds[:-1], bounds[1:]))
    counts = np.zeros(vocab_size, np.int64)
    max_tf = 0
    for d0, d1 in chunk_bounds:
        terms, _docs, tfs = _chunk_pairs(doc_terms, doc_offsets, d0, d1)
        if len(tfs):
            max_tf = max(max_tf, int(tfs.max()))
        counts += np.bincount(terms, minlength=vocab_size)
        del terms, _docs, tfs
    np.cumsum(counts, out=term_offsets[1:])
    nnz = int(term_offsets[-1])
    post_docs = np.empty(nnz, np.int32)
    post_tfs = np.empty(nnz, _tf_dtype(max_tf))
    cursor = term_offsets[:-1].copy()
    # Chunks come in passage order and each is sorted by (term, passage): placing each chunk's
    # run of a term after the previous chunks' keeps every term's passages ascending.
    for d0, d1 in chunk_bounds:
        terms, docs, tfs = _chunk_pairs(doc_terms, doc_offsets, d0, d1)
        if not len(terms):
            continue
        boundary = np.empty(len(terms), dtype=bool)
        boundary[0] = True
        np.not_equal(terms[1:], terms[:-1], out=boundary[1:])
        starts = np.flatnonzero(boundary)
        runs = np.diff(np.append(starts, len(terms)))
        run_terms = terms[starts]
        positions = np.arange(len(terms), dtype=np.int64)
        positions += np.repeat(cursor[run_terms] - starts, runs)
        post_docs[positions] = docs
        post_tfs[positions] = tfs
        cursor[run_terms] += runs
    return term_offsets, post_docs, post_tfs


def merge_postings(
    old: Postings, remap: np.ndarray, added: Postings, vocab_size: int
) -> Postings:
    """Postings after an incremental change, equal to rebuilding them from scratch.

    ``old`` are the previous postings; ``remap[p]`` (int32) is old passage p's new id, or -1 if
    gone (ids of kept passages keep their relative order, as they do when articles are sorted by
    path); ``added`` are the postings of the new passages, already in new ids. Costs a few
    linear passes over the postings instead of a sort.
    """
    old_offsets, old_docs, old_tfs = old
    add_offsets, add_docs, add_tfs = added
    n_old_terms = len(old_offsets) - 1
    # Old postings under their new ids, without the removed passages.
    kept_docs = remap[old_docs].astype(np.int32, copy=False)
    kept_counts = np.diff(old_offsets)
    gone = np.flatnonzero(kept_docs < 0)
    kept_tfs = old_tfs
    if len(gone):
        kept_docs = np.delete(kept_docs, gone)
        kept_tfs = np.delete(old_tfs, gone)
        gone_terms = np.searchsorted(old_offsets, gone, side="right") - 1
        kept_counts = kept_counts - np.bincount(gone_terms, minlength=n_old_terms)
    del gone
    # Both sides padded to the (possibly grown) vocabulary.
    counts = np.zeros(vocab_size, np.int64)
    counts[:n_old_terms] += kept_counts
    add_counts = np.zeros(vocab_size, np.int64)
    add_counts[: len(add_offsets) - 1] = np.diff(add_offsets)
    kept_offsets = np.zeros(vocab_size + 1, np.int64)
    np.cumsum(counts, out=kept_offsets[1:])
    term_offsets = np.zeros(vocab_size + 1, np.int64)
    np.cumsum(counts + add_counts, out=term_offsets[1:])
    if not len(add_docs):
        return term_offsets, kept_docs, kept_tfs
    # Where each added posting goes among the kept ones of its term. np.insert keeps values
    # aimed at one index in the order given, and ``added`` is term-major and ascending.
    insert_at = np.empty(len(add_docs), np.int64)
    for t in np.flatnonzero(add_counts):
        lo, hi = int(add_offsets[t]), int(add_offsets[t + 1])
        klo, khi = int(kept_offsets[t]), int(kept_offsets[t + 1])
        insert_at[lo:hi] = klo + np.searchsorted(kept_docs[klo:khi], add_docs[lo:hi])
    post_docs = np.insert(kept_docs, insert_at, add_docs.astype(np.int32, copy=False))
    tf_dtype = np.promote_types(kept_tfs.dtype, add_tfs.dtype)
    post_tfs = np.insert(kept_tfs.astype(tf_dtype, copy=False), insert_at, add_tfs.astype(tf_dtype))
    return term_offsets, post_docs, post_tfs

