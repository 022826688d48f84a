"""What kind of answer a question wants, and checks for whether a sentence holds one.

Cheap surface cues only (no tagger): news sentences mark places with prepositions and capitals,
dates with month/day names and years, amounts with digits and number words.
"""
from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache

from citebot.retrieval.analyzer import normalize


class Expect(str, Enum):
    PLACE = "place"
    DATE = "date"
    ENTITY = "entity"  # a person, organisation or named thing
    NUMBER = "number"
    ANY = "any"


_NUMBER_Q = re.compile(
    r"\b(how (many|much|fast|far|long|old|big|large|high|tall|often|quickly|heavy)|"
    r"what (percentage|proportion|share|number|amount|price|rate|age|score|time)|"
    r"by how much|how much)\b"
)
# "What's the average UK property price?", "What was China's export total?": a quantity noun
# heading a what-question, a few words after its verb.
_QUANTITY = (
    r"(price|prices|rate|rates|total|age|fine|fines|index|cost|costs|value|salary|fee|fees|"
    r"level|amount|number|share|stake|percentage|proportion|fraction|margin|budget|deficit|surplus|"
    r"debt|growth|population|attendance|turnover|score|tally|sum|bill|wage|wages|pay|payout|fare|"
    r"tax|premium|capacity|speed|distance|height|weight|temperature|odds|ratio|sales|profit|"
    r"profits|revenue|revenues|earnings|loss|losses|valuation)"
)
_QUANTITY_Q = re.compile(
    rf"^\s*(what|whats)(\s*'s|\s+(is|was|are|were|will be|has been|had been))?\s+(the\s+)?"
    rf"((?!(did|does|do|has|have|had|will|would|can|could|happened|type|types|kind|kinds|sort)\b)"
    rf"[\w'’-]+\s+){{0,3}}?{_QUANTITY}\b"
)
# "What did the jobless rate rise to?", "What was the dollar trading at?"
_MOVED_TO = re.compile(
    r"^\s*(what|whats)\b.*\b(rise|rose|risen|fall|fell|fallen|climb|climbed|drop|dropped|cut|reduced|"
    r"increase[ds]?|raised|lowered|going up|gone up|go up|gone down|trading|trade|traded|priced|valued|"
    r"worth|jump|jumped|slump|slumped)( [\w'’-]+){0,6}? (to|at|by)\s*\??\s*$"
)
_DATE_Q = re.compile(r"^\s*(when|whens)\b|\b(until|till|since|by) when\b|"
                     r"\b(what|which) (date|day|year|month|time|season|decade)\b")
_PLACE_Q = re.compile(
    r"^\s*where\b|\bwhere\b|\b(what|which|in which) (city|country|place|town|venue|region|state|"
    r"county|nation|continent|area|location|stadium|capital)\b|\b(what|which) part of\b"
)
_AUXILIARY = (
    r"(is|are|was|were|be|been|do|does|did|has|have|had|will|would|can|could|should|shall|"
    r"might|may|must|if|about|else|happens|happened)"
)
_ENTITY_Q = re.compile(rf"^\s*(who|whom|whose)\b|\b(which|what) (?!{_AUXILIARY}\b)[a-z]+('s)?\b")
_NAME_Q = re.compile(r"\bwhat('s| is| was| are| were)? (the )?names?\b")  # "What's the name of ...?"


def expected_type(question: str) -> Expect:
    q = normalize(question)
    if _NAME_Q.search(q):
        return Expect.ENTITY
    if _NUMBER_Q.search(q) or _QUANTITY_Q.search(q) or _MOVED_TO.search(q):
        return Expect.NUMBER
    if _DATE_Q.search(q):
        return Expect.DATE
    if _PLACE_Q.search(q):
        return Expect.PLACE
    if _ENTITY_Q.search(q):
        return Expect.ENTITY
    return Expect.ANY


_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_DATE = re.compile(
    rf"\b(({_MONTHS})\.?\s+\d{{1,2}}|\d{{1,2}}(st|nd|rd|th)?\s+({_MONTHS})|({_DAYS})|"
    rf"(1[89]|20)\d\d|yesterday|today|tomorrow|tonight|last (week|month|year)|"
    rf"next (week|month|year)|this (week|month|year)|(early|late|mid)[- ]\d{{4}}|"
    rf"(end|start|beginning|middle) of ({_MONTHS}|the year|the month)|({_MONTHS})|"
    r"\d{1,2}([:.]\d\d)?\s?(am|pm|a\.m|p\.m)|\d{1,2}:\d\d|noon|midnight|"
    r"((1[89]|20)?\d0s)|(\d{1,2}(st|nd|rd|th)|first|last) century)\b",
    re.I,
)
_NUMBER = re.compile(
    r"(\d[\d.,]*\d|\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion|dozen|half|double|twice|triple)\b)",
    re.I,
)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of|de|the|and|for)?\s*[A-Z][\w'’-]*)*")
_PLACE_CUE = re.compile(
    r"\b(in|at|to|from|near|venue|hosted|held|host|city|country|capital|region|based)\b", re.I
)
_COMMON_STARTS = frozenset(
    "the a an he she it they we i but and in on at for this that these those mr mrs ms dr its his "
    "her their our there when where what who which how if as after before while however".split()
)


SENTENCE_CACHE = 16384  # sentences whose question-independent facts are remembered


def new_capitalised(sentence: str, question_words: set[str]) -> list[tuple[int, str]]:
    """(offset, phrase) of capitalised phrases the question lacks, skipping sentence-initial
    function words such as "The" or "But"."""
    return [(start, phrase) for start, phrase, words in _capitalised(sentence)
            if not all(w in question_words or w.rstrip("'’s") in question_words for w in words)]


@lru_cache(maxsize=SENTENCE_CACHE)
def _capitalised(sentence: str) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """The sentence's capitalised phrases with their lower-cased words (a phrase holds only word
    characters, apostrophes, hyphens and spaces, so splitting on spaces gives its words)."""
    out = []
    for match in _CAPITALISED.finditer(sentence):
        phrase = match.group(0)
        words = tuple(phrase.lower().split())
        if len(words) == 1 and words[0] in _COMMON_STARTS and _opens_sentence(sentence, match.start()):
            continue
        out.append((match.start(), phrase, words))
    return tuple(out)


def _opens_sentence(sentence: str, start: int) -> bool:
    """Nothing but spaces before ``start``, or the end of a sentence or an opening quote."""
    before = start - 1
    while before >= 0 and sentence[before].isspace():
        before -= 1
    return before < 0 or sentence[before] in '."“'


_PLACE_BEFORE = re.compile(r"\b(in|at|near|outside|inside|across|hosted by|held in)\s+(the\s+)?$", re.I)
# Nouns that say the sentence is about where something happens.
_VENUE = re.compile(r"\b(venue|location|host(ed|s|ing)?|site|city|capital|country|town)\b", re.I)
_NOT_PLACES = re.compile(rf"^({_MONTHS}|{_DAYS})$", re.I)


def _is_place(sentence: str, start: int, phrase: str) -> bool:
    """A capitalised phrase right after a locative preposition, or followed by ", Region"."""
    if _NOT_PLACES.match(phrase.split()[0]):
        return False
    before = sentence[max(0, start - 20) : start]
    return bool(_PLACE_BEFORE.search(before))


# The same patterns without re.I, for lower-cased ASCII text: case-insensitive matching made the
# date pattern three times slower, and on ASCII text lower-casing first finds the same spans.
_NUMBER_LOWER = re.compile(_NUMBER.pattern)
_DATE_LOWER = re.compile(_DATE.pattern)
_VENUE_LOWER = re.compile(_VENUE.pattern)


def _lowered(sentence: str, pattern: re.Pattern[str], lower: re.Pattern[str]) -> tuple[str, ...]:
    """Every match of ``pattern`` (compiled with re.I) in ``sentence``, lower-cased."""
    if sentence.isascii():
        return tuple(m.group(0) for m in lower.finditer(sentence.lower()))
    return tuple(m.group(0).lower() for m in pattern.finditer(sentence))


@lru_cache(maxsize=SENTENCE_CACHE)
def _numbers(sentence: str) -> tuple[str, ...]:
    """The sentence's numbers and number words, lower-cased, trailing separators cut (the same
    for every question: remembered, as popular passages come back question after question)."""
    return tuple(token.rstrip(".,") for token in _lowered(sentence, _NUMBER, _NUMBER_LOWER))


@lru_cache(maxsize=SENTENCE_CACHE)
def _dates(sentence: str) -> tuple[str, ...]:
    """The sentence's dates and times, lower-cased."""
    return _lowered(sentence, _DATE, _DATE_LOWER)


@lru_cache(maxsize=SENTENCE_CACHE)
def _venue(sentence: str) -> bool:
    """The sentence names a venue, a site or a host."""
    if sentence.isascii():
        return bool(_VENUE_LOWER.search(sentence.lower()))
    return bool(_VENUE.search(sentence))


def forget_sentences() -> None:
    """Drop the remembered sentences (their articles left or changed)."""
    for cached in (_numbers, _dates, _venue, _capitalised):
        cached.cache_clear()


def type_match(expect: Expect, sentence: str, question_words: set[str],
               names: list[tuple[int, str]] | None = None) -> float:
    """How clearly the sentence holds something of the expected kind the question lacks (0..1).
    ``names``: the sentence's ``new_capitalised`` phrases, when the caller has them already."""
    if expect is Expect.ANY:
        return 0.0
    if expect is Expect.NUMBER:
        best = 0.0
        for token in _numbers(sentence):
            if token in question_words or token.replace(",", "") in question_words:
                continue  # a number the question already gives (a year, say) is no answer
            if token[0].isdigit():
                return 1.0
            best = 0.5  # number words ("six", "double") are weaker evidence than digits
        return best
    if expect is Expect.DATE:
        return 1.0 if any(found not in question_words for found in _dates(sentence)) else 0.0
    if names is None:
        names = new_capitalised(sentence, question_words)
    if not names:
        return 0.0
    if expect is Expect.PLACE:
        if _venue(sentence):
            return 1.0
        return max(1.0 if _is_place(sentence, start, phrase) else 0.3 for start, phrase in names)
    return 1.0
