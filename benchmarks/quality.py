"""Answer and retrieval quality on public sets, each figure printed beside its published anchor.

    python -m benchmarks.quality                                   # every set, full (the README figures)
    python -m benchmarks.quality --sets squad --limit 500          # a quick seeded sample
    python -m benchmarks.quality --sets scifact,wikiqa --json out.json

Sets: ``scifact``, ``squad``, ``wikiqa``, ``trecqa``, ``offtopic``, ``dev``. The data are read at
run time from ``../shared/data`` (``benchmarks.common.SHARED``; see each set's PROVENANCE.md there); nothing
of them is copied into the repository. Articles built from them go to a temporary folder that
is deleted afterwards. The figures go to ``benchmarks/results/quality.json`` unless ``--json``
says otherwise, with the machine, the commit and the run time of every set.

``--limit N`` samples N questions (seed ``--seed``, default 0) of SQuAD and off-topic, N queries of
SciFact; WikiQA, TREC-QA and the dev set always run whole (a few seconds each). The published
figures are the full run; a limited run marks its PASS/FAIL lines ``(sample)``.

What each number means
----------------------
SciFact (BEIR test: 300 claims, 5,183 abstracts, 339 judgements). Each abstract is one article
file (title line, blank line, the abstract's sentences joined by a space, BEIR's convention), so
the title is indexed with each passage, like Anserini's "flat" run. ``Library.search`` ranks
passages; a long abstract can be two passages, so the ranking is de-duplicated to abstracts in
rank order (an abstract scores as its best passage) and cut at 100.

* ``nDCG@10``: trec_eval's ``ndcg_cut_10`` (linear gain, judged relevance 1). ``R@100``: judged
  abstracts among the first 100 / all judged. Anchor: Anserini BM25 flat 0.6789 / 0.9253
  (Lucene BM25, k1 0.9, b 0.4, one field). Target: nDCG@10 >= 0.70.
* The same with ``BM25Params(idf="okapi")``: rank-bm25's exact ``BM25Okapi`` scoring (our
  default is idf="lucene", the always-positive idf).

SQuAD v1.1 dev (48 Wikipedia articles, 2,067 paragraphs, 10,570 questions). Each article is one
file: its title (underscores as spaces), a blank line, then its paragraphs separated by blank
lines, so SQuAD paragraph i is the article's paragraph i + 1 (checked when the folder is built;
a paragraph over 1,500 characters is cut into several passages that keep its number). Every
question goes through ``Library.ask`` over all 48 articles at once, so the system must first
find the article and the paragraph, then the sentence.

* ``answer right``: the answer text holds a gold answer (case-insensitive), a citation's quote
  holds it, and that quote stands verbatim in the cited file (``benchmarks.devset.gold_ok``).
  Target >= 75%.
* ``gold paragraph 1st``: the first citation is the question's own paragraph (file and
  paragraph number). Target >= 85%. ``... when answered`` is the same over answered questions.
* ``declined``: ``found`` is false (the articles are judged not to answer); every SQuAD question
  is answerable, so each decline is a miss in both figures above.
* ``sentence EM / F1``: SQuAD's official normalisation and token F1 between our whole answer
  (a sentence or two) and the best gold span. Printed beside the published span extractors only
  for scale: a sentence is not a span, so EM is near 0 by design and F1 is capped by sentence
  length. No published system answers with a cited sentence; there is no exact anchor.

WikiQA test (answer-sentence selection) and TREC-QA test (jacana "manual-edit" TEST file). Each
question's candidate sentences are scored with ``retrieval.answer.sentence_scores`` (the bot's
own sentence scorer, without passage terms) and ranked by score.

* Ties: the scorer is lexical, so candidates often tie (all sentences sharing no question word
  score the same). File order is no fair tie-breaker: TREC-QA lists every right candidate
  before the wrong ones. ``MAP`` / ``MRR`` are therefore the mean over 200 seeded shuffles of
  the candidates (an estimate of the expectation under random tie-breaking); the JSON also
  holds the worst case (tied wrong candidates first) and the best case.

* ``MAP`` and ``MRR`` (``benchmarks.metrics.average_precision`` / ``reciprocal_rank``, averaged
  over questions). WikiQA: the paper's filtered protocol, the 237 test questions with at least
  one right and one wrong candidate (the count is checked against ``WikiQA-test-filtered.ref``;
  the official CNN run in ``emnlp-table`` scored by this code gives 0.6190 / 0.6281, exactly the
  paper's, which checks the evaluator). Target: MAP above CNN's 0.619.
* TREC-QA is printed both ways: ``clean`` (the 68 questions with a right and a wrong candidate,
  Rao et al. 2016) and ``raw`` (the 89 with a right candidate, as trec_eval scores the 100-
  question file; the published anchors are raw).
* idf: ``log(1 + (N - n + 0.5) / (n + 0.5))`` (the index's default) over the distinct candidate
  sentences of all splits of the set (train, dev, test), each sentence a document. Neither set
  ships the collection its candidates came from (Wikipedia summaries / AQUAINT newswire), the
  candidates are the nearest sample of it, and no labels are used. A question term in no
  candidate gets the median weight of the question's known terms, as ``Library.ask`` does.
* ``word count (ours)``: the non-stopword overlap baseline re-implemented here (our analyzer's
  words, unstemmed, same tie rule), to see how far our protocol is from the published Word Cnt
  row. It lands well above it on both sets, so read the lexical anchors as approximate.

* ``answers of two sentences``: the share of answers quoting two sentences, and the median
  answer length, so that a gain in ``answer right`` from longer quotes shows.

Off-topic (the SQuAD dev questions asked of seeds/ + BBC, whose articles are about other things):
``declined`` is the share the bot declines. A few may be answerable by chance (SQuAD asks about
sport and science too), so 100% is not the ceiling; read it beside SQuAD's ``declined``, the cost
of the same no-answer check on questions that do have an answer.

Dev set (``../shared/eval/dev-questions.jsonl``, over seeds/ + BBC): ``benchmarks.devset``'s
figures: answerable questions answered right (same rule as SQuAD), unanswerable ones declined,
beside its naive rank-bm25 peer.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import gzip
import io
import json
import math
import os
import platform
import random
import re
import statistics
import string
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

from benchmarks import devset, metrics
from benchmarks.common import ROOT, SHARED, combined_folder
from benchmarks.qa_sets import write_squad_article
from citebot.retrieval import Library
from citebot.retrieval.analyzer import STOPWORDS, sentence_spans, tokenize, words
from citebot.retrieval.answer import sentence_scores
from citebot.retrieval.index import BM25Params
from citebot.retrieval.library import QuestionError
from citebot.retrieval.semantic import Similarity, from_setting

DATA = SHARED / "data"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "quality.json"
ALL_SETS = ("scifact", "squad", "wikiqa", "trecqa", "offtopic", "dev")

# Published figures (see each set's PROVENANCE.md for the source of every number).
ANCHORS = {
    "scifact": {
        "Anserini BM25 flat (k1 0.9, b 0.4)": {"ndcg@10": 0.6789, "recall@100": 0.9253},
        "Anserini BM25 multifield": {"ndcg@10": 0.6647, "recall@100": 0.9076},
    },
    "squad": {  # Rajpurkar et al. 2016, Table 5, dev; span EM / F1 in %
        "Sliding window": {"em": 13.2, "f1": 20.2},
        "Logistic regression": {"em": 40.0, "f1": 51.0},
        "Human": {"em": 80.3, "f1": 90.5},
    },
    "wikiqa": {  # Yang et al. 2015, test, filtered (237 questions)
        "Word Cnt": {"map": 0.4891, "mrr": 0.4924},
        "Wgt Word Cnt": {"map": 0.5099, "mrr": 0.5132},
        "LCLR": {"map": 0.5993, "mrr": 0.6086},
        "CNN": {"map": 0.6190, "mrr": 0.6281},
        "CNN-Cnt": {"map": 0.6520, "mrr": 0.6652},
    },
    "trecqa": {  # Yu et al. 2014, raw TEST
        "Word Cnt": {"map": 0.571, "mrr": 0.627},
        "Wgt Word Cnt": {"map": 0.596, "mrr": 0.652},
        "LCLR": {"map": 0.709, "mrr": 0.770},
        "CNN-Cnt": {"map": 0.711, "mrr": 0.785},
    },
}


# --- helpers -----------------------------------------------------------------------------------


def _progress(label: str, done: int, total: int, started: float) -> None:
    if sys.stderr.isatty() and (done % 250 == 0 or done == total):
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"\r  {label}: {done}/{total} ({rate:.0f}/s)", end="\n" if done == total else "",
              file=sys.stderr, flush=True)


def _sample(items: list, limit: int | None, seed: int) -> list:
    if limit is None or limit >= len(items):
        return items
    return random.Random(seed).sample(items, limit)


def _idf_table(documents: Iterable[str]) -> tuple[dict[str, float], int]:
    """Lucene-style idf of every analyzer term over ``documents`` (each a bag of terms)."""
    df: Counter[str] = Counter()
    n = 0
    for text in documents:
        n += 1
        df.update(set(tokenize(text)))
    return {t: math.log1p((n - c + 0.5) / (c + 0.5)) for t, c in df.items()}, n


def _idf_lookup(table: dict[str, float], question: str) -> Callable[[str], float]:
    """As ``Library._idf_lookup``: a term no document holds gets the median of the known ones."""
    known = {t: table[t] for t in tokenize(question) if table.get(t, 0) > 0}
    unseen = statistics.median(known.values()) if known else 1.0
    return lambda term: known.get(term, unseen)


def _word_count(question: str, sentence: str) -> int:
    """The Word Cnt baseline: distinct non-stopword question words found in the sentence."""
    q = {w for w in words(question) if w not in STOPWORDS and any(c.isalnum() for c in w)}
    return len(q & set(words(sentence)))


TIE_SHUFFLES = 200


def _rank_metrics(questions: list[tuple[str, list[str], list[int]]],
                  scorer: Callable[[str, list[str]], list[float]]) -> dict[str, float]:
    """MAP and MRR with ties between candidate scores broken at random: the mean over
    ``TIE_SHUFFLES`` seeded shuffles of the candidates (an estimate of the expectation), with
    the worst case (tied wrong candidates first) and the best case beside it.

    File order is no tie-breaker here: TREC-QA lists every right candidate before the wrong ones,
    and WikiQA's first summary sentence is often the answer, so file-order ties would score the
    data's layout rather than the ranker (a lexical scorer ties often: sentences sharing no
    question word all score the same).
    """
    aps, rrs = [], []
    worst_ap, worst_rr, best_ap, best_rr = [], [], [], []
    for number, (question, sentences, labels) in enumerate(questions):
        scores = scorer(question, sentences)
        relevant = {i for i, label in enumerate(labels) if label > 0}
        order = list(range(len(sentences)))
        q_ap = q_rr = 0.0
        for shuffle in range(TIE_SHUFFLES):
            random.Random(number * 100_003 + shuffle).shuffle(order)
            ranking = [order[j] for j in metrics.rank_by_score([scores[i] for i in order])]
            q_ap += metrics.average_precision(ranking, relevant)
            q_rr += metrics.reciprocal_rank(ranking, relevant)
        aps.append(q_ap / TIE_SHUFFLES)
        rrs.append(q_rr / TIE_SHUFFLES)
        for bucket_ap, bucket_rr, sign in ((worst_ap, worst_rr, 1), (best_ap, best_rr, -1)):
            order = sorted(range(len(sentences)), key=lambda i: sign * labels[i])
            ranking = [order[j] for j in metrics.rank_by_score([scores[i] for i in order])]
            bucket_ap.append(metrics.average_precision(ranking, relevant))
            bucket_rr.append(metrics.reciprocal_rank(ranking, relevant))
    r = lambda values: round(metrics.mean(values), 4)  # noqa: E731
    return {"map": r(aps), "mrr": r(rrs), "questions": len(aps),
            "map_ties_worst": r(worst_ap), "map_ties_best": r(best_ap),
            "mrr_ties_worst": r(worst_rr), "mrr_ties_best": r(best_rr)}


def _citebot_scorer(idf: dict[str, float]) -> Callable[[str, list[str]], list[float]]:
    return lambda q, sentences: sentence_scores(q, sentences, _idf_lookup(idf, q))


def _wordcount_scorer(q: str, sentences: list[str]) -> list[float]:
    return [float(_word_count(q, s)) for s in sentences]


def _filtered(questions: list[tuple[str, list[str], list[int]]]) -> list:
    """Questions with at least one right and one wrong candidate."""
    return [q for q in questions if any(q[2]) and not all(q[2])]


# --- SciFact -----------------------------------------------------------------------------------

_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _abstract(cell: str) -> str:
    """The numpy-repr list of sentence literals -> the sentences joined by one space (BEIR)."""
    return " ".join(ast.literal_eval(lit) for lit in _LITERAL.findall(cell))


def load_scifact() -> tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    """(corpus id -> (title, abstract), test query id -> claim, qrels)."""
    folder = DATA / "scifact"
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(folder / "scifact.zip") as z:
        corpus_rows = csv.DictReader(io.TextIOWrapper(z.open("corpus_train.csv"), "utf-8"))
        corpus = {r["doc_id"]: (r["title"], _abstract(r["abstract"])) for r in corpus_rows}
        claims = {}
        for r in csv.DictReader(io.TextIOWrapper(z.open("claims_validation.csv"), "utf-8")):
            claims.setdefault(r["id"], r["claim"])
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels.beir-v1.0.0-scifact.test.txt").read_text().splitlines():
        qid, _, doc, rel = line.split()
        qrels.setdefault(qid, {})[doc] = int(rel)
    return corpus, {q: claims[q] for q in qrels}, qrels


SCIFACT_VARIANTS = (("lucene idf", BM25Params()), ("okapi idf", BM25Params(idf="okapi")))


def _ranked_docs(library: Library, query: str, depth: int = 100) -> list[str]:
    """Abstract ids in rank order (best passage first), ``depth`` of them where possible."""
    k = depth * 3
    while True:
        hits = library.search(query, k)
        docs = list(dict.fromkeys(Path(h.passage.article.path).stem for h in hits))
        if len(docs) >= depth or len(hits) < k:
            return docs[:depth]
        k *= 2


def run_scifact(limit: int | None, seed: int, tmp: Path) -> dict:
    corpus, queries, qrels = load_scifact()
    folder = tmp / "scifact"
    folder.mkdir()
    for doc_id, (title, text) in corpus.items():
        (folder / f"{doc_id}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
    qids = _sample(sorted(queries, key=int), limit, seed)
    out: dict = {"queries": len(qids), "queries_in_set": len(queries), "abstracts": len(corpus)}
    for name, params in SCIFACT_VARIANTS:
        library = Library.open(folder, cache_dir=tmp / f"cache-scifact-{params.idf}", params=params)
        ndcg, recall = [], []
        for qid in qids:
            ranking = _ranked_docs(library, queries[qid])
            ndcg.append(metrics.ndcg_at(ranking, qrels[qid], 10))
            recall.append(metrics.recall_at(ranking, qrels[qid], 100))
        out[name] = {"ndcg@10": round(metrics.mean(ndcg), 4), "recall@100": round(metrics.mean(recall), 4),
                     "k1": params.k1, "b": params.b, "idf": params.idf}
        out.setdefault("passages", library.stats().passages)
    return out


# --- SQuAD -------------------------------------------------------------------------------------


_PUNCTUATION = frozenset(string.punctuation)


def _squad_normalize(text: str) -> list[str]:
    """SQuAD v1.1's answer normalisation: lower, no punctuation, no a/an/the, split."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def _squad_f1(prediction: str, gold: str) -> float:
    p, g = _squad_normalize(prediction), _squad_normalize(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _write_squad(data: list[dict], folder: Path) -> list[dict]:
    """One file per article; returns the questions with their file and paragraph number."""
    questions = []
    for number, article in enumerate(data):
        name = write_squad_article(number, article, folder)
        for i, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                questions.append({"q": qa["question"], "gold": [a["text"] for a in qa["answers"]],
                                  "path": name, "paragraph": i + 1})
    return questions


def load_squad() -> list[dict]:
    """SQuAD v1.1 dev's articles (the ``data`` list of the official file)."""
    with gzip.open(DATA / "squad-v1.1-dev" / "dev-v1.1.json.gz", "rt", encoding="utf-8") as fh:
        return json.load(fh)["data"]


def run_squad(limit: int | None, seed: int, tmp: Path, similarity: Similarity | None = None) -> dict:
    data = load_squad()
    folder = tmp / "squad"
    folder.mkdir()
    questions = _write_squad(data, folder)
    total_questions = len(questions)
    questions = _sample(questions, limit, seed)
    library = Library.open(folder, cache_dir=tmp / "cache-squad", similarity=similarity)
    right = first = declined = refused = answered_first = two_sentences = 0
    em = f1 = 0.0
    answer_chars = []
    started = time.perf_counter()
    for done, row in enumerate(questions, start=1):
        try:
            a = library.ask(row["q"])
        except QuestionError:
            refused += 1
            continue
        if not a.found:
            declined += 1
        else:
            cites = [{"path": c.path, "quote": c.quote} for c in a.citations]
            right += devset.gold_ok(row["gold"], a.text, cites, folder)
            answer_chars.append(len(a.text))
            two_sentences += len(sentence_spans(a.text)) > 1
            c0 = a.citations[0] if a.citations else None
            hit = c0 is not None and c0.path == row["path"] and c0.paragraph == row["paragraph"]
            first += hit
            answered_first += hit
            em += max(float(_squad_normalize(a.text) == _squad_normalize(g)) for g in row["gold"])
            f1 += max(_squad_f1(a.text, g) for g in row["gold"])
        _progress("squad", done, len(questions), started)
    n = len(questions)
    answered = n - declined - refused
    return {
        "questions": n, "questions_in_set": total_questions, "articles": len(data),
        "paragraphs": sum(len(a["paragraphs"]) for a in data),
        "passages": library.stats().passages,
        "answer_right": round(right / n, 4), "gold_paragraph_first": round(first / n, 4),
        "gold_paragraph_first_when_answered": round(answered_first / max(answered, 1), 4),
        "declined": round(declined / n, 4), "refused": refused,
        "sentence_em": round(100 * em / n, 2), "sentence_f1": round(100 * f1 / n, 2),
        "answer_chars_median": statistics.median(answer_chars) if answer_chars else 0,
        "two_sentence_answers": round(two_sentences / max(answered, 1), 4),
        "ask_ms_mean": round(1000 * (time.perf_counter() - started) / max(n, 1), 2),
    }


# --- WikiQA and TREC-QA --------------------------------------------------------------------------

Questions = list[tuple[str, list[str], list[int]]]


def load_wikiqa(split: str) -> Questions:
    """(question, candidate sentences, labels) in file order."""
    grouped: dict[str, tuple[str, list[str], list[int]]] = {}
    with gzip.open(DATA / "wikiqa" / f"WikiQA-{split}.tsv.gz", "rt", encoding="utf-8", newline="") as fh:
        lines = fh.read().replace("\r", "").split("\n")
    header = lines[0].split("\t")
    col = {name: i for i, name in enumerate(header)}
    for line in lines[1:]:
        if not line:
            continue
        f = line.split("\t")
        entry = grouped.setdefault(f[col["QuestionID"]], (f[col["Question"]], [], []))
        entry[1].append(f[col["Sentence"]])
        entry[2].append(int(f[col["Label"]]))
    return list(grouped.values())


def _wikiqa_cnn_check(test: Questions) -> dict[str, float] | None:
    """Score the paper's own CNN run (shipped in emnlp-table) with our evaluator."""
    path = DATA / "wikiqa" / "emnlp-table" / "WikiQA.CNN.test.rank"
    if not path.exists():
        return None
    scores: dict[int, list[float]] = {}
    for line in path.read_text().splitlines():
        f = line.split()  # qidx 0 sentidx 0 score 0, qidx from 1 in file order
        scores.setdefault(int(f[0]), []).append(float(f[4]))
    run = {id(q[1]): scores[i] for i, q in enumerate(test, start=1)}
    return _rank_metrics(_filtered(test), lambda _q, sentences: run[id(sentences)])


def _test_split_and_idf(load: Callable[[str], Questions]) -> tuple[Questions, dict[str, float], int]:
    """The test split, and idf over the distinct candidate sentences of all splits (labels unused)."""
    splits = {s: load(s) for s in ("train", "dev", "test")}
    sentences = {s for qs in splits.values() for _, cands, _ in qs for s in cands}
    idf, n_docs = _idf_table(sorted(sentences))
    return splits["test"], idf, n_docs


def run_wikiqa(limit: int | None, seed: int, tmp: Path) -> dict:
    test, idf, n_docs = _test_split_and_idf(load_wikiqa)
    filtered = _filtered(test)
    ref = DATA / "wikiqa" / "WikiQA-test-filtered.ref"
    ref_questions = len({line.split()[0] for line in ref.read_text().splitlines()}) if ref.exists() else None
    out = {
        "split": "test", "questions_in_file": len(test), "filtered_questions": len(filtered),
        "filtered_ref_questions": ref_questions, "idf_documents": n_docs,
        "citebot": _rank_metrics(filtered, _citebot_scorer(idf)),
        "word_count_ours": _rank_metrics(filtered, _wordcount_scorer),
    }
    cnn = _wikiqa_cnn_check(test)
    if cnn is not None:
        out["protocol_check_official_cnn_run"] = cnn
    return out


def load_trecqa(split: str) -> Questions:
    """The jacana pseudo-XML: the first line of each element is its tab-separated tokens."""
    path = DATA / "trecqa" / f"{split}-less-than-40.manual-edit.xml.gz"
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        lines = fh.read().replace("\r", "").split("\n")
    out: Questions = []
    current: tuple[str, list[str], list[int]] | None = None
    for i, line in enumerate(lines):
        tag = line.strip()
        if tag.startswith("<QApairs"):
            current = ("", [], [])
            out.append(current)
        elif tag == "<question>" and current is not None:
            out[-1] = current = (" ".join(lines[i + 1].split("\t")).strip(), current[1], current[2])
        elif tag in ("<positive>", "<negative>") and current is not None:
            current[1].append(" ".join(lines[i + 1].split("\t")).strip())
            current[2].append(1 if tag == "<positive>" else 0)
    return out


def run_trecqa(limit: int | None, seed: int, tmp: Path) -> dict:
    test, idf, n_docs = _test_split_and_idf(load_trecqa)
    clean = _filtered(test)
    raw = [q for q in test if any(q[2])]
    scorer = _citebot_scorer(idf)
    return {
        "split": "test (test-less-than-40.manual-edit)", "questions_in_file": len(test),
        "pairs_in_file": sum(len(q[1]) for q in test), "idf_documents": n_docs,
        "clean": {"citebot": _rank_metrics(clean, scorer), "word_count_ours": _rank_metrics(clean, _wordcount_scorer),
                  "pairs": sum(len(q[1]) for q in clean)},
        "raw": {"citebot": _rank_metrics(raw, scorer), "word_count_ours": _rank_metrics(raw, _wordcount_scorer),
                "pairs": sum(len(q[1]) for q in raw)},
    }


# --- off-topic: SQuAD questions over seeds + BBC -------------------------------------------------


def run_offtopic(limit: int | None, seed: int, tmp: Path, similarity: Similarity | None = None) -> dict:
    """SQuAD's questions asked of seeds/ + BBC, whose articles are about other things: nearly
    all should be declined. The other side of ``declined`` on SQuAD, where every question is
    answerable: together they show what the no-answer check costs and what it catches."""
    data = load_squad()
    questions = [qa["question"] for article in data for p in article["paragraphs"] for qa in p["qas"]]
    total_questions = len(questions)
    questions = _sample(questions, limit, seed)
    library = Library.open(combined_folder(tmp), cache_dir=tmp / "cache-offtopic",
                           follow_outside_links=True, similarity=similarity)  # its links point into ../shared
    declined = refused = 0
    started = time.perf_counter()
    for done, question in enumerate(questions, start=1):
        try:
            declined += not library.ask(question).found
        except QuestionError:
            refused += 1
        _progress("offtopic", done, len(questions), started)
    n = len(questions)
    return {"questions": n, "questions_in_set": total_questions,
            "passages": library.stats().passages, "declined": round(declined / n, 4), "refused": refused}


# --- dev set -----------------------------------------------------------------------------------


def run_dev(limit: int | None, seed: int, tmp: Path) -> dict:
    out = tmp / "devset.json"
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        devset.main(["--baseline", "--json", str(out)])
    return json.loads(out.read_text())


RUNNERS = {"scifact": run_scifact, "squad": run_squad, "wikiqa": run_wikiqa, "trecqa": run_trecqa,
           "offtopic": run_offtopic, "dev": run_dev}


# --- report ------------------------------------------------------------------------------------


def targets(results: dict, sampled: set[str]) -> list[dict]:
    """The issue's targets, each with our figure and PASS/FAIL."""
    rows = []

    def add(set_name: str, what: str, ours: float, goal: float, strict: bool = False) -> None:
        ok = ours > goal if strict else ours >= goal
        rows.append({"set": set_name, "target": what, "ours": ours, "goal": goal, "pass": ok,
                     "sample": set_name in sampled})

    if "scifact" in results:
        add("scifact", "nDCG@10 >= 0.70", results["scifact"]["lucene idf"]["ndcg@10"], 0.70)
    if "squad" in results:
        add("squad", "answer right >= 75%", results["squad"]["answer_right"], 0.75)
        add("squad", "gold paragraph first >= 85%", results["squad"]["gold_paragraph_first"], 0.85)
    if "wikiqa" in results:
        add("wikiqa", "MAP > 0.619 (CNN)", results["wikiqa"]["citebot"]["map"], 0.619, strict=True)
    return rows


def render(results: dict, target_rows: list[dict]) -> str:
    lines = [f"{'set':7} {'measure':44} {'ours':>7}   anchors"]

    def row(set_name: str, measure: str, ours: str, anchors: str = "") -> None:
        lines.append(f"{set_name:7} {measure:44} {ours:>7}   {anchors}".rstrip())

    if "scifact" in results:
        r = results["scifact"]
        a = ANCHORS["scifact"]
        for variant, label in (("lucene idf", "default, lucene idf"), ("okapi idf", "rank-bm25 exact, okapi idf")):
            v = r[variant]
            row("scifact", f"nDCG@10 ({r['queries']} q), {label}", f"{v['ndcg@10']:.4f}",
                " | ".join(f"{k} {x['ndcg@10']:.4f}" for k, x in a.items()))
            row("scifact", f"R@100, {label}", f"{v['recall@100']:.4f}",
                " | ".join(f"{k} {x['recall@100']:.4f}" for k, x in a.items()))
    if "squad" in results:
        r = results["squad"]
        n = f"{r['questions']}/{r['questions_in_set']} q"
        row("squad", f"answer right ({n})", f"{r['answer_right']:.1%}", "(no published anchor; target 75%)")
        row("squad", "gold paragraph first", f"{r['gold_paragraph_first']:.1%}", "(target 85%)")
        row("squad", "gold paragraph first, when answered", f"{r['gold_paragraph_first_when_answered']:.1%}")
        row("squad", "declined", f"{r['declined']:.1%}", "(every question is answerable)")
        row("squad", "answers of two sentences, when answered", f"{r['two_sentence_answers']:.1%}",
            f"median answer {r['answer_chars_median']:.0f} chars")
        a = ANCHORS["squad"]
        row("squad", "sentence EM (not a span: ~0 by design)", f"{r['sentence_em']:.1f}",
            " | ".join(f"{k} {x['em']}" for k, x in a.items()))
        row("squad", "sentence F1 (capped by sentence length)", f"{r['sentence_f1']:.1f}",
            " | ".join(f"{k} {x['f1']}" for k, x in a.items()))
    if "wikiqa" in results:
        r = results["wikiqa"]
        a = ANCHORS["wikiqa"]
        n = r["citebot"]["questions"]
        for m in ("map", "mrr"):
            row("wikiqa", f"{m.upper()} test filtered ({n} q)", f"{r['citebot'][m]:.4f}",
                " | ".join(f"{k} {x[m]:.4f}" for k, x in a.items()))
        c = r["citebot"]
        row("wikiqa", "MAP, ties worst / best case", f"{c['map_ties_worst']:.4f}", f"/ {c['map_ties_best']:.4f}")
        row("wikiqa", "MAP / MRR, word count (ours)",
            f"{r['word_count_ours']['map']:.4f}", f"MRR {r['word_count_ours']['mrr']:.4f} (check vs Word Cnt)")
        if "protocol_check_official_cnn_run" in r:
            c = r["protocol_check_official_cnn_run"]
            row("wikiqa", "official CNN run, our evaluator", f"{c['map']:.4f}", f"MRR {c['mrr']:.4f} (paper 0.6190 / 0.6281)")
    if "trecqa" in results:
        r = results["trecqa"]
        a = ANCHORS["trecqa"]
        for protocol in ("raw", "clean"):
            p = r[protocol]
            n = p["citebot"]["questions"]
            for m in ("map", "mrr"):
                anchors = " | ".join(f"{k} {x[m]:.3f}" for k, x in a.items()) if protocol == "raw" else "(anchors are raw)"
                row("trecqa", f"{m.upper()} {protocol} ({n} q)", f"{p['citebot'][m]:.4f}", anchors)
            row("trecqa", f"MAP / MRR {protocol}, word count (ours)", f"{p['word_count_ours']['map']:.4f}",
                f"MRR {p['word_count_ours']['mrr']:.4f}")
    if "offtopic" in results:
        r = results["offtopic"]
        row("offtopic", f"SQuAD q over seeds+BBC, declined ({r['questions']} q)", f"{r['declined']:.1%}",
            "(the articles are about other things)")
    if "dev" in results:
        for system, r in results["dev"].items():
            if not isinstance(r, dict) or "right" not in r:
                continue
            row("dev", f"{system}: answered right", f"{r['right']}/{r['answerable']}", f"{r['right_share']:.0%}")
            row("dev", f"{system}: declined right", f"{r['declined']}/{r['unanswerable']}")
    if target_rows:
        lines.append("")
        lines.append("targets:")
        for t in target_rows:
            ours = f"{t['ours']:.1%}" if t["goal"] in (0.75, 0.85) else f"{t['ours']:.4f}"
            flag = "PASS" if t["pass"] else "FAIL"
            lines.append(f"  {flag}  {t['set']:8} {t['target']:30} ours {ours}{'  (sample)' if t['sample'] else ''}")
    seconds = {k: v.get("seconds") for k, v in results.items() if isinstance(v, dict)}
    lines.append("")
    lines.append("seconds: " + ", ".join(f"{k} {v}" for k, v in seconds.items()))
    return "\n".join(lines)


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "python": platform.python_version()}
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:
        pass
    try:
        info["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                        text=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout
        info["uncommitted_changes"] = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(ALL_SETS), help=f"comma-separated, of {','.join(ALL_SETS)}")
    parser.add_argument("--limit", type=int, help="sample this many SQuAD questions / SciFact queries")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --limit sample")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="write the figures here")
    parser.add_argument("--semantic", choices=("auto", "on", "off"), default="auto",
                        help="the semantic check, as the semantic_check setting (default: when installed)")
    args = parser.parse_args(argv)
    sets = [s.strip().lower() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in sets if s not in RUNNERS]
    if unknown:
        parser.error(f"unknown set(s): {', '.join(unknown)} (choose from {', '.join(ALL_SETS)})")
    if args.limit is not None and args.limit <= 0:
        parser.error("--limit must be positive")
    info = machine()
    similarity = from_setting(args.semantic)
    info["semantic_check"] = similarity is not None
    runners = dict(RUNNERS, squad=partial(run_squad, similarity=similarity),
                   offtopic=partial(run_offtopic, similarity=similarity))
    started_all = time.perf_counter()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="citebot-quality-") as tmp:
        for name in sets:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            work = Path(tmp) / name
            work.mkdir()
            started = time.perf_counter()
            results[name] = runners[name](args.limit, args.seed, work)
            results[name]["seconds"] = round(time.perf_counter() - started, 1)
    sampled = {s for s, (n, total) in (("scifact", ("queries", "queries_in_set")),
                                       ("squad", ("questions", "questions_in_set")))
               if s in results and results[s][n] < results[s][total]}
    rows = targets(results, sampled)
    print(render(results, rows))
    try:
        info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    report = {
        "command": "python -m benchmarks.quality " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": info, "limit": args.limit, "seed": args.seed,
        "seconds_total": round(time.perf_counter() - started_all, 1),
        "anchors": {k: v for k, v in ANCHORS.items() if k in results},
        "targets": rows, "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
