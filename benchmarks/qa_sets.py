"""The question sets of the answer-quality issue, with their train and report splits.

Train and tune only on: SQuAD v1.1 dev articles at even positions in the file, SQuAD 2.0 half
articles at even positions, news-dev. Report on: the odd positions of both SQuAD files (their
questions asked over all of that file's articles), news-dev by kind, and the sets in
``benchmarks.quality``. ``benchmarks.answers`` scores news-dev in-sample (its rows say ``train/``);
the cross-validated news-dev figure comes from ``benchmarks.train``.

Each set is a list of :class:`QA` rows plus the folder its questions are asked over; the folders
are made once per temp dir (SQuAD articles written one file each, the BBC categories copied).
"""
from __future__ import annotations

import gzip
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import BBC, SHARED
from citebot.retrieval.passages import paragraph_spans

DATA = SHARED / "data"
NEWS_DEV = SHARED / "eval" / "news-dev.jsonl"


@dataclass(frozen=True)
class QA:
    q: str
    gold: tuple[str, ...]  # empty: unanswerable
    kind: str  # easy / paraphrase / context / unanswerable-near / unanswerable-off-topic / squad / squad-unanswerable
    split: str  # "train" or "report"
    path: str = ""  # gold file (relative to the set's folder), when known
    paragraph: int = 0  # gold paragraph (1-based), when known

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def write_squad_article(number: int, article: dict, folder: Path, tag: str = "SQuAD") -> str:
    """Write one SQuAD article as an article file (title line, blank line, its paragraphs, which
    must map 1:1 to the loader's paragraphs); returns the file name."""
    title = article["title"].replace("_", " ")
    name = f"{number:02d}-{re.sub(r'[^A-Za-z0-9]+', '_', article['title']).strip('_')}.txt"
    contexts = [p["context"] for p in article["paragraphs"]]
    body = "\n\n".join(contexts)
    spans = paragraph_spans(body)
    if len(spans) != len(contexts) or any(body[s:e] != c.strip() for (s, e), c in zip(spans, contexts)):
        raise RuntimeError(f"{tag} article {title!r}: paragraphs do not map 1:1 to the loader's")
    (folder / name).write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    return name


def pool_for(library, question: str):
    """``library.candidate_pool(question)``, None for a question ``ask`` would refuse."""
    from citebot.retrieval.library import QuestionError

    try:
        return library.candidate_pool(question)
    except QuestionError:
        return None


def _write_squad(data: list[dict], folder: Path, tag: str, impossible_key: bool) -> list[QA]:
    """One file per article; questions split by the article's position in the file: even
    positions train, odd positions report."""
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[QA] = []
    for number, article in enumerate(data):
        name = write_squad_article(number, article, folder, tag)
        split = "train" if number % 2 == 0 else "report"
        for i, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                impossible = impossible_key and qa.get("is_impossible", False)
                gold = () if impossible else tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                kind = "squad-unanswerable" if impossible else "squad"
                rows.append(QA(qa["question"], gold, kind, split, name, i + 1))
    return rows


def squad1(tmp: Path) -> tuple[Path, list[QA]]:
    with gzip.open(DATA / "squad-v1.1-dev" / "dev-v1.1.json.gz", "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    folder = tmp / "squad1"
    return folder, _write_squad(data, folder, "SQuAD v1.1", impossible_key=False)


def squad2(tmp: Path) -> tuple[Path, list[QA]]:
    with gzip.open(DATA / "squad-v2.0-dev-half" / "dev-v2.0-half.json.gz", "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    folder = tmp / "squad2"
    return folder, _write_squad(data, folder, "SQuAD 2.0", impossible_key=True)


def news_dev(tmp: Path) -> tuple[Path, list[QA]]:
    """news-dev over the 2,225 BBC articles (the five category folders, copied: 5 MB)."""
    folder = tmp / "bbc"
    if not folder.exists():
        for category in sorted(p for p in BBC.iterdir() if p.is_dir()):
            shutil.copytree(category, folder / category.name)
    rows = []
    for line in NEWS_DEV.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if obj["a"] is None:
            kind = f"unanswerable-{obj.get('topic', 'near')}"
            rows.append(QA(obj["q"], (), kind, "train"))
        else:
            rows.append(QA(obj["q"], tuple(obj["a"]), obj["kind"], "train", obj["file"]))
    return folder, rows


SETS = {"news": news_dev, "squad1": squad1, "squad2": squad2}
