"""On-disk index cache: JSON manifest + raw numpy arrays + one UTF-8 text blob. No pickle.

Written to a temporary folder, fsynced, then renamed into place, so a process killed mid-write
leaves either the old cache or none. The manifest records every file's size and a CRC-32 of its
data, so a truncated or bit-rotted cache is caught at load time rather than as a wrong quote or a
decode error in the middle of a question. Anything that fails validation on load is reported as
``CacheError`` and the caller rebuilds. A cache is never kept inside the articles folder.

Several processes may share one cache (the bot and a CLI ``ask``). ``index-<key>.lock`` beside
the cache serialises them with ``flock``: shared while a cache is read, exclusive only while a
finished temporary folder is swapped in. So a reader always sees a complete cache (a save in
progress writes its own temporary folder; the reader reads the previous cache, or waits out the
swap), and two writers never rename over each other. Each temporary folder is itself locked by
its writer: what a killed save leaves behind (``.tmp-*`` not locked by anyone, ``.old``) is
removed on the next open or save.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import shutil
import tempfile
import zlib
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process locking, no cleanup
    fcntl = None  # type: ignore[assignment]
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from retrieval.analyzer import ANALYZER_VERSION
from retrieval.corpus import Doc, LazyText, Vocabulary, _Flat, flat_arrays
from retrieval.errors import CitebotError
from retrieval.index import BM25Params
from retrieval.models import Skipped

log = logging.getLogger(__name__)

FORMAT = "citebot-index"
VERSION = 3  # 2: CRC-32 checksums in the manifest; 3: article authors
ARRAYS = ("spans", "terms", "term_lengths", "text_offsets", "term_offsets", "post_docs", "post_tfs")


class CacheError(CitebotError):
    """The cache is missing, foreign, from another version, truncated or corrupt."""


class CacheLocationError(OSError):
    """The cache folder would be inside the articles folder (an OSError: callers that serve
    from memory when the cache cannot be written treat it the same way)."""


def is_inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies under it (after resolving symlinks)."""
    try:
        path.expanduser().resolve().relative_to(folder.expanduser().resolve())
    except ValueError:
        return False
    return True


def _check_location(target: Path, articles_dir: Path) -> None:
    if is_inside(target, articles_dir):
        raise CacheLocationError(
            f"cache folder {target} is inside the articles folder {articles_dir}; choose another cache_dir"
        )


def _crc_file(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _crc_array(array: np.ndarray) -> int:
    """CRC-32 of an array's data (not its .npy header), computed without a copy.

    An empty array (an empty folder's index) has no bytes: its CRC is that of ``b""``, 0 —
    ``memoryview.cast`` refuses a view with a zero in its shape."""
    if array.size == 0:
        return 0
    return zlib.crc32(memoryview(np.ascontiguousarray(array)).cast("B"))


def cache_folder(cache_dir: Path, articles_dir: Path) -> Path:
    """One cache per articles folder, keyed by its absolute path."""
    key = hashlib.sha256(str(articles_dir.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"index-{key}"


def lock_file(target: Path) -> Path:
    """The lock file of the cache at ``target`` (kept, never deleted: deleting a lock file lets
    two processes lock two different files)."""
    return target.with_name(target.name + ".lock")


@contextlib.contextmanager
def _locked(target: Path, *, exclusive: bool, wait: bool = True) -> Iterator[bool]:
    """Hold the cache's lock: shared to read, exclusive to swap or clear leftovers. Yields False
    when ``wait`` is False and another process holds it. Where no lock file can be opened (a
    read-only cache folder: no one can write there either) it yields True without locking."""
    if fcntl is None:
        yield True
        return
    path = lock_file(target)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            fd = -1
    if fd < 0:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB))
            held = True
        except BlockingIOError:
            held = False
        yield held
    finally:
        os.close(fd)  # releases the lock


WRITER = ".writer.lock"  # inside a temporary folder, locked by its writer until the swap


def _hold(folder: Path) -> int | None:
    """Lock a temporary folder we are writing, so no cleanup takes it for a leftover. (A file,
    opened for writing: NFS emulates flock with POSIX locks, which need that.)"""
    if fcntl is None:
        return None
    fd = os.open(folder / WRITER, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        raise
    return fd


def _abandoned(folder: Path) -> bool:
    """True when no live process holds ``folder`` locked (its writer died mid-save). A folder
    without the lock file is abandoned too: writers create it under the shared lock, and this
    runs under the exclusive one."""
    if fcntl is None:
        return False
    try:
        fd = os.open(folder / WRITER, os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _remove_leftovers(target: Path, keep: Path | None = None) -> None:
    """With the exclusive lock held: remove ``.old`` (it only exists inside a swap) and every
    temporary folder of this cache that no live writer holds."""
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    prefix = target.name + ".tmp-"
    for name in names:
        path = target.parent / name
        if name == target.name + ".old" or (name.startswith(prefix) and path != keep and _abandoned(path)):
            log.info("removing %s, left by an interrupted cache write", path)
            shutil.rmtree(path, ignore_errors=True)


def remove_leftovers(target: Path) -> None:
    """Remove what killed saves left beside ``target``, unless another process holds the cache
    right now (it, or the next open, will)."""
    if fcntl is None:
        return
    with _locked(target, exclusive=True, wait=False) as held:
        if held:
            _remove_leftovers(target)


def _fsync_write(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or chunks of bytes written in turn) and fsync it."""
    with open(path, "wb") as handle:
        if isinstance(data, (bytes, bytearray, memoryview)):
            handle.write(data)
        else:
            for chunk in data:
                handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())


def _save_array(folder: Path, name: str, array: np.ndarray) -> None:
    with open(folder / f"{name}.npy", "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def save(
    target: Path,
    articles_dir: Path,
    docs: list[Doc],
    vocab: Vocabulary,
    params: BM25Params,
    postings: tuple[np.ndarray, np.ndarray, np.ndarray],
    skipped: tuple[Skipped, ...],
    stamps: Mapping[str, tuple[int, int, int, int]] | None = None,
) -> None:
    """Write the cache for ``docs`` (already in snapshot order) atomically to ``target``.

    ``stamps`` are the files' scan stamps (size, mtime_ns, ctime_ns, inode) as they were read;
    a file without one is re-checked (read and hashed) on the next open."""
    stamps = stamps or {}
    _check_location(target, articles_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Created and locked under the shared lock, so a cleanup (exclusive) never sees it unlocked.
    with _locked(target, exclusive=False):
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        try:
            tmp_fd = _hold(tmp)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    swapped = False
    try:
        # Texts are streamed to the blob one article at a time (texts already in an older blob
        # are copied as bytes, not decoded): no second copy of every text in memory.
        text_offsets = np.zeros(len(docs) + 1, np.int64)
        text_crc = 0

        def texts() -> Iterator[bytes]:
            nonlocal text_crc
            written = 0
            for i, doc in enumerate(docs):
                data = doc.raw_text()
                text_crc = zlib.crc32(data, text_crc)
                written += len(data)
                text_offsets[i + 1] = written
                yield data

        _fsync_write(tmp / "texts.bin", texts())
        spans, terms, offsets = flat_arrays(docs)
        arrays = {
            "spans": spans,
            "terms": terms,
            "term_lengths": np.diff(offsets),
            "text_offsets": text_offsets,
            "term_offsets": postings[0],
            "post_docs": postings[1],
            "post_tfs": postings[2],
        }
        checksums = {"texts.bin": text_crc}
        for name, array in arrays.items():
            _save_array(tmp, name, array)
            checksums[f"{name}.npy"] = _crc_array(array)
        vocab_json = json.dumps(vocab.terms, ensure_ascii=False).encode()
        checksums["vocab.json"] = zlib.crc32(vocab_json)
        _fsync_write(tmp / "vocab.json", vocab_json)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "analyzer": ANALYZER_VERSION,
            "params": {"k1": params.k1, "b": params.b, "epsilon": params.epsilon, "idf": params.idf},
            "articles_dir": str(articles_dir.resolve()),
            "vocab_size": len(vocab),
            "files": [
                {
                    "path": d.path, "size": d.size, "mtime_ns": d.mtime_ns, **_stamp_fields(stamps.get(d.path)),
                    "sha256": d.sha256, "title": d.title, "url": d.url, "published": d.published,
                    "source": d.source, "author": d.author, "passages": d.n_passages,
                }
                for d in docs
            ],
            "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
            "sizes": {p.name: p.stat().st_size for p in tmp.iterdir() if p.name != WRITER},
            "crc32": checksums,
        }
        # The manifest is written last: a folder without one is an interrupted write.
        _fsync_write(tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False).encode())
        # The swap: no reader is between its manifest and its arrays, no other writer swapping.
        with _locked(target, exclusive=True):
            _remove_leftovers(target, keep=tmp)
            if tmp_fd is not None:
                os.unlink(tmp / WRITER)  # no cleanup can run until we release the lock
            old = target.with_name(target.name + ".old")
            if target.exists():
                os.replace(target, old)
            os.replace(tmp, target)
            swapped = True
            shutil.rmtree(old, ignore_errors=True)
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    finally:
        if not swapped:
            shutil.rmtree(tmp, ignore_errors=True)
        if tmp_fd is not None:
            os.close(tmp_fd)


def _stamp_fields(stamp: tuple[int, int, int, int] | None) -> dict[str, int]:
    return {"ctime_ns": stamp[2], "ino": stamp[3]} if stamp else {}


class Loaded:
    """A validated cache: docs (texts read lazily from the blob), vocabulary, postings, and the
    scan stamp each file had when it was read (absent for files a version 2 cache has no
    ctime/inode for: those are read and hashed once more)."""

    def __init__(self, docs: list[Doc], vocab: Vocabulary, postings: tuple, skipped: tuple,
                 stamps: dict[str, tuple[int, int, int, int]] | None = None) -> None:
        self.docs = docs
        self.vocab = vocab
        self.postings = postings
        self.skipped = skipped
        self.stamps = stamps or {}


def _load_array(folder: Path, name: str) -> np.ndarray:
    try:
        return np.load(folder / f"{name}.npy", allow_pickle=False)
    except Exception as exc:  # truncated, garbage, wrong dtype header: all mean "rebuild"
        raise CacheError(f"{name}.npy unreadable ({exc.__class__.__name__})") from None


FILES = ("texts.bin", "vocab.json", *(f"{name}.npy" for name in ARRAYS))


def _load(target: Path, articles_dir: Path, params: BM25Params) -> Loaded:
    try:
        manifest: dict[str, Any] = json.loads((target / "manifest.json").read_text("utf-8"))
    except FileNotFoundError:
        raise CacheError("no cache yet") from None
    except (OSError, ValueError) as exc:
        raise CacheError(f"manifest unreadable ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CacheError("not a citebot cache")
    if manifest.get("version") != VERSION or manifest.get("analyzer") != ANALYZER_VERSION:
        raise CacheError("cache from another version")
    expected_params = {"k1": params.k1, "b": params.b, "epsilon": params.epsilon, "idf": params.idf}
    if manifest.get("params") != expected_params:
        raise CacheError("cache built with other BM25 parameters")
    if manifest.get("articles_dir") != str(articles_dir.resolve()):
        raise CacheError("cache of another folder")
    try:
        return _load_validated(target, manifest)
    except CacheError:
        raise
    except Exception as exc:  # a manifest of the right format but the wrong shapes or types
        raise CacheError(f"cache unreadable ({exc.__class__.__name__})") from None


def load(target: Path, articles_dir: Path, params: BM25Params) -> Loaded:
    """Read and validate the cache at ``target``; raises CacheError on anything unexpected.

    Holds the shared lock throughout, so a concurrent save cannot swap the folder between the
    manifest and the files it describes (the texts stay readable after: they are mapped)."""
    if is_inside(target, articles_dir):
        raise CacheError("cache folder is inside the articles folder")
    with _locked(target, exclusive=False):
        return _load(target, articles_dir, params)


def _load_validated(target: Path, manifest: dict[str, Any]) -> Loaded:
    sizes, checksums = manifest["sizes"], manifest["crc32"]
    for name in FILES:
        if (target / name).stat().st_size != int(sizes[name]):
            raise CacheError(f"{name} has the wrong size (truncated?)")
    arrays = {name: _load_array(target, name) for name in ARRAYS}
    for name, array in arrays.items():
        if array.dtype.kind not in "iu":
            raise CacheError(f"{name}.npy holds {array.dtype}, not integers")
        if _crc_array(array) != int(checksums[f"{name}.npy"]):
            raise CacheError(f"{name}.npy is corrupt (checksum mismatch)")
    vocab_bytes = (target / "vocab.json").read_bytes()
    if zlib.crc32(vocab_bytes) != int(checksums["vocab.json"]):
        raise CacheError("vocab.json is corrupt (checksum mismatch)")
    vocab_terms = json.loads(vocab_bytes.decode("utf-8"))
    files = manifest["files"]
    skipped = tuple(Skipped(str(s["path"]), str(s["reason"])) for s in manifest["skipped"])

    spans, terms, lengths = arrays["spans"], arrays["terms"], arrays["term_lengths"]
    text_offsets = arrays["text_offsets"]
    term_offsets, post_docs, post_tfs = (arrays[n] for n in ("term_offsets", "post_docs", "post_tfs"))
    n_passages = sum(int(f["passages"]) for f in files)
    vocab_size = int(manifest["vocab_size"])
    checks = [
        isinstance(vocab_terms, list) and len(vocab_terms) == vocab_size
        and all(isinstance(t, str) for t in vocab_terms),
        spans.ndim == 2 and spans.shape == (n_passages, 3),
        lengths.shape == (n_passages,) and int(lengths.sum()) == len(terms),
        text_offsets.shape == (len(files) + 1,) and int(text_offsets[0]) == 0,
        term_offsets.shape == (vocab_size + 1,),
        len(post_docs) == len(post_tfs) == int(term_offsets[-1]) if len(term_offsets) else False,
        len(terms) == 0 or (int(terms.min()) >= 0 and int(terms.max()) < vocab_size),
        len(post_docs) == 0 or (int(post_docs.min()) >= 0 and int(post_docs.max()) < n_passages),
        bool(np.all(np.diff(text_offsets) >= 0)) and bool(np.all(np.diff(term_offsets) >= 0)),
        len(spans) == 0 or (int(spans[:, 1].min()) >= 0 and bool(np.all(spans[:, 2] > spans[:, 1]))),
    ]
    if not all(checks):
        raise CacheError("cache arrays are inconsistent")

    blob_path = target / "texts.bin"
    if blob_path.stat().st_size != int(text_offsets[-1]):
        raise CacheError("texts.bin has the wrong size")
    blob: mmap.mmap | bytes
    if blob_path.stat().st_size:
        with open(blob_path, "rb") as handle:
            blob = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    else:
        blob = b""
    # Texts are decoded lazily, at question time: check them now, while a rebuild is still cheap.
    if zlib.crc32(blob) != int(checksums["texts.bin"]):
        raise CacheError("texts.bin is corrupt (checksum mismatch)")

    # Docs view one set of flat arrays (no per-article arrays); texts stay in the blob.
    offsets = np.zeros(n_passages + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = _Flat(spans.astype(np.int32, copy=False), terms.astype(np.int32, copy=False), offsets)
    bounds = text_offsets.tolist()
    docs: list[Doc] = []
    stamps: dict[str, tuple[int, int, int, int]] = {}
    p = 0
    for i, f in enumerate(files):
        if "ctime_ns" in f and "ino" in f:
            stamps[str(f["path"])] = (int(f["size"]), int(f["mtime_ns"]), int(f["ctime_ns"]), int(f["ino"]))
        n = int(f["passages"])
        docs.append(
            Doc.in_flat(
                str(f["path"]), int(f["size"]), int(f["mtime_ns"]), str(f["sha256"]), str(f["title"]),
                f.get("url"), f.get("published"), f.get("source"),
                LazyText(blob, bounds[i], bounds[i + 1]), flat, p, n, author=f.get("author"),
            )
        )
        p += n
    return Loaded(docs, Vocabulary(vocab_terms), (term_offsets, post_docs, post_tfs), skipped, stamps)
