"""Scale corpora for the speed benchmark: a source folder's articles replicated to N passages.

Copy ``c`` of every source article is written to ``<work>/c<cccc>/<relative path>`` with the
copy's own token (``zqcopy0042``) appended to its title line. The title is indexed with each of
an article's passages, so every passage of a copy holds its copy token and no two copies of a
paragraph are the same document; the paragraph text itself is left verbatim. Copies are added
article by article (in path order) until the passage count reaches the target, so ``1m`` means
1,000,000 passages give or take one article.

    from benchmarks.corpus import build_corpus, sample_questions
    info = build_corpus(Path("../shared/data/bbc"), Path("/tmp/work/100k"), 100_000)
    questions = sample_questions(info.folder, 200, seed=1)

Building is idempotent: a folder already holding the same build (same source listing, same target)
is reused, which makes re-running the 1M benchmark cheaper. ``.corpus.json`` (a hidden file the
loader ignores) records what was built.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from citebot.retrieval.analyzer import STOPWORDS, tokenize, words
from citebot.retrieval.loader import SkipFile, decode, parse_article, scan
from citebot.retrieval.passages import passage_spans

MANIFEST = ".corpus.json"
# Files about a data set rather than articles of it (top level of the source folder only).
META_FILES = frozenset({"provenance.md", "readme.txt", "readme.md", "license.txt"})
SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


def parse_scale(text: str) -> int:
    """'10k' -> 10000, '1m' -> 1000000, '2500' -> 2500."""
    text = text.strip().lower()
    if text in SCALES:
        return SCALES[text]
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if mult != 1 else text
    value = int(float(number) * mult)
    if value <= 0:
        raise ValueError(f"scale must be positive: {text!r}")
    return value


def copy_token(copy: int) -> str:
    """The distinct token of one copy: letters then digits, unchanged by the analyzer."""
    return f"zqcopy{copy:04d}"


@dataclass(frozen=True)
class SourceArticle:
    path: str  # relative to the source folder
    text: str  # decoded file text (\n line ends)
    passages: int


@dataclass(frozen=True)
class CorpusInfo:
    folder: str
    target_passages: int
    passages: int
    files: int
    copies: int  # copies started (the last may be partial)
    bytes: int
    source: str
    source_files: int
    source_passages: int


def read_source(source: Path) -> list[SourceArticle]:
    """Every readable article under ``source`` in path order, with its passage count."""
    files, _ = scan(source)
    out = []
    for relative in files:
        if "/" not in relative and relative.lower() in META_FILES:
            continue
        data = (source / relative).read_bytes()
        try:
            article = parse_article(relative, data)
        except SkipFile:
            continue
        text = decode(data, relative)
        out.append(SourceArticle(relative, text, len(passage_spans(article.text))))
    return out


def with_token(text: str, token: str) -> str:
    """``text`` with ``token`` appended to its first non-empty line (the title line)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip():
            lines[i] = f"{line.rstrip()} {token}"
            break
    return "\n".join(lines)


def _fingerprint(articles: list[SourceArticle], target: int) -> str:
    h = hashlib.sha256(str(target).encode())
    for a in articles:
        h.update(a.path.encode() + b"\0" + str(a.passages).encode() + b"\0")
        h.update(hashlib.sha256(a.text.encode("utf-8", "surrogatepass")).digest())
    return h.hexdigest()


def build_corpus(source: Path, folder: Path, passages: int) -> CorpusInfo:
    """Write copies of ``source``'s articles into ``folder`` until ``passages`` passages."""
    articles = read_source(source)
    if not articles or sum(a.passages for a in articles) == 0:
        raise ValueError(f"no articles with passages under {source}")
    fingerprint = _fingerprint(articles, passages)
    manifest = folder / MANIFEST
    if manifest.exists():
        try:
            recorded = json.loads(manifest.read_text())
            if recorded.get("fingerprint") == fingerprint:
                return CorpusInfo(**recorded["info"])
        except (ValueError, KeyError, TypeError):
            pass
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    total = files = size = 0
    copy = 0
    while total < passages:
        base = folder / f"c{copy:04d}"
        token = copy_token(copy)
        for article in articles:
            if total >= passages:
                break
            path = base / article.path
            path.parent.mkdir(parents=True, exist_ok=True)
            data = with_token(article.text, token).encode("utf-8", "surrogatepass")
            path.write_bytes(data)
            total += article.passages
            files += 1
            size += len(data)
        copy += 1
    info = CorpusInfo(
        str(folder), passages, total, files, copy, size, str(source), len(articles),
        sum(a.passages for a in articles),
    )
    manifest.write_text(json.dumps({"fingerprint": fingerprint, "info": asdict(info)}, indent=1))
    return info


def content_words(text: str) -> list[str]:
    """Surface words of ``text`` that the analyzer keeps (no stopwords, no bare numbers)."""
    out = []
    for word in words(text):
        if word in STOPWORDS or word[0].isdigit() or len(word) < 3:
            continue
        if tokenize(word):
            out.append(word)
    return out


def sample_questions(
    folder: Path, n: int, *, seed: int = 0, min_words: int = 3, max_words: int = 8
) -> list[str]:
    """``n`` questions of ``min_words``..``max_words`` distinct content words of one paragraph.

    Paragraphs are drawn at random from the articles under ``folder`` (copy tokens are never
    used: a question is about the news, so it touches every copy's postings), words in random
    order, deterministic for a given seed.
    """
    rng = random.Random(seed)
    files = sorted(scan(folder)[0])
    if not files:
        return []
    questions: list[str] = []
    attempts = 0
    while len(questions) < n and attempts < n * 50:
        attempts += 1
        relative = rng.choice(files)
        try:
            article = parse_article(relative, (folder / relative).read_bytes())
        except SkipFile:
            continue
        spans = passage_spans(article.text)
        if not spans:
            continue
        span = rng.choice(spans)
        pool = list(dict.fromkeys(w for w in content_words(article.text[span.start : span.end])
                                  if not w.startswith("zqcopy")))
        if len(pool) < min_words:
            continue
        count = rng.randint(min_words, min(max_words, len(pool)))
        questions.append(" ".join(rng.sample(pool, count)))
    return questions


def remove(folder: Path) -> None:
    """Delete a built corpus (only folders this module made: they hold its manifest)."""
    if (folder / MANIFEST).exists():
        shutil.rmtree(folder)


__all__ = [
    "CorpusInfo", "build_corpus", "copy_token", "parse_scale", "read_source", "remove",
    "sample_questions", "with_token",
]
