"""BM25 index: scores equal rank-bm25's BM25Okapi, top-k ranks as a full sort does, postings built
in chunks or merged incrementally equal a rebuild, and a cached Library answers identically."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

import helpers

import citebot.retrieval.index as index_module
from citebot.retrieval import Library
from citebot.retrieval.vocabulary import Vocabulary
from citebot.retrieval.index import BM25Index, BM25Params, build_postings, merge_postings

OKAPI = BM25Params(idf="okapi")


# --- helpers -----------------------------------------------------------------------------------


def arrays(corpus: list[list[str]], vocab: Vocabulary | None = None):
    vocab = Vocabulary() if vocab is None else vocab
    ids = [[vocab.add(t) for t in doc] for doc in corpus]
    offsets = np.zeros(len(corpus) + 1, np.int64)
    np.cumsum([len(d) for d in ids], out=offsets[1:])
    terms = np.array([t for d in ids for t in d], dtype=np.int32)
    return terms, offsets, vocab


def index_of(corpus: list[list[str]], params: BM25Params = OKAPI) -> tuple[BM25Index, Vocabulary]:
    terms, offsets, vocab = arrays(corpus)
    return BM25Index(terms, offsets, len(vocab), params), vocab


def random_corpus(rng: random.Random, n_docs: int, n_words: int, max_len: int) -> list[list[str]]:
    """Zipf-ish words, so some sit in most documents; some documents empty."""
    words = [f"w{i}" for i in range(n_words)]
    weights = [1 / (i + 1) for i in range(n_words)]
    corpus = []
    for _ in range(n_docs):
        length = 0 if rng.random() < 0.1 else rng.randint(1, max_len)
        corpus.append(rng.choices(words, weights, k=length))
    return corpus


def random_query(rng: random.Random, corpus: list[list[str]]) -> list[str]:
    seen = sorted({t for d in corpus for t in d}) or ["w0"]
    query = [rng.choice(seen) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.5:
        query.append(rng.choice(query))  # a duplicated term counts twice
    if rng.random() < 0.3:
        query.append("never-seen")
    rng.shuffle(query)
    return query


def full_sort_ranking(scores: np.ndarray, matching: set[int]) -> list[int]:
    """Every passage sorted by (score desc, id asc); kept: those sharing a query term."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [i for i in order if i in matching]


def matching_docs(corpus: list[list[str]], query: list[str]) -> set[int]:
    q = set(query)
    return {i for i, d in enumerate(corpus) if q & set(d)}


CASES = [(seed, n) for seed, n in enumerate([1, 2, 3, 4, 5, 6, 8, 10, 15, 30, 60, 150, 400] * 3)]


# --- parity with rank-bm25 ---------------------------------------------------------------------


@pytest.mark.parametrize("seed,n_docs", CASES)
def test_okapi_scores_equal_rank_bm25(seed: int, n_docs: int) -> None:
    rng = random.Random(seed)
    corpus = random_corpus(rng, n_docs, rng.choice([3, 8, 40, 300]), rng.choice([3, 12, 60]))
    if not any(corpus):
        corpus[0] = ["w0"]  # rank-bm25 divides by zero on a corpus without a single token
    k1, b = rng.choice([(1.5, 0.75), (0.9, 0.4), (1.2, 0.0), (2.0, 1.0)])
    reference = BM25Okapi(corpus, k1=k1, b=b)
    index, vocab = index_of(corpus, BM25Params(k1=k1, b=b, idf="okapi"))
    empty = np.array([not d for d in corpus])
    for _ in range(8):
        query = random_query(rng, corpus)
        with np.errstate(invalid="ignore"):
            expected = reference.get_scores(query)
        # With b = 1 rank-bm25 computes 0/0 = nan for an empty document; it matches nothing.
        assert not np.isnan(expected[~empty]).any()
        expected[empty & np.isnan(expected)] = 0.0
        got = index.score_all(vocab.lookup(query))
        assert np.array_equal(got, expected), (query, got - expected)


@pytest.mark.parametrize(
    "corpus",
    [
        [["a", "b"], ["a", "c"]],  # a in every doc: raw idf < 0, floored
        [["a"], ["b"]],  # each term in exactly half: idf exactly 0
        [["a", "a", "b"], ["a"], ["c"], ["a", "c"]],  # a in 3 of 4, c in exactly half
        [["a"], ["a"], ["a"]],  # every term in every doc: the floor itself is negative
        [[], ["a", "b"], [], ["b"]],  # empty documents
    ],
)
def test_tiny_corpora_where_okapi_idf_is_zero_or_negative(corpus) -> None:
    reference = BM25Okapi(corpus)
    index, vocab = index_of(corpus)
    for query in (["a"], ["b"], ["c"], ["a", "a"], ["a", "b", "c", "zzz"], ["zzz"], []):
        assert np.array_equal(index.score_all(vocab.lookup(query)), reference.get_scores(query))
        assert all(index.term_idf(i) == pytest.approx(reference.idf.get(t, 0.0), abs=0)
                   for t, i in zip(query, vocab.lookup(query)) if i >= 0)


def test_okapi_floor_sums_idf_in_rank_bm25_order() -> None:
    # Many terms and one in every document: the floor is epsilon * mean idf, and the mean must
    # come out bit-identical (rank-bm25 adds the idfs one at a time, in first-seen order).
    rng = random.Random(7)
    corpus = [["common"] + [f"t{rng.randint(0, 500)}" for _ in range(rng.randint(1, 30))] for _ in range(200)]
    reference = BM25Okapi(corpus)
    index, vocab = index_of(corpus)
    assert reference.idf["common"] > 0 and index.term_idf(vocab.ids["common"]) == reference.idf["common"]
    assert np.array_equal(index.score_all(vocab.lookup(["common", "t3"])), reference.get_scores(["common", "t3"]))


# --- ranking --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed,n_docs", CASES)
@pytest.mark.parametrize("idf", ["okapi", "lucene"])
def test_top_k_ranks_as_a_full_sort_of_every_score(seed: int, n_docs: int, idf: str) -> None:
    rng = random.Random(1000 + seed)
    corpus = random_corpus(rng, n_docs, rng.choice([3, 8, 40]), rng.choice([3, 12]))
    index, vocab = index_of(corpus, BM25Params(idf=idf))
    for _ in range(6):
        query = random_query(rng, corpus)
        ids = vocab.lookup(query)
        scores = index.score_all(ids)
        expected = full_sort_ranking(scores, matching_docs(corpus, query))
        for k in (1, 3, 10, n_docs + 5):
            top = index.top(ids, k)
            assert [pid for pid, _ in top] == expected[:k]
            assert [s for _, s in top] == [scores[pid] for pid in expected[:k]]


def test_with_positive_idf_top_k_is_the_head_of_the_full_sort() -> None:
    # Lucene idf is positive, so every matching passage outranks every other one.
    rng = random.Random(3)
    corpus = random_corpus(rng, 300, 50, 20)
    index, vocab = index_of(corpus, BM25Params())
    for _ in range(20):
        ids = vocab.lookup(random_query(rng, corpus))
        scores = index.score_all(ids)
        head = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:10]
        top = index.top(ids, 10)
        assert [pid for pid, _ in top] == [i for i in head if scores[i] > 0]


def test_lucene_idf_is_always_positive() -> None:
    corpus = [["a", "b"], ["a"], ["a", "c"], ["a"]]  # a everywhere, c in a quarter
    index, vocab = index_of(corpus, BM25Params())
    assert all(index.term_idf(vocab.ids[t]) > 0 for t in "abc")
    assert (index.idf > 0).all()
    assert [pid for pid, _ in index.top(vocab.lookup(["a"]), 10)] == [1, 3, 0, 2]  # shorter first


def test_ties_are_broken_by_passage_id_and_results_are_repeatable() -> None:
    corpus = [["x", "y"], ["z"], ["x", "y"], ["x", "y"], ["q"], ["x", "y"]]
    index, vocab = index_of(corpus, BM25Params())
    first = index.top(vocab.lookup(["x"]), 3)
    assert [pid for pid, _ in first] == [0, 2, 3]
    assert len({s for _, s in first}) == 1
    for _ in range(5):
        assert index.top(vocab.lookup(["x"]), 3) == first
        index.top(vocab.lookup(["z", "q"]), 2)  # other queries in between leave no trace
    assert [pid for pid, _ in index.top(vocab.lookup(["x", "q"]), 10)] == [4, 0, 2, 3, 5]


def test_empty_corpus_and_empty_queries() -> None:
    empty = BM25Index(np.zeros(0, np.int32), np.zeros(1, np.int64), 0)
    assert empty.n_docs == 0 and empty.top([0, 1], 5) == [] and len(empty.score_all([0])) == 0
    no_tokens = BM25Index(np.zeros(0, np.int32), np.zeros(4, np.int64), 0, OKAPI)
    assert no_tokens.top([0], 5) == [] and no_tokens.score_all([0]).tolist() == [0.0, 0.0, 0.0]
    index, vocab = index_of([["a"], ["b"]])
    assert index.top([], 5) == [] and index.top([-1, 99], 5) == [] and index.top(vocab.lookup(["a"]), 0) == []


def test_concurrent_queries_do_not_see_each_other() -> None:
    rng = random.Random(11)
    corpus = random_corpus(rng, 2000, 300, 30)
    index, vocab = index_of(corpus, BM25Params())
    queries = [vocab.lookup(random_query(rng, corpus)) for _ in range(40)]
    expected = [index.top(q, 10) for q in queries]
    failures = helpers.concurrent_mismatches(index, queries, expected)
    assert not failures


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        BM25Params(idf="bm42")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BM25Params(b=1.5)


# --- postings --------------------------------------------------------------------------------------


def naive_postings(corpus_ids: list[list[int]], vocab_size: int):
    by_term: dict[int, list[tuple[int, int]]] = {t: [] for t in range(vocab_size)}
    for d, doc in enumerate(corpus_ids):
        for t in sorted(set(doc)):
            by_term[t].append((d, doc.count(t)))
    offsets = np.zeros(vocab_size + 1, np.int64)
    np.cumsum([len(by_term[t]) for t in range(vocab_size)], out=offsets[1:])
    docs = [d for t in range(vocab_size) for d, _ in by_term[t]]
    tfs = [f for t in range(vocab_size) for _, f in by_term[t]]
    return offsets, docs, tfs


@pytest.mark.parametrize("chunk", [1, 7, 50, 10_000_000])
def test_postings_built_in_chunks_equal_the_naive_ones(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(index_module, "CHUNK_TOKENS", chunk)
    rng = random.Random(chunk)
    corpus = random_corpus(rng, 120, 30, 25)
    terms, offsets, vocab = arrays(corpus)
    got = build_postings(terms, offsets, len(vocab) + 2)  # two terms without postings
    ids = [[vocab.ids[t] for t in d] for d in corpus]
    want = naive_postings(ids, len(vocab) + 2)
    assert got[0].tolist() == want[0].tolist()
    assert got[1].tolist() == want[1] and got[2].tolist() == want[2]


@pytest.mark.parametrize("seed", range(12))
def test_merged_postings_equal_a_rebuild(seed: int) -> None:
    """Remove some passages, add others (ids interleaved, as sorting by path does)."""
    rng = random.Random(seed)
    vocab = Vocabulary()
    old = random_corpus(rng, rng.randint(1, 60), 25, 15)
    old_terms, old_offsets, _ = arrays(old, vocab)
    old_postings = build_postings(old_terms, old_offsets, len(vocab))
    # The new corpus: old passages kept in order (some dropped), new ones slotted in between.
    new_corpus: list[list[str]] = []
    remap = np.full(len(old), -1, np.int32)
    added: list[list[str]] = []
    added_ids: list[int] = []
    for p, doc in enumerate(old):
        while rng.random() < 0.2:
            added_ids.append(len(new_corpus))
            added.append(random_corpus(rng, 1, 40, 15)[0] + ["brand-new"])
            new_corpus.append(added[-1])
        if rng.random() < 0.8:
            remap[p] = len(new_corpus)
            new_corpus.append(doc)
    if rng.random() < 0.5:
        added_ids.append(len(new_corpus))
        added.append(["tail", "w1"])
        new_corpus.append(added[-1])
    # Postings of the added passages alone, under their new ids.
    add_vocab_terms = [[vocab.add(t) for t in d] for d in added]
    add_offsets = np.zeros(len(added) + 1, np.int64)
    np.cumsum([len(d) for d in add_vocab_terms], out=add_offsets[1:])
    add_terms = np.array([t for d in add_vocab_terms for t in d], np.int32)
    local = build_postings(add_terms, add_offsets, len(vocab))
    added_postings = (local[0], np.array(added_ids, np.int32)[local[1]], local[2])

    merged = merge_postings(old_postings, remap, added_postings, len(vocab))
    new_terms, new_offsets, _ = arrays(new_corpus, vocab)
    rebuilt = build_postings(new_terms, new_offsets, len(vocab))
    for a, b in zip(merged, rebuilt):
        assert a.tolist() == b.tolist()


# --- Library: cache round trip and incremental refresh ---------------------------------------------------


def write_articles(folder: Path, rng: random.Random, n: int, prefix: str = "a") -> None:
    words = "harbour bridge ferry coffee frost wheat council vote strike bakery river flood " \
            "festival rowing record mayor budget tonnes exports island school railway".split()
    for i in range(n):
        paragraphs = [" ".join(rng.choices(words, k=rng.randint(4, 30))) + "." for _ in range(rng.randint(1, 5))]
        sub = folder / ("nested" if i % 3 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{prefix}{i:03d}.txt").write_text(f"Title {prefix} {i} {rng.choice(words)}\n\n" + "\n\n".join(paragraphs) + "\n")


QUERIES = ["harbour bridge", "coffee frost", "council vote budget", "rowing record island", "railway",
           "When did the ferry reach the island?", "How many tonnes of wheat were exported?"]


def results(library: Library) -> list:
    out = []
    for q in QUERIES:
        out.append([(h.passage.article.path, h.passage.paragraph, h.passage.start, h.passage.end, h.score)
                    for h in library.search(q, 8)])
        a = library.ask(q)
        out.append((a.found, a.text, [(c.path, c.paragraph, c.quote) for c in a.citations]))
    return out


def test_library_save_and_load_round_trip_gives_identical_results(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write_articles(folder, random.Random(5), 40)
    first = Library.open(folder, cache_dir=tmp_path / "cache")
    assert not first.loaded_from_cache
    second = Library.open(folder, cache_dir=tmp_path / "cache")
    assert second.loaded_from_cache
    assert results(second) == results(first)
    assert second.snapshot.n_passages == first.snapshot.n_passages
    a, b = first.snapshot.index, second.snapshot.index
    assert np.array_equal(a.idf, b.idf) and np.array_equal(a.post_docs, b.post_docs)


def postings_by_term(library: Library) -> dict[str, tuple[list[int], list[int]]]:
    snap = library.snapshot
    index = snap.index
    out = {}
    for term_id, term in enumerate(snap.vocab.terms):
        lo, hi = int(index.term_offsets[term_id]), int(index.term_offsets[term_id + 1])
        if hi > lo:
            out[term] = (index.post_docs[lo:hi].tolist(), index.post_tfs[lo:hi].tolist())
    return out


def test_incremental_refresh_equals_a_fresh_build(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    rng = random.Random(9)
    write_articles(folder, rng, 30)
    library = Library.open(folder, cache_dir=tmp_path / "cache")
    for step in range(4):
        (folder / f"a{step * 7:03d}.txt").unlink(missing_ok=True)
        (folder / "nested" / f"a{step * 3:03d}.txt").unlink(missing_ok=True)
        write_articles(folder, rng, 2, prefix=f"new{step}-")
        library.refresh()
        fresh = Library.open(folder)  # no cache: built from scratch
        assert results(library) == results(fresh)
        # The vocabularies differ (append-only), so postings are compared per term string.
        assert postings_by_term(library) == postings_by_term(fresh)
        assert np.array_equal(library.snapshot.index.doc_len, fresh.snapshot.index.doc_len)
    reopened = Library.open(folder, cache_dir=tmp_path / "cache")
    assert reopened.loaded_from_cache and results(reopened) == results(library)
