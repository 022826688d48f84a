"""How much of a question a piece of text holds: the measures the answer features are made of.

A question is analysed once (:class:`Question`); a :class:`Scorer` then weighs its terms by idf
(names count extra) and measures sentences, windows and passages against it: the share of the
question's idf mass they hold (a WordNet synonym of a missing word counting for part of its
weight), the share of its in-order word pairs, how close together the matched words sit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Container, Sequence

from citebot.retrieval.analyzer import iter_sentence_spans, sentence_spans, spelling_folded, tokenize, words
from citebot.retrieval.question import Expect, expected_type, forget_sentences
from citebot.retrieval.synonyms import Synonyms, related, synonyms

NAME_BOOST = 0.5  # extra weight for terms the question capitalises (names, places)
SYNONYM_SHARE = 0.5  # a question term's synonym counts for this share of the term's weight


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


# A word the question capitalises past its first word (and past a sentence's first word).
_CAPITALISED = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'’-]*")


def named_terms(question: str) -> frozenset[str]:
    """Terms of words the question capitalises past its first word: its names and places."""
    return frozenset(tokenize(" ".join(_CAPITALISED.findall(question.strip()))))


def _base(word: str) -> str:
    """A normalised word as spelled, less what only inflects or respells it: the possessive and
    apostrophes, British -ise (as the analyzer folds it), a plural -s or -ies."""
    word = spelling_folded((word[:-2] if word.endswith("'s") else word).replace("'", ""))
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def guarded_names(question: str) -> dict[str, frozenset[str]]:
    """The question's capitalised words that stemming turns into another word ("Titanic" ->
    "titan"), by term, with the spellings (``_base``) a sentence must use for that term to count:
    without this, "When did the Titanic sink?" is matched by a sentence about the Titan company."""
    guarded: dict[str, frozenset[str]] = {}
    for name in _CAPITALISED.findall(question.strip()):
        for word in words(name):
            terms = tokenize(word)
            if len(terms) == 1 and terms[0] != _base(word):
                guarded[terms[0]] = guarded.get(terms[0], frozenset()) | {_base(word)}
    return guarded


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


class Scorer:
    """Measures text against one question with fixed idf weights."""

    def __init__(self, question: Question, idf: Callable[[str], float], synonym_share: float = SYNONYM_SHARE) -> None:
        self.q = question
        self.synonym_share = synonym_share
        boost = 1 + NAME_BOOST
        self.idf = {t: idf(t) * (boost if t in question.names else 1) for t in question.terms}
        self.total = sum(self.idf.values()) or 1.0
        self.wanted = set(question.terms)
        self.guarded = {t: f for t, f in guarded_names(question.text).items() if t in self.wanted}
        self.pairs = question_pairs(question.text, self.idf)
        self.pairs_total = sum(self.pairs.values()) or 1.0
        # Per question term: its one-word synonyms, and the first words of its phrases ("fall
        # behind"), as sets, so most sentences cost two C-level disjointness tests; only a
        # sentence holding a phrase's first word is checked for the rest of it. A synonym that
        # is itself a question term already counts in full for that term.
        self.synonyms: dict[str, tuple[frozenset[str], frozenset[str], Synonyms]] = {}
        # Word-form relatives ("Italian" / "Italy") count as the word itself.
        self.relatives = {t: r for t in question.terms if (r := frozenset(related(t)) - self.wanted)}
        if synonym_share > 0:
            for t in question.terms:
                found = tuple(s for s in synonyms(t) if not self.wanted.issuperset(s))
                if found:
                    phrases = tuple(s for s in found if len(s) > 1)
                    self.synonyms[t] = (frozenset(s[0] for s in found if len(s) == 1),
                                        frozenset(p[0] for p in phrases), phrases)
        # Per question term, in idf order: its weight, relatives and synonyms (None: none), so
        # share() reads one tuple per term instead of three dict lookups.
        self._plan = tuple((t, w, self.relatives.get(t), self.synonyms.get(t)) for t, w in self.idf.items())
        # Every term that could count for the question: text holding none of them scores 0 at once.
        self._counted = frozenset(self.wanted).union(
            *self.relatives.values(), *(singles | heads for singles, heads, _ in self.synonyms.values()))

    def held(self, sentence: "Sentence") -> "Sentence":
        """``sentence`` as this question should read it: a guarded name's term dropped where the
        sentence spells that term only with other words (the Titan corporation, for "Titanic")."""
        if not self.guarded or self.guarded.keys().isdisjoint(sentence.set):
            return sentence
        spelled: dict[str, set[str]] = {}
        for word in words(sentence.text):
            terms = tokenize(word)
            if len(terms) == 1 and terms[0] in self.guarded:
                spelled.setdefault(terms[0], set()).add(_base(word))
        wrong = {t for t, forms in self.guarded.items() if t in spelled and forms.isdisjoint(spelled[t])}
        if not wrong:
            return sentence
        # A stand-in no question holds, so the words around it stay apart and the length is kept.
        return Sentence.of(sentence.text, ["\0" + t if t in wrong else t for t in sentence.terms])

    def share(self, terms: set[str] | frozenset[str]) -> float:
        """The share of the question's idf mass found in ``terms``, a word-form relative counting
        as its word and a synonym for part of its word's weight."""
        if self._counted.isdisjoint(terms):
            return 0.0
        found = 0.0
        for t, w, relatives, synonyms_of in self._plan:
            if t in terms or (relatives is not None and not relatives.isdisjoint(terms)):
                found += w
            elif synonyms_of is not None:
                singles, heads, phrases = synonyms_of
                if not singles.isdisjoint(terms) or (
                    not heads.isdisjoint(terms) and any(terms.issuperset(p) for p in phrases)
                ):
                    found += w * self.synonym_share
        return found / self.total

    def exact_share(self, terms: set[str] | frozenset[str]) -> float:
        """``share`` without synonyms: what the no-answer decision leans on, since a question on
        another topic can share synonyms with an article without being answered by it."""
        if self.wanted.isdisjoint(terms):
            return 0.0
        return sum(w for t, w in self.idf.items() if t in terms) / self.total

    def missing_anchors(self, anchors: frozenset[str], terms: Container[str]) -> frozenset[str]:
        """The question's names and numbers absent from ``terms`` (a relative standing in:
        "Chinese" is answered by a sentence about China). ``terms`` need only answer ``in``: an
        article's terms are looked up by id in the index, never spelled out as a set."""
        return frozenset(a for a in anchors if a not in terms
                         and (a not in self.relatives or all(r not in terms for r in self.relatives[a])))

    def largest_missing(self, terms: set[str] | frozenset[str]) -> float:
        """The largest share of the question's idf mass held by one term missing from ``terms``."""
        return max((w for t, w in self.idf.items() if t not in terms), default=0.0) / self.total

    def pair_share(self, sentence_terms: Sequence[str]) -> float:
        """The share of the question's word-pair weight found, in order, in ``sentence_terms``."""
        return self.pairs_in(sentence_terms, frozenset(sentence_terms))

    def pairs_in(self, terms: list[str], term_set: frozenset[str]) -> float:
        """``pair_share`` of ``terms`` (whose set is ``term_set``): a question's few pairs are
        looked for where both words occur, instead of building the sentence's every pair."""
        if not self.pairs:
            return 0.0
        return sum(w for (a, b), w in self.pairs.items()
                   if a in term_set and b in term_set and _adjacent(terms, a, b)) / self.pairs_total


def _adjacent(terms: list[str], a: str, b: str) -> bool:
    """``b`` right after ``a`` somewhere in ``terms`` (C-level searches for ``a``)."""
    i, last = -1, len(terms) - 1
    try:
        while True:
            i = terms.index(a, i + 1)
            if i < last and terms[i + 1] == b:
                return True
    except ValueError:
        return False


def question_pairs(question: str, idf: dict[str, float]) -> dict[tuple[str, str], float]:
    """Consecutive content terms of the question (stopwords and frame words skipped), each pair
    weighted by its terms' mean idf. Bag-of-words overlap cannot tell "interest rates rose" from a
    sentence that has "interest" and "rates" far apart; a sentence repeating the question's
    phrases in order is usually the one it was asked about."""
    terms = [t for t in tokenize(question) if t in idf]
    return {(a, b): (idf[a] + idf[b]) / 2 for a, b in zip(terms, terms[1:]) if a != b}


_DIGIT = re.compile(r"\d")
_QUOTE = re.compile("[\"“”]")


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence's text and what every question reads of it: its terms in order and as a
    set; whether it holds a digit or quotation marks."""

    text: str
    terms: list[str]
    set: frozenset[str]
    digit: bool
    quote: bool

    @classmethod
    def of(cls, text: str, terms: list[str]) -> "Sentence":
        return cls(text, terms, frozenset(terms), _DIGIT.search(text) is not None, _QUOTE.search(text) is not None)


@dataclass(frozen=True, slots=True)
class Analysed:
    """One passage taken apart once, whatever the question: its title terms, sentence spans and
    sentences, and the passage's terms with its title."""

    title: frozenset[str]
    spans: list[tuple[int, int]]
    sentences: list[Sentence]
    passage: frozenset[str]


@lru_cache(maxsize=4096)
def analyse(title: str, text: str) -> Analysed:
    """``text`` as :class:`Analysed`. Cached: popular passages come back question after
    question, and analysing them is most of ask()'s cost."""
    spans, sentences, terms = _split(text)
    title_terms = title_terms_of(title)
    return Analysed(title_terms, spans, sentences, title_terms | terms)


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[list[tuple[int, int]], list[Sentence], frozenset[str]]:
    """The sentences of a passage's text, whatever its title: the same paragraph in two
    articles (a wire story run by two sources) is split and tokenised once."""
    spans = sentence_spans(text)
    sentences = [Sentence.of(text[s:e], tokenize(text[s:e])) for s, e in spans]
    return spans, sentences, frozenset().union(*(s.set for s in sentences))


@lru_cache(maxsize=1024)
def opening(title: str, text: str) -> tuple[frozenset[str], tuple[int, int], Sentence] | None:
    """The title terms, span and :class:`Sentence` of the first sentence of ``text`` (None: it
    has none): all a continuation candidate reads, without splitting the rest of the passage."""
    span = next(iter_sentence_spans(text), None)
    if span is None:
        return None
    s, e = span
    return title_terms_of(title), span, Sentence.of(text[s:e], tokenize(text[s:e]))


@lru_cache(maxsize=1024)
def title_terms_of(title: str) -> frozenset[str]:
    """An article's title terms (its passages share them: tokenised once)."""
    return frozenset(tokenize(title))


def forget_texts() -> None:
    """Drop the analysed passages and articles: called when articles leave or change, so a
    deleted article's text is not kept alive by a cache after it left the index."""
    for cached in (analyse, _split, opening, title_terms_of, article_terms):
        cached.cache_clear()
    forget_sentences()


@lru_cache(maxsize=256)
def article_terms(title: str, text: str) -> frozenset[str]:
    """Every term of an article. Cached: tokenising a whole article per question was a fifth of
    ask()'s time on off-topic questions, whose names are rarely in the chosen passage."""
    return frozenset(tokenize(text)) | frozenset(tokenize(title))


