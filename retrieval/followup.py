"""Follow-up questions: read a new question with the conversation so far (pure; no discord).

"Who is Vipin Narang?" then "what does he think North Korea wants?": the second question alone
names nobody. ``resolve`` decides whether a question leans on the previous turn (a pronoun such
as he/it/there, an elided start such as "and when?", or no topic word of its own) and, if so,
appends what the previous turn was about: its names (or, when it named none, up to two of its
topic words), and for a bare question ("Where?") or a he/she after a "who" question, names from
the previous answer. The user's own topic words are repeated so they outweigh the carried ones
(BM25 counts a repeated query term again). The engine then ranks as usual and still quotes the
articles verbatim: only the *search* text grows, never the answer.

A question that names its own subject ("Who is Alma Reyes?") is a new topic and is returned
unchanged, so a thread can change subject without dragging the old one along. "What about X?"
with a new name X keeps the previous question's frame (its topic words) but swaps its names
for X.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from citebot.retrieval.analyzer import STOPWORDS, normalize

# Words that point back at something said before.
PRONOUNS = frozenset(
    "he she it they them him her his hers its their theirs that this these those there then".split()
)
# ... of which these stand for a person: after "Who runs X?", "she" is the person answered.
PERSONAL = frozenset("he she him her his hers".split())
# "Is there a museum?" asks whether something exists; that "there" points nowhere.
_EXISTENTIAL = re.compile(r"\b(?:is|are|was|were|will|would|has|have|had|be)\s+there\b")
# "Is it true that ...", "that" as a conjunction after a verb of saying: not a reference.
_CONJUNCTION_THAT = re.compile(r"\b(?:true|said|say|says|saying|think|thinks|believe|claim|claims|so)\s+that\b")
# A question that starts like this continues the last one ("and when?", "what about Trump?").
_ELLIPTIC = re.compile(r"^(?:and|but|also|so|or|plus|what about|how about|what of|and what about)\b")
_TRAILING = re.compile(r"\b(?:too|as well|either|then)\s*[?.!]*$")
# Question words, auxiliaries and chat filler: they carry no topic of their own.
FILLER = frozenset(
    """who whom whose what which when where why how is are was were do does did can could will would
    should shall may might must has have had be been being am say said says tell told think thinks
    thought know mean means meant exactly else more much many long often far now really ok okay
    please thanks thank yes no anything something someone anyone happen happened happens one ones
    get got going go""".split()
)
_WORD = re.compile(r"[^\W_][\w'’-]*")
# A name: a capitalised word (or a run of them, with "of"/"de" inside) not at the sentence start.
_NAME_RUN = re.compile(r"[A-Z][\w'’-]*(?:[ \t]+(?:(?:of|de|the|al|bin|van|von)[ \t]+)?[A-Z][\w'’-]*)*")
_POSSESSIVE = re.compile(r"['’]s$")
_WHO = re.compile(r"^\s*(?:who|whom|which)\b")
MAX_CARRIED = 8
MAX_CARRIED_WORDS = 2
MAX_ANSWER_NAMES = 3
OWN_REPEAT = 3  # the user's own topic words count three times, each carried term once


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: the question as it was searched (already resolved) and the quoted
    answer text ("" when the articles had no answer)."""

    question: str
    answer: str = ""
    terms: tuple[str, ...] = ()  # the turn's subject (names first); read from ``question`` if empty
    asked: str = ""  # the words the user typed, for showing ("" = ``question``)

    @property
    def shown(self) -> str:
        return self.asked or self.question


@dataclass(frozen=True)
class Resolution:
    """What to ask: ``question`` (the user's words plus ``carried`` terms when ``followup``)."""

    asked: str
    question: str
    followup: bool
    carried: tuple[str, ...] = field(default=())
    terms: tuple[str, ...] = field(default=())

    def turn(self, answer: str) -> Turn:
        """This question as the previous turn of the next one."""
        return Turn(self.question, answer, self.terms, self.asked)

    @property
    def meaning(self) -> str | None:
        """A follow-up as a question to compare meanings with: the user's words and the carried
        terms once each (its search text repeats words for BM25). None for a question that
        stands alone: its search text is the question."""
        return " ".join((self.asked, *self.carried)) if self.followup else None


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def content_words(text: str) -> list[str]:
    """Topic words of ``text`` in order, lower-cased, without stopwords, pronouns or filler."""
    out: list[str] = []
    for raw in _words(text):
        word = normalize(raw).strip("'’-")
        base = word.split("'")[0]
        if len(word) < 2 or word in STOPWORDS or base in STOPWORDS or word in FILLER or word in PRONOUNS:
            continue
        if word not in out:
            out.append(word)
    return out


def names(text: str) -> list[str]:
    """Capitalised names in ``text`` ("Vipin Narang", "North Korea"), not a sentence's first word
    unless it is followed by another capitalised word; question words never count."""
    found: list[str] = []
    for match in _NAME_RUN.finditer(text):
        phrase = _POSSESSIVE.sub("", match.group(0)).strip(" ’'")
        start = match.start()
        before = text[:start].rstrip()
        sentence_start = not before or before[-1] in ".!?:;\"“(>"
        parts = phrase.split()
        while parts and normalize(parts[0]) in (FILLER | STOPWORDS | PRONOUNS):
            parts = parts[1:]
            sentence_start = False
        if not parts:
            continue
        if sentence_start and len(parts) == 1:
            continue
        phrase = " ".join(parts)
        if phrase in ("I",) or normalize(phrase) in STOPWORDS:
            continue
        if phrase not in found:
            found.append(phrase)
    return found


def _points_back(question: str) -> bool:
    """A pronoun that refers outside the question (not "is there", not "said that")."""
    low = normalize(question)
    low = _EXISTENTIAL.sub(" ", low)
    low = _CONJUNCTION_THAT.sub(" ", low)
    return any(normalize(w) in PRONOUNS for w in _words(low))


def _first_pronoun_at(question: str, among: frozenset[str] = PRONOUNS) -> int:
    low = normalize(question)
    for match in _WORD.finditer(low):
        if match.group(0) in among:
            return match.start()
    return len(question)


def is_followup(question: str, previous: Turn | None) -> bool:
    """Whether ``question`` leans on ``previous``: a pronoun pointing back, an elided start, or
    no topic of its own. A question naming a new subject before any pronoun stands alone."""
    if previous is None:
        return False
    low = normalize(question).strip()
    own_names = [n for n in names(question) if normalize(n) not in normalize(previous.question + " " + previous.answer)]
    elliptic = bool(_ELLIPTIC.match(low)) or bool(_TRAILING.search(low))
    if elliptic:
        return True
    if _points_back(question):
        # "Who is Alma Reyes and what did she say?": the name comes first, the pronoun is hers.
        personal_at = _first_pronoun_at(question, PERSONAL)
        if own_names and personal_at < len(question) and question.find(own_names[0]) < personal_at:
            return False
        return True
    return not own_names and len(content_words(question)) <= 1


def resolve(question: str, history: Sequence[Turn], *, max_chars: int = 500) -> Resolution:
    """The question to search for, given the conversation so far (oldest turn first).

    Only the last turn is read: each turn's question was itself resolved, so a three-turn
    chain keeps its subject without re-reading the whole history. The user's own topic words
    are repeated (BM25 counts a repeated query term twice) so the carried terms weigh less than
    what was just asked: "how much did it cost?" must find the cost, not the last answer again.
    """
    asked = " ".join(question.split())
    previous = history[-1] if history else None
    own_terms = tuple(_subject(asked))
    if previous is None or not is_followup(asked, previous):
        return Resolution(asked, asked, False, (), own_terms)
    own = content_words(asked)
    carried = _carried(asked, own, previous)
    text = _search_text(asked, own, carried, max_chars)
    return Resolution(asked, text, True, tuple(carried), (own_terms + tuple(carried))[:MAX_CARRIED * 2])


class _Carrier:
    """The terms carried into a follow-up, in order: each once, none the question has already."""

    def __init__(self, asked: str, own: list[str]) -> None:
        self.mine = set(own)
        self.seen = set(own) | {normalize(n) for n in names(asked)}
        self.terms: list[str] = []

    def add(self, term: str) -> None:
        key = normalize(term)
        words = key.split()
        if not key or key in self.seen or all(w in self.mine or w in self.seen for w in words):
            return
        self.seen.add(key)
        self.seen.update(words)
        self.terms.append(term)


def _carried(asked: str, own: list[str], previous: Turn) -> list[str]:
    """What ``asked`` leans on from ``previous``: its subject (names, maybe topic words) and,
    for a question with no words of its own or a he/she after "who", names from its answer."""
    carrier = _Carrier(asked, own)
    own_names = [n for n in names(asked) if normalize(n) not in normalize(previous.question)]
    swap = bool(own_names) and not _points_back(asked)  # "what about Trump?": new subject, old frame
    _carry_subject(carrier, previous.terms or tuple(_subject(previous.question)), own, swap)
    personal = any(normalize(w) in PERSONAL for w in _words(asked))
    if (not own or (personal and _WHO.match(normalize(previous.question)))) and not swap:
        # "Where?", "Is that official?", or "Who runs X?" then "what did she say?": the last
        # answer holds what is being asked about.
        answer_names = [n for n in names(previous.answer) if normalize(n) not in normalize(previous.question)]
        if own:  # one name for "he"/"she": a full name ("Niamh Cullen") before a word ("Irish")
            answer_names.sort(key=lambda n: " " not in n)
        for name in answer_names[: MAX_ANSWER_NAMES if not own else 1]:
            carrier.add(name)
    return carrier.terms[:MAX_CARRIED]


def _carry_subject(carrier: _Carrier, prev_terms: Sequence[str], own: list[str], swap: bool) -> None:
    """The previous turn's names (unless swapped for new ones), and its topic words only when
    there is no name or the question has no words of its own: "shot", "directed" would pull
    the last answer back."""
    prev_names = [t for t in prev_terms if t[:1].isupper()]
    name_words = {normalize(w) for n in prev_names for w in n.split()}
    word_room = MAX_CARRIED_WORDS if (swap or not own or not prev_names) else 0
    if not swap:
        for name in prev_names:
            carrier.add(name)
    words_carried = 0
    for word in prev_terms:
        if word[:1].isupper() or words_carried >= word_room:
            continue
        if not (swap and word in name_words):
            words_carried += 1
            carrier.add(word)


def _search_text(asked: str, own: list[str], carried: list[str], max_chars: int) -> str:
    """The user's words, their topic words repeated, then the carried terms: never past the
    question cap (the user's own words come first)."""
    parts = [asked] + [w for w in own for _ in range(OWN_REPEAT - 1)] + carried
    text = parts[0]
    for term in parts[1:]:
        if len(text) + 1 + len(term) > max_chars:
            break
        text = f"{text} {term}"
    return text


def _subject(question: str) -> list[str]:
    """A question's key terms: its names, then its other topic words."""
    found = names(question)
    in_names = {normalize(w) for n in found for w in n.split()}
    return found + [w for w in content_words(question) if w not in in_names]
