"""Answer quality on the answer-quality issue's sets, by split and by question kind.

    python -m benchmarks.answers [--sets news,squad1,squad2] [--json out.json]

Every question goes through ``Library.ask`` over its set's folder. An answerable question is right
when the answer holds a gold string and a citation quoting it stands verbatim in its file (the
news-dev and dev-set rule); an unanswerable one when nothing is found. SQuAD rows also count
"gold paragraph first" (the first citation is the paragraph the question was written from).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks import devset
from benchmarks.qa_sets import QA, SETS
from retrieval import Library
from retrieval.library import QuestionError


def evaluate(library: Library, folder: Path, rows: list[QA]) -> dict[str, dict[str, float]]:
    """Counts per (split, kind): questions, right, declined, gold paragraph first."""
    table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        try:
            answer = library.ask(row.q)
            found = answer.found
        except QuestionError:
            answer, found = None, False
        cell = table[f"{row.split}/{row.kind}"]
        cell["n"] += 1
        cell["declined"] += not found
        if not row.answerable:
            cell["right"] += not found
            continue
        if found and answer is not None:
            cites = [{"path": c.path, "quote": c.quote} for c in answer.citations]
            cell["right"] += devset.gold_ok(list(row.gold), answer.text, cites, folder)
            first = answer.citations[0] if answer.citations else None
            cell["gold_first"] += bool(first and first.path == row.path and first.paragraph == row.paragraph)
    return {k: dict(v) for k, v in table.items()}


def run(names: list[str], tmp: Path) -> dict[str, dict]:
    out = {}
    for name in names:
        folder, rows = SETS[name](tmp)
        started = time.perf_counter()
        library = Library.open(folder)
        out[name] = evaluate(library, folder, rows)
        print(f"  {name}: {len(rows)} questions in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


def render(results: dict[str, dict]) -> str:
    lines = ["| set | split/kind | questions | right | declined | gold paragraph first |", "|---|---|---|---|---|---|"]
    for name, table in results.items():
        for key in sorted(table):
            c = table[key]
            n = c["n"]
            gold = f"{c.get('gold_first', 0) / n:.1%}" if name.startswith("squad") and "unanswerable" not in key else ""
            lines.append(f"| {name} | {key} | {n:.0f} | {c['right']:.0f} ({c['right'] / n:.1%}) | "
                         f"{c['declined'] / n:.1%} | {gold} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="citebot-answers-") as tmp:
        results = run(args.sets.split(","), Path(tmp))
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
