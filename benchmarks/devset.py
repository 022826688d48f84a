"""Score the dev question set (../shared/eval/dev-questions.jsonl) over seeds/ + BBC.

    python -m benchmarks.devset [--baseline] [--json out.json]

A question counts as right when the answer holds a gold string and a citation's quote holds it
and stands verbatim in the cited file; an unanswerable one (``"a": null``) when found is false.
``--baseline`` runs the naive peer: rank-bm25 ``BM25Okapi`` over the same passages, then the
sentence of the top passage sharing the most question words, always answering.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED, combined_folder
from citebot.retrieval import Library
from citebot.retrieval.analyzer import sentence_spans, tokenize
from citebot.retrieval.loader import decode


def gold_ok(gold: list[str], answer: str, citations: list[dict], folder: Path) -> bool:
    """Answer holds a gold string; some citation quote holds it and stands verbatim in its file."""
    for g in gold:
        if g.lower() not in answer.lower():
            continue
        for c in citations:
            if g.lower() in c["quote"].lower():
                text = decode((folder / c["path"]).read_bytes(), c["path"])
                if c["quote"] in text:
                    return True
    return False


def baseline_answer(library: Library, question: str) -> tuple[str, list[dict]]:
    """rank-bm25 the plain way: get_scores over every passage, top passage, best-overlap sentence."""
    from rank_bm25 import BM25Okapi

    snap = library.snapshot
    if not hasattr(baseline_answer, "_bm25"):
        corpus = [[snap.vocab.terms[t] for t in snap.passage_terms(i)] for i in range(snap.n_passages)]
        baseline_answer._bm25 = BM25Okapi(corpus)  # type: ignore[attr-defined]
    bm25 = baseline_answer._bm25  # type: ignore[attr-defined]
    q = tokenize(question)
    scores = bm25.get_scores(q)
    best = int(scores.argmax())
    passage = snap.passage(best)
    qs = set(q)
    sentences = [passage.text[s:e] for s, e in sentence_spans(passage.text)]
    sentence = max(sentences, key=lambda s: len(qs & set(tokenize(s))))
    cite = {"path": passage.article.path, "quote": sentence}
    return sentence, [cite]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=SHARED / "eval" / "dev-questions.jsonl")
    parser.add_argument("--baseline", action="store_true", help="also score the naive rank-bm25 peer")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = combined_folder(Path(tmp))
        library = Library.open(folder, follow_outside_links=True)  # its links point into ../shared
        results = {}
        systems = ["citebot"] + (["baseline"] if args.baseline else [])
        for system in systems:
            right = declined = answerable = unanswerable = 0
            started = time.perf_counter()
            for row in rows:
                if system == "citebot":
                    a = library.ask(row["q"])
                    found, text = a.found, a.text
                    cites = [{"path": c.path, "quote": c.quote} for c in a.citations]
                else:
                    text, cites = baseline_answer(library, row["q"])
                    found = True
                if row["a"] is None:
                    unanswerable += 1
                    ok = not found
                    declined += ok
                else:
                    answerable += 1
                    ok = found and gold_ok(row["a"], text, cites, folder)
                    right += ok
                if args.verbose and not ok:
                    print(f"  MISS [{system}] {row['q']!r} -> found={found} {text[:150]!r}", file=sys.stderr)
            results[system] = {
                "answerable": answerable, "right": right,
                "right_share": round(right / max(answerable, 1), 3),
                "unanswerable": unanswerable, "declined": declined,
                "seconds": round(time.perf_counter() - started, 2),
            }
    print(f"{'system':10} {'right':>12} {'declined':>10}")
    for system, r in results.items():
        print(f"{system:10} {r['right']:>4}/{r['answerable']:<3} {r['right_share']:>4.0%} {r['declined']:>5}/{r['unanswerable']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
