"""The facade front ends use: open a folder, keep it in sync with its files, ask(), search().

Reads never wait for writes: a refresh builds a new Snapshot beside the current one and swaps the
reference in one assignment, so every question is answered from a complete index.
"""
from __future__ import annotations

import bisect
import dataclasses
import logging
import os
import stat as stat_module
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from citebot.retrieval import cache
from citebot.retrieval.analyzer import tokenize
from citebot.retrieval.answer import candidate_pool, choose_answer
from citebot.retrieval.candidates import CANDIDATE_PASSAGES, Pool
from citebot.retrieval.match import forget_texts
from citebot.retrieval.ranker import AnswerModel, default_model
from citebot.retrieval.semantic import Similarity
from citebot.retrieval.build import Handle, Indexer, make_doc
from citebot.retrieval.docs import Doc, content_hash
from citebot.retrieval.snapshot import Snapshot, build_snapshot
from citebot.retrieval.errors import UserError
from citebot.retrieval.index import BM25Params
from citebot.retrieval.loader import (DEFAULT_MAX_BYTES, FileInfo, SkipFile, file_of, has_article_suffix, is_ignored_name,
                              is_valid_utf8, parse_articles, read_bytes, scan, unsupported_reason)
from citebot.retrieval.models import Answer, Hit, IndexStats, Skipped
from citebot.retrieval.sources import with_sources

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 500
Progress = Callable[[str, int, int], None]
Stamp = tuple[int, int, int, int]  # FileInfo.stamp: size, mtime_ns, ctime_ns, inode


class QuestionError(UserError, ValueError):
    """A question we refuse politely (empty, too long, no words); the message is user-facing."""


class FolderError(UserError, ValueError):
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


class CleanQuestion(str):
    """A question ``clean_question`` has already trimmed and checked against ``limit`` characters.

    A front end that checks a question itself (the Discord cog, to word its own cap) passes this
    value on, and ``Library.ask`` takes it as it is instead of cleaning it a second time, as long
    as ``limit`` is within the library's own cap. A plain ``str`` is always cleaned and checked.
    """

    limit: int

    def __new__(cls, text: str, limit: int) -> "CleanQuestion":
        made = super().__new__(cls, text)
        made.limit = limit
        return made


def clean_question(question: str, max_chars: int = MAX_QUESTION_CHARS) -> CleanQuestion:
    """Trim and check a question; raises QuestionError with a short reason."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in question).split())
    if not text:
        raise QuestionError("Please ask a question, e.g. “Where might the second summit be held?”")
    if len(text) > max_chars:
        raise QuestionError(f"That question is too long ({len(text):,} characters; the limit is {max_chars:,}).")
    return CleanQuestion(text, max_chars)


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
        model: AnswerModel | None = None,
        similarity: Similarity | None = None,
        create: bool = False,
        follow_outside_links: bool = False,
        tokenize_workers: int | None = None,
    ) -> None:
        self.folder = Path(folder).expanduser()
        self.tokenize_workers = tokenize_workers  # worker processes for a bulk load (None: default)
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
        self.model = model or default_model()  # checked now: a broken install fails at open
        self.similarity = similarity  # the semantic check (retrieval.semantic), when on
        # The refresher's: it alone adds terms to the vocabulary.
        self._indexer = Indexer(workers=tokenize_workers, spool_dir=self.cache_dir)
        self._refresh_lock = threading.Lock()
        self._skip_memo: dict[str, tuple[Stamp, str]] = {}
        # The scan stamp of each indexed file as it was when read (owned by the refresher):
        # a file whose stamp is unchanged is not read again.
        self._stamps: dict[str, Stamp] = {}
        # Files left pending: the stamp a scan first saw and when (monotonic ns), to tell a file
        # still being written from one that merely carries a recent or future mtime.
        self._unsettled: dict[str, tuple[Stamp, int]] = {}
        self._cache_warned = False
        # What the cache on disk holds (base + deltas), so a change appends only what differs.
        self._saved: _Saved | None = None
        self.last_refresh_ms = 0.0
        self.loaded_from_cache = False
        self._snapshot = build_snapshot([], self._indexer.vocab, params)

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
        cache.remove_leftovers(target)  # of saves killed mid-write (SIGKILL, power loss)
        try:
            loaded = Snapshot.load(target, self.folder, self.params)
        except cache.NoCache:
            return  # the first open: nothing to warn about
        except cache.CacheError as exc:
            log.warning("index cache at %s not used (%s); rebuilding", target, exc)
            return
        except OSError as exc:
            log.warning("index cache at %s unreadable (%s); rebuilding", target, exc)
            return
        snapshot = loaded.snapshot
        self._indexer = Indexer(snapshot.vocab.vocabulary, workers=self.tokenize_workers, spool_dir=self.cache_dir)
        self._stamps = dict(loaded.stamps)
        self._snapshot = snapshot
        self.loaded_from_cache = True
        if loaded.base is not None:
            self._saved = _Saved(snapshot, dict(loaded.stamps), loaded.base, loaded.deltas, loaded.delta_bytes)

    def refresh(self, *, settle_seconds: float = 0.0, progress: Progress | None = None,
                paths: Iterable[str] | None = None) -> RefreshResult:
        """Re-scan the folder; re-read only files whose stamp (size, mtime, ctime, inode)
        changed, and re-index those whose hash changed too.

        ``paths`` (relative to the folder, as a watcher reports them) limits the scan to those
        files: on a deep tree a full stat scan costs seconds, one file's microseconds. A path
        only a full walk can judge (a folder, a link, an odd name, a folder that vanished with
        indexed files in it) makes it a full scan; so does ``paths=None``.

        Files that may still be being written are left for a later refresh (``pending``): those
        modified less than ``settle_seconds`` ago, unless scans have seen them unchanged for
        that long (an mtime in the future says nothing about writing); their previous version,
        if any, stays answerable.
        """
        with self._refresh_lock:
            started = time.perf_counter()
            scoped = self._scoped_scan(paths) if paths is not None and self.folder.is_dir() else None
            if scoped is not None:
                result = self._refresh_paths(*scoped, settle_seconds)
            else:
                result = self._refresh(settle_seconds, progress)
            self.last_refresh_ms = (time.perf_counter() - started) * 1000
            return result

    def _refresh(self, settle_seconds: float, progress: Progress | None) -> RefreshResult:
        if not self.folder.is_dir():
            log.warning("articles folder %s is missing; serving no articles", self.folder)
            files, problems = {}, [Skipped(".", "articles folder is missing")]
        else:
            files, problems = scan(self.folder, follow_outside_links=self.follow_outside_links)
        current: dict[str, list[Doc]] = {}  # file -> its articles (a feed has one per entry)
        for d in self._snapshot.docs:
            current.setdefault(file_of(d.path), []).append(d)
        plan = _Plan(skipped=list(problems))
        clock = (time.time_ns(), time.monotonic_ns(), int(settle_seconds * 1e9))
        for done, (path, info) in enumerate(files.items(), start=1):
            if progress and (done % 200 == 0 or done == len(files)):
                progress("read", done, len(files))
            self._take(plan, path, info, current.get(path), clock)
        self._skip_memo = plan.memo
        self._unsettled = plan.unsettled
        kept = {d.path for d in plan.docs}
        removed = tuple(sorted(d.path for old in current.values() for d in old if d.path not in kept))
        result = RefreshResult(tuple(plan.added), tuple(plan.changed), removed, tuple(plan.skipped),
                               tuple(plan.pending))
        self._publish(plan, result, progress)
        return result

    def _scoped_scan(self, paths: Iterable[str]) -> tuple[dict[str, FileInfo], list[Skipped], set[str]] | None:
        """What a full scan would report for just ``paths``: (files found, problems, every path
        looked at), or None when only a full scan can tell (see :meth:`refresh`)."""
        found: dict[str, FileInfo] = {}
        problems: list[Skipped] = []
        covered: set[str] = set()
        root = os.path.realpath(self.folder)
        docs = self._snapshot.docs
        for relative in paths:
            parts = relative.split("/")
            if not relative or os.path.isabs(relative) or any(p in ("", ".", "..") for p in parts):
                return None
            if any(is_ignored_name(p) for p in parts):
                continue  # the walk never looks there
            if not is_valid_utf8(relative) or "\n" in relative or "\r" in relative:
                return None
            full = os.path.join(self.folder, relative)
            # Every folder on the way must be a plain folder inside: a link is the walk's to judge.
            if os.path.realpath(os.path.dirname(full)) != os.path.join(root, *parts[:-1]):
                return None
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                under = relative + "/"
                i = bisect.bisect_left(docs, under, key=lambda d: d.path)
                if (i < len(docs) and docs[i].path.startswith(under)) or any(
                        s.path.startswith(under) for s in self._snapshot.skipped):
                    return None  # a folder went, with what it held
                covered.add(relative)
                continue
            except OSError:
                return None
            if stat_module.S_ISDIR(st.st_mode) or stat_module.S_ISLNK(st.st_mode):
                return None
            covered.add(relative)
            name = parts[-1]
            if not has_article_suffix(name):
                problems.append(Skipped(relative, unsupported_reason(name)))
            elif not stat_module.S_ISREG(st.st_mode):
                problems.append(Skipped(relative, "not a regular file"))
            else:
                found[relative] = FileInfo(relative, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        return found, problems, covered

    def _refresh_paths(self, files: dict[str, FileInfo], problems: list[Skipped], covered: set[str],
                       settle_seconds: float) -> RefreshResult:
        """A refresh of the ``covered`` files alone: every other file keeps its docs, stamp,
        skip reason and settling state as the last refresh left them."""
        snap = self._snapshot
        docs = snap.docs
        current: dict[str, list[Doc]] = {}
        drop: set[int] = set()
        for path in covered:
            i = bisect.bisect_left(docs, path, key=lambda d: d.path)
            while i < len(docs) and docs[i].path.startswith(path):
                if file_of(docs[i].path) == path:
                    current.setdefault(path, []).append(docs[i])
                    drop.add(i)
                i += 1
        old_paths = {d.path for held in current.values() for d in held}
        plan = _Plan(skipped=[s for s in snap.skipped if s.path not in covered] + problems)
        plan.docs = [d for i, d in enumerate(docs) if i not in drop] if drop else list(docs)
        plan.stamps = {p: s for p, s in self._stamps.items() if p not in old_paths}
        plan.memo = {p: m for p, m in self._skip_memo.items() if p not in covered}
        plan.unsettled = {p: u for p, u in self._unsettled.items() if p not in covered}
        clock = (time.time_ns(), time.monotonic_ns(), int(settle_seconds * 1e9))
        for path, info in sorted(files.items()):
            self._take(plan, path, info, current.get(path), clock)
        self._skip_memo = plan.memo
        self._unsettled = plan.unsettled
        kept = {d.path for d in plan.docs}
        removed = tuple(sorted(p for p in old_paths if p not in kept))
        result = RefreshResult(tuple(plan.added), tuple(plan.changed), removed, tuple(plan.skipped),
                               tuple(plan.pending))
        self._publish(plan, result, None)
        return result

    def _take(self, plan: "_Plan", path: str, info: FileInfo, old: list[Doc] | None,
              clock: tuple[int, int, int]) -> None:
        """Add one scanned file to ``plan``: its docs as they are, re-stamped, re-read, pending
        or skipped. Never changes a doc the current snapshot holds (a re-stamp is a new record)."""
        stamp = info.stamp
        if old is not None and self._stamps.get(old[0].path) == stamp:
            plan.keep(old, stamp)
            return
        if clock[2] and self._settling(path, stamp, *clock, plan.unsettled):
            plan.pending.append(path)
            if old is not None:
                plan.docs.extend(old)
                plan.stamps.update((d.path, self._stamps[d.path]) for d in old if d.path in self._stamps)
            return
        remembered = self._skip_memo.get(path)
        if remembered and remembered[0] == stamp:
            plan.skip(path, remembered)
            return
        try:
            data = read_bytes(self.folder, path, self.max_file_bytes, follow_outside_links=self.follow_outside_links)
            digest = content_hash(data)
            if old is not None and all(d.sha256 == digest for d in old):
                # Same text, new stamp: new records (only the cache's manifest is stale).
                plan.keep([dataclasses.replace(d, size=len(data), mtime_ns=info.mtime_ns) for d in old], stamp)
                plan.touched = True
                return
            articles = parse_articles(path, data)
        except SkipFile as exc:
            log.warning("skipped %s: %s", path, exc)
            plan.skip(path, (stamp, str(exc)))
            return
        for article in articles:
            doc, analysis = make_doc(article, len(data), info.mtime_ns, digest, self._indexer)
            plan.docs.append(doc)
            plan.fresh[doc.path] = analysis
            plan.stamps[doc.path] = stamp
        (plan.changed if old is not None else plan.added).append(path)

    def _publish(self, plan: "_Plan", result: RefreshResult, progress: Progress | None) -> None:
        """Swap in a snapshot of ``plan`` when anything a reader sees changed; save the cache
        when it is stale."""
        previous = self._snapshot
        skip_changed = tuple(plan.skipped) != previous.skipped
        save = plan.touched
        reindex = result.any_change or skip_changed or not previous.refreshed_at
        if reindex or plan.touched:
            if progress and reindex:
                progress("index", len(plan.docs), len(plan.docs))
            self._snapshot = build_snapshot(plan.docs, self._indexer.vocab, self.params, plan.skipped,
                                            time.time(), previous=previous, fresh=plan.fresh)
            if result.changed or result.removed:
                forget_texts()  # the caches must not keep what left the index alive
            save = save or result.any_change or skip_changed or not self.loaded_from_cache
        self._stamps = plan.stamps  # only now: they describe the snapshot being served
        if save:
            self._save_cache()

    def _settling(self, path: str, stamp: Stamp, now_ns: int, mono_ns: int, settle_ns: int,
                  unsettled: dict[str, tuple[Stamp, int]]) -> bool:
        """True while ``path`` may still be being written.

        An mtime ``settle_ns`` in the past settles it. A recent one, or one in the future (clock
        skew, unpacked archives, `touch -d`), cannot: then our own scans decide — the file is
        settled once its stamp has stayed the same for ``settle_ns`` since a scan first saw it,
        so a future-dated file waits one stability window, not until its date comes.
        """
        if now_ns - stamp[1] >= settle_ns:
            return False
        seen = self._unsettled.get(path)
        since = seen[1] if seen is not None and seen[0] == stamp else mono_ns
        unsettled[path] = (stamp, since)
        return mono_ns - since < settle_ns

    def _save_cache(self) -> None:
        """Append what changed since the cache was written (a delta: a few files' worth, not the
        whole cache), or save a new base when there is no base to follow, the deltas have grown
        past a share of it, or another process wrote the cache since."""
        target = self._cache_target()
        if target is None:
            return
        snapshot, stamps = self._snapshot, dict(self._stamps)
        try:
            saved = self._saved
            if saved is not None and saved.deltas < MAX_DELTAS:
                delta = snapshot.delta_since(saved.snapshot, saved.stamps, stamps)
                if delta is not None and saved.delta_bytes + _delta_estimate(delta) <= DELTA_SHARE * saved.base.size:
                    try:
                        size = cache.append(target, self.folder, saved.base.id, saved.deltas + 1, delta)
                    except cache.StaleBase as exc:
                        log.info("index cache at %s changed under us (%s); saving it whole", target, exc)
                    else:
                        self._saved = _Saved(snapshot, stamps, saved.base, saved.deltas + 1, saved.delta_bytes + size)
                        return
            self._saved = None
            base = snapshot.save(target, self.folder, stamps)
            self._saved = _Saved(snapshot, stamps, base, 0, 0)
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

    def ask(self, question: str, top_k: int = 5, *, meaning: str | None = None) -> Answer:
        """The answering sentence(s) with citations, or found=False with the closest passages.

        ``question`` is cleaned and checked against ``max_question_chars`` unless it is a
        ``CleanQuestion`` already checked against a cap no higher (then it is taken as it is).
        ``meaning``: what the semantic check compares with the chosen sentence when it is not
        ``question`` itself (a follow-up searches with repeated and carried words; its meaning is
        the user's words and the carried ones, as in the questions the check was trained on).
        """
        started = time.perf_counter()
        if not (isinstance(question, CleanQuestion) and question.limit <= self.max_question_chars):
            question = clean_question(question, self.max_question_chars)
        snap, hits, idf = self._retrieve(question, top_k)
        similarity = self.similarity
        if similarity is not None and meaning is not None:
            similarity = _compared_with(meaning, similarity)
        answer = choose_answer(question, hits, idf, _InSnapshot(snap), self.model, similarity)
        # Dates and sources from the snapshot the quotes came from, not a newer one.
        answer = with_sources(answer, snap)
        took = (time.perf_counter() - started) * 1000
        return Answer(answer.question, answer.found, answer.text, answer.citations,
                      answer.see_also[:top_k], round(took, 2))

    def candidate_pool(self, question: str) -> Pool | None:
        """The candidate sentences ``ask`` ranks, with their features (for training the model)."""
        question = clean_question(question, self.max_question_chars)
        snap, hits, idf = self._retrieve(question, CANDIDATE_PASSAGES)
        return candidate_pool(question, hits, idf, _InSnapshot(snap))

    def _retrieve(self, question: str, top_k: int) -> tuple[Snapshot, list[Hit], Callable[[str], float]]:
        snap = self._snapshot
        terms = tokenize(question)
        ids = snap.vocab.lookup(terms)
        ranked = snap.index.top(ids, max(top_k, CANDIDATE_PASSAGES))
        hits = [Hit(snap.passage(pid), score) for pid, score in ranked]
        return snap, hits, self._idf_lookup(snap, terms, ids)

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
        """(title, passage count) of the indexed article at ``path``, or None if not indexed.
        For a feed file: its first entry's title and the passages of all its entries."""
        snap = self._snapshot  # read once: a refresh may publish a new one meanwhile
        found = [i for i, doc in enumerate(snap.docs) if doc.path == path or file_of(doc.path) == path]
        if not found:
            return None
        return snap.docs[found[0]].title, sum(len(snap.doc_passages(i)) for i in found)

    def titles(self) -> list[str]:
        return [d.title for d in self._snapshot.docs]


def _compared_with(meaning: str, similarity: Similarity) -> Similarity:
    """``similarity`` comparing ``meaning``, not the search text, with the sentence."""
    def compare(_searched: str, sentence: str) -> float | None:
        return similarity(meaning, sentence)
    return compare


class _InSnapshot:
    """A hit's surroundings read from the snapshot it came from: the next paragraph, and the
    article's terms from the index (no re-tokenising), remembered for one question."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self._terms: dict[int, _ArticleTerms] = {}

    def following(self, hit: Hit) -> Hit | None:
        snap, following = self.snap, hit.passage.id + 1
        if following >= snap.n_passages or snap.passage_doc[following] != snap.passage_doc[hit.passage.id]:
            return None
        return Hit(snap.passage(following), 0.0)

    def article_terms(self, hit: Hit) -> "_ArticleTerms":
        snap = self.snap
        doc = int(snap.passage_doc[hit.passage.id])
        if doc not in self._terms:
            lo, hi = np.searchsorted(snap.passage_doc, [doc, doc + 1])  # a doc's passages are contiguous
            self._terms[doc] = _ArticleTerms(snap, snap.terms[snap.offsets[lo] : snap.offsets[hi]])
        return self._terms[doc]


class _ArticleTerms:
    """``term in`` an article, answered by the term's id in the article's term ids: only the
    question's few names and numbers are asked about, so spelling out every term of the
    article as a set of strings (a tenth of ask()'s time) is not needed."""

    __slots__ = ("_snap", "_ids", "_known")

    def __init__(self, snap: Snapshot, ids: np.ndarray) -> None:
        self._snap, self._ids = snap, ids  # a view of the snapshot's array, not a copy
        self._known: dict[str, bool] = {}

    def __contains__(self, term: object) -> bool:
        if not isinstance(term, str):
            return False
        if term not in self._known:
            (i,) = self._snap.vocab.lookup([term])
            self._known[term] = i >= 0 and bool((self._ids == i).any())
        return self._known[term]


# A cache takes deltas until they number MAX_DELTAS or weigh DELTA_SHARE of its base; then the
# next change saves a new base (each delta costs a little on every open: it is merged then).
MAX_DELTAS = 64
DELTA_SHARE = 0.25


@dataclass(frozen=True)
class _Saved:
    """The state the cache on disk holds: a base and ``deltas`` appended since (together
    ``delta_bytes``), the snapshot and stamps they add up to."""

    snapshot: Snapshot
    stamps: dict[str, Stamp]
    base: cache.Base
    deltas: int
    delta_bytes: int


def _delta_estimate(delta: cache.Delta) -> int:
    """A delta's size on disk, near enough to decide between a delta and a new base."""
    return (sum(len(t) for t in delta.texts) + delta.spans.nbytes + delta.terms.nbytes
            + delta.term_lengths.nbytes + 200 * (len(delta.rows) + len(delta.removed)))


@dataclass
class _Plan:
    """What one refresh has gathered so far: the docs of the next snapshot (``fresh`` holds the
    analyses of those read this time), their stamps, and what changed. Private to a refresh."""

    docs: list[Doc] = field(default_factory=list)
    fresh: dict[str, Handle] = field(default_factory=dict)
    stamps: dict[str, Stamp] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    memo: dict[str, tuple[Stamp, str]] = field(default_factory=dict)
    unsettled: dict[str, tuple[Stamp, int]] = field(default_factory=dict)
    touched: bool = False

    def keep(self, docs: list[Doc], stamp: Stamp) -> None:
        self.docs.extend(docs)
        self.stamps.update((d.path, stamp) for d in docs)

    def skip(self, path: str, memo: tuple[Stamp, str]) -> None:
        self.skipped.append(Skipped(path, memo[1]))
        self.memo[path] = memo


__all__ = ["CleanQuestion", "Library", "QuestionError", "FolderError", "RefreshResult", "clean_question"]
