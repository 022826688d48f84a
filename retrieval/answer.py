"""Question + ranked passages -> an extractive Answer with verbatim quotes, or an honest "no".

Each sentence of the best passages is scored on: the share of the question's idf mass it holds
(alone, and with the sentence before it and the article title), how close together the matched
words sit, how many of the question's word pairs it repeats in order, whether it holds the kind
of thing the question asks for (a place, a date, a number, a name) that the question itself does
not contain, and its passage's BM25 score. A question word that is missing but has a synonym
present (WordNet's first sense: "talks" / "negotiations") counts for half its weight.
When a neighbour of the best sentence scores nearly as well, both are quoted: the question's
words are spread over the two.
``found`` is false when even the best passage misses half the question's idf mass, or the
chosen sentence (with the one before it, the title and any quoted neighbour) lacks a term
carrying nearly half of it: better to say the articles don't answer than to guess. These two
thresholds count the question's own words only (synonyms still decide which sentence they check).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Iterator, Sequence

from retrieval.analyzer import sentence_spans, tokenize, words
from retrieval.models import Answer, Citation, Hit
from retrieval.question import Expect, expected_type, type_match
from retrieval.synonyms import Synonyms, synonyms

MAX_QUOTE_CHARS = 600
CANDIDATE_PASSAGES = 10  # 10, 14 and 20 measured identical on SQuAD and the dev set
SHORT_SENTENCE_CHARS = 60


@dataclass(frozen=True)
class Weights:
    """Passage-rank and sentence-score weights and the no-answer thresholds (measured in
    benchmarks/)."""

    sentence: float = 1.0
    window: float = 0.8  # the sentence with the one before it (what its "it"/"he" refers to)
    support: float = 0.5
    passage: float = 0.6
    proximity: float = 0.15
    type: float = 0.35
    bigram: float = 0.3  # share of the question's in-order word pairs the sentence repeats
    name_boost: float = 0.5  # extra weight for terms the question capitalises (names, places)
    neighbour: float = 0.8  # passage-score factor for the paragraph after the chosen one
    focus: float = 1.0  # passage rank: weight of its best sentence's share of the question
    bigram_focus: float = 0.5  # passage rank: weight of its best sentence's word-pair share
    coverage: float = 0.5  # passage rank: weight of the share the passage with its title holds
    # No-answer checks, measured as SQuAD answered right vs. SQuAD questions over seeds + BBC
    # declined (benchmarks/quality.py "offtopic"): (0.4, off) 75.1% / 68.1% -> 73.9% / 79.3%
    # (before the coverage term; with it 74.3% / 78.7%).
    min_support: float = 0.5  # share of the question's idf mass the best passage must hold
    max_missing: float = 0.45  # decline if the quote's window lacks a term with this share of it
    pair_margin: float = 0.4  # an adjacent sentence scoring within this of the best joins the quote
    synonym: float = 0.5  # a question term's synonym counts for this share of the term's weight


@dataclass(frozen=True)
class Question:
    """A question analysed once: its content terms, the named ones, words and expected type."""

    text: str
    terms: tuple[str, ...]
    names: frozenset[str]
    words: frozenset[str]
    expect: Expect

    @classmethod
    def parse(cls, text: str) -> "Question":
        terms = tuple(t for t in dict.fromkeys(tokenize(text)) if t not in FRAME_TERMS)
        return cls(text, terms or tuple(dict.fromkeys(tokenize(text))), named_terms(text),
                   frozenset(words(text)), expected_type(text))


# Words that frame the question rather than its topic ("what sort of", "how many").
FRAME_TERMS = frozenset(tokenize("sort kind type many much"))


def named_terms(question: str) -> frozenset[str]:
    """Terms of words the question capitalises past its first word: its names and places."""
    names = re.findall(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'’-]*", question.strip())
    return frozenset(tokenize(" ".join(names)))


def proximity(sentence_terms: Sequence[str], wanted: set[str]) -> float:
    """Matched distinct terms / width of the smallest window holding them all (0 if under 2)."""
    positions = [i for i, t in enumerate(sentence_terms) if t in wanted]
    need = len({sentence_terms[i] for i in positions})
    if need < 2:
        return 0.0
    best = len(sentence_terms)
    counts: dict[str, int] = {}
    have = left = 0
    for pos in positions:
        term = sentence_terms[pos]
        counts[term] = counts.get(term, 0) + 1
        have += counts[term] == 1
        while have == need:
            best = min(best, pos - positions[left] + 1)
            lterm = sentence_terms[positions[left]]
            counts[lterm] -= 1
            have -= counts[lterm] == 0
            left += 1
    return need / best


class _Scorer:
    """Scores sentences against one question with fixed idf weights."""

    def __init__(self, question: Question, idf: Callable[[str], float], weights: Weights) -> None:
        self.q = question
        self.weights = weights
        boost = 1 + weights.name_boost
        self.idf = {t: idf(t) * (boost if t in question.names else 1) for t in question.terms}
        self.total = sum(self.idf.values()) or 1.0
        self.wanted = set(question.terms)
        self.pairs = question_pairs(question.text, self.idf)
        self.pairs_total = sum(self.pairs.values()) or 1.0
        # Per question term: its one-word synonyms, and the first words of its phrases ("fall
        # behind"), as sets, so most sentences cost two C-level disjointness tests; only a
        # sentence holding a phrase's first word is checked for the rest of it. A synonym that
        # is itself a question term already counts in full for that term.
        self.synonyms: dict[str, tuple[frozenset[str], frozenset[str], Synonyms]] = {}
        if weights.synonym > 0:
            for t in question.terms:
                found = tuple(s for s in synonyms(t) if not self.wanted.issuperset(s))
                if found:
                    phrases = tuple(s for s in found if len(s) > 1)
                    self.synonyms[t] = (frozenset(s[0] for s in found if len(s) == 1),
                                        frozenset(p[0] for p in phrases), phrases)

    def share(self, terms: set[str] | frozenset[str]) -> float:
        """The share of the question's idf mass found in ``terms``, a synonym counting for part
        of its term's weight."""
        found = 0.0
        for t, w in self.idf.items():
            if t in terms:
                found += w
            elif t in self.synonyms:
                singles, heads, phrases = self.synonyms[t]
                if not singles.isdisjoint(terms) or (
                    not heads.isdisjoint(terms) and any(terms.issuperset(p) for p in phrases)
                ):
                    found += w * self.weights.synonym
        return found / self.total

    def exact_share(self, terms: set[str] | frozenset[str]) -> float:
        """``share`` without synonyms, for the no-answer thresholds: a passage must hold half of
        the question's own words to be answered from, or a question on another topic that
        happens to share synonyms with an article would be answered from it."""
        return sum(w for t, w in self.idf.items() if t in terms) / self.total

    def largest_missing(self, terms: frozenset[str]) -> float:
        """The largest share of the question's idf mass held by one term missing from ``terms``."""
        return max((w for t, w in self.idf.items() if t not in terms), default=0.0) / self.total

    def pair_share(self, sentence_terms: Sequence[str]) -> float:
        """The share of the question's word-pair weight found, in order, in ``sentence_terms``."""
        if not self.pairs:
            return 0.0
        found = set(zip(sentence_terms, sentence_terms[1:]))
        return sum(w for pair, w in self.pairs.items() if pair in found) / self.pairs_total

    def score(
        self, sentence: str, s_terms: list[str], window: set[str], support: float, passage: float
    ) -> float:
        w = self.weights
        return (
            w.sentence * self.share(set(s_terms))
            + w.window * self.share(window)
            + w.support * support
            + w.passage * passage
            + w.proximity * proximity(s_terms, self.wanted)
            + w.type * type_match(self.q.expect, sentence, self.q.words)
            + w.bigram * self.pair_share(s_terms)
        )


def question_pairs(question: str, idf: dict[str, float]) -> dict[tuple[str, str], float]:
    """Consecutive content terms of the question (stopwords and frame words skipped), each pair
    weighted by its terms' mean idf. Bag-of-words overlap cannot tell "interest rates rose" from a
    sentence that has "interest" and "rates" far apart; a sentence repeating the question's
    phrases in order is usually the one it was asked about."""
    terms = [t for t in tokenize(question) if t in idf]
    return {(a, b): (idf[a] + idf[b]) / 2 for a, b in zip(terms, terms[1:]) if a != b}


def sentence_scores(
    question: str,
    sentences: Sequence[str],
    idf: Callable[[str], float],
    weights: Weights = Weights(),
) -> list[float]:
    """Score free-standing candidate sentences (answer-sentence selection, e.g. WikiQA)."""
    scorer = _Scorer(Question.parse(question), idf, weights)
    out = []
    for sentence in sentences:
        terms = tokenize(sentence)
        out.append(scorer.score(sentence, terms, set(terms), 0.0, 0.0))
    return out


@dataclass(frozen=True)
class _Candidate:
    score: float
    hit: Hit
    start: int  # in article.text
    end: int
    window: frozenset[str]  # its terms with the sentence before, the title and any partner's
    partner: tuple[int, int] | None = None  # an adjacent sentence (article.text span) worth quoting too


def _trim(text: str, start: int, end: int, limit: int = MAX_QUOTE_CHARS) -> tuple[int, int]:
    """Keep a quote within ``limit`` characters, cutting at a word boundary (still verbatim)."""
    if end - start <= limit:
        return start, end
    cut = text.rfind(" ", start, start + limit)
    return start, cut if cut > start else start + limit


@lru_cache(maxsize=4096)
def _analyse(title: str, text: str) -> tuple[frozenset[str], list[tuple[int, int]], list[list[str]]]:
    """Title terms, sentence spans and each sentence's terms of one passage. Cached: popular
    passages come back question after question, and analysing them is most of ask()'s cost."""
    spans = sentence_spans(text)
    return frozenset(tokenize(title)), spans, [tokenize(text[s:e]) for s, e in spans]


def _continuations(
    hits: Sequence[Hit], neighbours: Callable[[Hit], Hit | None] | None
) -> Iterator[tuple[Hit, Hit]]:
    """(top hit, the paragraph after it) for the best three hits: an answer often opens the
    paragraph after the one that names the topic ("Gardener won in Leipzig." / "Gardener
    clocked 6.56 seconds...")."""
    if neighbours is None:
        return
    for hit in hits[:3]:
        after = neighbours(hit)
        if after is not None:
            yield hit, after


def choose_answer(
    question: str,
    hits: list[Hit],
    idf: Callable[[str], float],
    weights: Weights = Weights(),
    neighbours: Callable[[Hit], Hit | None] | None = None,
) -> Answer:
    """Pick the answering sentence among ``hits`` (best BM25 first), or decline.

    ``idf(term)`` gives each question term's weight; a term no article contains should get a
    high weight so that its absence counts against every candidate.
    """
    q = Question.parse(question)
    if not hits or not q.terms:
        return Answer(question, False, "", (), see_also(hits))
    scorer = _Scorer(q, idf, weights)
    top_score = hits[0].score or 1.0
    best: _Candidate | None = None
    best_support = 0.0  # exact_share: see there
    # Stage 1: the passage. BM25, plus how much of the question its best sentence holds (a
    # passage that answers usually has one sentence that gathers the question's terms) and how
    # much the passage with its title holds (the title often names what the paragraph is about).
    analysed = []
    for hit in hits[:CANDIDATE_PASSAGES]:
        passage = hit.passage
        title_terms, spans, sentence_terms = _analyse(passage.article.title, passage.text)
        passage_terms = title_terms.union(*sentence_terms)
        support = scorer.share(passage_terms)
        best_support = max(best_support, scorer.exact_share(passage_terms))
        focus = max((scorer.share(set(t)) for t in sentence_terms), default=0.0)
        pairs = max((scorer.pair_share(t) for t in sentence_terms), default=0.0)
        rank = (hit.score / top_score + weights.focus * focus + weights.bigram_focus * pairs
                + weights.coverage * support)
        analysed.append((rank, hit, title_terms, spans, sentence_terms, support))
    if not analysed:
        return Answer(question, False, "", (), see_also(hits))
    rank, hit, title_terms, spans, sentence_terms, support = max(analysed, key=lambda a: a[0])
    # Stage 2: the sentence within it (or opening the paragraph after it). Its context window is
    # the sentence before it, not after: a pronoun points back ("The council met ..." / "It
    # voted to ..."), and crediting a topic sentence with its successor's words made it win.
    passage = hit.passage
    scores = []
    best_i = 0
    for i, (s, e) in enumerate(spans):
        window = set(title_terms) | set(sentence_terms[i])
        if i > 0:
            window.update(sentence_terms[i - 1])
        score = scorer.score(passage.text[s:e], sentence_terms[i], window, support, 1.0)
        scores.append(score)
        if best is None or score > best.score + 1e-12:
            best = _Candidate(score, hit, passage.start + s, passage.start + e, frozenset(window))
            best_i = i
    if best is not None:
        best = _with_partner(best, best_i, spans, sentence_terms, scores, weights.pair_margin)
    for hit, after in _continuations([hit], neighbours):
        passage = after.passage
        following = sentence_spans(passage.text)
        if not following or not spans:
            continue
        s, e = following[0]
        first = tokenize(passage.text[s:e])
        window = set(first) | set(sentence_terms[-1]) | title_terms
        continued = Hit(passage, hit.score * weights.neighbour)
        score = scorer.score(passage.text[s:e], first, window, support, weights.neighbour)
        if best is None or score > best.score + 1e-12:
            best = _Candidate(score, continued, passage.start + s, passage.start + e, frozenset(window))
    if best is None or not _anchored(q, best, title_terms | set().union(*sentence_terms)):
        return Answer(question, False, "", (), see_also(hits))
    if best_support < weights.min_support or scorer.largest_missing(best.window) >= weights.max_missing:
        return Answer(question, False, "", (), see_also(hits))
    return _answer_from(q, best, neighbours)


def _with_partner(
    best: _Candidate,
    i: int,
    spans: Sequence[tuple[int, int]],
    sentence_terms: Sequence[list[str]],
    scores: Sequence[float],
    margin: float,
) -> _Candidate:
    """Pair the best sentence (``spans[i]``) with the better of its two neighbours when that one
    scores within ``margin``: the question's words are then spread over two sentences ("Trump
    sent a letter ... the leader expressed great satisfaction." / "The White House confirmed
    ..."), and quoting only one of them is a coin toss. The partner's words join the window
    that the no-answer check reads, since they are quoted too."""
    if margin <= 0:
        return best
    start = best.hit.passage.start
    near = [k for k in (i - 1, i + 1) if 0 <= k < len(spans) and scores[k] >= best.score - margin]
    if not near:
        return best
    k = max(near, key=lambda k: scores[k])
    s, e = spans[k]
    return replace(best, partner=(start + s, start + e), window=best.window | set(sentence_terms[k]))


def _anchored(q: Question, best: _Candidate, context: set[str]) -> bool:
    """Every name and number the question gives must appear in the cited article: "the
    population of Greenland" is not answered by an article about another country's people."""
    anchors = q.names | {t for t in q.terms if t[0].isdigit()}
    missing = anchors - context
    if not missing:
        return True
    article = best.hit.passage.article
    return missing <= _article_terms(article.title, article.text)


@lru_cache(maxsize=256)
def _article_terms(title: str, text: str) -> frozenset[str]:
    """Every term of an article. Cached: tokenising a whole article per question was a fifth of
    ask()'s time on off-topic questions, whose names are rarely in the chosen passage."""
    return frozenset(tokenize(text)) | frozenset(tokenize(title))


def _answer_from(
    q: Question, best: _Candidate, neighbours: Callable[[Hit], Hit | None] | None
) -> Answer:
    """Two adjacent sentences when both scored well (``best.partner``); else one, or two when
    the first alone cannot answer: it is very short, or the question wants a number, date,
    place or name and only the adjacent sentence has one."""
    passage = best.hit.passage
    text = passage.article.text
    if best.partner is not None:
        lo, hi = min(best.start, best.partner[0]), max(best.end, best.partner[1])
        if hi - lo <= MAX_QUOTE_CHARS:
            quote = text[lo:hi]
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
    elif lacks_type and not after and neighbours is not None:
        # The detail may open the next paragraph: quote it too, with its own citation.
        following = neighbours(best.hit)
        if following is not None:
            nxt = sentence_spans(following.passage.text)
            if nxt and holds_type(*nxt[0], body=following.passage.text):
                s, e = _trim(following.passage.text, *nxt[0], limit=MAX_QUOTE_CHARS - (end - start))
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
