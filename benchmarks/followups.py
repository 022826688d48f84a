"""Follow-up questions: how many are answered right with the conversation versus without it.

    python -m benchmarks.followups [--json] [--bbc]

The conversations are written as users would ask them (tests/fixtures/followup/conversations.json
over seeds/ and the test fixture articles; with ``--bbc`` also BBC_CONVERSATIONS below over
../shared/data/bbc). A turn is *right* when the engine finds an answer whose quoted text holds
the turn's short gold string. Every turn after the first is scored twice: asked alone (no
context) and resolved with ``retrieval.followup.resolve`` against the conversation so far (the
same path the Discord bot and the CLI take). Turns marked ``new`` start a new topic: they must
stay right with context (nothing dragged along).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from benchmarks.common import BBC, ROOT
from citebot.retrieval import Library
from citebot.retrieval.analyzer import normalize
from citebot.retrieval.followup import Turn, resolve

FIXTURES = ROOT / "tests" / "fixtures"
CONVERSATIONS = FIXTURES / "followup" / "conversations.json"
FIXTURE_FOLDERS = (ROOT / "seeds", FIXTURES / "followup" / "articles", FIXTURES / "discord" / "articles")

# Over the BBC articles (../shared/data/bbc); gold strings are short quotes, never article text.
BBC_CONVERSATIONS: list[dict[str, Any]] = [
    {"turns": [{"q": "Who is the Kyrgyz President?", "gold": "Askar Akaev"},
               {"q": "What law did he push through?", "gold": "use of ink"}]},
    {"turns": [{"q": "How long does the election ink stay on the finger?", "gold": "72 hours"},
               {"q": "Which finger is it sprayed on?", "gold": "left thumb"}]},
    {"turns": [{"q": "When are the Kyrgyz parliamentary elections?", "gold": "27 February"},
               {"q": "Who funds the ink?", "gold": "US government"}]},
    {"turns": [{"q": "Who does David Mikosz work for?", "gold": "IFES"},
               {"q": "What does it support?", "gold": "democratic societies"}]},
    {"turns": [{"q": "How much did Time Warner's quarterly profits jump?", "gold": "76%"},
               {"q": "How much of Google does it own?", "gold": "8%"},
               {"q": "How many subscribers did AOL lose?", "gold": "464,000", "new": True}]},
    {"turns": [{"q": "Which films hurt Time Warner's film division?", "gold": "Alexander and Catwoman"},
               {"q": "By how much did its profits slump?", "gold": "27%"}]},
    {"turns": [{"q": "Who announced the maternity pay rise?", "gold": "Patricia Hewitt"},
               {"q": "How much will it rise by?", "gold": "1,400"},
               {"q": "What did the Tories call it?", "gold": "desperate"}]},
    {"turns": [{"q": "Which hurdler is hunting her first major medal?", "gold": "Sarah Claxton"},
               {"q": "What British record has she broken?", "gold": "60m hurdles"},
               {"q": "When are the European Indoors?", "gold": "5-6 March"}]},
    {"turns": [{"q": "How many net cafes did Chinese authorities close?", "gold": "12,575"},
               {"q": "Why were they closed?", "gold": "operating illegally"}]},
    {"turns": [{"q": "How far must net cafes in China be from schools?", "gold": "200 metres"},
               {"q": "When were those rules introduced?", "gold": "2002"}]},
    {"turns": [{"q": "Which gallery unveiled a Christmas tree that receives text messages?", "gold": "Tate Britain"},
               {"q": "Who decorated it?", "gold": "Richard Wentworth"},
               {"q": "Who did he work for in the 1960s?", "gold": "Henry Moore"}]},
    {"turns": [{"q": "Why did the dollar gain against the euro?", "gold": "trade deficit is set to stabilise"},
               {"q": "Who is the head of currency strategy at Bank of America?", "gold": "Robert Sinche", "new": True}]},
]


@dataclass
class Tally:
    """Right counts over follow-up turns (with and without context) and over new-topic turns."""

    followups: int = 0
    right_alone: int = 0
    right_with_context: int = 0
    new_topics: int = 0
    new_right: int = 0
    new_kept_alone: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "misses"} | {"misses": self.misses}


def is_right(answer: Any, gold: str) -> bool:
    return bool(answer.found) and normalize(gold) in normalize(answer.text)


def load_conversations(path: Path = CONVERSATIONS) -> list[dict[str, Any]]:
    return json.loads(path.read_text("utf-8"))["conversations"]


def score(library: Library, conversations: Iterable[dict[str, Any]], top_k: int = 5) -> Tally:
    """Play each conversation turn by turn, as the bot does, and count the right answers."""
    tally = Tally()
    for conversation in conversations:
        history: list[Turn] = []
        for n, turn in enumerate(conversation["turns"]):
            resolution = resolve(turn["q"], history, max_chars=library.max_question_chars)
            answer = library.ask(resolution.question, top_k)
            right = is_right(answer, turn["gold"])
            if n > 0 and turn.get("new"):
                tally.new_topics += 1
                tally.new_right += right
                tally.new_kept_alone += not resolution.followup
            elif n > 0:
                tally.followups += 1
                tally.right_with_context += right
                tally.right_alone += is_right(library.ask(turn["q"], top_k), turn["gold"])
            if n > 0 and not right:
                tally.misses.append({"q": turn["q"], "searched": resolution.question, "gold": turn["gold"],
                                     "got": answer.text[:160] if answer.found else "(no answer)"})
            history.append(resolution.turn(answer.text if answer.found else ""))
    return tally


def fixture_library(tmp: Path, folders: Sequence[Path] = FIXTURE_FOLDERS) -> Library:
    """seeds/ and the test fixture articles copied into one folder (no cache)."""
    target = tmp / "articles"
    for folder in folders:
        shutil.copytree(folder, target / folder.parent.name / folder.name)
    return Library.open(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.followups", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--bbc", action="store_true", help="also the BBC conversations (needs ../shared/data/bbc)")
    parser.add_argument("--misses", action="store_true", help="list the turns answered wrong")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        library = fixture_library(Path(tmp))
        results["fixtures"] = score(library, load_conversations()).as_dict()
    if args.bbc:
        library = Library.open(BBC)
        results["bbc"] = score(library, BBC_CONVERSATIONS).as_dict()
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
        return 0
    for name, r in results.items():
        print(f"{name}: follow-ups right with context {r['right_with_context']}/{r['followups']}, "
              f"alone {r['right_alone']}/{r['followups']}; new topics right {r['new_right']}/{r['new_topics']} "
              f"(kept alone {r['new_kept_alone']}/{r['new_topics']})")
        if args.misses:
            for miss in r["misses"]:
                print("   miss:", miss)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
