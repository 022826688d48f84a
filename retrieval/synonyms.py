"""Synonyms of question words, so that a sentence saying "negotiations" or "measures" can win
for a question asking about "talks" or "steps".

The table holds each English word's most frequent sense per part of speech in WordNet 3.0
(Princeton; licence in ``data/WORDNET-LICENSE``), keyed by the analyzer's term, so looking a
question term up needs no tagger and no loading of WordNet itself. Words that analyse to one term
pool their first senses (see ``build``): a question's "step" matches "measure", and "stairs"
(from "steps"), but not "footstep". Taking 2, 3 or all senses measured the same on SQuAD's
answers (74.6%) and 0.1-0.2 point more gold paragraphs first (benchmarks/quality.py), for a
larger, looser table.

Remake the table after changing the analyzer (a test checks they agree), from Debian's
``wordnet-base`` package:  ``python -m retrieval.synonyms /usr/share/wordnet``
"""
from __future__ import annotations

import logging
import sys
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from retrieval.analyzer import tokenize

log = logging.getLogger(__name__)

TABLE_PATH = Path(__file__).with_name("data") / "synonyms.tsv"
_PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")

Synonyms = tuple[tuple[str, ...], ...]  # each synonym as its terms ("fall behind" -> two)


@lru_cache(maxsize=1)
def _table() -> dict[str, tuple[str, str]]:
    """term -> (its words, their synonyms), both "|"-separated; read once, on the first question.
    A missing or damaged table costs the synonyms, not the answer: questions still work."""
    table: dict[str, tuple[str, str]] = {}
    try:
        with TABLE_PATH.open(encoding="utf-8") as lines:
            for line in lines:
                fields = line.rstrip("\n").split("\t")
                if len(fields) == 3 and not line.startswith("#"):
                    table[fields[0]] = (fields[1], fields[2])
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("synonym table %s unreadable (%s); answering without synonyms", TABLE_PATH, exc)
        return {}
    return table


@lru_cache(maxsize=16384)  # question terms recur; each miss tokenises a dozen words
def synonyms(term: str) -> Synonyms:
    """The synonyms of an analysed term, each as the terms it analyses to."""
    entry = _table().get(term)
    if entry is None:
        return ()
    # build() kept only synonyms that add a term, once each (a test holds the table to it);
    # two spellings may still analyse alike ("utilise", "utilize").
    return tuple(dict.fromkeys(tuple(tokenize(word)) for word in entry[1].split("|")))


def _wordnet_synsets(wordnet: Path, pos: str) -> dict[str, list[str]]:
    """synset offset -> its words, from WordNet's ``data.<pos>`` file."""
    synsets: dict[str, list[str]] = {}
    with (wordnet / f"data.{pos}").open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith("  "):  # the licence header
                continue
            fields = line.split()
            count = int(fields[3], 16)
            synsets[fields[0]] = [
                fields[4 + 2 * i].split("(")[0].replace("_", " ") for i in range(count)
            ]
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
            yield fields[0].replace("_", " "), synsets[first]


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
        "# term<TAB>its words<TAB>synonyms; made by: python -m retrieval.synonyms WORDNET_DIR",
    ]
    return header + [
        f"{term}\t{'|'.join(sorted(words[term]))}\t{'|'.join(sorted(found[term]))}"
        for term in sorted(found)
    ]


def main(argv: list[str] | None = None) -> int:
    """Remake the table from a WordNet 3.0 dict folder (Debian's wordnet-base: /usr/share/wordnet)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / "index.noun").is_file():
        print("usage: python -m retrieval.synonyms WORDNET_DICT_DIR  (e.g. /usr/share/wordnet)",
              file=sys.stderr)
        return 2
    TABLE_PATH.parent.mkdir(exist_ok=True)
    TABLE_PATH.write_text("\n".join(build(Path(args[0]))) + "\n", encoding="utf-8")
    print(f"wrote {TABLE_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
