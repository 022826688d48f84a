"""The semantic check: the answer model's twin decides when a similarity is given, the real model
loads only when it is the published file, and the setting says clearly when it cannot run."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import helpers
from citebot.retrieval import Library
from citebot.retrieval import semantic
from citebot.retrieval.candidates import FEATURES
from citebot.retrieval.ranker import SEMANTIC_EXTRAS, AnswerModel, Linear, SemanticAnswer, default_model

FIXTURES = helpers.FIXTURES / "answer"
QUESTIONS = [  # (question, gold) over the fixture articles; gold () = not answered there
    ("When will the harbour festival be held?", ("14 April",)),
    ("How long did Tomas Brandt take over the 2,000m course?", ("6 minutes 58 seconds",)),
    ("Why did bakery workers vote to strike?", ("pay",)),
    ("Who invented the telephone?", ()),
    ("What is the population of Greenland?", ()),
    ("How much was the museum grant?", ("£",)),
]


def twin_of(model: AnswerModel, weight: float) -> AnswerModel:
    """``model`` with a twin equal to its answer model plus ``weight`` × similarity (a
    standardised input with mean 0, scale 1): similarity 0 leaves every decision as it was."""
    a = model.answer
    twin = Linear(FEATURES + SEMANTIC_EXTRAS, np.append(a.mean, 0.0), np.append(a.scale, 1.0),
                  np.append(a.weights, weight), a.bias)
    return replace(model, semantic=SemanticAnswer(twin, model.threshold))


class Fixed:
    """A similarity that answers one value and remembers what it was asked."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.asked: list[tuple[str, str]] = []

    def __call__(self, question: str, sentence: str) -> float:
        self.asked.append((str(question), sentence))
        return self.value


def test_the_twin_decides_when_there_is_a_similarity() -> None:
    model = twin_of(default_model(), 2.0)
    lexical = Library.open(FIXTURES)
    always = Library.open(FIXTURES, model=replace(default_model(), threshold=0.0))  # the ranker's choice
    neutral, close, far = Fixed(0.0), Fixed(10.0), Fixed(-10.0)
    libraries = {s: Library.open(FIXTURES, model=model, similarity=s) for s in (neutral, close, far)}
    for question, _gold in QUESTIONS:
        plain, same = lexical.ask(question), libraries[neutral].ask(question)
        assert (same.found, same.text, same.citations) == (plain.found, plain.text, plain.citations)
        assert not libraries[far].ask(question).found
        answer, chosen = libraries[close].ask(question), always.ask(question)
        assert (answer.found, answer.text) == (chosen.found, chosen.text)  # unanchored still declines
    # It was asked about the question and the chosen sentence itself, verbatim from the article.
    question, sentence = close.asked[0]
    assert question == QUESTIONS[0][0]
    assert sentence in libraries[close].ask(question).text


def test_a_model_without_a_twin_never_asks_for_a_similarity() -> None:
    def refuse(question: str, sentence: str) -> float:
        raise AssertionError("asked without a twin")

    plain = Library.open(FIXTURES, model=replace(default_model(), semantic=None), similarity=refuse)
    lexical = Library.open(FIXTURES, model=replace(default_model(), semantic=None))
    for question, _gold in QUESTIONS:
        assert plain.ask(question).text == lexical.ask(question).text


def test_a_failing_check_falls_back_to_the_lexical_decision(caplog) -> None:
    def broken(question: str, sentence: str) -> float:
        raise RuntimeError("onnxruntime fell over")

    library = Library.open(FIXTURES, model=twin_of(default_model(), 2.0), similarity=broken)
    lexical = Library.open(FIXTURES)
    for question, _gold in QUESTIONS:
        assert library.ask(question).text == lexical.ask(question).text
    assert "semantic check failed" in caplog.text


def test_the_twin_round_trips_and_a_damaged_one_is_refused() -> None:
    model = twin_of(default_model(), 1.5)
    obj = json.loads(json.dumps(model.to_json()))
    assert AnswerModel.from_json(obj, FEATURES).to_json() == model.to_json()
    obj["semantic"]["threshold"] = -0.1
    with pytest.raises(ValueError):
        AnswerModel.from_json(obj, FEATURES)
    obj = json.loads(json.dumps(model.to_json()))
    obj["semantic"]["answer"]["features"] = obj["semantic"]["answer"]["features"][:-1]
    with pytest.raises(ValueError):
        AnswerModel.from_json(obj, FEATURES)


def test_the_setting_off_and_auto_without_the_extra_decide_lexically(monkeypatch) -> None:
    assert semantic.from_setting("off") is None
    monkeypatch.setattr(semantic, "available", lambda: False)
    assert semantic.from_setting("auto") is None
    with pytest.raises(semantic.SemanticUnavailable, match=r"citebot\[semantic\]"):
        semantic.from_setting("on")


def test_on_without_the_extra_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    from citebot.bot import cli

    monkeypatch.setattr(semantic, "available", lambda: False)
    monkeypatch.setenv("CITEBOT_SEMANTIC_CHECK", "on")
    assert cli.main(["ask", "--articles", str(FIXTURES), "--no-cache", "When is the festival?"]) == 2
    err = capsys.readouterr().err
    assert "semantic" in err and "pip install" in err and "Traceback" not in err


# --- the real model (installed by the test extra) ------------------------------------------------

needs_model = pytest.mark.skipif(not semantic.available(), reason="citebot[semantic] not installed")


@needs_model
def test_the_model_places_a_paraphrase_closer_than_an_unrelated_sentence() -> None:
    model = semantic.MiniLM.load()
    question = "Who was fired as manager of the club?"
    assert model(question, "The club sacked its coach after a run of defeats.") > \
        model(question, "Rainfall in the region was heavier than usual this spring.") + 0.2
    vector = model.embed("The club sacked its coach.")
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert np.array_equal(vector, model.embed("The club sacked its coach."))  # one text a run: repeatable


@needs_model
def test_a_model_file_that_is_not_the_published_one_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(semantic, "MODEL_SHA256", "0" * 64)
    with pytest.raises(semantic.SemanticUnavailable, match="not the published one"):
        semantic.MiniLM.load()
    semantic.shared_model.cache_clear()
    try:
        assert semantic.from_setting("auto") is None  # auto: off, with a warning; the bot still starts
    finally:
        semantic.shared_model.cache_clear()


@needs_model
def test_with_the_real_check_right_answers_stay_and_unanswered_questions_are_declined() -> None:
    lexical = Library.open(FIXTURES)
    library = Library.open(FIXTURES, similarity=semantic.from_setting("on"))
    for question, gold in QUESTIONS:
        answer, before = library.ask(question), lexical.ask(question)
        if not gold:
            assert not answer.found, question
        elif before.found and any(g in before.text for g in gold):
            assert answer.found and answer.text == before.text, question


@needs_model
def test_with_the_real_check_the_seed_question_quotes_the_vietnam_sentence(seeds: Library) -> None:
    library = Library.open(seeds.folder, similarity=semantic.from_setting("on"))
    answer = library.ask("Where might the second summit be held?")
    assert answer.found and "Vietnam" in answer.text
