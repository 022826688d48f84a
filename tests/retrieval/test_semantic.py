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
QUESTIONS = helpers.ANSWER_QUESTIONS


def twin_of(model: AnswerModel, weight: float, threshold: float | None = None) -> AnswerModel:
    """``model`` with a twin equal to its answer model plus ``weight`` × similarity (a
    standardised input with mean 0, scale 1): similarity 0 leaves every probability as it was."""
    a = model.answer
    twin = Linear(FEATURES + SEMANTIC_EXTRAS, np.append(a.mean, 0.0), np.append(a.scale, 1.0),
                  np.append(a.weights, weight), a.bias)
    return replace(model, semantic=SemanticAnswer(twin, model.threshold if threshold is None else threshold))


class Fixed:
    """A similarity that answers one value and remembers what it was asked."""

    def __init__(self, value: float | None) -> None:
        self.value = value
        self.asked: list[tuple[str, str]] = []

    def __call__(self, question: str, sentence: str) -> float | None:
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


@pytest.mark.parametrize("lexical_threshold, twin_threshold", [(0.0, 1.0), (1.0, 0.0)])
def test_each_part_is_held_to_its_own_threshold(lexical_threshold: float, twin_threshold: float) -> None:
    model = twin_of(replace(default_model(), threshold=lexical_threshold), 0.0, twin_threshold)
    with_check = Library.open(FIXTURES, model=model, similarity=Fixed(0.0))
    without = Library.open(FIXTURES, model=model)
    always = Library.open(FIXTURES, model=replace(default_model(), threshold=0.0))
    for question, _gold in QUESTIONS:
        answers_all = always.ask(question).found  # anchored: the thresholds alone decide
        assert with_check.ask(question).found == (answers_all and twin_threshold == 0.0), question
        assert without.ask(question).found == (answers_all and lexical_threshold == 0.0), question


def test_no_opinion_is_the_lexical_decision() -> None:
    library = Library.open(FIXTURES, model=twin_of(default_model(), 2.0, threshold=1.0), similarity=Fixed(None))
    lexical = Library.open(FIXTURES)
    for question, _gold in QUESTIONS:
        assert library.ask(question).found == lexical.ask(question).found


def test_a_model_without_a_twin_never_asks_for_a_similarity() -> None:
    recorder = Fixed(10.0)
    plain = Library.open(FIXTURES, model=replace(default_model(), semantic=None), similarity=recorder)
    lexical = Library.open(FIXTURES, model=replace(default_model(), semantic=None))
    for question, _gold in QUESTIONS:
        assert plain.ask(question).text == lexical.ask(question).text
    assert recorder.asked == []


def test_a_failing_check_falls_back_to_the_lexical_decision(caplog) -> None:
    from citebot.retrieval import answer as answer_module

    def broken(question: str, sentence: str) -> float:
        raise RuntimeError("onnxruntime fell over")

    answer_module.CHECK_FAILED.clear()
    library = Library.open(FIXTURES, model=twin_of(default_model(), 2.0, threshold=1.0), similarity=broken)
    lexical = Library.open(FIXTURES)
    for question, _gold in QUESTIONS:  # the twin (threshold 1) would decline them all
        answer, plain = library.ask(question), lexical.ask(question)
        assert (answer.found, answer.text) == (plain.found, plain.text)
    assert caplog.text.count("semantic check failed") == 1  # once, not at every question


def test_a_follow_up_is_compared_by_its_meaning_not_its_search_text() -> None:
    from citebot.retrieval.followup import Turn, resolve

    recorder = Fixed(0.0)
    library = Library.open(FIXTURES, model=twin_of(default_model(), 1.0), similarity=recorder)
    first = resolve("When will the harbour festival be held?", [])
    assert first.meaning is None
    follow = resolve("who is its director?", [first.turn("It will be held on 14 April.")])
    assert follow.followup and follow.meaning is not None and follow.meaning != follow.question
    assert follow.meaning.startswith("who is its director?")
    library.ask(follow.question, meaning=follow.meaning)
    library.ask(first.question, meaning=first.meaning)
    assert [q for q, _ in recorder.asked] == [follow.meaning, first.question]


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


def test_auto_loads_the_model_at_the_first_question_and_says_once_when_it_cannot(monkeypatch, caplog) -> None:
    loads = []

    def fail() -> semantic.MiniLM:
        loads.append(1)
        raise semantic.SemanticUnavailable("the model file is damaged")

    monkeypatch.setattr(semantic, "available", lambda: True)
    monkeypatch.setattr(semantic, "shared_model", fail)
    check = semantic.from_setting("auto")
    assert check is not None and loads == []  # nothing loaded until a question needs it
    assert check("q", "s") is None and check("q", "s") is None  # no opinion: the lexical decision
    assert loads == [1] and caplog.text.count("semantic check off") == 1


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
        with pytest.raises(semantic.SemanticUnavailable, match="not the published one"):
            semantic.from_setting("on")  # on: refuses to start
        assert semantic.from_setting("auto")("q", "s") is None  # auto: the words alone; it still runs
    finally:
        semantic.shared_model.cache_clear()


@needs_model
def test_with_the_real_check_the_twin_judges_and_right_answers_stay() -> None:
    from citebot.retrieval.answer import assess

    check = semantic.from_setting("on")
    lexical = Library.open(FIXTURES)
    library = Library.open(FIXTURES, similarity=check)
    judged = 0
    for question, gold in QUESTIONS:
        answer, before = library.ask(question), lexical.ask(question)
        if not gold:
            assert not answer.found, question
        elif before.found and any(g in before.text for g in gold):
            assert answer.found and answer.text == before.text, question
        pool = lexical.candidate_pool(question)
        if pool is not None and pool.candidates:
            judged += assess(pool, similarity=check).probability != assess(pool).probability
    assert judged  # the model's similarity reached the decision


@needs_model
def test_with_the_real_check_the_seed_question_quotes_the_vietnam_sentence(seeds: Library) -> None:
    library = Library.open(seeds.folder, similarity=semantic.from_setting("on"))
    answer = library.ask("Where might the second summit be held?")
    assert answer.found and "Vietnam" in answer.text
