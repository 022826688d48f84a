"""Articles -> passages and term ids, in this process or, for a bulk load, in worker processes.

A bulk load (many files before the next snapshot: a first start, a large copy into the folder)
tokenises in worker processes, one per core, while the caller goes on reading files. Term ids
come out as a sequential build assigns them, so the index is the same either way.

What comes out is an :class:`Analysis` per article (its passages' spans and term ids), handed to
:func:`retrieval.snapshot.build_snapshot` beside the article's :class:`~retrieval.docs.Doc`; the
doc itself never holds arrays.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from citebot.retrieval.analyzer import tokenize
from citebot.retrieval.docs import Doc, LazyText, Text, doc_of
from citebot.retrieval.models import Article
from citebot.retrieval.passages import passage_spans
from citebot.retrieval.vocabulary import Vocabulary

log = logging.getLogger(__name__)

# Files tokenised in-process before a bulk load moves to worker processes, and files per task.
BULK_AFTER = 48
BATCH_FILES = 48
# An article's title terms ride along with its first TITLE_FREE passages, and with each later
# one while, all told, they stay within TITLE_SHARE times the article's own tokens so far. Real
# articles never come near that (a title is a few words, a paragraph dozens), so every passage
# carries them; thousands of one-word paragraphs under a 300-character title would otherwise
# cost passages x title (the index of one such file must stay linear in its size).
TITLE_FREE = 64
TITLE_SHARE = 2


# Fresh passages past which a build hands freed heap memory back to the system (see below).
TRIM_AFTER_PASSAGES = 100_000


def give_back_freed_memory() -> None:
    """Return freed heap pages to the system (glibc's ``malloc_trim``; a no-op elsewhere).

    A bulk build's per-article arrays are small allocations: freed once copied into the
    snapshot's arrays, their pages stay with the process, and the postings built next are large
    ones the allocator maps afresh, so the peak is both. Measured at 1M passages: ~200 MB."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        pass


def tokenize_workers(requested: int | None = None) -> int:
    """Worker processes for bulk tokenising: ``requested`` (the ``tokenize_workers`` setting), else
    CITEBOT_TOKENIZE_WORKERS, else one per core (0 or 1 = in-process). Only forked, on Linux, from
    a process with no other threads running."""
    value = os.environ.get("CITEBOT_TOKENIZE_WORKERS", "")
    try:
        wanted = requested if requested is not None else int(value) if value else (os.cpu_count() or 1)
    except ValueError:
        wanted = 1
    if wanted < 2 or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 0
    return wanted


@dataclass(frozen=True, slots=True, eq=False)
class Analysis:
    """One article's passages: spans (n, 3: paragraph, start, end) int32, the term ids of all its
    passages concatenated (int32), and offsets (n + 1,) int64 into them."""

    spans: np.ndarray
    terms: np.ndarray
    offsets: np.ndarray

    @property
    def n_passages(self) -> int:
        return len(self.spans)

    def get(self) -> "Analysis":
        return self


class Pending:
    """An analysis a worker process is still making; ``get`` waits for it. Private to one build
    (the refresher's), never seen by a reader."""

    __slots__ = ("_indexer", "_value")

    def __init__(self, indexer: "Indexer") -> None:
        self._indexer = indexer
        self._value: Analysis | None = None

    def get(self) -> Analysis:
        if self._value is None:
            self._indexer.resolve_pending()
        assert self._value is not None
        return self._value


Handle = Analysis | Pending

# One article's analysis in a batch's local term numbering: spans, local term ids, offsets.
_Analysed = tuple[np.ndarray, np.ndarray, np.ndarray]


def analyse_batch(items: Sequence[tuple[str, str]]) -> tuple[list[str], list[_Analysed]]:
    """Split (title, text) articles into passages and tokenise each (title terms ride along with
    every passage, within the TITLE_FREE / TITLE_SHARE bound). Terms are numbered locally, in
    order of first appearance, so the caller can map them to vocabulary ids in the order a
    one-by-one build would add them."""
    local: dict[str, int] = {}
    number = local.setdefault
    out: list[_Analysed] = []
    for title, text in items:
        spans = passage_spans(text)
        title_terms = tokenize(title)
        ids: list[int] = []
        lengths: list[int] = []
        own = carried = 0  # the article's own tokens so far, and title tokens added so far
        for k, span in enumerate(spans):
            terms = tokenize(text[span.start : span.end])
            own += len(terms)
            if k < TITLE_FREE or carried + len(title_terms) <= TITLE_SHARE * own:
                carried += len(title_terms)
                terms += title_terms
            ids.extend([number(t, len(local)) for t in terms])
            lengths.append(len(terms))
        offsets = np.zeros(len(spans) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        out.append((np.array(spans, dtype=np.int32).reshape(-1, 3), np.array(ids, dtype=np.int32), offsets))
    return list(local), out


def _to_vocabulary(result: tuple[list[str], list[_Analysed]], vocab: Vocabulary) -> list[Analysis]:
    """A batch's analyses with their local term ids mapped to (and added to) ``vocab``."""
    local_terms, analysed = result
    ids = np.array(vocab.add_all(local_terms), dtype=np.int32)
    return [Analysis(spans, ids[local] if len(local) else local, offsets) for spans, local, offsets in analysed]


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the process that forked it ends, however it
    ends. A forked worker holds both ends of the task pipe, so it never sees EOF: after a
    SIGKILL, SIGTERM or SIGHUP of its parent it would wait for work forever."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the getppid() check below still helps
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class _Bulk:
    """Pending articles, tokenised by a process pool, resolved in order."""

    def __init__(self, workers: int, vocab: Vocabulary) -> None:
        # Forked (Linux only, see tokenize_workers) from this thread, which is the process's
        # only one: PR_SET_PDEATHSIG fires when the forking thread ends, i.e. with the process.
        self.pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"),
            initializer=_die_with_parent, initargs=(os.getpid(),),
        )
        self.vocab = vocab
        self.batches: deque[tuple[list[tuple[str, str]], list[Pending], Future | None]] = deque()
        self.open: list[tuple[tuple[str, str], Pending]] = []

    def add(self, title: str, text: str, pending: Pending) -> None:
        self.open.append(((title, text), pending))
        if len(self.open) >= BATCH_FILES:
            self._submit()

    def _submit(self) -> None:
        items = [item for item, _ in self.open]
        slots = [slot for _, slot in self.open]
        self.open = []
        try:
            future: Future | None = self.pool.submit(analyse_batch, items)
        except Exception:  # a broken pool: tokenise this batch here at resolve time
            future = None
        self.batches.append((items, slots, future))
        # Finished batches are mapped to the vocabulary now, oldest first (the order a one-by-one
        # build adds terms in): each worker result carries its batch's terms as strings, and
        # left waiting until the last file is read they held a million-passage build's largest
        # share of memory.
        while self.batches and self.batches[0][2] is not None and self.batches[0][2].done():
            self._resolve_oldest()

    def _resolve_oldest(self) -> None:
        items, slots, future = self.batches.popleft()
        try:
            result = future.result() if future is not None else None
        except Exception as exc:  # a worker died (OOM kill...): do it here instead
            log.warning("tokenising worker failed (%s); continuing in-process", exc)
            result = None
        if result is None:
            result = analyse_batch(items)
        for slot, analysis in zip(slots, _to_vocabulary(result, self.vocab)):
            slot._value = analysis

    def resolve(self) -> None:
        if self.open:
            self._submit()
        try:
            while self.batches:
                self._resolve_oldest()
        finally:
            self.batches.clear()
            self.pool.shutdown(wait=False, cancel_futures=True)


class TextSpool:
    """Article texts written to an unlinked temporary file as a bulk load reads them, each doc
    holding a :class:`LazyText` into it instead of the string: a million-passage first build
    otherwise held every text in memory (466 MB of its 1.8 GB peak) until the cache was written.
    Written only by the refresher, read back with ``pread`` (thread-safe, and never moves the
    offset the writes use); the file goes when the last doc holding it goes. It lives in the
    cache folder when there is one (``/tmp`` may be memory), else in the system's temp folder."""

    def __init__(self, folder: Path | None = None) -> None:
        if not hasattr(os, "pread"):  # reads would move the offset the writes use
            raise OSError("no pread on this platform")
        self._file = tempfile.TemporaryFile(prefix="citebot-texts-", dir=folder)
        self._fd = self._file.fileno()
        self._size = 0

    def add(self, text: str) -> LazyText:
        data = text.encode("utf-8", "surrogatepass")
        view, lo = memoryview(data), self._size
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)
        return LazyText(self, lo, self._size)

    def __getitem__(self, span: slice) -> bytes:
        lo, hi = span.start or 0, span.stop
        return os.pread(self._fd, hi - lo, lo)


class Indexer:
    """Analyses articles into one growing vocabulary (the refresher's; readers never touch it)."""

    def __init__(self, vocab: Vocabulary | None = None, workers: int | None = None,
                 spool_dir: Path | None = None) -> None:
        self._workers = workers  # the tokenize_workers setting (None: environment or one per core)
        self._spool_dir = spool_dir  # where a bulk load spools its texts (None: the temp folder)
        self.vocab = vocab if vocab is not None else Vocabulary()
        self._made = 0  # articles analysed since the last resolve_pending
        self._bulk: _Bulk | None = None
        self._spool: TextSpool | None = None  # the texts of the bulk load under way
        self._lock = threading.Lock()

    def analyse(self, article: Article) -> Handle:
        """The article's analysis, or a handle to it when a bulk load sends it to a worker."""
        with self._lock:
            self._made += 1
            if self._bulk is None and self._made > BULK_AFTER:
                self._bulk = self._start_bulk(self._workers, self.vocab)
                if self._bulk is not None:  # a bulk load (ended by resolve_pending) is under way
                    self._spool = self._start_spool(self._spool_dir)
            if self._bulk is not None:
                pending = Pending(self)
                self._bulk.add(article.title, article.text, pending)
                return pending
        return _to_vocabulary(analyse_batch([(article.title, article.text)]), self.vocab)[0]

    @staticmethod
    def _start_bulk(requested: int | None, vocab: Vocabulary) -> _Bulk | None:
        workers = tokenize_workers(requested)
        if not workers:
            return None
        try:
            return _Bulk(workers, vocab)
        except (OSError, ValueError) as exc:
            log.warning("no worker processes for tokenising (%s)", exc)
            return None

    @staticmethod
    def _start_spool(folder: Path | None) -> TextSpool | None:
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                return TextSpool(folder)
            except OSError:
                pass  # an unwritable cache folder: the temp folder instead
        try:
            return TextSpool()
        except OSError as exc:
            log.warning("no temporary file for article texts (%s); keeping them in memory", exc)
            return None

    def keep_text(self, text: str) -> Text:
        """How a new doc holds ``text``: spooled during a bulk load, else as it is."""
        spool = self._spool
        if spool is None or not text:
            return text
        try:
            return spool.add(text)
        except OSError as exc:  # a full disk: the rest of this load keeps its texts in memory
            log.warning("cannot spool article texts (%s); keeping them in memory", exc)
            self._spool = None
            return text

    def resolve_pending(self) -> None:
        """Give every article analysed so far its term ids (waits for worker processes, if any)."""
        with self._lock:
            bulk, self._bulk = self._bulk, None
            self._spool = None  # the docs written to it keep it open
            self._made = 0
            if bulk is not None:
                bulk.resolve()


def make_doc(article: Article, size: int, mtime_ns: int, sha256: str, indexer: Indexer) -> tuple[Doc, Handle]:
    """The article's record and its analysis (passages split, each tokenised with the title's
    terms riding along, within the TITLE_FREE / TITLE_SHARE bound). In a bulk load the analysis
    arrives from a worker process by the next :func:`~retrieval.snapshot.build_snapshot`, and
    the doc's text is spooled to a temporary file (see :class:`TextSpool`)."""
    analysis = indexer.analyse(article)
    return doc_of(article, size, mtime_ns, sha256, indexer.keep_text(article.text)), analysis
