"""The facade front ends use: open a folder, keep it in sync with its files, ask(), search().

Reads never wait for writes: a refresh builds a new Snapshot beside the current one and swaps the
reference in one assignment, so every question is answered from a complete index.
"""
from __future__ import annotations

import logging
import statistics
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from retrieval import cache
from retrieval.analyzer import tokenize
from retrieval.answer import CANDIDATE_PASSAGES, Weights, choose_answer
from retrieval.corpus import Doc, Snapshot, Vocabulary, build_snapshot, content_hash, make_doc
from retrieval.index import BM25Params
from retrieval.loader import DEFAULT_MAX_BYTES, SkipFile, parse_article, read_bytes, scan
from retrieval.models import Answer, Hit, IndexStats, Skipped

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
Progress = Callable[[str, int, int], None]


class QuestionError(ValueError):
    """A question we refuse politely (empty, too long, no words); the message is user-facing."""


class FolderError(ValueError):
    """The articles folder is missing or not a folder; the message is user-facing."""


@dataclass(frozen=True)
class RefreshResult:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    pending: tuple[str, ...] = ()  # files still being written: refresh again shortly

    @property
    def any_change(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def clean_question(question: str, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """Trim and check a question; raises QuestionError with a short reason."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in question).split())
    if not text:
        raise QuestionError("Please ask a question, e.g. “Where might the second summit be held?”")
    if len(text) > max_chars:
        raise QuestionError(f"That question is too long ({len(text):,} characters; the limit is {max_chars:,}).")
    return text


class Library:
    """A folder of articles, indexed, answerable. Thread-safe: many readers, one refresher."""

    def __init__(
        self,
        folder: Path | str,
        *,
        cache_dir: Path | str | None = None,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        max_question_chars: int = MAX_QUESTION_CHARS,
        params: BM25Params = BM25Params(),
        weights: Weights = Weights(),
        create: bool = False,
        follow_outside_links: bool = False,
    ) -> None:
        self.folder = Path(folder).expanduser()
        if create:
            self.folder.mkdir(parents=True, exist_ok=True)
        if not self.folder.is_dir():
            what = "does not exist" if not self.folder.exists() else "is not a folder"
            raise FolderError(f"articles folder {self.folder} {what}")
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        if self.cache_dir is not None and cache.is_inside(self.cache_dir, self.folder):
            log.warning(
                "cache folder %s is inside the articles folder %s; not caching (choose another cache_dir)",
                self.cache_dir, self.folder,
            )
            self.cache_dir = None
        self.max_file_bytes = max_file_bytes
        self.follow_outside_links = follow_outside_links  # read links that leave the folder
        self.max_question_chars = max_question_chars
        self.params = params
        self.weights = weights
        self._vocab = Vocabulary()
        self._refresh_lock = threading.Lock()
        self._skip_memo: dict[str, tuple[int, int, str]] = {}
        self._cache_warned = False
        self.last_refresh_ms = 0.0
        self.loaded_from_cache = False
        self._snapshot = build_snapshot([], self._vocab, params)

    # --- opening and refreshing -------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path | str, *, progress: Progress | None = None, **kwargs) -> "Library":
        """Open ``folder``: load the cache if it matches, then re-read only what changed."""
        library = cls(folder, **kwargs)
        library._load_cache()
        library.refresh(progress=progress)
        return library

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _cache_target(self) -> Path | None:
        return cache.cache_folder(self.cache_dir, self.folder) if self.cache_dir else None

    def _load_cache(self) -> None:
        target = self._cache_target()
        if target is None:
            return
        try:
            loaded = cache.load(target, self.folder, self.params)
        except cache.CacheError as exc:
            if str(exc) != "no cache yet":
                log.warning("index cache at %s not used (%s); rebuilding", target, exc)
            return
        except OSError as exc:
            log.warning("index cache at %s unreadable (%s); rebuilding", target, exc)
            return
        self._vocab = loaded.vocab
        self._snapshot = build_snapshot(
            loaded.docs, loaded.vocab, self.params, loaded.skipped, time.time(), loaded.postings
        )
        self.loaded_from_cache = True

    def refresh(self, *, settle_seconds: float = 0.0, progress: Progress | None = None) -> RefreshResult:
        """Re-scan the folder; re-read only files whose size, mtime and then hash changed.

        Files modified less than ``settle_seconds`` ago are left for a later refresh (they may
        still be being written); their previous version, if any, stays answerable.
        """
        with self._refresh_lock:
            started = time.perf_counter()
            result = self._refresh(settle_seconds, progress)
            self.last_refresh_ms = (time.perf_counter() - started) * 1000
            return result

    def _refresh(self, settle_seconds: float, progress: Progress | None) -> RefreshResult:
        if not self.folder.is_dir():
            log.warning("articles folder %s is missing; serving no articles", self.folder)
            files, problems = {}, [Skipped(".", "articles folder is missing")]
        else:
            files, problems = scan(self.folder, follow_outside_links=self.follow_outside_links)
        current = {d.path: d for d in self._snapshot.docs}
        now_ns = time.time_ns()
        docs: list[Doc] = []
        added, changed, pending = [], [], []
        skipped: list[Skipped] = list(problems)
        touched = False
        memo: dict[str, tuple[int, int, str]] = {}
        for done, (path, info) in enumerate(files.items(), start=1):
            if progress and (done % 200 == 0 or done == len(files)):
                progress("read", done, len(files))
            old = current.get(path)
            if old is not None and old.size == info.size and old.mtime_ns == info.mtime_ns:
                docs.append(old)
                continue
            # An mtime more than a minute ahead (clock skew, unpacked archives) says nothing about
            # a write in progress; without this bound such a file would stay pending until then.
            if settle_seconds and -60e9 < now_ns - info.mtime_ns < settle_seconds * 1e9:
                pending.append(path)
                if old is not None:
                    docs.append(old)
                continue
            remembered = self._skip_memo.get(path)
            if remembered and remembered[:2] == (info.size, info.mtime_ns):
                memo[path] = remembered
                skipped.append(Skipped(path, remembered[2]))
                continue
            try:
                data = read_bytes(self.folder, path, self.max_file_bytes,
                                  follow_outside_links=self.follow_outside_links)
                digest = content_hash(data)
                if old is not None and old.sha256 == digest:
                    old.size, old.mtime_ns = len(data), info.mtime_ns
                    touched = True  # same text, new mtime: only the cache's manifest is stale
                    docs.append(old)
                    continue
                article = parse_article(path, data)
            except SkipFile as exc:
                log.warning("skipped %s: %s", path, exc)
                skipped.append(Skipped(path, str(exc)))
                memo[path] = (info.size, info.mtime_ns, str(exc))
                continue
            docs.append(make_doc(article, len(data), info.mtime_ns, digest, self._vocab))
            (changed if old is not None else added).append(path)
        self._skip_memo = memo
        kept = {d.path for d in docs}
        removed = tuple(sorted(p for p in current if p not in kept))
        result = RefreshResult(tuple(added), tuple(changed), removed, tuple(skipped), tuple(pending))
        skip_changed = tuple(skipped) != self._snapshot.skipped
        if result.any_change or skip_changed or not self._snapshot.refreshed_at:
            if progress:
                progress("index", len(docs), len(docs))
            self._snapshot = build_snapshot(docs, self._vocab, self.params, skipped, time.time())
            if result.any_change or skip_changed or not self.loaded_from_cache:
                self._save_cache()
        elif touched:
            self._save_cache()
        return result

    def _save_cache(self) -> None:
        target = self._cache_target()
        if target is None:
            return
        snap = self._snapshot
        index = snap.index
        try:
            cache.save(
                target, self.folder, snap.docs, self._vocab, self.params,
                (index.term_offsets, index.post_docs, index.post_tfs), snap.skipped,
            )
        except OSError as exc:
            # Read-only or full disk: keep serving from memory, say so once.
            if not self._cache_warned:
                log.warning("cannot write index cache to %s (%s); serving from memory", target, exc.strerror or exc)
                self._cache_warned = True

    # --- questions ----------------------------------------------------------------------------

    def search(self, query: str, top_k: int = 5) -> list[Hit]:
        """Passages ranked by BM25 score, best first."""
        snap = self._snapshot
        ids = snap.vocab.lookup(tokenize(query))
        return [Hit(snap.passage(pid), score) for pid, score in snap.index.top(ids, top_k)]

    def ask(self, question: str, top_k: int = 5) -> Answer:
        """The answering sentence(s) with citations, or found=False with the closest passages."""
        started = time.perf_counter()
        question = clean_question(question, self.max_question_chars)
        snap = self._snapshot
        terms = tokenize(question)
        ids = snap.vocab.lookup(terms)
        ranked = snap.index.top(ids, max(top_k, CANDIDATE_PASSAGES))
        hits = [Hit(snap.passage(pid), score) for pid, score in ranked]
        answer = choose_answer(
            question, hits, self._idf_lookup(snap, terms, ids), self.weights,
            neighbours=lambda hit: self._next_passage(snap, hit),
        )
        took = (time.perf_counter() - started) * 1000
        return Answer(answer.question, answer.found, answer.text, answer.citations,
                      answer.see_also[:top_k], round(took, 2))

    @staticmethod
    def _next_passage(snap: Snapshot, hit: Hit) -> Hit | None:
        """The passage after ``hit`` in the same article, if any (score 0: the caller sets it)."""
        following = hit.passage.id + 1
        if following >= snap.n_passages or snap.passage_doc[following] != snap.passage_doc[hit.passage.id]:
            return None
        return Hit(snap.passage(following), 0.0)

    @staticmethod
    def _idf_lookup(snap: Snapshot, terms: list[str], ids: list[int]) -> Callable[[str], float]:
        """idf per question term. A term no passage holds gets the median weight of the
        question's known terms: corpus statistics cannot say whether an unseen word is rare
        English or merely absent here (names and numbers are checked separately)."""
        known = {t: snap.index.term_idf(i) for t, i in zip(terms, ids) if i >= 0}
        known = {t: v for t, v in known.items() if v > 0}
        unseen = statistics.median(known.values()) if known else 1.0
        return lambda term: known.get(term, unseen)

    def stats(self) -> IndexStats:
        snap = self._snapshot
        return IndexStats(
            articles=len(snap.docs), passages=snap.n_passages, skipped=snap.skipped,
            refreshed_at=snap.refreshed_at, took_ms=round(self.last_refresh_ms, 1),
            from_cache=self.loaded_from_cache, folder=self.folder,
        )

    def article_info(self, path: str) -> tuple[str, int] | None:
        """(title, passage count) of the indexed article at ``path``, or None if not indexed."""
        for doc in self._snapshot.docs:
            if doc.path == path:
                return doc.title, int(len(doc.spans))
        return None

    def titles(self) -> list[str]:
        return [d.title for d in self._snapshot.docs]


def iter_changed(result: RefreshResult) -> Iterable[str]:
    yield from result.added
    yield from result.changed
    yield from result.removed


__all__ = ["Library", "QuestionError", "FolderError", "RefreshResult", "clean_question", "os"]
