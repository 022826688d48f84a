"""Synonyms of question words, so that a sentence saying "negotiations" or "measures" can win
for a question asking about "talks" or "steps".

The table holds each English word's most frequent sense per part of speech in WordNet 3.0
(Princeton; licence in ``data/WORDNET-LICENSE``), keyed by the analyzer's term, so looking a
question term up needs no tagger and no loading of WordNet itself. Words that analyse to one term
pool their first senses (see ``build``): a question's "step" matches "measure", and "stairs"
(from "steps"), but not "footstep". Taking 2, 3 or all senses measured the same on SQuAD's
answers (74.6%) and 0.1-0.2 point more gold paragraphs first (benchmarks/quality.py), for a
larger, looser table.

A second table holds each term's word-form relatives (``related``): the words WordNet derives
from or to its words (derivationally related forms and pertainyms), so "Italian" reaches "Italy",
"Chinese" "China", "decision" "decide" and "economic" "economy", which stemming keeps apart.
answer.py does not read them yet. Measured with benchmarks.answers (issue 11), counting a
relative as the question's own word in the idf shares and the no-answer checks took SQuAD v1.1's
report split from 78.1% to 78.6% and SQuAD 2.0's answerable from 83.6% to 84.3%, but declined
0.6 point fewer of its unanswerable; in the shares alone, or as half-weight synonyms, within 0.1.

Remake both tables after changing the analyzer (a test checks they agree), from Debian's
``wordnet-base`` package:  ``python -m citebot.retrieval.synonyms /usr/share/wordnet``
"""
from __future__ import annotations

import logging
import sys
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Iterator, NamedTuple

from citebot.retrieval.analyzer import tokenize

log = logging.getLogger(__name__)

TABLE_PATH = Path(__file__).with_name("data") / "synonyms.tsv"
RELATIVES_PATH = Path(__file__).with_name("data") / "relatives.tsv"
_PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")
_POINTER_POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}  # "s": satellite adj
# WordNet's pointers between word forms: "+" derivationally related form (decide/decision,
# Korea/Korean), "\\" pertainym (Italian/Italy, economic/economy).
_RELATIVE_POINTERS = frozenset({"+", "\\"})

Synonyms = tuple[tuple[str, ...], ...]  # each synonym as its terms ("fall behind" -> two)


def _read(path: Path, what: str, lost: str) -> dict[str, tuple[str, str]]:
    """term -> (its words, the words found for them), both "|"-separated. A missing or damaged
    table costs the synonyms or relatives, not the answer: questions still work."""
    table: dict[str, tuple[str, str]] = {}
    try:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                fields = line.rstrip("\n").split("\t")
                if len(fields) == 3 and not line.startswith("#"):
                    table[fields[0]] = (fields[1], fields[2])
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("%s table %s unreadable (%s); answering without %s", what, path, exc, lost)
        return {}
    return table


@lru_cache(maxsize=1)
def _table() -> dict[str, tuple[str, str]]:
    """The synonym table, read once, on the first question."""
    return _read(TABLE_PATH, "synonym", "synonyms")


@lru_cache(maxsize=1)
def _relatives_table() -> dict[str, tuple[str, str]]:
    """The word-form relatives table, read once, on the first question."""
    return _read(RELATIVES_PATH, "relatives", "word-form relatives")


@lru_cache(maxsize=16384)  # question terms recur; each miss tokenises a dozen words
def synonyms(term: str) -> Synonyms:
    """The synonyms of an analysed term, each as the terms it analyses to."""
    entry = _table().get(term)
    if entry is None:
        return ()
    # build() kept only synonyms that add a term, once each (a test holds the table to it);
    # two spellings may still analyse alike ("utilise", "utilize").
    return tuple(dict.fromkeys(tuple(tokenize(word)) for word in entry[1].split("|")))


@lru_cache(maxsize=16384)
def related(term: str) -> tuple[str, ...]:
    """The word-form relatives of an analysed term, as terms: "itali" (Italy) -> ("italian",),
    "chines" -> ("china", "sinit"). One word each, never the term itself. A few are in
    ``synonyms(term)`` too, where WordNet lists a word as both ("succeed": "success")."""
    entry = _relatives_table().get(term)
    if entry is None:
        return ()
    # build_relatives() kept only words that analyse to one other term (a test holds the shipped
    # table to it); a damaged row's other words are skipped, not raised on.
    found = (tokenize(word) for word in entry[1].split("|"))
    return tuple(dict.fromkeys(t[0] for t in found if len(t) == 1 and t[0] != term))


class _Synset(NamedTuple):
    words: list[str]
    # (symbol, target offset, target part of speech, source word number, target word number);
    # word numbers count from 1, 0 for a pointer between whole synsets.
    pointers: list[tuple[str, str, str, int, int]]


def _wordnet_synsets(wordnet: Path, pos: str) -> dict[str, _Synset]:
    """synset offset -> its words and pointers, from WordNet's ``data.<pos>`` file."""
    synsets: dict[str, _Synset] = {}
    with (wordnet / f"data.{pos}").open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith("  "):  # the licence header
                continue
            fields = line.split(" | ")[0].split()
            count = int(fields[3], 16)
            words = [fields[4 + 2 * i].split("(")[0].replace("_", " ") for i in range(count)]
            at = 4 + 2 * count
            pointers = []
            for i in range(int(fields[at])):
                symbol, offset, target_pos, numbers = fields[at + 1 + 4 * i: at + 5 + 4 * i]
                pointers.append((symbol, offset, _POINTER_POS[target_pos],
                                 int(numbers[:2], 16), int(numbers[2:], 16)))
            synsets[fields[0]] = _Synset(words, pointers)
    return synsets


def _first_senses(wordnet: Path, pos: str) -> Iterator[tuple[str, list[str]]]:
    """(word, the words of its most frequent sense) from WordNet's ``index.<pos>`` file."""
    synsets = _wordnet_synsets(wordnet, pos)
    with (wordnet / f"index.{pos}").open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith("  "):
                continue
            fields = line.split()
            pointers = int(fields[3])
            first = fields[4 + pointers + 2]  # offsets follow sense_cnt and tagsense_cnt
            yield fields[0].replace("_", " "), synsets[first].words


def _usable(synonym: str, terms: list[str]) -> bool:
    """A synonym that adds a term and keeps all its words: "the States" would shrink to the
    common "state" once the stopword goes, and match far more than the United States; "one
    million million" would shrink to "one million" once the repeat goes."""
    found = tokenize(synonym)
    return (bool(found) and found != terms and len(set(found)) == len(found)
            and all(tokenize(part) for part in synonym.split()))


def build(wordnet: Path) -> list[str]:
    """The table's lines: term, the one-word lemmas that analyse to it, their synonyms.

    A term takes the first sense of every such lemma: "talks" is "negotiation" while "talk" is
    "speak", and a question's "talks" analyses like "talk". That brings some noise too ("steps":
    a flight of stairs); taking only the shortest lemma's sense, or it with its plural, measured
    0.1 point lower on SQuAD (benchmarks/quality.py).
    """
    words: dict[str, set[str]] = defaultdict(set)
    found: dict[str, set[str]] = defaultdict(set)
    for pos in _PARTS_OF_SPEECH:
        for lemma, sense in _first_senses(wordnet, pos):
            terms = tokenize(lemma)
            if len(terms) != 1 or not lemma.isalnum():  # "step down" is not "step"
                continue
            others = {w for w in sense if _usable(w, terms)}
            if others:
                words[terms[0]].add(lemma)
                found[terms[0]].update(others)
    header = [
        "# citebot synonyms: each word's most frequent sense per part of speech, from WordNet 3.0.",
        "# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Licence and",
        "# disclaimer: data/WORDNET-LICENSE, which must accompany every copy of this file.",
        "# term<TAB>its words<TAB>synonyms; made by: python -m citebot.retrieval.synonyms WORDNET_DIR",
    ]
    return header + [
        f"{term}\t{'|'.join(sorted(words[term]))}\t{'|'.join(sorted(found[term]))}"
        for term in sorted(found)
    ]


def _one_term(word: str) -> str | None:
    """The term of a one-word lemma ("Italy" -> "itali"); None for phrases and hyphened words."""
    if not word.isalnum():
        return None
    terms = tokenize(word)
    return terms[0] if len(terms) == 1 else None


def build_relatives(wordnet: Path) -> list[str]:
    """The relatives table's lines: term, its words, the words WordNet links them to by a
    derivation or pertainym pointer, both ways (WordNet points "Italian" to "Italy", not back).

    Every sense's links count: they join word forms, not meanings, and a term's relatives are
    few (at most a dozen: "skin" -> "subcutaneous", "skinny", ...). Links between words that
    analyse alike ("earn", "earnings") add nothing and are left out. A link to a capitalised
    phrase reaches the one-word names of every sense of that phrase: "British" points to "Great
    Britain", whose senses hold "Britain" and "UK" (27 terms gain a word this way; other phrases,
    "run away" and the like, would bring a dozen loose verbs each).
    """
    synsets = {pos: _wordnet_synsets(wordnet, pos) for pos in _PARTS_OF_SPEECH}
    senses: dict[str, list[_Synset]] = defaultdict(list)  # capitalised noun phrase -> its synsets
    for synset in synsets["noun"].values():
        for word in synset.words:
            if " " in word and word[0].isupper():
                senses[word].append(synset)
    words: dict[str, set[str]] = defaultdict(set)
    found: dict[str, set[str]] = defaultdict(set)
    for table in synsets.values():
        for synset in table.values():
            for symbol, offset, target_pos, source, target in synset.pointers:
                if symbol not in _RELATIVE_POINTERS or not source or not target:
                    continue
                a, b = synset.words[source - 1], synsets[target_pos][offset].words[target - 1]
                term_a = _one_term(a)
                if term_a is None:
                    continue
                targets = [b] if _one_term(b) else [
                    w for sense in senses.get(b, ()) for w in sense.words if w[0].isupper()]
                for word in targets:
                    term_b = _one_term(word)
                    if term_b and term_b != term_a:
                        words[term_a].add(a)
                        found[term_a].add(word)
                        words[term_b].add(word)
                        found[term_b].add(a)
    header = [
        "# citebot word-form relatives: WordNet 3.0's derivationally related forms and pertainyms.",
        "# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Licence and",
        "# disclaimer: data/WORDNET-LICENSE, which must accompany every copy of this file.",
        "# term<TAB>its words<TAB>related words; made by: python -m citebot.retrieval.synonyms WORDNET_DIR",
    ]
    return header + [
        f"{term}\t{'|'.join(sorted(words[term]))}\t{'|'.join(sorted(found[term]))}"
        for term in sorted(found)
    ]


def main(argv: list[str] | None = None) -> int:
    """Remake both tables from a WordNet 3.0 dict folder (Debian's wordnet-base: /usr/share/wordnet)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / "index.noun").is_file():
        print("usage: python -m citebot.retrieval.synonyms WORDNET_DICT_DIR  (e.g. /usr/share/wordnet)",
              file=sys.stderr)
        return 2
    TABLE_PATH.parent.mkdir(exist_ok=True)
    for path, lines in ((TABLE_PATH, build(Path(args[0]))),
                        (RELATIVES_PATH, build_relatives(Path(args[0])))):
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
