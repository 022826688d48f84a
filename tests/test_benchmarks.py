"""Benchmark helpers: the metric code on hand-checked examples, and the scale-corpus builder."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks import metrics
from benchmarks.corpus import build_corpus, copy_token, parse_scale, read_source, sample_questions, with_token
from citebot.retrieval import Library
from citebot.retrieval.analyzer import tokenize

# --- metrics -------------------------------------------------------------------------------------


def test_ndcg_by_hand() -> None:
    # Relevant d2 and d3 at ranks 2 and 3: DCG = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3).
    got = metrics.ndcg_at(["d1", "d2", "d3"], {"d2": 1, "d3": 1}, 10)
    assert got == pytest.approx((1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)))
    assert got == pytest.approx(0.693426, abs=1e-6)
    assert metrics.ndcg_at(["d2", "d3", "d1"], {"d2": 1, "d3": 1}, 10) == pytest.approx(1.0)
    assert metrics.ndcg_at(["d1", "d4"], {"d2": 1}, 10) == 0.0
    assert metrics.ndcg_at(["d1"], {}, 10) == 0.0


def test_ndcg_cut_and_graded_gains() -> None:
    # Cut at 1: only the first item counts, the ideal holds the best gain.
    assert metrics.ndcg_at(["b", "a"], {"a": 2, "b": 1}, 1) == pytest.approx(0.5)
    # Graded, linear gain: DCG = 1 + 2/log2(3) = 2.26186; ideal = 2 + 1/log2(3) = 2.63093.
    assert metrics.ndcg_at(["b", "a"], {"a": 2, "b": 1}, 10) == pytest.approx(2.261860 / 2.630930, abs=1e-6)
    # A relevant document never retrieved still counts in the ideal.
    assert metrics.ndcg_at(["a"], {"a": 1, "z": 1}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # A document reached through two passages counts once.
    assert metrics.ndcg_at(["x", "x", "a"], {"a": 1}, 2) == pytest.approx(1 / math.log2(3))


def test_recall_by_hand() -> None:
    ranking = ["a", "b", "c", "d"]
    assert metrics.recall_at(ranking, {"b", "d", "z"}, 2) == pytest.approx(1 / 3)
    assert metrics.recall_at(ranking, {"b", "d", "z"}, 100) == pytest.approx(2 / 3)
    assert metrics.recall_at(ranking, set(), 10) == 0.0


def test_average_precision_and_reciprocal_rank_by_hand() -> None:
    # Relevant at ranks 2 and 4: AP = (1/2 + 2/4) / 2 = 0.5; RR = 1/2.
    assert metrics.average_precision([0, 1, 2, 3], {1, 3}) == pytest.approx(0.5)
    assert metrics.reciprocal_rank([0, 1, 2, 3], {1, 3}) == pytest.approx(0.5)
    # Ranks 1, 4, 5 of three relevant: (1 + 2/4 + 3/5) / 3 = 0.7.
    assert metrics.average_precision(list("abcde"), set("ade")) == pytest.approx(0.7)
    # A relevant item never ranked counts as precision 0: (1/1) / 2.
    assert metrics.average_precision(["a", "b"], {"a", "z"}) == pytest.approx(0.5)
    assert metrics.reciprocal_rank(["a", "b"], {"z"}) == 0.0
    assert metrics.mean([0.5, 0.7, 0.0]) == pytest.approx(0.4)
    assert metrics.mean([]) == 0.0


def test_rank_by_score_keeps_candidate_order_on_ties() -> None:
    assert metrics.rank_by_score([0.2, 0.9, 0.2, 0.5]) == [1, 3, 0, 2]
    scores = [0.0, 1.0, 1.0]
    assert metrics.average_precision(metrics.rank_by_score(scores), {2}) == pytest.approx(0.5)


def test_percentile_matches_numpy_default() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert metrics.percentile(values, 50) == 3.0
    assert metrics.percentile(values, 95) == pytest.approx(4.8)
    assert metrics.percentile([7.0], 95) == 7.0


# --- scale corpus builder ------------------------------------------------------------------------------


def make_source(root: Path) -> Path:
    source = root / "source"
    (source / "sport").mkdir(parents=True)
    (source / "tech").mkdir()
    (source / "PROVENANCE.md").write_text("# About this data\n\nNot an article.\n")
    (source / "sport" / "001.txt").write_text(
        "Rowers break record\n\nThe crew crossed the lake in record time.\n\nCoaches praised the training.\n"
    )
    (source / "sport" / "002.txt").write_text(
        "Cup final tickets\n\nTickets sold out within hours.\n\nFans queued overnight.\n\nPrices rose.\n"
    )
    (source / "tech" / "001.txt").write_bytes("Caf\xe9 robots\n\nA caf\xe9 served coffee by robot.\n".encode("cp1252"))
    (source / "tech" / "empty.txt").write_text("")
    return source


def test_source_articles_and_their_passage_counts(tmp_path: Path) -> None:
    articles = read_source(make_source(tmp_path))
    assert [(a.path, a.passages) for a in articles] == [("sport/001.txt", 2), ("sport/002.txt", 3), ("tech/001.txt", 1)]


def test_corpus_is_replicated_to_the_passage_target_with_a_token_per_copy(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    out = tmp_path / "scaled"
    info = build_corpus(source, out, 14)  # 6 passages per copy: two copies and one article
    assert (info.passages, info.files, info.copies) == (14, 7, 3)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt"))
    assert files == [f"c000{c}/{name}" for c in range(2) for name in ("sport/001.txt", "sport/002.txt", "tech/001.txt")] + ["c0002/sport/001.txt"]
    text = (out / "c0001" / "sport" / "002.txt").read_text()
    assert text.splitlines()[0] == f"Cup final tickets {copy_token(1)}"
    assert text.split("\n", 1)[1] == (source / "sport" / "002.txt").read_text().split("\n", 1)[1]
    assert "café" in (out / "c0000" / "tech" / "001.txt").read_text("utf-8")  # re-encoded as UTF-8

    library = Library.open(out)
    assert library.snapshot.n_passages == 14
    assert tokenize(copy_token(1)) == [copy_token(1)]  # one term, untouched by the analyzer
    hits = library.search(copy_token(1), 20)
    assert len(hits) == 6 and {h.passage.article.path.split("/")[0] for h in hits} == {"c0001"}
    # Copies differ only by their token: same paragraph, same score, ids break the tie.
    rowers = library.search("crew lake record", 3)
    assert [h.passage.article.path for h in rowers] == ["c0000/sport/001.txt", "c0001/sport/001.txt", "c0002/sport/001.txt"]
    assert len({h.score for h in rowers}) == 1


def test_building_again_reuses_the_folder(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    out = tmp_path / "scaled"
    first = build_corpus(source, out, 10)
    stamp = (out / "c0000" / "sport" / "001.txt").stat().st_mtime_ns
    assert build_corpus(source, out, 10) == first
    assert (out / "c0000" / "sport" / "001.txt").stat().st_mtime_ns == stamp
    smaller = build_corpus(source, out, 3)  # another target: rebuilt
    assert smaller.passages == 5 and not (out / "c0001").exists()


def test_questions_are_content_words_of_one_paragraph(tmp_path: Path) -> None:
    out = tmp_path / "scaled"
    build_corpus(make_source(tmp_path), out, 12)
    questions = sample_questions(out, 25, seed=3, min_words=2, max_words=4)
    assert len(questions) == 25 and questions == sample_questions(out, 25, seed=3, min_words=2, max_words=4)
    vocabulary = {w.lower().strip(".") for p in out.rglob("*.txt") for w in p.read_text().split()}
    for q in questions:
        words = q.split()
        assert 2 <= len(words) <= 4 and len(set(words)) == len(words)
        assert set(words) <= vocabulary
        assert not any(w.startswith("zqcopy") for w in words)
        assert all(tokenize(w) for w in words)


def test_scales_parse() -> None:
    assert [parse_scale(s) for s in ("10k", "100k", "1m", "2500", "1.5M")] == [10_000, 100_000, 1_000_000, 2500, 1_500_000]
    with pytest.raises(ValueError):
        parse_scale("0")
    assert with_token("\n\nTitle\n\nBody", "tok") == "\n\nTitle tok\n\nBody"
