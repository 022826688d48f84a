"""MaxScore top-k (``BM25Index._top_pruned``): the same ids and bit-identical scores as a full
sort of exhaustive scoring, ties broken by passage id, on many random corpora and queries; and
it really skips work: the postings of a common term that cannot change the top k are not read."""
from __future__ import annotations

import random

import numpy as np
import pytest

import helpers

import citebot.retrieval.index as index_module
from citebot.retrieval.index import BM25Index, BM25Params
from citebot.retrieval.vocabulary import Vocabulary


def build(corpus: list[list[str]], params: BM25Params) -> tuple[BM25Index, Vocabulary]:
    vocab = Vocabulary()
    ids = [[vocab.add(t) for t in doc] for doc in corpus]
    offsets = np.zeros(len(corpus) + 1, np.int64)
    np.cumsum([len(d) for d in ids], out=offsets[1:])
    terms = np.array([t for d in ids for t in d], dtype=np.int32)
    return BM25Index(terms, offsets, len(vocab), params), vocab


def random_corpus(rng: random.Random, n_docs: int) -> list[list[str]]:
    """Zipf-ish words; some documents empty, some repeated verbatim (exact ties)."""
    n_words = rng.choice([5, 30, 200, 1000])
    words = [f"w{i}" for i in range(n_words)]
    weights = [1 / (i + 1) ** rng.choice([0.8, 1.0, 1.3]) for i in range(n_words)]
    corpus: list[list[str]] = []
    for _ in range(n_docs):
        roll = rng.random()
        if roll < 0.05:
            corpus.append([])
        elif roll < 0.25 and corpus:
            corpus.append(list(rng.choice(corpus)))  # a copy: ties at every score
        else:
            corpus.append(rng.choices(words, weights, k=rng.randint(1, rng.choice([4, 15, 60]))))
    return corpus


def expected_top(index: BM25Index, ids: list[int], k: int) -> list[tuple[int, float]]:
    """Exhaustive: every passage scored, full sort by (score desc, id asc), matching ones kept."""
    scores = index.score_all(ids)
    known = [t for t in ids if 0 <= t < len(index.df) and index.df[t] > 0]
    matching = np.zeros(index.n_docs, bool)
    for t in known:
        matching[index.post_docs[index.term_offsets[t] : index.term_offsets[t + 1]]] = True
    order = sorted(np.flatnonzero(matching).tolist(), key=lambda i: (-scores[i], i))
    return [(i, float(scores[i])) for i in order[:k]]


@pytest.fixture
def always_prune(monkeypatch):
    """Every query with positive idf takes the pruned path, and we count that it did."""
    monkeypatch.setattr(index_module, "PRUNE_MIN_POSTINGS", 0)
    calls = []
    original = BM25Index._top_pruned

    def counted(self, terms, k):
        calls.append(k)
        return original(self, terms, k)

    monkeypatch.setattr(BM25Index, "_top_pruned", counted)
    return calls


@pytest.mark.parametrize("seed", range(60))
def test_pruned_top_k_equals_exhaustive_scoring(seed: int, always_prune, monkeypatch) -> None:
    rng = random.Random(5000 + seed)
    # Vary the pruning knobs too, so each branch (term by term, batched, few/many estimates) runs.
    monkeypatch.setattr(index_module, "_BATCH_CANDIDATES", rng.choice([0, 3, 256, 10**9]))
    monkeypatch.setattr(index_module, "_SEED_ROUNDS", rng.choice([0, 1, 3, 8]))
    monkeypatch.setattr(index_module, "_SEED_MIN", rng.choice([1, 32]))
    # Long terms get a looser bound (largest tf, shortest passage) until scanned once.
    monkeypatch.setattr(index_module, "EXACT_BOUND_POSTINGS", rng.choice([0, 5, 8_192]))
    corpus = random_corpus(rng, rng.choice([5, 40, 300, 1500]))
    k1, b = rng.choice([(1.5, 0.75), (0.9, 0.4), (1.2, 0.0), (2.0, 1.0), (0.0, 0.5)])
    index, vocab = build(corpus, BM25Params(k1=k1, b=b))
    seen = sorted({t for d in corpus for t in d}) or ["w0"]
    for _ in range(12):
        query = [rng.choice(seen) for _ in range(rng.randint(1, 9))]
        if rng.random() < 0.4:
            query.append(rng.choice(query))  # a repeated word counts twice
        if rng.random() < 0.2:
            query.append("never-seen")
        ids = vocab.lookup(query)
        for k in (1, 2, 10, rng.randint(1, 50), len(corpus) + 3):
            assert index.top(ids, k) == expected_top(index, ids, k), (query, k)
    assert always_prune  # the pruned path did run


def test_okapi_with_positive_idf_is_pruned_and_exact(always_prune) -> None:
    rng = random.Random(9)
    corpus = random_corpus(rng, 2000)
    index, vocab = build(corpus, BM25Params(idf="okapi"))
    rare = [w for w in {t for d in corpus for t in d} if index.term_idf(vocab.ids[w]) > 0]
    for _ in range(30):
        ids = vocab.lookup(rng.sample(rare, min(len(rare), rng.randint(1, 5))))
        assert index.top(ids, 10) == expected_top(index, ids, 10)
    assert always_prune


def test_zero_or_negative_idf_falls_back_to_exhaustive(always_prune) -> None:
    corpus = [["a", "b"], ["a", "c"], ["a"], ["b", "a"]]  # okapi: "a" everywhere, floored idf
    index, vocab = build(corpus, BM25Params(idf="okapi"))
    assert index.term_idf(vocab.ids["a"]) < 0 and index.term_idf(vocab.ids["b"]) == 0
    for query in (["a"], ["a", "b"], ["b", "c"], ["c", "c", "a"], ["c"]):
        ids = vocab.lookup(query)
        assert index.top(ids, 3) == expected_top(index, ids, 3)
    assert len(always_prune) == 1  # only ["c"] has positive idf on every term


def test_common_terms_that_cannot_change_the_top_k_are_not_scanned(monkeypatch) -> None:
    # 20,000 passages all holding "common"; "rare" in 30 of them. The top 10 for "rare common"
    # are rare passages; the common term is only looked up for a few candidates.
    monkeypatch.setattr(index_module, "PRUNE_MIN_POSTINGS", 0)
    rng = random.Random(3)
    corpus = [["common"] * rng.randint(1, 3) + [f"f{rng.randint(0, 99)}" for _ in range(rng.randint(0, 8))]
              for _ in range(20_000)]
    for i in rng.sample(range(len(corpus)), 30):
        corpus[i].append("rare")
    index, vocab = build(corpus, BM25Params())
    scanned: list[int] = []
    original = BM25Index._add

    def counting_add(self, term, out):
        docs = original(self, term, out)
        scanned.append(len(docs))
        return docs

    monkeypatch.setattr(BM25Index, "_add", counting_add)
    ids = vocab.lookup(["rare", "common"])
    top = index.top(ids, 10)
    assert sum(scanned) < 1_000  # the exhaustive way reads all 20,030 postings
    monkeypatch.setattr(BM25Index, "_add", original)
    assert top == expected_top(index, ids, 10)
    assert all(pid in {i for i, d in enumerate(corpus) if "rare" in d} for pid, _ in top)


def test_concurrent_pruned_queries_do_not_see_each_other(always_prune) -> None:
    import threading

    rng = random.Random(21)
    corpus = random_corpus(rng, 3000)
    index, vocab = build(corpus, BM25Params())
    seen = sorted({t for d in corpus for t in d})
    queries = [vocab.lookup([rng.choice(seen) for _ in range(rng.randint(1, 6))]) for _ in range(40)]
    expected = [expected_top(index, q, 10) for q in queries]
    failures = helpers.concurrent_mismatches(index, queries, expected)
    assert not failures and always_prune
