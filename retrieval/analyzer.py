"""THE analyzer: one tokenizer for passages and questions alike, plus sentence splitting.

Indexing and querying must agree token for token, so everything that normalises text lives here.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import chain
from typing import Iterator

import Stemmer

_stemmer = Stemmer.Stemmer("english")

# Curly quotes, primes, and the dash family fold to ASCII before anything else.
_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
        "\u0060": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
        "\u2212": "-", "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None,
        "\u2060": None, "\ufeff": None,
    }
)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
    don't down during each few for from further had hadn't has hasn't have haven't having he he'd
    he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into
    is isn't it it's its itself let's me more most mustn't my myself no nor not of off on once only or
    other ought our ours ourselves out over own same shan't she she'd she'll she's should shouldn't
    so some such than that that's the their theirs them themselves then there there's these they
    they'd they'll they're they've this those through to too under until up very was wasn't we we'd
    we'll we're we've were weren't what what's when when's where where's which while who who's whom
    why why's with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
    also may might will shall must just s t eg ie""".split()
)

# A word: letters/digits joined by inner hyphens or apostrophes; a number: digits with , or . inside.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W_]+(?:['-][^\W_]+)*")
_BRITISH = re.compile(r"^(\w{3,}?)is(e|es|ed|ing|ation|ations|er|ers)$")
# analyse/analyze, paralyse/paralyze: the -yse/-yze pair.
_BRITISH_YSE = re.compile(r"^(\w{3,}?)ys(e|es|ed|ing|er|ers)$")
# Dotted initialisms ("U.S.", "U.N.") index like the undotted form ("US", "UN"): two or more
# letter-dot pairs, not preceded or followed by a letter or digit. Found as maximal runs of pairs
# (each run read once) and then checked at its ends: the single regex with look-arounds,
# r"(?<![^\W_])(?:[^\W\d_]\.){2,}(?![^\W_])", gives the same result but rescans a run from each
# of its letters: 80 KB of "a.a.a…b" took 78 s.
_LETTER_DOTS = re.compile(r"(?:[^\W\d_]\.)++")
_WORDISH = re.compile(r"[^\W_]")
# Every such initialism holds ".X."; this search starts at each "." only, so it is far cheaper
# than scanning for runs of pairs in text that has none.
_ACRONYM_HINT = re.compile(r"\.[^\W\d_]\.")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")


def _undot_initialisms(text: str) -> str:
    """"U.S." -> "US" wherever the initialism stands alone; linear in ``text``."""
    out: list[str] = []
    last = 0
    for run in _LETTER_DOTS.finditer(text):
        start, end = run.span()
        if start and _WORDISH.match(text, start - 1):
            start += 2  # "ab.c.d.": the run's first pair is the end of a word
        if end - start < 4 or _WORDISH.match(text, end):
            continue
        out += (text[last:start], text[start:end].replace(".", ""))
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def normalize(text: str) -> str:
    """NFKC, fold curly quotes and dashes, drop zero-width characters, casefold."""
    if text.isascii():  # most news text: NFKC changes nothing, and only the backtick folds
        return text.replace("`", "'").lower()
    return unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()


@lru_cache(maxsize=500_000)
def _term(word: str) -> str:
    """Spelling-folded, stemmed form of one lower-case word (cached: news text repeats words)."""
    return _stemmer.stemWord(spelling_folded(word))


def spelling_folded(word: str) -> str:
    """A lower-case word with British -ise/-isation/-yse spelled the American way."""
    match = _BRITISH.match(word)
    if match:
        return f"{match.group(1)}iz{match.group(2)}"
    match = _BRITISH_YSE.match(word)
    if match:
        return f"{match.group(1)}yz{match.group(2)}"
    return word


def _number(raw: str) -> str:
    """28,500 and 28500 are one term; 6.56 keeps its point; a trailing separator is dropped."""
    if _THOUSANDS.match(raw):
        return raw.replace(",", "")
    return raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw


def words(text: str) -> list[str]:
    """Normalised surface words (no stemming): used to find question words in sentences."""
    return _TOKEN.findall(normalize(text))


def tokenize(text: str) -> list[str]:
    """Index terms for ``text``: the one function passages and questions both go through."""
    normalized = normalize(text)
    if _ACRONYM_HINT.search(normalized):
        normalized = _undot_initialisms(normalized)
    raws = _TOKEN.findall(normalized)
    # One C-level dict lookup per word (news text repeats words); only new words take the slow path.
    found = list(map(_WORD_TERMS.get, raws))
    if None in found:
        for i, terms in enumerate(found):
            if terms is None:
                found[i] = _word_terms(raws[i])
    return list(chain.from_iterable(found))


_WORD_TERMS: dict[str, tuple[str, ...]] = {}  # word -> its terms; the cache tokenize() reads
_WORD_TERMS_MAX = 500_000


def _word_terms(raw: str) -> tuple[str, ...]:
    """The terms of one normalised word, remembered in ``_WORD_TERMS`` (bounded: cleared when full)."""
    if len(_WORD_TERMS) >= _WORD_TERMS_MAX:
        _WORD_TERMS.clear()
    terms = _WORD_TERMS[raw] = _analyse_word(raw)
    return terms


def _analyse_word(raw: str) -> tuple[str, ...]:
    if raw[0].isdigit():
        return (_number(raw),)
    # Contractions are stopwords as written ("he'll", "don't"): test before the apostrophe
    # goes, or "he'll" would be indexed as "hell" and "won't" as "wont".
    if raw in STOPWORDS:
        return ()
    if raw.endswith("'s"):
        raw = raw[:-2]
    raw = raw.replace("'", "")
    if "-" in raw:
        parts = [p for p in raw.split("-") if p]
        return (*(_term(p) for p in parts if p not in STOPWORDS), _term("".join(parts)))
    if raw in STOPWORDS or not raw:
        return ()
    return (_term(raw),)


# --- sentences ---------------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep rev hon pres
    inc ltd co corp plc bros dept univ assn est approx vol fig al vs etc jan feb mar apr
    jun jul aug sep sept oct nov dec e.g i.e u.s u.k u.n a.m p.m""".split()
)
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos"})  # abbreviations only before a number
_CLOSERS = "'\"\u2019\u201d"
_SENTENCE_END = re.compile(r"[.!?…]+['\"\u2019\u201d)\]]*(?=\s+|$)")


def _is_boundary(text: str, end: int, match_start: int) -> bool:
    """False where the full stop belongs to an abbreviation or an initial (``Donald J. Trump``)."""
    if text[match_start] != ".":
        return True
    nxt = end  # the next sentence's first character (not text[end:].lstrip(): quadratic)
    while nxt < len(text) and text[nxt].isspace():
        nxt += 1
    rest = text[nxt : nxt + 1]
    # A sentence ends only where the next one starts like a sentence.
    if rest and rest[0].islower():
        return False
    if end - match_start > 1 and text[end - 1] in _CLOSERS:
        return True  # a full stop inside closing quotes ends a quoted sentence: 'said "No." Then'
    word_start = match_start
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:match_start].lstrip("(\"'\u201c\u2018").lower()
    if word in _NUMBER_ABBREVIATIONS:
        return not rest[:1].isdigit()  # "No. 10" but "He said no. Then"
    return not (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences in ``text`` (stripped of surrounding white space)."""
    return list(iter_sentence_spans(text))


def iter_sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """:func:`sentence_spans` one at a time: a paragraph of a million short sentences need not
    hold them all (the passage splitter packs them as they come)."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if not _is_boundary(text, end, match.start()):
            continue
        yield from trimmed_spans(text, [(start, end)])
        start = end
    yield from trimmed_spans(text, [(start, len(text))])


def trimmed_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each span with surrounding whitespace cut off; spans left empty are dropped."""
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


# Bump when tokenize() changes: cached indexes built by another version are rebuilt.
ANALYZER_VERSION = 2
