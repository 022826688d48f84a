"""Speed and memory of citebot's engine against rank-bm25 and bm25s, at 10k to 1M passages.

    python -m benchmarks.speed --articles ../shared/data/bbc --scales 10k,100k,1m \\
        [--queries 200] [--work /tmp/citebot-speed] [--json benchmarks/results/speed.json] \\
        [--engines citebot,rank-bm25,bm25s] [--peer-queries auto] [--drops 5]

For each scale the BBC articles are replicated to N passages (``benchmarks/corpus.py``: a distinct
token per copy, so no two copies are the same document) under ``--work`` (reused by later runs),
and ``--queries`` questions of 3-8 content words are drawn from the folder. Every engine then
runs in a process of its own, one after the other, so that each peak-RSS figure is that engine's
alone and no engine slows another down. The peers index exactly citebot's token streams: the
folder is read and each passage tokenised with ``retrieval.analyzer.tokenize`` (title terms added
to every passage, as citebot does), once per corpus, and handed over as lists of strings. The
table checks that each engine saw the same number of passages and the same mean length, and that
bm25s (same lucene idf) returns the same top-10 scores as citebot.

What each figure is, and why it is measured that way:

* **build s** - citebot: ``Library.open`` on the folder with a fresh, empty cache folder: listing,
  reading and parsing every file, tokenising (worker processes, one per core), postings, and
  writing the cache - what a first start costs. Peers: only their constructor on the ready token
  lists (``BM25Okapi(tokens)``, ``bm25s.BM25().index(tokens)``), so their figure leaves out the
  reading and tokenising that citebot's includes. The OS file cache is warm in all cases.
* **open s** - citebot only: a second ``Library.open`` in a new process with the cache in place
  (load and checksum the cache, then the stat scan that finds nothing changed) - every restart.
* **peak RSS** - ``ru_maxrss`` of the engine's process at its end: for citebot the larger of the
  cold-build process and the serving process (cache open, questions, refreshes); the build's
  tokenising workers are separate processes and not included. For the peers it includes their
  input, the token lists (``input`` in the JSON is the RSS before building).
* **search p50/p95 ms** - one question at a time, after a few warm-up questions, wall time from
  the question text to the ranked top 10 (tokenising included for every engine). citebot:
  ``Library.search(q, 10)`` (it also builds the cited passages); rank-bm25 the plain way:
  ``get_scores`` over every passage then ``argpartition``; bm25s: ``retrieve([tokens], k=10)``,
  numpy backend (numba is not installed). Medians, since other work shares the machine.
* **ask p50/p95 ms** - citebot's ``Library.ask(q)``: retrieval of the candidate passages plus
  choosing and citing the answer sentence; search and ask alternate question by question so noise
  hits both alike.
* **drop s** - a new article holding a unique word is written into the folder, then
  ``Library.refresh()`` runs (what the folder watcher calls after its debounce; the watcher adds its
  debounce, 300 ms, and settle time, 200 ms, by default) and ``ask`` about the word must cite the
  new file: seconds from the start of the write until that answer, median of ``--drops``. The
  refresh includes re-writing the cache. Dropped files are deleted again (and refreshed away).
* **queries** - how many questions each figure is over. Plain rank-bm25 costs seconds per
  question at 1M passages, so it answers fewer (``--peer-queries``, default all up to 100k, 50 up
  to 500k, then 20). A peer whose extrapolated memory or time does not fit is skipped with the
  reason instead of run.

Ratios compare medians measured in the same run. The issue's targets are checked at the end
(PASS/FAIL; n/a when that scale was not run). The JSON (default benchmarks/results/speed.json,
git-ignored) holds every figure, the command line and the machine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import BBC, ROOT
from benchmarks.corpus import build_corpus, parse_scale, sample_questions
from benchmarks.metrics import mean, percentile

ENGINES = ("citebot", "rank-bm25", "bm25s")
TOP_K = 10
WARMUP = 5
DROP_PREFIX = "zzspeeddrop-"  # dropped test articles; removed after (and before) every run
DEFAULT_WORK = Path("/tmp/citebot-speed")
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "speed.json"
MB = 1e6


# --- small helpers ---------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * (1 if sys.platform == "darwin" else 1024) / MB


def rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / MB
    except Exception:  # noqa: BLE001 - psutil is a bench extra
        return float("nan")


def latency(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "p50_ms": round(percentile(ms, 50), 3), "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(mean(ms), 3), "n": len(ms),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def remove_drops(folder: Path) -> int:
    gone = 0
    for path in folder.glob(f"{DROP_PREFIX}*"):
        path.unlink(missing_ok=True)
        gone += 1
    return gone


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# --- peers' tokens: citebot's analysis of the same files, computed once per corpus -------------


def _analyse_files(job: tuple[str, list[str]]):
    from citebot.retrieval.build import analyse_batch
    from citebot.retrieval.loader import SkipFile, parse_article, read_bytes

    folder, paths = Path(job[0]), job[1]
    items = []
    for relative in paths:
        try:
            article = parse_article(relative, read_bytes(folder, relative))
        except (SkipFile, OSError):
            continue
        items.append((article.title, article.text))
    return analyse_batch(items)


def prepare_tokens(folder: Path, out: Path) -> dict[str, Any]:
    """Tokenise every passage under ``folder`` as citebot indexes it (files in path order, title
    terms after each passage's own) into ``out``: terms.npy (int32), offsets.npy, vocab.json."""
    import multiprocessing

    import numpy as np

    from citebot.retrieval.analyzer import ANALYZER_VERSION
    from citebot.retrieval.loader import scan

    manifest = json.loads((folder / ".corpus.json").read_text())
    key = {"fingerprint": manifest["fingerprint"], "analyzer": ANALYZER_VERSION}
    meta_path = out / "meta.json"
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("key") == key:
                return meta
        except ValueError:
            pass
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    files = sorted(scan(folder)[0])
    batches = [(str(folder), files[i : i + 200]) for i in range(0, len(files), 200)]
    vocab: dict[str, int] = {}
    terms_parts: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        for local_terms, analysed in pool.imap(_analyse_files, batches, chunksize=1):
            ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in local_terms), np.int32,
                              count=len(local_terms))
            for _spans, local_ids, offsets in analysed:
                terms_parts.append(ids[local_ids] if len(local_ids) else local_ids)
                lengths.append(np.diff(offsets))
    terms = np.concatenate(terms_parts).astype(np.int32) if terms_parts else np.zeros(0, np.int32)
    length = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    offsets = np.zeros(len(length) + 1, np.int64)
    np.cumsum(length, out=offsets[1:])
    np.save(out / "terms.npy", terms)
    np.save(out / "offsets.npy", offsets)
    (out / "vocab.json").write_text(json.dumps(list(vocab), ensure_ascii=False))
    meta = {"key": key, "passages": int(len(length)), "tokens": int(len(terms)),
            "vocab": len(vocab), "files": len(files), "seconds": round(time.perf_counter() - started, 1)}
    meta_path.write_text(json.dumps(meta))
    return meta


def load_token_lists(tokens_dir: Path) -> list[list[str]]:
    """The passages as lists of token strings (one shared str object per distinct token)."""
    import numpy as np

    terms = np.load(tokens_dir / "terms.npy")
    offsets = np.load(tokens_dir / "offsets.npy").tolist()
    vocab = np.array(json.loads((tokens_dir / "vocab.json").read_text(encoding="utf-8")), dtype=object)
    corpus = [vocab[terms[a:b]].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
    del terms, vocab
    gc.collect()
    return corpus


# --- workers (one engine at one scale, in a process of its own) ---------------------------------


def worker_citebot_cold(job: dict[str, Any]) -> dict[str, Any]:
    from citebot.retrieval import Library

    folder, cache_dir = Path(job["folder"]), Path(job["cache_dir"])
    remove_drops(folder)
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    gc.collect()
    library, seconds = timed(lambda: Library.open(folder, cache_dir=cache_dir))
    snap = library.snapshot
    return {
        "build_s": round(seconds, 3),
        "passages": snap.n_passages, "tokens": int(len(snap.terms)), "vocab": len(snap.vocab),
        "articles": len(snap.docs),
        "avgdl": round(snap.index.avgdl, 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "children_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / MB, 1),
    }


def worker_citebot_warm(job: dict[str, Any]) -> dict[str, Any]:
    from citebot.retrieval import Library

    folder, cache_dir = Path(job["folder"]), Path(job["cache_dir"])
    remove_drops(folder)
    library, open_s = timed(lambda: Library.open(folder, cache_dir=cache_dir))
    out: dict[str, Any] = {
        "open_s": round(open_s, 3), "from_cache": library.loaded_from_cache,
        "rss_after_open_mb": round(rss_mb(), 1),
    }
    for q in job["warmup"]:
        library.search(q, TOP_K)
        library.ask(q)
    search_s: list[float] = []
    ask_s: list[float] = []
    top: list[list[float]] = []
    found = 0
    for i, q in enumerate(job["questions"]):
        def search() -> None:
            hits, took = timed(lambda: library.search(q, TOP_K))
            search_s.append(took)
            top.append([h.score for h in hits])

        def ask() -> None:
            nonlocal found
            answer, took = timed(lambda: library.ask(q))
            ask_s.append(took)
            found += answer.found

        # Alternate the order so that neither gets the other's warm caches more often.
        for step in ((search, ask) if i % 2 == 0 else (ask, search)):
            step()
    out["search"] = latency(search_s)
    out["ask"] = latency(ask_s)
    out["ask_found"] = found
    out["top_scores"] = top
    out["peak_rss_serving_mb"] = round(peak_rss_mb(), 1)
    if job.get("semantic"):
        out.update(semantic_asks(library, job["questions"]))
    out["drop"] = drop_test(library, folder, job["drops"])
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def semantic_asks(library, questions: list[str]) -> dict[str, Any]:
    """The same questions asked with the semantic check on (after the lexical asks, so their
    figures and memory are as without it): its cost per question and in memory."""
    from citebot.retrieval.semantic import MiniLM

    library.similarity = MiniLM.load()
    try:
        asks = [timed(lambda: library.ask(q))[1] for q in questions]
        return {"ask_semantic": latency(asks), "rss_semantic_mb": round(rss_mb(), 1)}
    finally:
        library.similarity = None


def drop_test(library, folder: Path, repeats: int) -> dict[str, Any]:
    """Write an article with a unique word, refresh, ask about it: seconds until it is cited."""
    to_search: list[float] = []
    to_answer: list[float] = []
    refresh_ms: list[float] = []
    failures = 0
    try:
        for i in range(repeats):
            word = f"zqdrop{os.getpid()}x{i}"
            name = f"{DROP_PREFIX}{i}.txt"
            text = (f"Speed benchmark drop {i}\n\nThe {word} parcel reached the newsroom this "
                    f"morning, the courier said.\n")
            question = f"What reached the newsroom, the {word} parcel?"
            started = time.perf_counter()
            (folder / name).write_text(text, encoding="utf-8")
            library.refresh()
            refresh_ms.append(library.last_refresh_ms)
            hits = library.search(word, 1)
            searchable = time.perf_counter()
            answer = library.ask(question)
            answered = time.perf_counter()
            cited = any(c.path == name for c in answer.citations)
            if hits and hits[0].passage.article.path == name and cited:
                to_search.append(searchable - started)
                to_answer.append(answered - started)
            else:
                failures += 1
    finally:
        if remove_drops(folder):
            library.refresh()
    return {
        "to_answer_s": round(percentile(to_answer, 50), 3) if to_answer else None,
        "to_search_s": round(percentile(to_search, 50), 3) if to_search else None,
        "to_answer_all_s": [round(v, 3) for v in to_answer],
        "refresh_ms_median": round(percentile(refresh_ms, 50), 1) if refresh_ms else None,
        "repeats": repeats, "failures": failures,
    }


def worker_rank_bm25(job: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    from rank_bm25 import BM25Okapi

    from citebot.retrieval.analyzer import tokenize

    corpus = load_token_lists(Path(job["tokens_dir"]))
    input_rss = rss_mb()
    bm25, build_s = timed(lambda: BM25Okapi(corpus))
    passages = len(corpus)
    del corpus
    gc.collect()

    def query(q: str):
        scores = bm25.get_scores(tokenize(q))
        best = np.argpartition(scores, len(scores) - TOP_K)[-TOP_K:] if len(scores) > TOP_K else np.arange(len(scores))
        return best[np.argsort(-scores[best], kind="stable")], scores

    for q in job["warmup"][:2]:
        query(q)
    took: list[float] = []
    top: list[list[float]] = []
    deadline = time.perf_counter() + job["budget_s"]
    for q in job["questions"]:
        (ids, scores), seconds = timed(lambda: query(q))
        took.append(seconds)
        top.append([float(s) for s in scores[ids]])
        if time.perf_counter() > deadline and len(took) >= 5:
            break
    return {
        "build_s": round(build_s, 3), "passages": passages, "avgdl": round(bm25.avgdl, 4),
        "search": latency(took), "top_scores": top,
        "input_rss_mb": round(input_rss, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def worker_bm25s(job: dict[str, Any]) -> dict[str, Any]:
    import bm25s

    from citebot.retrieval.analyzer import tokenize

    corpus = load_token_lists(Path(job["tokens_dir"]))
    input_rss = rss_mb()
    retriever = bm25s.BM25()  # lucene idf and tf, k1 1.5, b .75: citebot's defaults
    _, build_s = timed(lambda: retriever.index(corpus, show_progress=False))
    passages = len(corpus)
    avgdl = sum(map(len, corpus)) / max(passages, 1)
    del corpus
    gc.collect()

    def query(q: str):
        return retriever.retrieve([tokenize(q)], k=TOP_K, show_progress=False, n_threads=0)

    for q in job["warmup"]:
        query(q)
    took: list[float] = []
    top: list[list[float]] = []
    deadline = time.perf_counter() + job["budget_s"]
    for q in job["questions"]:
        result, seconds = timed(lambda: query(q))
        took.append(seconds)
        top.append([float(s) for s in result.scores[0]])
        if time.perf_counter() > deadline and len(took) >= 5:
            break
    return {
        "build_s": round(build_s, 3), "passages": passages, "avgdl": round(avgdl, 4),
        "backend": retriever.backend, "search": latency(took), "top_scores": top,
        "input_rss_mb": round(input_rss, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def worker_prep(job: dict[str, Any]) -> dict[str, Any]:
    return prepare_tokens(Path(job["folder"]), Path(job["tokens_dir"]))


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "prep": worker_prep, "citebot-cold": worker_citebot_cold, "citebot-warm": worker_citebot_warm,
    "rank-bm25": worker_rank_bm25, "bm25s": worker_bm25s,
}


def run_worker(name: str, job: dict[str, Any], work: Path, timeout: float,
               profile: Path | None = None) -> dict[str, Any]:
    """Run one worker in a fresh interpreter; its JSON result, or {"skipped": reason}."""
    job_path = work / f"job-{name}.json"
    job_path.write_text(json.dumps(job))
    cmd = [sys.executable, "-m", "benchmarks.speed", "--_worker", name, "--_job", str(job_path)]
    if profile is not None:
        cmd += ["--_profile", str(profile)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"{name} did not finish within {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        killed = " (killed: out of memory?)" if proc.returncode == -9 else ""
        return {"skipped": f"{name} failed with exit code {proc.returncode}{killed}: {tail}"}
    return json.loads(lines[-1])


def worker_main(name: str, job_path: Path, profile: Path | None) -> int:
    job = json.loads(job_path.read_text())
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(WORKERS[name], job)
        profile.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(profile))
    else:
        result = WORKERS[name](job)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# --- one scale -----------------------------------------------------------------------------------


def peer_queries(setting: str, passages: int, queries: int) -> int:
    if setting != "auto":
        return min(int(setting), queries)
    if passages <= 150_000:  # "100k" is 100,000 give or take one article
        return queries
    return min(queries, 50 if passages <= 500_000 else 20)


def scores_agree(a: list[list[float]], b: list[list[float]], scale_b: float = 1.0) -> dict[str, Any]:
    """Share of questions whose top-10 score lists agree (relative 1e-4: bm25s is float32)."""
    n = min(len(a), len(b))
    same = 0
    for x, y in zip(a[:n], b[:n]):
        y = [v * scale_b for v in y]
        if len(x) == len(y) and all(abs(p - q) <= 1e-4 * max(abs(p), 1e-9) for p, q in zip(x, y)):
            same += 1
    return {"questions": n, "same_top10_scores": same}


def predict(prev: dict[str, Any] | None, passages: int) -> dict[str, float] | None:
    """Linear extrapolation of a peer's memory and time from the previous (smaller) scale."""
    if not prev or "skipped" in prev or not prev.get("passages"):
        return None
    f = passages / prev["passages"]
    return {"rss_mb": prev["peak_rss_mb"] * f, "build_s": prev["build_s"] * f,
            "query_s": prev["search"]["p50_ms"] / 1000 * f}


def run_scale(label: str, args, engines: list[str], history: dict[str, dict], log) -> dict[str, Any]:
    import psutil

    work: Path = args.work
    target = parse_scale(label)
    folder = work / f"corpus-{label}"
    started = time.perf_counter()
    info = build_corpus(args.articles, folder, target)
    remove_drops(folder)
    log(f"[{label}] corpus {info.passages:,} passages in {info.files:,} files "
        f"({time.perf_counter() - started:.0f} s)")
    qfile = work / f"questions-{label}-{args.queries}-{args.seed}.json"
    if qfile.exists():
        questions, warmup = json.loads(qfile.read_text())
    else:
        questions = sample_questions(folder, args.queries, seed=args.seed)
        warmup = sample_questions(folder, WARMUP, seed=args.seed + 1000)
        qfile.write_text(json.dumps([questions, warmup]))
    result: dict[str, Any] = {"corpus": info.__dict__, "questions": len(questions), "engines": {}}
    engines_out = result["engines"]
    timeout = args.timeout

    if "citebot" in engines:
        cache_dir = work / f"cache-{label}"
        job = {"folder": str(folder), "cache_dir": str(cache_dir)}
        prof = (lambda kind: args.profile / f"{kind}-{label}.pstats") if args.profile else (lambda kind: None)
        cold = run_worker("citebot-cold", job, work, timeout, prof("citebot-cold"))
        log(f"[{label}] citebot cold build: {cold.get('build_s', cold.get('skipped'))}")
        if "skipped" in cold:
            engines_out["citebot"] = cold
        else:
            warm = run_worker("citebot-warm", {**job, "questions": questions, "warmup": warmup,
                                               "drops": args.drops, "semantic": args.semantic},
                              work, timeout, prof("citebot-warm"))
            if "skipped" in warm:
                engines_out["citebot"] = {**cold, "skipped": warm["skipped"]}
            else:
                engines_out["citebot"] = {
                    **{k: v for k, v in cold.items() if k != "peak_rss_mb"},
                    "peak_rss_build_mb": cold["peak_rss_mb"], **warm,
                    "peak_rss_serving_mb": warm["peak_rss_serving_mb"],
                    "peak_rss_mb": max(cold["peak_rss_mb"], warm["peak_rss_mb"]),
                }
            log(f"[{label}] citebot warm open {warm.get('open_s')} s, search p50 "
                f"{warm.get('search', {}).get('p50_ms')} ms")
        shutil.rmtree(cache_dir, ignore_errors=True)

    peers = [e for e in engines if e != "citebot"]
    if peers:
        tokens_dir = work / f"tokens-{label}"
        prep = run_worker("prep", {"folder": str(folder), "tokens_dir": str(tokens_dir)}, work, timeout)
        if "skipped" in prep:
            for peer in peers:
                engines_out[peer] = {"skipped": f"tokenising for peers failed: {prep['skipped']}"}
            peers = []
        else:
            log(f"[{label}] peers' tokens: {prep['passages']:,} passages, {prep['tokens']:,} tokens")
    for peer in peers:
        n = peer_queries(args.peer_queries, info.passages, len(questions)) if peer == "rank-bm25" else len(questions)
        guess = predict(history.get(peer), info.passages)
        available = psutil.virtual_memory().available / MB
        if guess and guess["rss_mb"] > 0.8 * available:
            engines_out[peer] = {"skipped": f"needs about {guess['rss_mb']:,.0f} MB (extrapolated), "
                                            f"{available:,.0f} MB available"}
            continue
        if guess and guess["build_s"] + n * guess["query_s"] > args.peer_max_s:
            engines_out[peer] = {"skipped": f"would take about {guess['build_s'] + n * guess['query_s']:,.0f} s "
                                            f"(extrapolated), over --peer-max-s {args.peer_max_s:.0f}"}
            continue
        job = {"tokens_dir": str(tokens_dir), "questions": questions[:n], "warmup": warmup,
               "budget_s": args.peer_max_s / 2}
        out = run_worker(peer, job, work, timeout)
        engines_out[peer] = out
        if "skipped" not in out:
            history[peer] = out
        log(f"[{label}] {peer}: build {out.get('build_s')} s, p50 {out.get('search', {}).get('p50_ms')} ms"
            if "skipped" not in out else f"[{label}] {peer}: skipped ({out['skipped']})")

    # Same work? Same passages and mean length everywhere; bm25s's top-10 scores equal citebot's
    # (citebot keeps rank-bm25's (k1 + 1) factor, bm25s's lucene tf drops it).
    cite = engines_out.get("citebot", {})
    checks: dict[str, Any] = {}
    for peer in ("rank-bm25", "bm25s"):
        other = engines_out.get(peer, {})
        if "skipped" in other or "skipped" in cite or not other or not cite:
            continue
        checks[peer] = {"same_passages": other["passages"] == cite["passages"],
                        "same_avgdl": abs(other["avgdl"] - cite["avgdl"]) < 1e-3}
        if peer == "bm25s":
            checks[peer].update(scores_agree(cite["top_scores"], other["top_scores"], 1.5 + 1))
    result["checks"] = checks
    for engine in engines_out.values():
        engine.pop("top_scores", None)
    ratios: dict[str, float] = {}
    c50 = cite.get("search", {}).get("p50_ms")
    for peer in ("rank-bm25", "bm25s"):
        p50 = engines_out.get(peer, {}).get("search", {}).get("p50_ms")
        if c50 and p50:
            ratios[f"{peer}_p50_over_citebot_p50"] = round(p50 / c50, 2)
    if c50 and cite.get("ask"):
        ratios["citebot_ask_over_search_p50"] = round(cite["ask"]["p50_ms"] / c50, 2)
    result["ratios"] = ratios
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


# --- targets and the table -----------------------------------------------------------------------

# (name, scale in passages or None for every scale, value getter, limit, unit); PASS when value <= limit.
# The speed issue's (16) targets; the peer comparisons are issue 5's. The deep-tree drop-in target
# is benchmarks.dropin's, and the two-process memory sharing is measured by hand (README).
TARGETS: list[tuple[str, int | None, Callable[[dict], float | None], float, str]] = [
    ("search p50 <= 0.5 ms", 100_000, lambda s: _get(s, "citebot", "search", "p50_ms"), 0.5, "ms"),
    ("search p50 <= 2 ms", 1_000_000, lambda s: _get(s, "citebot", "search", "p50_ms"), 2, "ms"),
    ("ask p50 <= 1.5x search p50", 100_000, lambda s: s["ratios"].get("citebot_ask_over_search_p50"), 1.5, "x"),
    ("ask p50 <= 1.5x search p50", 1_000_000, lambda s: s["ratios"].get("citebot_ask_over_search_p50"), 1.5, "x"),
    (">= 30x faster than plain rank-bm25 (p50)", 100_000,
     lambda s: _inv(s["ratios"].get("rank-bm25_p50_over_citebot_p50")), 1 / 30, "inv"),
    ("no slower than bm25s (search p50)", 1_000_000,
     lambda s: _inv(s["ratios"].get("bm25s_p50_over_citebot_p50")), 1, "inv"),
    ("warm open <= 1 s", 1_000_000, lambda s: _get(s, "citebot", "open_s"), 1, "s"),
    ("cold build <= 8 s", 100_000, lambda s: _get(s, "citebot", "build_s"), 8, "s"),
    ("cold build <= 60 s", 1_000_000, lambda s: _get(s, "citebot", "build_s"), 60, "s"),
    ("cold-build peak RSS <= 1.5 GB", 1_000_000, lambda s: _get(s, "citebot", "peak_rss_build_mb"), 1500, "MB"),
    ("serving RSS <= 800 MB", 1_000_000, lambda s: _get(s, "citebot", "peak_rss_serving_mb"), 800, "MB"),
    ("dropped file answerable <= 2 s", 100_000, lambda s: _get(s, "citebot", "drop", "to_answer_s"), 2, "s"),
]


def _get(scale: dict, *keys: str) -> float | None:
    node: Any = scale["engines"]
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _inv(ratio: float | None) -> float | None:
    """A speed-up ratio as 1/ratio, so that every target reads 'value <= limit'."""
    return 1 / ratio if ratio else None


def check_targets(scales: dict[str, dict]) -> list[dict[str, Any]]:
    out = []
    for name, at, getter, limit, unit in TARGETS:
        matching = [(label, s) for label, s in scales.items()
                    if at is None or s["corpus"]["target_passages"] == at]
        if not matching:
            scale = {100_000: "100k", 1_000_000: "1m"}.get(at, f"{at:,}") if at else "all"
            out.append({"target": name, "scale": scale, "status": "n/a",
                        "value": None, "shown": "scale not run"})
            continue
        for label, s in matching:
            value = getter(s)
            if value is None:
                status, shown = "n/a", "not measured"
            else:
                status = "PASS" if value <= limit else "FAIL"
                shown = f"{1 / value:.1f}x" if unit == "inv" else f"{value:g} {unit}"
            out.append({"target": name, "scale": label, "status": status,
                        "value": (1 / value if unit == "inv" else value) if value else None,
                        "shown": shown})
    return out


def _f(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"citebot speed - {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, "
        f"load avg at start {m['loadavg_start']}, {report['date']}",
        f"questions per scale: {report['settings']['queries']} (3-8 content words), top {TOP_K}; "
        "latencies one question at a time; peers index the same token lists",
        "",
        f"{'scale':<6}{'passages':>10}  {'engine':<10}{'build s':>8}{'open s':>7}{'peak RSS MB':>13}"
        f"{'search p50/p95 ms':>19}{'ask p50/p95 ms':>16}{'drop s':>8}{'queries':>8}",
    ]
    for label, s in report["scales"].items():
        first = True
        for engine, e in s["engines"].items():
            head = f"{label:<6}{s['corpus']['passages']:>10,}" if first else " " * 16
            first = False
            if "skipped" in e:
                lines.append(f"{head}  {engine:<10}skipped: {e['skipped']}")
                continue
            if engine == "citebot":
                rss = f"{e['peak_rss_build_mb']:.0f}/{e['peak_rss_serving_mb']:.0f}"
                ask = f"{_f(e['ask']['p50_ms'])}/{_f(e['ask']['p95_ms'])}"
                drop, open_s = _f(e["drop"]["to_answer_s"]), _f(e["open_s"])
            else:
                rss, ask, drop, open_s = f"{e['peak_rss_mb']:.0f}", "-", "-", "-"
            search = f"{_f(e['search']['p50_ms'])}/{_f(e['search']['p95_ms'])}"
            lines.append(f"{head}  {engine:<10}{e['build_s']:>8.2f}{open_s:>7}{rss:>13}{search:>19}"
                         f"{ask:>16}{drop:>8}{e['search']['n']:>8}")
        r = s["ratios"]
        bits = []
        for peer in ("rank-bm25", "bm25s"):
            if f"{peer}_p50_over_citebot_p50" in r:
                bits.append(f"{peer} p50 / citebot p50 = {r[f'{peer}_p50_over_citebot_p50']:.2f}x")
        if "citebot_ask_over_search_p50" in r:
            bits.append(f"citebot ask p50 / search p50 = {r['citebot_ask_over_search_p50']:.2f}x")
        semantic = s["engines"].get("citebot", {}).get("ask_semantic")
        if semantic:
            bits.append(f"ask with the semantic check p50/p95 {_f(semantic['p50_ms'])}/{_f(semantic['p95_ms'])} ms, "
                        f"RSS {s['engines']['citebot']['rss_semantic_mb']:.0f} MB")
        if bits:
            lines.append(" " * 18 + "; ".join(bits))
        for peer, c in s.get("checks", {}).items():
            text = f"same passages {c['same_passages']}, same avg length {c['same_avgdl']}"
            if "same_top10_scores" in c:
                text += f", top-10 scores equal on {c['same_top10_scores']}/{c['questions']} questions"
            lines.append(" " * 18 + f"check {peer}: {text}")
    lines += ["", "citebot RSS is build/serving (cold-build process / cache-open + questions + refreshes);",
              "drop s = write a new article -> refresh() -> ask cites it (median).", "", "targets:"]
    for t in report["targets"]:
        lines.append(f"  {t['status']:<5} {t['target']:<42} at {t['scale']:<6} {t['shown']}")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import psutil

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                                    text=True, timeout=30).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {
        "cpus": os.cpu_count(), "platform": platform.platform(), "machine": platform.machine(),
        "processor": platform.processor() or None, "python": platform.python_version(),
        "memory_mb": round(psutil.virtual_memory().total / MB),
        "loadavg_start": [round(v, 2) for v in os.getloadavg()],
        "versions": {p: version(p) for p in ("numpy", "rank-bm25", "bm25s", "PyStemmer", "psutil")},
        "git_commit": commit, "git_dirty": dirty,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=Path, default=BBC, help="source articles folder")
    parser.add_argument("--scales", default="10k,100k,1m", help="comma-separated: 10k,100k,1m,2500")
    parser.add_argument("--queries", type=int, default=200, help="questions per scale")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="corpora, caches, token lists")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--peer-queries", default="auto",
                        help="questions for plain rank-bm25: a number, or auto (all up to 100k "
                             "passages, 50 up to 500k, 20 above)")
    parser.add_argument("--peer-max-s", type=float, default=900.0,
                        help="skip a peer whose extrapolated build + queries exceed this")
    parser.add_argument("--drops", type=int, default=5, help="drop-to-answerable repeats")
    parser.add_argument("--semantic", action="store_true",
                        help="also time citebot's ask with the semantic check on (needs citebot[semantic])")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=2400.0, help="seconds per worker process")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write cProfile stats of citebot's workers to this folder")
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    parser.add_argument("--_job", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_profile", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._worker:
        return worker_main(args._worker, args._job, args._profile)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {', '.join(ENGINES)}")
    labels = [s.strip().lower() for s in args.scales.split(",") if s.strip()]
    for label in labels:
        parse_scale(label)
    args.work.mkdir(parents=True, exist_ok=True)
    args.articles = args.articles.resolve()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.speed", *(argv or sys.argv[1:])]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"queries": args.queries, "top_k": TOP_K, "warmup": WARMUP, "engines": engines,
                     "peer_queries": args.peer_queries, "peer_max_s": args.peer_max_s,
                     "drops": args.drops, "seed": args.seed, "articles": str(args.articles),
                     "work": str(args.work)},
        "scales": {},
    }
    history: dict[str, dict] = {}
    started = time.perf_counter()
    for label in sorted(labels, key=parse_scale):
        report["scales"][label] = run_scale(label, args, engines, history, log)
    report["targets"] = check_targets(report["scales"])
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["machine"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    print(render(report))
    print(f"\nwrote {args.json} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
