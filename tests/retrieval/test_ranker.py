"""The learned answer model: the shipped file fits the code, and training is deterministic."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import helpers
from citebot.retrieval import Library
from citebot.retrieval.answer import assess
from citebot.retrieval.candidates import FEATURES
from citebot.retrieval.ranker import SEMANTIC_EXTRAS, AnswerModel, default_model

FIXTURES = helpers.FIXTURES / "answer"
QUESTIONS = helpers.ANSWER_QUESTIONS


def test_shipped_model_matches_the_feature_code() -> None:
    model = default_model()
    assert model.ranker.names == FEATURES
    assert model.answer.names == FEATURES + ("top_score", "margin")
    assert 0.0 < model.threshold < 1.0
    assert model.info["command"] == "python -m benchmarks.train"
    assert np.isfinite(model.ranker.weights).all() and np.isfinite(model.answer.weights).all()


def test_shipped_model_has_a_semantic_twin_that_favours_a_close_meaning() -> None:
    twin = default_model().semantic
    assert twin is not None and twin.answer.names == FEATURES + SEMANTIC_EXTRAS
    assert 0.0 < twin.threshold < 1.0
    assert twin.answer.weights[-1] > 0  # the closer the question and sentence, the likelier an answer


def test_model_round_trips_through_json() -> None:
    model = default_model()
    again = AnswerModel.from_json(json.loads(json.dumps(model.to_json())), FEATURES)
    assert again.to_json() == model.to_json()


@pytest.mark.parametrize("damage", ["reordered", "nan", "zero-scale", "threshold", "short"])
def test_a_damaged_model_is_refused_with_a_reason(damage: str) -> None:
    obj = json.loads(json.dumps(default_model().to_json()))
    if damage == "reordered":
        obj["ranker"]["features"] = obj["ranker"]["features"][::-1]
    elif damage == "nan":
        obj["answer"]["bias"] = float("nan")
    elif damage == "zero-scale":
        obj["ranker"]["scale"][0] = 0.0
    elif damage == "threshold":
        obj["threshold"] = 1.5
    else:
        for key in ("features", "mean", "scale", "weights"):
            obj["ranker"][key] = obj["ranker"][key][:-1]
    with pytest.raises(ValueError):
        AnswerModel.from_json(obj, FEATURES)


def test_a_nan_probability_declines() -> None:
    library = Library.open(FIXTURES)
    pool = library.candidate_pool("When will the harbour festival be held?")
    decision = assess(pool)
    assert decision.answers(default_model().threshold)
    assert not replace(decision, probability=float("nan")).answers(default_model().threshold)


def test_thresholds_zero_and_one_answer_everything_and_nothing() -> None:
    library = Library.open(FIXTURES)
    never = Library.open(FIXTURES, model=replace(default_model(), threshold=1.0))
    always = Library.open(FIXTURES, model=replace(default_model(), threshold=0.0))
    for question, gold in QUESTIONS:
        assert not never.ask(question).found
        assert always.ask(question).found or not gold
        if library.ask(question).found:
            assert always.ask(question).text == library.ask(question).text


def test_training_is_deterministic_on_a_small_sample() -> None:
    pytest.importorskip("scipy")
    from benchmarks.qa_sets import QA
    from benchmarks.train import examples_for, train

    library = Library.open(FIXTURES)
    rows = [QA(q, gold, "easy" if gold else "unanswerable", "train") for q, gold in QUESTIONS]
    examples = examples_for(library, rows, "fixtures")
    assert any(e.labels.any() for e in examples), "some fixture question must have a right candidate"
    first = train(examples, {"command": "test"}).to_json()
    second = train(examples_for(library, rows, "fixtures"), {"command": "test"}).to_json()
    assert first == second
    assert first["ranker"]["features"] == list(FEATURES)
    assert "semantic" not in first


def test_training_the_semantic_twin_is_deterministic_on_a_small_sample() -> None:
    pytest.importorskip("scipy")
    from benchmarks.qa_sets import QA
    from benchmarks.train import examples_for, train
    from citebot.retrieval import semantic

    if not semantic.available():
        pytest.skip("citebot[semantic] not installed")
    library = Library.open(FIXTURES)
    rows = [QA(q, gold, "easy" if gold else "unanswerable", "train") for q, gold in QUESTIONS]
    runs = [train(examples_for(library, rows, "fixtures"), {"command": "test"}, semantic.MiniLM.load()).to_json()
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0]["semantic"]["answer"]["features"] == list(FEATURES + SEMANTIC_EXTRAS)
    assert runs[0]["answer"] == train(examples_for(library, rows, "fixtures"), {"command": "test"}).to_json()["answer"]


def test_training_gathers_without_the_shipped_model(monkeypatch) -> None:
    """After a feature is added the shipped file no longer loads; training must still run to
    rewrite it, so gathering never reads the shipped model."""
    pytest.importorskip("scipy")
    from benchmarks.qa_sets import QA
    from benchmarks.train import examples_for, open_for_training
    from citebot.retrieval import library as library_module, ranker

    def stale() -> AnswerModel:
        raise ranker.ModelError("fit on other features")

    monkeypatch.setattr(library_module, "default_model", stale)
    with pytest.raises(ranker.ModelError):
        Library.open(FIXTURES)
    rows = [QA(q, gold, "easy" if gold else "unanswerable", "train") for q, gold in QUESTIONS]
    examples = examples_for(open_for_training(FIXTURES), rows, "fixtures")
    assert any(e.labels.any() for e in examples)


def test_a_broken_model_file_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path: Path) -> None:
    from citebot.bot import cli
    from citebot.retrieval import ranker

    broken = tmp_path / "retrieval" / "data"
    broken.mkdir(parents=True)
    (broken / ranker.MODEL_FILE).write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(ranker.resources, "files", lambda package: tmp_path / "retrieval")
    ranker.default_model.cache_clear()
    try:
        assert cli.main(["ask", "--articles", str(FIXTURES), "--no-cache", "When is the festival?"]) == 2
    finally:
        ranker.default_model.cache_clear()
    err = capsys.readouterr().err
    assert "answer model" in err and "damaged" in err and "Traceback" not in err
