"""The learned answer model: the shipped file fits the code, and training is deterministic."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retrieval import Library
from retrieval.candidates import FEATURES
from retrieval.ranker import AnswerModel, default_model

FIXTURES = Path(__file__).parent / "fixtures" / "answer"
QUESTIONS = [  # (question, gold) over the fixture articles; gold () = not answered there
    ("When will the harbour festival be held?", ("14 April",)),
    ("How long did Tomas Brandt take over the 2,000m course?", ("6 minutes 58 seconds",)),
    ("Why did bakery workers vote to strike?", ("pay",)),
    ("Who invented the telephone?", ()),
    ("What is the population of Greenland?", ()),
    ("How much was the museum grant?", ("£",)),
]


def test_shipped_model_matches_the_feature_code() -> None:
    model = default_model()
    assert model.ranker.names == FEATURES
    assert model.answer.names == FEATURES + ("top_score", "margin")
    assert 0.0 < model.threshold < 1.0
    assert model.info["command"] == "python -m benchmarks.train"
    assert np.isfinite(model.ranker.weights).all() and np.isfinite(model.answer.weights).all()


def test_model_round_trips_through_json() -> None:
    model = default_model()
    again = AnswerModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again.to_json() == model.to_json()


def test_answer_probability_is_monotone_in_the_threshold() -> None:
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
