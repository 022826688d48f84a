"""ask() does its question-independent work once: counted, not timed.

A passage's sentences, their capitalised phrases, dates and numbers are the same for every
question, so a second question over the same passages must not find them again; and whether an
article holds the question's names is answered by term id, without spelling out the article's
vocabulary.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from citebot.retrieval import Library
from citebot.retrieval import question as question_module
from citebot.retrieval.candidates import FEATURES
from citebot.retrieval.match import forget_texts

ANCHORED = FEATURES.index("anchored")


class Counting:
    """A compiled pattern that counts its scans of text."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern, self.scans = pattern, 0

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        self.scans += 1
        return self.pattern.finditer(text)

    def search(self, text: str) -> re.Match[str] | None:
        self.scans += 1
        return self.pattern.search(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pattern, name)


def write(folder: Path) -> Path:
    folder.mkdir()
    (folder / "regatta.txt").write_text(
        "Rower sets record at Lake Ardmore\n\n"
        "Seventeen-year-old Tomas Brandt won the single sculls final at the Lake Ardmore regatta on "
        "Saturday 12 May. Brandt finished the 2,000m course in 6 minutes 58 seconds.\n\n"
        "His coach, Ana Ruiz of the Kelston club, said he had trained through the winter in Norway.\n",
        encoding="utf-8")
    (folder / "ferry.txt").write_text(
        "Ferry timetable changes\n\nThe Millbrook ferry will run every forty minutes from November.\n",
        encoding="utf-8")
    return folder


def test_a_second_question_over_the_same_passages_does_not_scan_their_sentences_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forget_texts()
    library = Library.open(write(tmp_path / "articles"), cache_dir=tmp_path / "cache")
    counters = {name: Counting(getattr(question_module, name))
                for name in ("_CAPITALISED", "_DATE", "_NUMBER", "_VENUE", "_DATE_LOWER", "_NUMBER_LOWER",
                             "_VENUE_LOWER") if hasattr(question_module, name)}
    for name, counter in counters.items():
        monkeypatch.setattr(question_module, name, counter)
    asked = ("When did Tomas Brandt win the single sculls final at Lake Ardmore?",
             "How fast did Brandt finish the 2,000m course at Lake Ardmore?",
             "Where did Brandt train for the Lake Ardmore regatta?")
    again = ("On what day was the Lake Ardmore single sculls final won by Tomas Brandt?",
             "How long did it take Brandt to row the 2,000m Lake Ardmore course?",
             "For the Lake Ardmore regatta, where did Brandt train?")
    first = [library.candidate_pool(question) for question in asked]
    assert all(pool is not None and len(pool.candidates) >= 3 for pool in first)
    assert counters["_CAPITALISED"].scans >= 3  # the first questions did scan them
    before = {name: c.scans for name, c in counters.items()}
    seen = {(c.hit.passage.article.path, c.start) for pool in first if pool for c in pool.candidates}
    for question in again:  # the same kinds of question, other words, the same passages
        pool = library.candidate_pool(question)
        assert pool is not None and {(c.hit.passage.article.path, c.start) for c in pool.candidates} <= seen
    assert {name: c.scans for name, c in counters.items()} == before


def test_whether_an_article_holds_the_question_names_is_asked_by_term_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = Library.open(write(tmp_path / "articles"), cache_dir=tmp_path / "cache")
    vocab = type(library._snapshot.vocab)

    def refuse(self: Any, ids: Any) -> list[str]:
        raise AssertionError("the article's terms were spelled out")

    monkeypatch.setattr(vocab, "names", refuse)
    # "Ruiz" is in the regatta article but not in the passage about the final; "Kelston" too.
    pool = library.candidate_pool("Did Ana Ruiz of Kelston see Tomas Brandt win the sculls final?")
    assert pool is not None
    anchored = {c.hit.passage.paragraph: row[ANCHORED] for c, row in zip(pool.candidates, pool.features)}
    assert anchored[1] == 1.0 and anchored[2] == 1.0
    missing = library.candidate_pool("Did Ana Ruiz of Dunmore see Tomas Brandt win the sculls final?")
    assert missing is not None
    assert all(row[ANCHORED] == 0.0 for c, row in zip(missing.candidates, missing.features)
               if c.hit.passage.article.path.endswith("regatta.txt"))


@pytest.mark.parametrize("text", [
    "On Monday 14 April at 9.30am the 2,000m race ended; TWENTY rowers, in the Venue.",
    "Le 14 avril, à l'Hôtel de Ville, deux mille: Twenty-one KELVIN \u212a and \u0130stanbul in May 2009.",
    "ſeptember \u017ft 12 Sept. 2024 \u2014 noon",
])
def test_sentence_facts_are_those_of_the_case_insensitive_patterns(text: str) -> None:
    q = question_module
    assert q._dates(text) == tuple(m.group(0).lower() for m in q._DATE.finditer(text))
    assert q._numbers(text) == tuple(m.group(0).lower().rstrip(".,") for m in q._NUMBER.finditer(text))
    assert q._venue(text) == bool(q._VENUE.search(text))


def test_a_paragraph_run_by_two_articles_is_split_and_tokenised_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import citebot.retrieval.match as match

    forget_texts()
    folder = tmp_path / "articles"
    folder.mkdir()
    body = "The Millbrook ferry will run every forty minutes from November, the port authority said."
    (folder / "wire.txt").write_text(f"Ferry timetable changes\n\n{body}\n", encoding="utf-8")
    (folder / "local.txt").write_text(f"Millbrook ferry to run less often\n\n{body}\n", encoding="utf-8")
    library = Library.open(folder, cache_dir=tmp_path / "cache")
    seen: list[str] = []
    real = match.tokenize

    def counting(text: str) -> list[str]:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(match, "tokenize", counting)
    pool = library.candidate_pool("How often will the Millbrook ferry run from November?")
    assert pool is not None and {c.hit.passage.article.path for c in pool.candidates} == {"wire.txt", "local.txt"}
    assert seen.count(body) == 1
