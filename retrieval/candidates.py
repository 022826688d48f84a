"""Every sentence that might answer a question, with the features the answer model reads.

The candidates are the sentences of the best BM25 passages, plus the opening sentence of the
paragraph after each of the best three (an answer often opens the paragraph after the one that
names the topic). Each is described by the same numbers at question time and in training
(``benchmarks/train.py`` calls :func:`collect` too), so the shipped model sees what it was fit on.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Container, Protocol, Sequence

import numpy as np

from citebot.retrieval.analyzer import tokenize
from citebot.retrieval.match import Question, Scorer, Sentence, analyse, article_terms, opening, proximity
from citebot.retrieval.models import Hit
from citebot.retrieval.question import Expect, new_capitalised, type_match

CANDIDATE_PASSAGES = 10  # passages whose sentences are candidates
CONTINUED_PASSAGES = 3  # best passages whose following paragraph's first sentence is a candidate

FEATURES = (
    "share",  # share of the question's idf mass in the sentence (synonyms count in part)
    "exact_share",  # the same, the question's own words only
    "window_share",  # the sentence with the one before it and the article title
    "window_missing",  # the largest share held by one question term absent from that window
    "prev_share",  # the sentence before alone (what a "he" or "it" points back to)
    "title_share",  # the article title alone
    "support",  # the passage with its title
    "exact_support",
    "focus_gap",  # how far below the passage's best sentence this one is
    "pairs",  # share of the question's in-order word pairs repeated
    "proximity",  # matched terms / width of the window holding them
    "type",  # holds the kind of thing asked for (place, date, number, name) not in the question
    "expects_type",  # the question asks for such a kind
    "type_number",  # "type" for questions asking how many / how much
    "type_date",  # ... when
    "type_place",  # ... where
    "type_entity",  # ... who / which
    "new_names",  # log count of capitalised names the question lacks
    "new_names_asked",  # the same, when the question asks for a name or place
    "cause",  # a why-question and a sentence saying because / after / due to
    "novel",  # share of the sentence's terms that are not the question's (what it adds)
    "names",  # share of the question's names and numbers in the sentence
    "anchored",  # every name and number of the question is somewhere in the sentence's article
    "bm25",  # the passage's BM25 score over the best passage's
    "passage_rank",  # 1 / (1 + rank of the passage)
    "first_sentence",  # opens its paragraph
    "lede",  # in the article's first paragraph
    "continuation",  # the opening of the paragraph after a top passage
    "length",  # log of the sentence's term count
    "digits",  # holds a digit
    "quote",  # holds quotation marks (speech)
    "paragraph_pos",  # 1 / paragraph number in the article
)
_WHY = re.compile(r"^\s*(why|what (caused|made|led)|how come)\b", re.I)
_CAUSE = re.compile(r"\b(because|due to|after|as a result|following|since|over|amid|so that|in order to|"
                    r"reason|blamed|caused by|led to)\b", re.I)


class Surroundings(Protocol):
    """What candidate gathering needs to know beyond the hits themselves."""

    def following(self, hit: Hit) -> Hit | None:
        """The passage after ``hit`` in its article (score 0), if any."""

    def article_terms(self, hit: Hit) -> Container[str]:
        """Every term of ``hit``'s article (for the question's names and numbers): only ``in``
        is asked of it, so it need not spell the terms out."""


class Standalone:
    """Hits that carry their own articles and no neighbours (tests, free-standing passages)."""

    def following(self, hit: Hit) -> Hit | None:
        return None

    def article_terms(self, hit: Hit) -> frozenset[str]:
        return article_terms(hit.passage.article.title, hit.passage.article.text)


@dataclass(frozen=True)
class Candidate:
    hit: Hit  # its passage (for a continuation, the following paragraph)
    sentence: int  # index of the sentence in its passage
    start: int  # in article.text
    end: int

    @property
    def text(self) -> str:
        """The sentence, verbatim from its article."""
        return self.hit.passage.article.text[self.start : self.end]


@dataclass(frozen=True)
class Pool:
    """One question's candidates, their feature rows, and what the decision needs beside them."""

    question: Question
    candidates: tuple[Candidate, ...]
    features: np.ndarray  # (len(candidates), len(FEATURES))


_TYPED = (Expect.NUMBER, Expect.DATE, Expect.PLACE, Expect.ENTITY)
_NAMED = (Expect.PLACE, Expect.ENTITY)


def _typed(expect: Expect, kind: float) -> list[float]:
    """``kind`` in the slot of the expected type (so each type learns its own weight)."""
    return [kind if expect is t else 0.0 for t in _TYPED]


@dataclass(frozen=True, slots=True)
class _Asked:
    """What a candidate's features take from its question, worked out once."""

    question: Question
    scorer: Scorer
    anchors: frozenset[str]  # the question's names and numbers
    why: bool  # a why-question
    typed: tuple[float, ...]  # 1.0 in the slot of the expected type (see _typed)

    @classmethod
    def of(cls, question: Question, scorer: Scorer) -> "_Asked":
        anchors = frozenset(question.names | {t for t in question.terms if t[0].isdigit()})
        return cls(question, scorer, anchors, bool(_WHY.search(question.text)), tuple(_typed(question.expect, 1.0)))


@dataclass(frozen=True, slots=True)
class _Context:
    """What a candidate's features take from its passage."""

    asked: _Asked
    title: frozenset[str]
    title_share: float
    support: float  # share of the question in the passage with its title
    exact_support: float
    focus: float  # the best share of any one sentence of the passage
    anchored: float  # every name and number of the question is in the article
    bm25: float
    rank: int
    paragraph: int


def _row(c: _Context, said: Sentence, share: float, before: frozenset[str], before_share: float,
         first: bool, continuation: bool) -> list[float]:
    """One candidate's features, in the order of ``FEATURES`` (``share`` and ``before_share``:
    the question's share in it and in the sentence before, computed once per sentence)."""
    q, scorer, anchors = c.asked.question, c.asked.scorer, c.asked.anchors
    text, terms, term_set = said.text, said.terms, said.set
    window = term_set | c.title | before
    caps = new_capitalised(text, q.words)
    kind = type_match(q.expect, text, q.words, caps)
    names = math.log1p(len(caps))
    return [
        share, scorer.exact_share(term_set), scorer.share(window), scorer.largest_missing(window),
        before_share, c.title_share, c.support, c.exact_support, c.focus - share,
        scorer.pairs_in(terms, term_set),
        proximity(terms, scorer.wanted) if len(term_set & scorer.wanted) > 1 else 0.0,  # under 2 terms: 0
        kind, float(q.expect is not Expect.ANY), *(kind * slot for slot in c.asked.typed), names,
        names if q.expect in _NAMED else 0.0, float(c.asked.why and bool(_CAUSE.search(text))),
        len(term_set - scorer.wanted) / (len(term_set) or 1),
        1.0 if anchors <= term_set else 1.0 - len(scorer.missing_anchors(anchors, term_set)) / len(anchors),
        c.anchored,
        c.bm25, 1.0 / (1 + c.rank), float(first), float(c.paragraph == 1), float(continuation),
        math.log1p(len(terms)), float(said.digit), float(said.quote), 1.0 / c.paragraph,
    ]


class _Gatherer:
    """One question's candidates and rows as :func:`collect` adds them, passage by passage."""

    def __init__(self, asked: _Asked, hits: list[Hit], around: Surroundings) -> None:
        self.asked, self.around = asked, around
        self.top_score = (hits[0].score if hits else 0.0) or 1.0
        self.in_hits = {hit.passage.id for hit in hits}
        self.candidates: list[Candidate] = []
        self.rows: list[list[float]] = []
        self._anchored: dict[str, float] = {}

    def anchored(self, hit: Hit, context: frozenset[str]) -> float:
        """1.0 when every name and number of the question is in the passage or its article."""
        scorer, anchors = self.asked.scorer, self.asked.anchors
        if anchors <= context or not scorer.missing_anchors(anchors, context):
            return 1.0
        path = hit.passage.article.path
        if path not in self._anchored:
            whole = self.around.article_terms(hit)
            self._anchored[path] = float(not scorer.missing_anchors(anchors, whole))
        return self._anchored[path]

    def passage(self, rank: int, hit: Hit) -> None:
        """Every sentence of ``hit``'s passage; and for the best few, the next paragraph's first."""
        scorer, passage = self.asked.scorer, hit.passage
        a = analyse(passage.article.title, passage.text)
        sentences = [scorer.held(said) for said in a.sentences] if scorer.guarded else a.sentences
        shares = [scorer.share(said.set) for said in sentences]
        context = _Context(
            self.asked, title=a.title, title_share=scorer.share(a.title), support=scorer.share(a.passage),
            exact_support=scorer.exact_share(a.passage), focus=max(shares, default=0.0),
            anchored=self.anchored(hit, a.passage), bm25=hit.score / self.top_score, rank=rank,
            paragraph=passage.paragraph,
        )
        none: frozenset[str] = frozenset()
        for i, (s, e) in enumerate(a.spans):
            self.rows.append(_row(context, sentences[i], shares[i], sentences[i - 1].set if i else none,
                                  shares[i - 1] if i else 0.0, i == 0, False))
            self.candidates.append(Candidate(hit, i, passage.start + s, passage.start + e))
        if rank < CONTINUED_PASSAGES and a.spans:
            self.continuation(hit, context, sentences[-1].set, shares[-1])

    def continuation(self, hit: Hit, context: _Context, before: frozenset[str], before_share: float) -> None:
        """The first sentence of the paragraph after ``hit``, unless that paragraph is a hit too."""
        after = self.around.following(hit)
        if after is None or after.passage.id in self.in_hits:
            return
        scorer = self.asked.scorer
        first = opening(after.passage.article.title, after.passage.text)
        if first is None:
            return
        title, (s, e), said = first
        said = scorer.held(said)
        following = replace(context, title=title, title_share=scorer.share(title),
                            paragraph=after.passage.paragraph)
        self.rows.append(_row(following, said, scorer.share(said.set), before, before_share, True, True))
        self.candidates.append(Candidate(Hit(after.passage, hit.score), 0, after.passage.start + s,
                                         after.passage.start + e))


def collect(
    question: Question,
    scorer: Scorer,
    hits: Sequence[Hit],
    around: Surroundings | None = None,
) -> Pool:
    """The candidates of ``hits`` (best BM25 first) and their features."""
    hits = list(hits[:CANDIDATE_PASSAGES])
    gather = _Gatherer(_Asked.of(question, scorer), hits, around or Standalone())
    for rank, hit in enumerate(hits):
        gather.passage(rank, hit)
    features = np.asarray(gather.rows, dtype=np.float64).reshape(len(gather.rows), len(FEATURES))
    return Pool(question, tuple(gather.candidates), features)


def sentence_features(question: Question, scorer: Scorer, sentences: Sequence[str]) -> np.ndarray:
    """Feature rows for free-standing candidate sentences (answer-sentence selection sets such
    as WikiQA): all from one untitled passage, in order, the article's first paragraph."""
    plain = [Sentence.of(sentence, tokenize(sentence)) for sentence in sentences]
    said = [scorer.held(s) for s in plain]  # the guard reads sentences, as in collect; not the passage
    passage_terms = frozenset().union(*(s.set for s in plain)) if plain else frozenset()
    asked = _Asked.of(question, scorer)
    shares = [scorer.share(s.set) for s in said]
    context = _Context(
        asked, title=frozenset(), title_share=0.0, support=scorer.share(passage_terms),
        exact_support=scorer.exact_share(passage_terms), focus=max(shares, default=0.0),
        anchored=float(not scorer.missing_anchors(asked.anchors, passage_terms)), bm25=1.0, rank=0,
        paragraph=1,
    )
    rows = [_row(context, said[i], shares[i], said[i - 1].set if i else frozenset(),
                 shares[i - 1] if i else 0.0, i == 0, False)
            for i in range(len(said))]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))


__all__ = ["CANDIDATE_PASSAGES", "FEATURES", "Candidate", "Pool", "Standalone", "Surroundings", "collect",
           "sentence_features"]
