"""Ranking metrics, written out so they can be checked by hand (tests/test_benchmarks.py).

Conventions follow trec_eval / pytrec_eval as BEIR and the answer-selection papers use them:

* nDCG@k: gain = the judged relevance (linear, trec_eval's ``ndcg_cut``), discount
  ``1 / log2(rank + 1)``, ideal DCG from the judged relevances sorted, both cut at k.
* Recall@k: judged-relevant items among the first k / all judged-relevant items.
* Average precision: mean over the relevant items of precision at each one's rank, divided by
  the number of relevant items (those never retrieved count as precision 0).
* Reciprocal rank: 1 / rank of the first relevant item, 0 if none.

A ranking is a sequence of item ids, best first; ``relevant`` maps an id to its relevance (> 0
relevant). For answer-sentence selection, :func:`rank_by_score` turns candidate scores into a
ranking (ties keep candidate order, so results do not depend on hashing or sort stability).
"""
from __future__ import annotations

import math
from typing import Hashable, Iterable, Mapping, Sequence

Item = Hashable


def _gains(relevant: Mapping[Item, float] | Iterable[Item]) -> dict[Item, float]:
    if isinstance(relevant, Mapping):
        return {k: float(v) for k, v in relevant.items() if v > 0}
    return {k: 1.0 for k in relevant}


def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at(ranking: Sequence[Item], relevant: Mapping[Item, float] | Iterable[Item], k: int) -> float:
    """nDCG@k of ``ranking`` (0 when nothing is relevant)."""
    gains = _gains(relevant)
    if not gains:
        return 0.0
    got = dcg([gains.get(item, 0.0) for item in _dedupe(ranking)[:k]])
    ideal = dcg(sorted(gains.values(), reverse=True)[:k])
    return got / ideal


def recall_at(ranking: Sequence[Item], relevant: Mapping[Item, float] | Iterable[Item], k: int) -> float:
    gains = _gains(relevant)
    if not gains:
        return 0.0
    return sum(1 for item in _dedupe(ranking)[:k] if item in gains) / len(gains)


def average_precision(ranking: Sequence[Item], relevant: Mapping[Item, float] | Iterable[Item]) -> float:
    gains = _gains(relevant)
    if not gains:
        return 0.0
    hits = 0
    total = 0.0
    for rank, item in enumerate(_dedupe(ranking), start=1):
        if item in gains:
            hits += 1
            total += hits / rank
    return total / len(gains)


def reciprocal_rank(ranking: Sequence[Item], relevant: Mapping[Item, float] | Iterable[Item]) -> float:
    gains = _gains(relevant)
    for rank, item in enumerate(_dedupe(ranking), start=1):
        if item in gains:
            return 1.0 / rank
    return 0.0


def rank_by_score(scores: Sequence[float]) -> list[int]:
    """Candidate indices by score, best first; equal scores keep candidate order."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method), q in 0..100."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _dedupe(ranking: Sequence[Item]) -> list[Item]:
    """First occurrence of each item (a document retrieved through two passages counts once)."""
    seen: set[Item] = set()
    out = []
    for item in ranking:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
