"""Answer selection: verbatim quotes, citations, question types, no-answer, determinism."""
from __future__ import annotations

from pathlib import Path

import pytest

import helpers
from citebot.retrieval import Library
from citebot.retrieval.analyzer import sentence_spans
from dataclasses import replace

from citebot.retrieval.answer import MAX_QUOTE_CHARS, answer_probability, candidate_pool, choose_answer, sentence_scores
from citebot.retrieval.analyzer import tokenize
from citebot.retrieval.match import Question, Scorer, Sentence, proximity
from citebot.retrieval.ranker import default_model
from citebot.retrieval.sources import with_sources
from citebot.retrieval.loader import decode
from citebot.retrieval.models import Article, Hit, Passage
from citebot.retrieval.question import Expect, expected_type, type_match

ROOT = helpers.ROOT
FIXTURES = helpers.FIXTURES / "answer"
CARD_FILE = "north-korea-kim-orders-second-trump-summit-preparations.txt"


@pytest.fixture(scope="module")
def articles() -> Library:
    return Library.open(FIXTURES)


ALWAYS_ANSWERS = replace(default_model(), threshold=0.0)  # the ranker alone, never declining


def hit_on(pid: int, text: str, title: str = "Town news", score: float = 5.0) -> Hit:
    """A hit on a one-paragraph article ``a{pid}.txt``, for choose_answer with hand-set idf."""
    return Hit(Passage(pid, Article(f"a{pid}.txt", title, text), 1, 0, len(text)), score)


def assert_verbatim(library: Library, answer) -> None:
    for c in answer.citations + answer.see_also:
        raw = decode((library.folder / c.path).read_bytes(), c.path)
        assert c.quote and c.quote in raw, f"{c.quote!r} not verbatim in {c.path}"
        assert len(c.quote) <= MAX_QUOTE_CHARS


def test_card_question_quotes_the_vietnam_sentence(seeds: Library) -> None:
    answer = seeds.ask("Where might the second summit be held?")
    assert answer.found
    assert "Vietnam" in answer.text
    first = answer.citations[0]
    assert first.path == CARD_FILE
    assert first.paragraph == 13
    assert first.title == "North Korea’s leader orders preparations for second Trump meet"
    assert "Vietnam" in first.quote
    assert_verbatim(seeds, answer)


@pytest.mark.parametrize(
    "question, expected",
    [
        pytest.param(
            "Where will the lantern festival be held?", "Port Calder",
            marks=pytest.mark.xfail(
                strict=True,
                reason="known weakness: the paragraph matching 'held' outranks the one naming "
                "the place; a passage-level type cue was measured and did not help on SQuAD",
            ),
        ),
        ("When will the lantern festival be held?", "14 April"),
        ("How many lanterns will be launched?", "3,200"),
        ("How fast did Tomas Brandt row the 2,000m course?", "6 minutes 58 seconds"),
        ("How many bakery members would walk out?", "1,450"),
    ],
)
def test_answers_hold_the_asked_for_detail(articles: Library, question: str, expected: str) -> None:
    answer = articles.ask(question)
    assert answer.found, question
    assert expected in answer.text
    assert any(expected in c.quote for c in answer.citations)
    assert_verbatim(articles, answer)


def test_detail_in_the_next_sentence_is_quoted_with_the_topic_sentence(articles: Library) -> None:
    # "Brandt won ... at the Lake Ardmore regatta" names the topic; the time is in the
    # following paragraph. Both are quoted, each with its own citation.
    answer = articles.ask("How fast did Tomas Brandt row at the Lake Ardmore regatta?")
    assert answer.found
    assert "6 minutes 58 seconds" in answer.text
    assert [c.paragraph for c in answer.citations] == [1, 2]
    assert_verbatim(articles, answer)


def test_question_spread_over_two_sentences_quotes_both(articles: Library, tmp_path: Path) -> None:
    # "got the letter" is the first sentence, what the director did is the next one; when the
    # two rank within the model's pair margin, both are quoted as one verbatim passage with one
    # citation (a wide margin here, so the mechanism is tested, not the shipped margin).
    question = "What did the director do when the museum got the heritage letter?"
    paired = replace(ALWAYS_ANSWERS, pair_margin=5.0)
    answer = Library.open(FIXTURES, cache_dir=tmp_path / "a", model=paired).ask(question)
    assert answer.found
    assert "glass wing" in answer.text and "received a letter" in answer.text
    assert len(sentence_spans(answer.text)) == 2
    assert [c.paragraph for c in answer.citations] == [1]
    assert_verbatim(articles, answer)
    unpaired = replace(ALWAYS_ANSWERS, pair_margin=0.0)
    single = Library.open(FIXTURES, cache_dir=tmp_path / "b", model=unpaired).ask(question)
    assert "glass wing" not in single.text, "without pairing only the letter sentence is quoted"


def test_clear_winner_is_quoted_alone(seeds: Library) -> None:
    answer = seeds.ask("Where might the second summit be held?")
    assert len(sentence_spans(answer.text)) == 1


def test_citation_carries_front_matter_url_and_title(articles: Library) -> None:
    answer = articles.ask("Why did bakery workers vote to strike?")
    assert answer.found
    c = answer.citations[0]
    assert c.title == "Bakery workers vote to strike"
    assert c.url == "https://example.org/news/bakery-strike"
    assert c.path == "bakery-strike.md"


@pytest.mark.parametrize(
    "question",
    [
        "What is the population of Greenland?",  # a name no article holds
        "lorem ipsum dolor sit amet",
        "How many lanterns were launched in 1987?",  # a year no article gives
    ],
)
def test_declines_when_salient_terms_are_missing(articles: Library, question: str) -> None:
    answer = articles.ask(question)
    assert not answer.found
    assert answer.text == ""
    assert answer.citations == ()
    assert_verbatim(articles, answer)


def test_declines_when_the_quote_lacks_the_questions_main_term(articles: Library, tmp_path: Path) -> None:
    # The passage holds "invented" and "telephone", but in sentences two apart: the best
    # sentence ("... ever since they were invented") lacks "telephone", half the question.
    question = "Who invented the telephone?"
    answer = articles.ask(question)
    assert not answer.found
    assert any(c.path == "phone-scams.txt" for c in answer.see_also)
    lenient = Library.open(FIXTURES, cache_dir=tmp_path, model=ALWAYS_ANSWERS).ask(question)
    assert lenient.found, "without the answer model's decision the unrelated sentence is quoted"
    assert articles.ask("When will overcharged telephone customers be refunded?").found


def test_no_answer_lists_closest_passages(seeds: Library) -> None:
    answer = seeds.ask("What did Kim say about Greenland's summit?")
    assert not answer.found
    assert answer.see_also, "the closest passages are offered instead"
    assert len({c.path for c in answer.see_also}) == len(answer.see_also)


def test_same_question_same_answer(articles: Library, seeds: Library) -> None:
    for library, q in [(articles, "When is the festival?"), (seeds, "What does satellite footage show?")]:
        first, second = library.ask(q), library.ask(q)
        assert (first.found, first.text, first.citations) == (second.found, second.text, second.citations)


def test_quotes_never_exceed_the_cap(articles: Library) -> None:
    answer = articles.ask("What does the committee report conclude about canal locks and lighthouses?")
    assert answer.found
    assert 0 < len(answer.citations[0].quote) <= MAX_QUOTE_CHARS
    assert_verbatim(articles, answer)


@pytest.mark.parametrize(
    "question, expect",
    [
        ("Where might the second summit be held?", Expect.PLACE),
        ("In which city was it signed?", Expect.PLACE),
        ("When will the strike start?", Expect.DATE),
        ("What date have unions set?", Expect.DATE),
        ("How many members will vote?", Expect.NUMBER),
        ("By how much might prices rise?", Expect.NUMBER),
        ("Who did Federer beat?", Expect.ENTITY),
        ("Which company compiled the list?", Expect.ENTITY),
        ("What does satellite footage show?", Expect.ANY),
        # a quantity noun heading a what-question, however it is phrased
        ("What's the average UK house price now?", Expect.NUMBER),
        ("What was the firm's annual export total for 2004?", Expect.NUMBER),
        ("What stake does the group hold in the bank?", Expect.NUMBER),
        ("What level did the bank push rates up to?", Expect.NUMBER),
        ("What type of number is one?", Expect.ENTITY),  # a kind of thing, not an amount
        ("What did the loss mean to France?", Expect.ANY),
        ("What's the name of the new chairman?", Expect.ENTITY),
        ("What was the name of the fund?", Expect.ENTITY),
        ("Until when has the film been delayed?", Expect.DATE),
        ("whens the strike planned for", Expect.DATE),
        ("Which part of the country saw the biggest rise?", Expect.PLACE),
    ],
)
def test_expected_answer_type(question: str, expect: Expect) -> None:
    assert expected_type(question) is expect


def test_type_match_ignores_what_the_question_already_says() -> None:
    q = Question.parse("How many cars were sold in 2005?")
    assert type_match(Expect.NUMBER, "Sales will double in 2005.", set(q.words)) < 1.0
    assert type_match(Expect.NUMBER, "Sales will hit 200,000 in 2005.", set(q.words)) == 1.0
    place = Question.parse("Where did the minister speak?")
    assert type_match(Expect.PLACE, "He spoke in Chatham, Kent.", set(place.words)) == 1.0
    assert type_match(Expect.PLACE, "He spoke according to KCNA.", set(place.words)) < 1.0
    assert type_match(Expect.PLACE, "He spoke in December.", set(place.words)) < 1.0


def test_question_frame_words_are_not_topic_terms() -> None:
    q = Question.parse("What sort of talks does Kim expect?")
    assert "sort" not in q.terms and "kim" in q.terms
    assert q.names == frozenset({"kim"})


def test_proximity_rewards_adjacent_terms() -> None:
    assert proximity(["a", "b", "x", "y"], {"a", "b"}) == 1.0
    assert proximity(["a", "x", "x", "b"], {"a", "b"}) == 0.5
    assert proximity(["a", "x"], {"a", "b"}) == 0.0


def test_sentence_scores_prefer_the_sentence_with_the_terms_and_the_type() -> None:
    sentences = [
        "The festival was popular with traders.",
        "The festival will be held on 14 April at the harbour.",
        "Hotels reported more bookings.",
    ]
    scores = sentence_scores("When will the festival be held?", sentences, lambda term: 1.0)
    assert max(range(3), key=scores.__getitem__) == 1


def test_passage_whose_title_names_the_topic_wins_a_tie() -> None:
    # Equal BM25 scores and equally good sentences: the passage whose article title holds the
    # rest of the question ("bridge") is the one asked about.
    hits = [hit_on(0, "The crossing will reopen on 3 May after repairs.", "Ferry timetable changes"),
            hit_on(1, "The crossing will reopen on 9 June after repairs.", "Kelby bridge repairs")]
    question = "When will the bridge crossing reopen?"
    answer = choose_answer(question, hits, lambda term: 2.0)
    assert answer.found and "9 June" in answer.text
    assert answer.citations[0].path == "a1.txt"


def test_missing_term_check_counts_the_quoted_partner_sentence() -> None:
    # "telephone" (45% of the question's weight) is only in the second sentence. The two are
    # quoted together, so the answer holds every question word and must not be declined.
    text = ("In March 1876 the new device was first demonstrated in Boston, where the inventor "
            "worked. The machine was called a telephone.")
    hits = [hit_on(0, text, "A new device")]
    weight = {"telephon": 5.5}
    answer = choose_answer("When was the telephone first demonstrated in Boston?", hits,
                           lambda term: weight.get(term, 1.8), model=ALWAYS_ANSWERS)
    assert answer.found
    assert answer.text == text


def test_answer_probability_falls_when_the_passage_holds_less_of_the_question() -> None:
    weight = {"orchard": 4.5, "harvest": 2.0, "break": 2.0, "record": 1.5}
    question = "Did the orchard harvest break records?"
    partial = candidate_pool(question, [hit_on(0, "The orchard opened to visitors on Sunday.", "Open day")],
                             weight.__getitem__)
    full = candidate_pool(question, [hit_on(0, "The orchard harvest broke all records on Sunday.", "Open day")],
                          weight.__getitem__)
    assert answer_probability(partial) < answer_probability(full)
    hits = [hit_on(0, "The orchard opened to visitors on Sunday.", "Open day")]
    assert choose_answer(question, hits, weight.__getitem__, model=ALWAYS_ANSWERS).found


@pytest.mark.parametrize(
    "sentence",
    ["Polls close at 10 p.m. on the island.", "The doors open at 9am.", "The ferry leaves at 7:45.",
     "The bell rings at noon.", "The mill was busiest in the 1890s.", "It was built in the 12th century."],
)
def test_when_questions_accept_times_of_day_decades_and_centuries(sentence: str) -> None:
    assert type_match(Expect.DATE, sentence, set()) == 1.0


def test_a_synonym_picks_the_passage_that_paraphrases_the_question() -> None:
    # "steps" is the question's heaviest word (but under the 45% a quote may lack); the answer
    # says "measures" (WordNet's first sense of "step"), while the other passage repeats
    # "steps" but does not answer.
    hits = [hit_on(0, "Council steps were debated for an hour on Monday."),
            hit_on(1, "The council has taken measures to cut traffic, closing two roads.")]
    weight = {"step": 2.5, "taken": 2.0, "council": 1.5}
    question = "What steps were taken by the council?"
    answer = choose_answer(question, hits, weight.__getitem__, model=ALWAYS_ANSWERS)
    assert answer.found and "closing two roads" in answer.text


def test_the_support_threshold_counts_the_questions_own_words_not_synonyms() -> None:
    # The passage holds "negotiations" for the question's "talks" (5/6 of its weight): the
    # synonym helps choose a sentence, but the answer probability leans on the question's own
    # words, so the literal sentence is the likelier answer.
    weight = {"talk": 5.0, "held": 1.0}
    question = "When were the talks held?"
    paraphrase = candidate_pool(question, [hit_on(0, "The unions held negotiations on Friday.")], weight.__getitem__)
    literal = candidate_pool(question, [hit_on(0, "The unions held talks on Friday.")], weight.__getitem__)
    assert answer_probability(paraphrase) < answer_probability(literal)


def test_a_synonym_counts_for_half_its_term() -> None:
    question = Question.parse("What steps were taken?")
    scorer = Scorer(question, lambda term: 1.0)
    assert scorer.share({"measur", "taken"}) == pytest.approx(0.75)
    assert scorer.exact_share({"measur", "taken"}) == pytest.approx(0.5)
    assert Scorer(question, lambda term: 1.0, synonym_share=0.0).share({"measur"}) == 0.0


def test_a_synonym_that_the_question_also_asks_counts_once() -> None:
    # "measures" is both a question word and a synonym of "steps": a sentence with only
    # "measures" holds one of the two words, not one and a half.
    scorer = Scorer(Question.parse("What steps and measures?"), lambda term: 1.0)
    assert scorer.share({"measur"}) == pytest.approx(0.5)


def test_a_phrase_synonym_needs_all_its_words() -> None:
    # "lagged": WordNet's first sense of "lag" holds the phrase "fall behind". The second
    # passage ranks lower by BM25 and wins only when it holds the whole phrase.
    def hits(second: str) -> list[Hit]:
        return [hit_on(0, "The club finished the race in second place.", "Rowing"),
                hit_on(1, second, "Rowing", score=4.5)]

    weight = {"lag": 2.5, "club": 1.5, "race": 2.0}
    question = "Which club lagged in the race?"
    phrase = choose_answer(question, hits("The club kept falling behind during the race."),
                           weight.__getitem__, model=ALWAYS_ANSWERS)
    assert phrase.found and "falling behind" in phrase.text
    half = choose_answer(question, hits("The club kept falling during the race."),
                         weight.__getitem__, model=ALWAYS_ANSWERS)
    assert half.found and "second place" in half.text


def _dated(folder: Path, name: str, date: str, extra: str) -> None:
    (folder / name).write_text(
        f"---\ntitle: Ferry service update\ndate: {date}\n---\n\n"
        f"The harbour ferry will resume sailings on 4 April after repairs to the pier.\n\n{extra}\n",
        encoding="utf-8",
    )


@pytest.mark.parametrize("older_first", [True, False])
def test_when_articles_say_the_same_sentence_the_newest_is_cited(tmp_path: Path, older_first: bool) -> None:
    # the older article is shorter, so BM25 ranks its passage first; the quote is the same words
    names = ("a.md", "b.md") if older_first else ("b.md", "a.md")
    folder = tmp_path / "articles"
    folder.mkdir()
    _dated(folder, names[0], "2024-01-05", "Passengers were told to expect delays.")
    _dated(folder, names[1], "Tue, 12 Mar 2024 09:00:00 +0000",
           "Passengers were told to expect delays while engineers finish the work on the old timber pier.")
    (folder / "c.md").write_text("Undated copy\n\nThe harbour ferry will resume sailings on 4 April after "
                                   "repairs to the pier.\n", encoding="utf-8")
    library = Library.open(folder, cache_dir=tmp_path / "cache")
    hits = library.search("When will the harbour ferry resume sailings?", 3)
    assert hits[0].passage.article.path != names[1]  # shorter copies outrank the newest in BM25
    answer = with_sources(library.ask("When will the harbour ferry resume sailings?"), library.snapshot)
    assert answer.found
    assert answer.citations[0].path == names[1]
    assert answer.citations[0].published == "Tue, 12 Mar 2024 09:00:00 +0000"  # the reply shows the date
    assert "4 April" in answer.citations[0].quote


def test_published_dates_compare_across_formats() -> None:
    from citebot.retrieval.answer import published_at

    assert published_at("2024-03-12") < published_at("Wed, 13 Mar 2024 00:00:00 GMT")
    assert published_at("2024-03-12T10:00:00+02:00") < published_at("2024-03-12T09:00:00Z")
    assert published_at("last Tuesday") is None and published_at(None) is None


def test_ask_cites_dates_from_the_snapshot_its_quotes_came_from(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    _dated(folder, "a.md", "2024-01-05", "Passengers were told to expect delays.")
    answer = Library.open(folder, cache_dir=tmp_path / "cache").ask("When will the harbour ferry resume sailings?")
    assert answer.found and answer.citations[0].published == "2024-01-05"  # no front-end lookup needed


def test_article_info_reads_one_snapshot_while_a_refresh_publishes_another(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    _dated(folder, "a.md", "2024-01-05", "Passengers were told to expect delays.")
    library = Library.open(folder, cache_dir=tmp_path / "cache")
    old = library.snapshot
    _dated(folder, "a.md", "2024-01-06", "Passengers were told to expect long delays.")
    library.refresh()
    new = library.snapshot

    class Mid:  # the refresh lands between two reads of the live snapshot
        reads = iter([old, new, new, new])

        @property
        def _snapshot(self):
            return next(self.reads)

    assert Library.article_info(Mid(), "a.md") == library.article_info("a.md")


def test_a_name_stemmed_into_another_word_is_matched_only_by_its_own_spelling() -> None:
    """"Titanic" stems to "titan": a sentence about the Titan corporation holds the term but not
    the name; the ship's own sentence, a plural or possessive of the name, still count."""
    scorer = Scorer(Question.parse("When did the Titanic sink?"), lambda term: 2.0)
    titan = Sentence.of("The Titan corporation said profits rose.", tokenize("The Titan corporation said profits rose."))
    ship = Sentence.of("The Titanic's hull was found in 1985.", tokenize("The Titanic's hull was found in 1985."))
    held = scorer.held(titan)
    assert scorer.share(held.set) == 0.0 < scorer.share(titan.set)
    assert len(held.terms) == len(titan.terms)  # a stand-in keeps the length and the word gaps
    assert scorer.held(ship) is ship and scorer.share(ship.set) > 0
    lower = Scorer(Question.parse("when did the titanic sink"), lambda term: 2.0)  # no capital: no guard
    assert lower.held(titan) is titan


@pytest.mark.parametrize("question, sentence", [
    ("What did the World Health Organisation say?", "The World Health Organization said it was worried."),
    ("What do the Tories want?", "The Tory leader said taxes would fall."),
    ("Who coaches the Wolves?", "Wolves' coach said the team was tired."),
    ("What did Newcastle's manager say?", "The Newcastle manager said little."),
])
def test_a_guarded_name_still_counts_in_its_other_spellings(question: str, sentence: str) -> None:
    scorer = Scorer(Question.parse(question), lambda term: 2.0)
    said = Sentence.of(sentence, tokenize(sentence))
    assert scorer.guarded and scorer.held(said) is said


def test_a_guarded_name_changes_which_sentence_is_quoted() -> None:
    text_a = "Shares in Titan rose sharply on Monday after the takeover."
    text_b = "The Titanic went down in April 1912 after striking an iceberg."
    hits = [hit_on(1, text_a, score=6.0), hit_on(2, text_b, score=5.0)]
    answer = choose_answer("When did the Titanic go down?", hits, lambda term: 3.0, model=ALWAYS_ANSWERS)
    assert answer.found and "1912" in answer.text
