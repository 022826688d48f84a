"""Answer quality on the answer-quality issue's sets, by split and by question kind.

    python -m benchmarks.answers [--sets news,squad1,squad2] [--json out.json] [--semantic auto|on|off]

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
from benchmarks.qa_sets import QA, SETS, pool_for
from citebot.retrieval import Library
from citebot.retrieval.answer import assess
from citebot.retrieval.library import QuestionError
from citebot.retrieval.ranker import default_model
from citebot.retrieval.semantic import Similarity, from_setting


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


CURVE = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)


def curve(library: Library, rows: list[QA]) -> list[dict[str, float]]:
    """Answerable right and unanswerable declined at each threshold of the answer probability
    (SQuAD 2.0's report split): the whole trade-off, not just the shipped point."""
    seen = []  # (answers at threshold t?, answerable, right if answered)
    for row in rows:
        pool = pool_for(library, row.q)
        if pool is None or not pool.candidates:
            seen.append((None, row.answerable, False))
            continue
        decision = assess(pool, library.model, library.similarity)
        text = decision.best.hit.passage.article.text[slice(*decision.span)].lower()
        seen.append((decision, row.answerable, any(g.lower() in text for g in row.gold)))
    answerable = [s for s in seen if s[1]]
    unanswerable = [s for s in seen if not s[1]]
    def answered(decision, t: float) -> bool:
        return decision is not None and decision.answers(t)

    return [{"threshold": t,
             "answerable_right": sum(answered(d, t) and right for d, _, right in answerable) / max(len(answerable), 1),
             "unanswerable_declined": sum(not answered(d, t) for d, _, _ in unanswerable) / max(len(unanswerable), 1)}
            for t in CURVE]


def run(names: list[str], tmp: Path, similarity: Similarity | None = None) -> dict[str, dict]:
    out = {}
    for name in names:
        folder, rows = SETS[name](tmp)
        started = time.perf_counter()
        library = Library.open(folder, similarity=similarity)
        out[name] = evaluate(library, folder, rows)
        if name == "squad2":
            out["squad2-curve"] = curve(library, [r for r in rows if r.split == "report"])
        print(f"  {name}: {len(rows)} questions in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


def render(results: dict[str, dict], semantic: bool = False) -> str:
    lines = ["| set | split/kind | questions | right | declined | gold paragraph first |", "|---|---|---|---|---|---|"]
    for name, table in results.items():
        if name.endswith("-curve"):
            continue
        for key in sorted(table):
            c = table[key]
            n = c["n"]
            gold = f"{c.get('gold_first', 0) / n:.1%}" if name.startswith("squad") and "unanswerable" not in key else ""
            lines.append(f"| {name} | {key} | {n:.0f} | {c['right']:.0f} ({c['right'] / n:.1%}) | "
                         f"{c['declined'] / n:.1%} | {gold} |")
    if "squad2-curve" in results:
        model = default_model()
        shipped = model.semantic.threshold if semantic and model.semantic else model.threshold
        lines += ["", f"SQuAD 2.0 report split over the answer probability threshold "
                      f"({'semantic check on' if semantic else 'lexical'}; shipped: {shipped}):", "",
                  "| threshold | answerable right | unanswerable declined |", "|---|---|---|"]
        lines += [f"| {c['threshold']:.2f} | {c['answerable_right']:.1%} | {c['unanswerable_declined']:.1%} |"
                  for c in results["squad2-curve"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--semantic", choices=("auto", "on", "off"), default="auto",
                        help="the semantic check, as the semantic_check setting (default: when installed)")
    args = parser.parse_args(argv)
    similarity = from_setting(args.semantic)
    print(f"semantic check {'on' if similarity else 'off'}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="citebot-answers-") as tmp:
        results = run(args.sets.split(","), Path(tmp), similarity)
    print(render(results, similarity is not None))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
