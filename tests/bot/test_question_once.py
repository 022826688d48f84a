"""The question length is checked once: ``clean_question`` returns a ``CleanQuestion`` that
``Library.ask`` takes as it is, and the Discord cog hands the engine that value."""
from __future__ import annotations

import pytest
import simcord

import citebot.retrieval.library as library_module
from fixtures.discord.simbot import ARTICLES, make_bot, world
from citebot.retrieval import Library, QuestionError, clean_question
from citebot.retrieval.library import CleanQuestion

FERRY_Q = "How often will the harbour ferry run?"


@pytest.fixture(scope="module")
def lib() -> Library:
    return Library.open(ARTICLES, max_question_chars=200)


def test_clean_question_returns_a_checked_value() -> None:
    question = clean_question(f"  {FERRY_Q}\n", 100)
    assert isinstance(question, CleanQuestion) and question == FERRY_Q and question.limit == 100


def test_ask_does_not_clean_a_clean_question_again(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = library_module.clean_question

    def counting(question: str, max_chars: int = 500) -> CleanQuestion:
        calls.append(question)
        return real(question, max_chars)

    question = clean_question(FERRY_Q, 150)
    monkeypatch.setattr(library_module, "clean_question", counting)
    assert lib.ask(question).found
    assert calls == []  # taken as it is
    assert lib.ask(FERRY_Q).found
    assert calls == [FERRY_Q]  # a plain str is still cleaned and checked


def test_a_question_checked_against_a_higher_cap_is_checked_again(lib: Library) -> None:
    question = clean_question("why " * 60, 1000)  # 239 characters: within 1,000, not within 200
    with pytest.raises(QuestionError, match="too long"):
        lib.ask(question)


async def test_the_ask_cog_hands_the_engine_the_question_it_checked() -> None:
    seen: list[object] = []

    class Spy(Library):
        def ask(self, question: str, top_k: int = 5, *, meaning: str | None = None):  # type: ignore[override]
            seen.append(question)
            return super().ask(question, top_k, meaning=meaning)

    async with simcord.run(make_bot(library=Spy.open(ARTICLES))) as env:
        _, channel, alice = world(env)
        await alice.send(channel, f"!ask   {FERRY_Q}  ")
        assert "every forty minutes" in channel.last_message.embeds[0].description
    assert seen == [FERRY_Q] and isinstance(seen[0], CleanQuestion)
