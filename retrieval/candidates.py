"""Every sentence that might answer a question, with the features the answer model reads.

The candidates are the sentences of the best BM25 passages, plus the opening sentence of the
paragraph after each of the best three (an answer often opens the paragraph after the one that
names the topic). Each is described by the same numbers at question time and in training
(``benchmarks/train.py`` calls :func:`collect` too), so the shipped model sees what it was fit on.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from retrieval.analyzer import tokenize
from retrieval.match import Question, Scorer, analyse, article_terms, proximity
from retrieval.models import Hit
from retrieval.question import Expect, new_capitalised, type_match

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
    "article_share",  # share of the question anywhere in the sentence's article (and its title)
    "paragraph_pos",  # 1 / paragraph number in the article
)
_DIGIT = re.compile(r"\d")
_WHY = re.compile(r"^\s*(why|what (caused|made|led)|how come)\b", re.I)
_CAUSE = re.compile(r"\b(because|due to|after|as a result|following|since|over|amid|so that|in order to|"
                    r"reason|blamed|caused by|led to)\b", re.I)
_QUOTE = re.compile("[\"“”]")


@dataclass(frozen=True)
class Candidate:
    hit: Hit  # its passage (for a continuation, the following paragraph)
    sentence: int  # index of the sentence in its passage
    start: int  # in article.text
    end: int


@dataclass(frozen=True)
class Pool:
    """One question's candidates, their feature rows, and what the decision needs beside them."""

    question: Question
    candidates: tuple[Candidate, ...]
    features: np.ndarray  # (len(candidates), len(FEATURES))
    spans: dict[int, list[tuple[int, int]]]  # passage id -> its sentence spans (for partners)


_TYPED = (Expect.NUMBER, Expect.DATE, Expect.PLACE, Expect.ENTITY)
_NAMED = (Expect.PLACE, Expect.ENTITY)


def _typed(expect: Expect, kind: float) -> list[float]:
    """``kind`` in the slot of the expected type (so each type learns its own weight)."""
    return [kind if expect is t else 0.0 for t in _TYPED]


def _row(question: Question, scorer: Scorer, text: str, terms: list[str], before: Sequence[str],
         title: frozenset[str], support: float, exact_support: float, focus: float, anchors: frozenset[str],
         anchored: float, expects: float, bm25: float, rank: int, first: bool, lede: bool,
         continuation: bool, article_share: float, paragraph: int) -> list[float]:
    """One candidate's features, in the order of ``FEATURES``."""
    term_set = set(terms)
    window = term_set | title | set(before)
    share = scorer.share(term_set)
    kind = type_match(question.expect, text, question.words)
    names = math.log1p(len(new_capitalised(text, question.words)))
    return [
        share, scorer.exact_share(term_set), scorer.share(window), scorer.largest_missing(frozenset(window)),
        scorer.share(set(before)), scorer.share(title), support, exact_support, focus - share,
        scorer.pair_share(terms), proximity(terms, scorer.wanted),
        kind, expects, *_typed(question.expect, kind), names, names if question.expect in _NAMED else 0.0,
        float(bool(_WHY.search(question.text) and _CAUSE.search(text))),
        len(term_set - scorer.wanted) / (len(term_set) or 1),
        1.0 - len(scorer.missing_anchors(anchors, term_set)) / len(anchors) if anchors else 1.0, anchored,
        bm25, 1.0 / (1 + rank), float(first), float(lede), float(continuation),
        math.log1p(len(terms)), float(bool(_DIGIT.search(text))), float(bool(_QUOTE.search(text))),
        article_share, 1.0 / paragraph,
    ]


def collect(
    question: Question,
    scorer: Scorer,
    hits: Sequence[Hit],
    neighbours: Callable[[Hit], Hit | None] | None = None,
) -> Pool:
    """The candidates of ``hits`` (best BM25 first) and their features."""
    hits = list(hits[:CANDIDATE_PASSAGES])
    top_score = (hits[0].score if hits else 0.0) or 1.0
    anchors = frozenset(question.names | {t for t in question.terms if t[0].isdigit()})
    expects = float(question.expect is not Expect.ANY)
    candidates: list[Candidate] = []
    rows: list[list[float]] = []
    spans_of: dict[int, list[tuple[int, int]]] = {}
    anchored_memo: dict[str, float] = {}
    article_shares: dict[str, float] = {}

    def anchored(hit: Hit, context: frozenset[str] | set[str]) -> float:
        if not scorer.missing_anchors(anchors, context):
            return 1.0
        article = hit.passage.article
        if article.path not in anchored_memo:
            whole = article_terms(article.title, article.text)
            anchored_memo[article.path] = float(not scorer.missing_anchors(anchors, whole))
        return anchored_memo[article.path]

    def add(hit: Hit, rank: int, i: int, s: int, e: int, terms: list[str], before: Sequence[str],
            title: frozenset[str], support: float, exact_support: float, focus: float,
            passage_anchor: float, continuation: bool, bm25: float) -> None:
        article = hit.passage.article
        if article.path not in article_shares:
            article_shares[article.path] = scorer.share(article_terms(article.title, article.text))
        rows.append(_row(question, scorer, hit.passage.text[s:e], terms, before, title, support, exact_support,
                         focus, anchors, passage_anchor, expects, bm25, rank, i == 0,
                         hit.passage.paragraph == 1, continuation, article_shares[article.path],
                         hit.passage.paragraph))
        candidates.append(Candidate(hit, i, hit.passage.start + s, hit.passage.start + e))

    in_hits = {hit.passage.id for hit in hits}
    for rank, hit in enumerate(hits):
        passage = hit.passage
        title, spans, sentence_terms = analyse(passage.article.title, passage.text)
        spans_of[passage.id] = spans
        passage_terms = title.union(*sentence_terms)
        support, exact_support = scorer.share(passage_terms), scorer.exact_share(passage_terms)
        focus = max((scorer.share(set(t)) for t in sentence_terms), default=0.0)
        passage_anchor = anchored(hit, passage_terms)
        for i, (s, e) in enumerate(spans):
            add(hit, rank, i, s, e, sentence_terms[i], sentence_terms[i - 1] if i else (), title,
                support, exact_support, focus, passage_anchor, False, hit.score / top_score)
        if neighbours is not None and rank < CONTINUED_PASSAGES and spans:
            after = neighbours(hit)
            if after is None or after.passage.id in in_hits:
                continue
            a_title, a_spans, a_terms = analyse(after.passage.article.title, after.passage.text)
            if not a_spans:
                continue
            spans_of[after.passage.id] = a_spans
            s, e = a_spans[0]
            continued = Hit(after.passage, hit.score)
            add(continued, rank, 0, s, e, a_terms[0], sentence_terms[-1], a_title, support, exact_support,
                focus, passage_anchor, True, hit.score / top_score)
    features = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    return Pool(question, tuple(candidates), features, spans_of)


def sentence_features(question: Question, scorer: Scorer, sentences: Sequence[str]) -> np.ndarray:
    """Feature rows for free-standing candidate sentences (answer-sentence selection sets such
    as WikiQA): all from one unnamed passage, in order, the first one its lede."""
    terms = [tokenize(s) for s in sentences]
    passage_terms = frozenset().union(*map(set, terms)) if terms else frozenset()
    support, exact = scorer.share(passage_terms), scorer.exact_share(passage_terms)
    focus = max((scorer.share(set(t)) for t in terms), default=0.0)
    rows = []
    anchors = frozenset(question.names | {t for t in question.terms if t[0].isdigit()})
    anchored = float(not scorer.missing_anchors(anchors, passage_terms))
    expects = float(question.expect is not Expect.ANY)
    for i, sentence in enumerate(sentences):
        rows.append(_row(question, scorer, sentence, terms[i], terms[i - 1] if i else (), frozenset(),
                         support, exact, focus, anchors, anchored, expects, 1.0, 0, i == 0, True, False,
                         support, 1))
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))


__all__ = ["CANDIDATE_PASSAGES", "FEATURES", "Candidate", "Pool", "collect", "sentence_features"]
