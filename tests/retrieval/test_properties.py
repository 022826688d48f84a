"""Property-based tests: arbitrary text never breaks the analyzer, the loader or the answer path,
and every quote stays verbatim. (Hostile input for the Discord renderer lives with its tests.)"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from citebot.retrieval import Library, QuestionError
from citebot.retrieval.analyzer import sentence_spans, tokenize
from citebot.retrieval.answer import MAX_QUOTE_CHARS
from citebot.retrieval.loader import SkipFile, parse_article
from citebot.retrieval.passages import MAX_PASSAGE_CHARS, passage_spans

FIXTURES = helpers.FIXTURES / "answer"
SEEDS = helpers.ROOT / "seeds"

# Text with the awkward parts of Unicode: controls, zero-width and bidi marks, surrogates are
# excluded by hypothesis' text() default but combining marks, emoji and RTL scripts are not.
AWKWARD = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list("\u200b\u200d\u202e\u2066\ufeff\u00ad\n\r\t .!?\"“”’-—@#<>`*_~|")),
    ),
    max_size=400,
)


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.open(FIXTURES)


@given(AWKWARD)
@settings(max_examples=300, deadline=None)
def test_tokenize_never_fails_and_yields_clean_terms(text: str) -> None:
    terms = tokenize(text)
    assert all(isinstance(t, str) and t and not any(c.isspace() for c in t) for t in terms)
    assert tokenize(text) == terms  # deterministic


@given(AWKWARD)
@settings(max_examples=300, deadline=None)
def test_sentence_spans_are_ordered_non_empty_slices(text: str) -> None:
    last = 0
    for start, end in sentence_spans(text):
        assert last <= start < end <= len(text)
        assert text[start:end].strip() == text[start:end]
        last = end


@given(st.text(max_size=5000))
@settings(max_examples=150, deadline=None)
def test_passages_are_exact_slices_within_the_cap(text: str) -> None:
    previous = (0, 0)
    for span in passage_spans(text):
        assert 0 <= span.start < span.end <= len(text)
        assert span.end - span.start <= MAX_PASSAGE_CHARS
        assert (span.paragraph, span.start) >= previous
        previous = (span.paragraph, span.start)


@given(st.binary(max_size=3000), st.sampled_from(["a.txt", "b.md", "c.html", "d.htm"]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loader_reads_or_skips_any_bytes(data: bytes, name: str) -> None:
    try:
        article = parse_article(name, data)
    except SkipFile as exc:
        assert str(exc)  # a reason a person can read
        return
    assert article.title and article.text.strip()
    for span in passage_spans(article.text):
        assert article.text[span.start : span.end]


@given(st.text(max_size=2000))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ask_any_text_answers_or_refuses_politely(library: Library, question: str) -> None:
    try:
        answer = library.ask(question)
    except QuestionError as exc:
        assert 0 < len(str(exc)) < 200
        return
    _assert_quotes_verbatim(library, answer)


HOSTILE_QUESTIONS = [
    "", "   \n\t ", "x" * 100_000, "\x00\x01\x02 summit \x7f", "\u200b\u200b\u200b",
    "\u202eheld be summit second the might where", "مكان القمة الثانية؟", "🎉🎉🔥", "```summit```",
    "**where** _is_ the `summit`?", "@everyone where is the summit?", "<@&123456> summit <@!42> <#99>",
    "'; DROP TABLE articles; --", "$(rm -rf /) `reboot` | cat /etc/passwd && summit",
    "Where might the second summit be held?" * 3,
]


@pytest.mark.parametrize("question", HOSTILE_QUESTIONS)
def test_hostile_questions_get_a_reply_not_a_traceback(seeds: Library, question: str) -> None:
    try:
        answer = seeds.ask(question)
    except QuestionError as exc:
        assert "question" in str(exc).lower()
        return
    _assert_quotes_verbatim(seeds, answer)


def _assert_quotes_verbatim(library: Library, answer) -> None:
    from citebot.retrieval.loader import decode

    for c in answer.citations + answer.see_also:
        assert len(c.quote) <= MAX_QUOTE_CHARS
        raw = decode((library.folder / c.path).read_bytes(), c.path)
        assert c.quote in raw
