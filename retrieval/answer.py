"""Question + ranked passages -> an extractive Answer with verbatim quotes, or an honest "no".

Every sentence of the best passages is a candidate (:mod:`retrieval.candidates` describes each
with the same features the model was trained on); the learned ranker (:mod:`retrieval.ranker`)
picks the best, and the model's answer probability decides whether it answers at all: below the
shipped threshold citebot says the articles don't answer, and lists the closest passages.
When an adjacent sentence of the same paragraph ranks nearly as high, both are quoted: the
question's words are spread over the two. A short quote, or one lacking the kind of thing asked
for (a date, a number, a place, a name) that the next sentence holds, takes that sentence too.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Sequence

import numpy as np

from citebot.retrieval.analyzer import sentence_spans
from citebot.retrieval.candidates import FEATURES, Candidate, Pool, Standalone, Surroundings, collect, sentence_features
from citebot.retrieval.match import Question, Scorer
from citebot.retrieval.models import Answer, Citation, Hit
from citebot.retrieval.question import Expect, type_match
from citebot.retrieval.ranker import AnswerModel, Linear, default_model
from citebot.retrieval.semantic import Similarity

log = logging.getLogger(__name__)
CHECK_FAILED = threading.Event()  # the semantic check raised (logged the first time)

MAX_QUOTE_CHARS = 600
SOLE_MARGIN = 10.0  # the ranker margin of a lone candidate: nothing else came close
_ANCHORED = FEATURES.index("anchored")
SHORT_SENTENCE_CHARS = 60


def sentence_scores(
    question: str,
    sentences: Sequence[str],
    idf: Callable[[str], float],
    model: AnswerModel | None = None,
) -> list[float]:
    """Rank free-standing candidate sentences (answer-sentence selection, e.g. WikiQA)."""
    if not sentences:
        return []
    q = Question.parse(question)
    features = sentence_features(q, Scorer(q, idf), sentences)
    return [float(v) for v in (model or default_model()).ranker(features)]


def candidate_pool(
    question: str,
    hits: list[Hit],
    idf: Callable[[str], float],
    around: Surroundings | None = None,
) -> Pool | None:
    """The question's candidate sentences with their features (None: nothing to rank)."""
    q = Question.parse(question)
    if not hits or not q.terms:
        return None
    return collect(q, Scorer(q, idf), hits, around)


def choose_answer(
    question: str,
    hits: list[Hit],
    idf: Callable[[str], float],
    around: Surroundings | None = None,
    model: AnswerModel | None = None,
    similarity: Similarity | None = None,
) -> Answer:
    """Pick the answering sentence among ``hits`` (best BM25 first), or decline.

    ``idf(term)`` gives each question term's weight; a term no article contains should get a
    high weight so that its absence counts against every candidate. ``similarity`` (the
    semantic check, optional) is one more input to whether the chosen sentence answers.
    """
    around = around or Standalone()
    pool = candidate_pool(question, hits, idf, around)
    if pool is None or not pool.candidates:
        return Answer(question, False, "", (), see_also(hits))
    decision = decide(pool, model or default_model(), similarity)
    if decision is None:
        return Answer(question, False, "", (), see_also(hits))
    return _answer_from(pool.question, decision, around)


@dataclass(frozen=True)
class Decision:
    """The model's verdict on one question's pool: its best candidate, the adjacent sentence
    worth quoting with it (an article span, or None), and whether to answer at all."""

    best: Candidate
    partner: tuple[int, int] | None
    probability: float  # that the best candidate answers the question
    anchored: bool  # its article holds every name and number the question gives
    threshold: float  # set by the model part that judged it (lexical, or semantic)

    def answers(self, threshold: float | None = None) -> bool:
        """Answer at this threshold (default: the model's)? A NaN probability declines."""
        return self.anchored and self.probability >= (self.threshold if threshold is None else threshold)

    @property
    def span(self) -> tuple[int, int]:
        """The quoted span in the article: the best sentence, with its partner if any."""
        if self.partner is None:
            return self.best.start, self.best.end
        return min(self.best.start, self.partner[0]), max(self.best.end, self.partner[1])


def assess(pool: Pool, model: AnswerModel | None = None, similarity: Similarity | None = None) -> Decision:
    """Rank ``pool``'s candidates and judge the best one (whatever the threshold)."""
    model = model or default_model()
    scores, top, margin = rank(pool, model.ranker)
    anchored = bool(pool.features[top, _ANCHORED])
    similar = None
    if similarity is not None and model.semantic is not None and anchored:  # unanchored declines anyway
        try:
            similar = similarity(pool.question.text, pool.candidates[top].text)
        except Exception:  # an optional check never costs the answer: decide on the words alone
            if not CHECK_FAILED.is_set():  # said once, not at every question
                CHECK_FAILED.set()
                log.warning("semantic check failed; deciding on word overlap alone", exc_info=True)
    probability, threshold = model.judge(pool.features[top], float(scores[top]), margin, similar)
    best = newest_telling(pool, top)
    return Decision(pool.candidates[best], partner(pool, scores, best, model.pair_margin), probability,
                    anchored, threshold)


def published_at(value: str | None) -> datetime | None:
    """An article's date as a comparable UTC time: ISO 8601 (front matter, Atom) or RFC 822
    (RSS); None when absent or unreadable (an undated article never wins on date)."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def newest_telling(pool: Pool, top: int) -> int:
    """The candidate to quote when several articles say the best sentence word for word (a story
    updated and saved again, a wire report run by two sources): the newest dated one, so a
    question about the latest news cites the latest article. Otherwise ``top`` itself."""
    best = pool.candidates[top]
    path, said = best.hit.passage.article.path, _said(best)
    copies = [i for i, other in enumerate(pool.candidates)
              if other.hit.passage.article.path != path and other.hit.passage.article.published
              and _said(other) == said]
    if not copies:  # nearly always: dates are parsed only when another article says the same
        return top
    chosen, newest = top, published_at(best.hit.passage.article.published)
    for i in copies:
        when = published_at(pool.candidates[i].hit.passage.article.published)
        if when is not None and (newest is None or when > newest):
            chosen, newest = i, when
    return chosen


def _said(candidate: Candidate) -> str:
    """The candidate's sentence with its spacing folded (the same words, however wrapped)."""
    return " ".join(candidate.text.split())


def rank(pool: Pool, ranker: Linear) -> tuple[np.ndarray, int, float]:
    """The ranker's scores, the best candidate's index and its margin over the runner-up."""
    scores = ranker(pool.features)
    order = np.argsort(-scores, kind="stable")
    top = int(order[0])
    margin = float(scores[top] - scores[order[1]]) if len(order) > 1 else SOLE_MARGIN
    return scores, top, margin


def decide(pool: Pool, model: AnswerModel, similarity: Similarity | None = None) -> Decision | None:
    """The decision when it answers; None when the model's answer probability is under its
    threshold, or the best candidate's article lacks a name or number the question gives ("the
    population of Greenland" is not answered by an article about another country's people)."""
    decision = assess(pool, model, similarity)
    return decision if decision.answers() else None


def answer_probability(pool: Pool, model: AnswerModel | None = None) -> float:
    """The lexical model's probability that the best candidate of ``pool`` answers its question."""
    return assess(pool, model).probability


def partner(pool: Pool, scores: np.ndarray, top: int, margin: float) -> tuple[int, int] | None:
    """The better-ranked neighbour of the best sentence in its paragraph, when it ranks within
    ``margin`` and the two fit in one quote: quoting only one of two sentences that share the
    question's words is a coin toss."""
    if margin <= 0:
        return None
    best = pool.candidates[top]
    near = [k for k, c in enumerate(pool.candidates)
            if c.hit.passage.id == best.hit.passage.id and abs(c.sentence - best.sentence) == 1
            and scores[k] >= scores[top] - margin
            and max(best.end, c.end) - min(best.start, c.start) <= MAX_QUOTE_CHARS]
    if not near:
        return None
    chosen = pool.candidates[max(near, key=lambda k: scores[k])]
    return chosen.start, chosen.end


def _trim(text: str, start: int, end: int, limit: int = MAX_QUOTE_CHARS) -> tuple[int, int]:
    """Keep a quote within ``limit`` characters, cutting at a word boundary (still verbatim)."""
    if end - start <= limit:
        return start, end
    cut = text.rfind(" ", start, start + limit)
    return start, cut if cut > start else start + limit


def _answer_from(q: Question, decision: Decision, around: Surroundings) -> Answer:
    """Two adjacent sentences when both ranked high (``partner``); else one, or two when the
    first alone cannot answer: it is very short, or the question wants a number, date, place or
    name and only the adjacent sentence has one."""
    best = decision.best
    passage = best.hit.passage
    text = passage.article.text
    if decision.partner is not None:
        quote = text[slice(*decision.span)]
        return Answer(q.text, True, quote, (_citation(1, best.hit, quote),), ())
    start, end = _trim(text, best.start, best.end)
    spans = [(passage.start + s, passage.start + e) for s, e in sentence_spans(passage.text)]
    after = [(s, e) for s, e in spans if s >= end]
    before = [(s, e) for s, e in spans if e <= start]
    wants_more = end - start < SHORT_SENTENCE_CHARS
    lacks_type = (
        q.expect is not Expect.ANY and type_match(q.expect, text[start:end], q.words) < 1.0
    )

    def holds_type(s: int, e: int, body: str = text) -> bool:
        return type_match(q.expect, body[s:e], q.words) >= 1.0

    if after and (wants_more or (lacks_type and holds_type(*after[0]))):
        if after[0][1] - start <= MAX_QUOTE_CHARS:
            end = after[0][1]
    elif lacks_type and before and holds_type(*before[-1]) and end - before[-1][0] <= MAX_QUOTE_CHARS:
        start = before[-1][0]
    elif lacks_type and not after:
        # The detail may open the next paragraph: quote it too, with its own citation.
        following = around.following(best.hit)
        if following is not None:
            nxt = sentence_spans(following.passage.text)
            if (nxt and holds_type(*nxt[0], body=following.passage.text)
                    and (end - start) + (nxt[0][1] - nxt[0][0]) < MAX_QUOTE_CHARS):  # whole, or not at all
                s, e = nxt[0]
                first, second = text[start:end], following.passage.text[s:e]
                continued = Hit(following.passage, best.hit.score)
                citations = (_citation(1, best.hit, first), _citation(2, continued, second))
                return Answer(q.text, True, f"{first} {second}", citations, ())
    quote = text[start:end]
    return Answer(q.text, True, quote, (_citation(1, best.hit, quote),), ())


def _citation(n: int, hit: Hit, quote: str) -> Citation:
    article = hit.passage.article
    return Citation(n, article.title, article.path, hit.passage.paragraph, quote, hit.score, article.url)


def see_also(hits: Sequence[Hit], limit: int = 3) -> tuple[Citation, ...]:
    """The closest passages, one per article, for a "the articles don't say" reply."""
    out: list[Citation] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.passage.article.path in seen:
            continue
        seen.add(hit.passage.article.path)
        text = hit.passage.text
        spans = sentence_spans(text)
        s, e = spans[0] if spans else (0, len(text))
        s, e = _trim(text, s, e)
        out.append(_citation(len(out) + 1, hit, text[s:e]))
        if len(out) == limit:
            break
    return tuple(out)
