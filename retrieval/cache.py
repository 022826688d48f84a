"""On-disk index cache: JSON manifest + raw numpy arrays + one UTF-8 text blob. No pickle.

This module owns the format and its safe replacement, in plain values (:class:`Contents` in,
:class:`Stored` out); :meth:`retrieval.snapshot.Snapshot.save` and ``Snapshot.load`` convert a
snapshot to and from them, so the cache knows nothing of the engine's objects.

Written to a temporary folder, fsynced, then renamed into place, so a process killed mid-write
leaves either the old cache or none. The manifest records every file's size and a CRC-32 of its
data, so a truncated or bit-rotted cache is caught at load time rather than as a wrong quote or a
decode error in the middle of a question. Anything that fails validation on load is reported as
``CacheError`` and the caller rebuilds. A cache is never kept inside the articles folder.

A change of a few files does not rewrite the cache: it appends a *delta* (``delta-000001.bin``,
``delta-000002.bin``...: the docs removed, the docs added or re-read with their texts, passages
and term ids, the terms new to the vocabulary, the skipped files), each written to a temporary
name, fsynced and renamed in under the exclusive lock, and tied to its base by the base's random
id and its sequence number. A load applies the deltas in order, so a load gives exactly the
snapshot the writer had; a damaged, foreign or out-of-order delta fails the load like any other
damage (the caller rebuilds). When the deltas grow past a share of the base, the writer saves a
new base instead, which drops them.

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
import dataclasses
import hashlib
import json
import logging
import mmap
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process locking, no cleanup
    fcntl = None  # type: ignore[assignment]
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from citebot.retrieval.analyzer import ANALYZER_VERSION
from citebot.retrieval.errors import CitebotError
from citebot.retrieval.index import BM25Params
from citebot.retrieval.models import Skipped

log = logging.getLogger(__name__)

FORMAT = "citebot-index"
# 2: CRC-32 checksums in the manifest; 3: article authors; 4: web pages read by trafilatura;
# 5: a base id, and deltas appended beside the base
VERSION = 5
ARRAYS = ("spans", "terms", "term_lengths", "text_offsets", "term_offsets", "post_docs", "post_tfs")


class CacheError(CitebotError):
    """The cache is missing, foreign, from another version, truncated or corrupt."""


class NoCache(CacheError):
    """There is no cache yet (nothing to warn about: the first open builds one)."""


def is_inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies under it (after resolving symlinks)."""
    try:
        path.expanduser().resolve().relative_to(folder.expanduser().resolve())
    except ValueError:
        return False
    return True


def _check_location(target: Path, articles_dir: Path) -> None:
    if is_inside(target, articles_dir):
        # An OSError: callers that serve from memory when a cache cannot be written do so here.
        raise OSError(f"cache folder {target} is inside the articles folder {articles_dir}; choose another cache_dir")


def _crc_file(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


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
    try:  # a delta being written holds the exclusive lock: one seen now was abandoned
        for name in os.listdir(target):
            if name.startswith(".delta-") and ".tmp-" in name:
                log.info("removing %s, left by an interrupted cache write", target / name)
                (target / name).unlink(missing_ok=True)
    except OSError:
        pass


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


@dataclasses.dataclass(frozen=True)
class Contents:
    """What one cache holds, as plain values (see :meth:`retrieval.snapshot.Snapshot.save`):
    a manifest row per article (``path``, ``size``, ``mtime_ns``, ``sha256``, metadata,
    ``passages``), each article's text as UTF-8, in the same order, the arrays named in ARRAYS
    but ``text_offsets`` (made here from the texts), the vocabulary, and the skipped files."""

    files: list[dict[str, Any]]
    texts: Iterable[bytes]
    arrays: Mapping[str, np.ndarray]
    vocab_terms: list[str]
    skipped: tuple[Skipped, ...]


def save(target: Path, articles_dir: Path, params: BM25Params, contents: Contents) -> "Base":
    """Write ``contents`` atomically to ``target``: into a locked temporary folder first, then
    swapped in under the exclusive lock. Returns the new base's id and size (deltas name it)."""
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
    base = Base(os.urandom(8).hex(), 0)
    try:
        size = _write_contents(tmp, articles_dir, params, contents, base.id)
        _swap_in(target, tmp, held=tmp_fd is not None)
        swapped = True
    finally:
        if not swapped:
            shutil.rmtree(tmp, ignore_errors=True)
        if tmp_fd is not None:
            os.close(tmp_fd)
    return Base(base.id, size)


def _write_texts(path: Path, texts: Iterable[bytes], count: int) -> tuple[np.ndarray, int]:
    """Stream the texts into one blob (no second copy of every text in memory); returns their
    offsets and the blob's CRC-32."""
    text_offsets = np.zeros(count + 1, np.int64)
    crc = 0

    def chunks() -> Iterator[bytes]:
        nonlocal crc
        written = 0
        for i, data in enumerate(texts):
            crc = zlib.crc32(data, crc)
            written += len(data)
            text_offsets[i + 1] = written
            yield data

    _fsync_write(path, chunks())
    return text_offsets, crc


def _write_contents(tmp: Path, articles_dir: Path, params: BM25Params, contents: Contents, base_id: str) -> int:
    """Every file of the cache into ``tmp``, the manifest last (a folder without one is an
    interrupted write); returns their total size."""
    text_offsets, text_crc = _write_texts(tmp / "texts.bin", contents.texts, len(contents.files))
    arrays = {**contents.arrays, "text_offsets": text_offsets}
    checksums = {"texts.bin": text_crc}
    for name in ARRAYS:
        _save_array(tmp, name, arrays[name])
        checksums[f"{name}.npy"] = _crc_of(arrays[name])
    vocab_json = json.dumps(contents.vocab_terms, ensure_ascii=False).encode()
    checksums["vocab.json"] = zlib.crc32(vocab_json)
    _fsync_write(tmp / "vocab.json", vocab_json)
    _fsync_write(tmp / BASE_ID, json.dumps(base_id).encode())
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "base": base_id,
        "analyzer": ANALYZER_VERSION,
        "params": _params_fields(params),
        "articles_dir": str(articles_dir.resolve()),
        "vocab_size": len(contents.vocab_terms),
        "files": contents.files,
        "skipped": [{"path": s.path, "reason": s.reason} for s in contents.skipped],
        "sizes": {p.name: p.stat().st_size for p in tmp.iterdir() if p.name != WRITER},
        "crc32": checksums,
    }
    manifest_json = json.dumps(manifest, ensure_ascii=False).encode()
    _fsync_write(tmp / "manifest.json", manifest_json)
    return sum(manifest["sizes"].values()) + len(manifest_json)


def _params_fields(params: BM25Params) -> dict[str, Any]:
    return {"k1": params.k1, "b": params.b, "epsilon": params.epsilon, "idf": params.idf}


def _swap_in(target: Path, tmp: Path, *, held: bool) -> None:
    """Replace ``target`` by the finished ``tmp``, with no reader between its manifest and its
    arrays and no other writer swapping; then fsync the parent so the rename is durable."""
    with _locked(target, exclusive=True):
        _remove_leftovers(target, keep=tmp)
        if held:
            os.unlink(tmp / WRITER)  # no cleanup can run until we release the lock
        old = target.with_name(target.name + ".old")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def stamp_fields(stamp: tuple[int, int, int, int] | None) -> dict[str, int]:
    """A manifest row's part of a scan stamp (size and mtime_ns are in every row already)."""
    return {"ctime_ns": stamp[2], "ino": stamp[3]} if stamp else {}


@dataclasses.dataclass(frozen=True)
class Stored:
    """A validated cache, as plain values: the manifest's rows, the arrays (``offsets`` made from
    ``term_lengths``), the vocabulary, the mapped text blob with each row's bounds in it, the
    skipped files, and the scan stamp each file had when it was read (absent for files a version
    2 cache has no ctime/inode for: those are read and hashed once more)."""

    files: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]
    vocab_terms: list[str]
    blob: Any  # mmap.mmap (read-only) or b""
    text_bounds: list[int]
    skipped: tuple[Skipped, ...]
    stamps: dict[str, tuple[int, int, int, int]]
    base: "Base" = None  # type: ignore[assignment]
    deltas: tuple["Delta", ...] = ()


def _load_array(folder: Path, name: str) -> np.ndarray:
    """The array, memory-mapped read-only: two processes serving one cache share its pages
    (and a swap that replaces the file leaves a mapped one readable until it is dropped). Viewed
    as a plain read-only ndarray: the ``np.memmap`` subclass's hooks on every slice and result
    cost a search at 100k passages about a fifth of its time; the view keeps the mapping alive."""
    try:
        return np.load(folder / f"{name}.npy", allow_pickle=False, mmap_mode="r").view(np.ndarray)
    except Exception as exc:  # truncated, garbage, wrong dtype header: all mean "rebuild"
        raise CacheError(f"{name}.npy unreadable ({exc.__class__.__name__})") from None


FILES = ("texts.bin", "vocab.json", *(f"{name}.npy" for name in ARRAYS))


def _read_manifest(target: Path, articles_dir: Path, params: BM25Params) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((target / "manifest.json").read_text("utf-8"))
    except FileNotFoundError:
        raise NoCache("no cache yet") from None
    except (OSError, ValueError) as exc:
        raise CacheError(f"manifest unreadable ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CacheError("not a citebot cache")
    if manifest.get("version") != VERSION or manifest.get("analyzer") != ANALYZER_VERSION:
        raise CacheError("cache from another version")
    if manifest.get("params") != _params_fields(params):
        raise CacheError("cache built with other BM25 parameters")
    if manifest.get("articles_dir") != str(articles_dir.resolve()):
        raise CacheError("cache of another folder")
    return manifest


def load(target: Path, articles_dir: Path, params: BM25Params) -> Stored:
    """Read and validate the cache at ``target``; raises NoCache when there is none yet and
    CacheError on anything else unexpected.

    Holds the shared lock throughout, so a concurrent save cannot swap the folder between the
    manifest and the files it describes (the texts stay readable after: they are mapped)."""
    if is_inside(target, articles_dir):
        raise CacheError("cache folder is inside the articles folder")
    with _locked(target, exclusive=False):
        manifest = _read_manifest(target, articles_dir, params)
        try:
            stored = _load_validated(target, manifest)
            base = Base(str(manifest["base"]), sum(int(v) for v in manifest["sizes"].values()))
            return dataclasses.replace(stored, base=base, deltas=_read_deltas(target, base.id))
        except CacheError:
            raise
        except Exception as exc:  # a manifest of the right format but the wrong shapes or types
            raise CacheError(f"cache unreadable ({exc.__class__.__name__})") from None


def _checked_arrays(target: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every array, after checking each file's size and each array's type and checksum."""
    sizes, checksums = manifest["sizes"], manifest["crc32"]
    for name in FILES:
        if (target / name).stat().st_size != int(sizes[name]):
            raise CacheError(f"{name} has the wrong size (truncated?)")
    arrays = {name: _load_array(target, name) for name in ARRAYS}
    for name, array in arrays.items():
        if array.dtype.kind not in "iu":
            raise CacheError(f"{name}.npy holds {array.dtype}, not integers")
        if _crc_of(array) != int(checksums[f"{name}.npy"]):
            raise CacheError(f"{name}.npy is corrupt (checksum mismatch)")
    return arrays


def _checked_vocab(target: Path, manifest: dict[str, Any]) -> list[str]:
    vocab_bytes = (target / "vocab.json").read_bytes()
    if zlib.crc32(vocab_bytes) != int(manifest["crc32"]["vocab.json"]):
        raise CacheError("vocab.json is corrupt (checksum mismatch)")
    terms = json.loads(vocab_bytes.decode("utf-8"))
    if not (isinstance(terms, list) and len(terms) == int(manifest["vocab_size"])
            and all(isinstance(t, str) for t in terms)):
        raise CacheError("cache arrays are inconsistent")
    return terms


def _within(extremes: tuple[int, int], size: int) -> bool:
    return extremes[0] >= 0 and extremes[1] < size


def _check_consistent(arrays: dict[str, np.ndarray], n_files: int, n_passages: int, vocab_size: int) -> None:
    """The arrays agree with each other and with the manifest (no id points outside them)."""
    spans, terms, lengths = arrays["spans"], arrays["terms"], arrays["term_lengths"]
    text_offsets, term_offsets = arrays["text_offsets"], arrays["term_offsets"]
    post_docs, post_tfs = arrays["post_docs"], arrays["post_tfs"]
    checks = [
        spans.ndim == 2 and spans.shape == (n_passages, 3),
        lengths.shape == (n_passages,) and int(lengths.sum()) == len(terms),
        text_offsets.shape == (n_files + 1,) and int(text_offsets[0]) == 0,
        term_offsets.shape == (vocab_size + 1,),
        len(post_docs) == len(post_tfs) == int(term_offsets[-1]) if len(term_offsets) else False,
        len(terms) == 0 or _within(_extremes(terms), vocab_size),
        len(post_docs) == 0 or _within(_extremes(post_docs), n_passages),
        bool(np.all(np.diff(text_offsets) >= 0)) and bool(np.all(np.diff(term_offsets) >= 0)),
        len(spans) == 0 or (int(spans[:, 1].min()) >= 0 and bool(np.all(spans[:, 2] > spans[:, 1]))),
    ]
    if not all(checks):
        raise CacheError("cache arrays are inconsistent")


def _checked_blob(target: Path, manifest: dict[str, Any], size: int) -> Any:
    """The text blob, mapped read-only, after checking its size and checksum (texts are decoded
    lazily, at question time: a rebuild is cheap now, a decode error then is not)."""
    blob_path = target / "texts.bin"
    if blob_path.stat().st_size != size:
        raise CacheError("texts.bin has the wrong size")
    blob: mmap.mmap | bytes = b""
    if size:
        with open(blob_path, "rb") as handle:
            blob = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if _crc_of(blob) != int(manifest["crc32"]["texts.bin"]):
        raise CacheError("texts.bin is corrupt (checksum mismatch)")
    return blob


def _load_validated(target: Path, manifest: dict[str, Any]) -> Stored:
    arrays = _checked_arrays(target, manifest)
    vocab_terms = _checked_vocab(target, manifest)
    files = manifest["files"]
    n_passages = sum(int(f["passages"]) for f in files)
    _check_consistent(arrays, len(files), n_passages, len(vocab_terms))
    blob = _checked_blob(target, manifest, int(arrays["text_offsets"][-1]))
    offsets = np.zeros(n_passages + 1, np.int64)
    np.cumsum(arrays["term_lengths"], out=offsets[1:])
    arrays["offsets"] = offsets
    rows = [_row(f) for f in files]
    if any(row["passages"] < 0 for row in rows) or any(a["path"] >= b["path"] for a, b in zip(rows, rows[1:])):
        raise CacheError("cache manifest is inconsistent")
    stamps = {
        str(f["path"]): (int(f["size"]), int(f["mtime_ns"]), int(f["ctime_ns"]), int(f["ino"]))
        for f in files if "ctime_ns" in f and "ino" in f
    }
    skipped = tuple(Skipped(str(s["path"]), str(s["reason"])) for s in manifest["skipped"])
    for mapped in arrays.values():  # the consistency checks read every array (the big ones chunk by chunk)
        _drop_pages(mapped)
    return Stored(rows, arrays, vocab_terms, blob, arrays["text_offsets"].tolist(), skipped, stamps)


CHECK_CHUNK = 32 << 20  # bytes of a mapped file checked before their pages are let go


def _mapping(data: Any) -> tuple[mmap.mmap, int] | None:
    """The file mapping under ``data`` (an mmap, or an array viewing one) and where in it the
    data starts; None when it is not mapped (an empty file, a test's in-memory array)."""
    mapped = data
    while mapped is not None and not isinstance(mapped, mmap.mmap):
        mapped = getattr(mapped, "base", None)
    if mapped is None or mapped.closed or not len(mapped):
        return None
    if mapped is data:
        return mapped, 0
    return mapped, data.ctypes.data - np.frombuffer(mapped, np.uint8).ctypes.data


def _drop_pages(data: Any, lo: int = 0, hi: int | None = None) -> None:
    """Let go of this process's pages of bytes ``lo:hi`` of mapped ``data``: checking a cache
    reads every byte of its files, which would leave all of them resident (at 1M passages,
    900 MB of a 1.3 GB serving RSS) though a question reads a few postings and texts. The pages
    stay in the page cache, shared, and come back on the next read (MADV_DONTNEED on a
    read-only file mapping loses nothing)."""
    found, advice = _mapping(data), getattr(mmap, "MADV_DONTNEED", None)
    if found is None or advice is None:
        return
    mapped, start = found
    end = start + ((data.nbytes if isinstance(data, np.ndarray) else len(data)) if hi is None else hi)
    first = (start + lo) // mmap.PAGESIZE * mmap.PAGESIZE
    end = min(len(mapped), -(-end // mmap.PAGESIZE) * mmap.PAGESIZE)
    if end > first:
        try:
            mapped.madvise(advice, first, end - first)
        except (OSError, ValueError):  # advice only: serving works the same without it
            pass


def _crc_of(data: Any) -> int:
    """CRC-32 of ``data``'s bytes (an array's data, not its .npy header; an mmap), without a
    copy, a chunk at a time; a mapped file's pages are let go after each chunk.

    An empty array (an empty folder's index) has no bytes: its CRC is that of ``b""``, 0 —
    ``memoryview.cast`` refuses a view with a zero in its shape."""
    if isinstance(data, np.ndarray) and data.size == 0:
        return 0
    view = memoryview(data if isinstance(data, (mmap.mmap, bytes)) else np.ascontiguousarray(data)).cast("B")
    crc = 0
    for lo in range(0, len(view), CHECK_CHUNK):
        crc = zlib.crc32(view[lo : lo + CHECK_CHUNK], crc)
        _drop_pages(data, lo, lo + CHECK_CHUNK)
    return crc


def _extremes(array: np.ndarray) -> tuple[int, int]:
    """(min, max) of a non-empty mapped array, a chunk at a time, each chunk's pages let go after."""
    step = max(1, CHECK_CHUNK // array.itemsize)
    low, high = None, None
    for lo in range(0, len(array), step):
        part = array[lo : lo + step]
        low = int(part.min()) if low is None else min(low, int(part.min()))
        high = int(part.max()) if high is None else max(high, int(part.max()))
        _drop_pages(array, lo * array.itemsize, (lo + step) * array.itemsize)
    assert low is not None and high is not None
    return low, high


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def _row(f: dict[str, Any]) -> dict[str, Any]:
    """One manifest row with the types a Doc needs (anything else raises: "rebuild")."""
    return {
        "path": str(f["path"]), "size": int(f["size"]), "mtime_ns": int(f["mtime_ns"]),
        "sha256": str(f["sha256"]), "title": str(f["title"]), "url": _optional(f.get("url")),
        "published": _optional(f.get("published")), "source": _optional(f.get("source")),
        "author": _optional(f.get("author")), "passages": int(f["passages"]),
    }


# --- deltas ----------------------------------------------------------------------------------------

BASE_ID = "base-id.json"  # the base's id alone, so an append checks it without parsing the manifest
DELTA_MAGIC = b"citebot-delta\n"
_DELTA_HEAD = struct.Struct("<QI")  # header length, CRC-32 of header + body


@dataclasses.dataclass(frozen=True)
class Base:
    """A saved base: its random id (each delta names it) and its size in bytes."""

    id: str
    size: int


@dataclasses.dataclass(frozen=True)
class Delta:
    """One change since the base (or the delta before it), as plain values.

    ``removed``: paths of docs gone (or replaced); ``rows``: manifest rows of the docs added or
    re-read, each with its ``passages``; ``texts``: their UTF-8 texts, in the same order;
    ``spans`` (n, 3), ``terms`` and ``term_lengths`` of their passages, in the same order;
    ``vocab_from`` and ``vocab_terms``: terms appended to the vocabulary since, from that id on;
    ``skipped``: the whole skipped list after this change."""

    removed: list[str]
    rows: list[dict[str, Any]]
    texts: list[bytes]
    spans: np.ndarray
    terms: np.ndarray
    term_lengths: np.ndarray
    vocab_from: int
    vocab_terms: list[str]
    skipped: tuple[Skipped, ...]
    size: int = 0  # bytes on disk (set when read or written)


class StaleBase(OSError):
    """The cache on disk is not the base this delta follows (another process saved since)."""


def delta_name(seq: int) -> str:
    return f"delta-{seq:06d}.bin"


def _encode_delta(delta: Delta, base_id: str, seq: int) -> bytes:
    sections: list[bytes] = []
    layout: dict[str, list[Any]] = {}
    offset = 0

    def put(name: str, data: bytes, dtype: str = "", shape: tuple[int, ...] = ()) -> None:
        nonlocal offset
        layout[name] = [offset, len(data), dtype, list(shape)]
        sections.append(data)
        offset += len(data)

    put("texts", b"".join(delta.texts))
    for name in ("spans", "terms", "term_lengths"):
        array = np.ascontiguousarray(getattr(delta, name))
        put(name, array.tobytes(), array.dtype.str, array.shape)
    header = json.dumps({
        "format": FORMAT, "base": base_id, "seq": seq, "removed": delta.removed, "rows": delta.rows,
        "text_lengths": [len(t) for t in delta.texts], "vocab_from": delta.vocab_from,
        "vocab_terms": delta.vocab_terms, "skipped": [{"path": s.path, "reason": s.reason} for s in delta.skipped],
        "layout": layout,
    }, ensure_ascii=False).encode()
    body = b"".join(sections)
    crc = zlib.crc32(body, zlib.crc32(header))
    return DELTA_MAGIC + _DELTA_HEAD.pack(len(header), crc) + header + body


def _decode_delta(data: bytes, base_id: str, seq: int) -> Delta:
    """A delta file's contents, checked; anything unexpected raises CacheError."""
    name = delta_name(seq)
    start = len(DELTA_MAGIC) + _DELTA_HEAD.size
    if not data.startswith(DELTA_MAGIC) or len(data) < start:
        raise CacheError(f"{name} is not a citebot delta")
    header_len, crc = _DELTA_HEAD.unpack_from(data, len(DELTA_MAGIC))
    if start + header_len > len(data) or zlib.crc32(memoryview(data)[start:]) != crc:
        raise CacheError(f"{name} is corrupt (checksum mismatch)")
    try:
        header = json.loads(data[start : start + header_len].decode("utf-8"))
        if header["format"] != FORMAT or header["base"] != base_id or header["seq"] != seq:
            raise CacheError(f"{name} belongs to another cache")
        body = memoryview(data)[start + header_len :]

        def section(key: str) -> Any:
            offset, length, dtype, shape = header["layout"][key]
            if offset < 0 or offset + length > len(body):
                raise CacheError(f"{name} is inconsistent")
            raw = bytes(body[offset : offset + length])
            return raw if not dtype else np.frombuffer(raw, np.dtype(dtype)).reshape(shape)

        blob = section("texts")
        bounds = np.zeros(len(header["text_lengths"]) + 1, np.int64)
        np.cumsum(np.array(header["text_lengths"], np.int64), out=bounds[1:])
        if int(bounds[-1]) != len(blob) or len(header["rows"]) != len(header["text_lengths"]):
            raise CacheError(f"{name} is inconsistent")
        texts = [blob[int(a) : int(b)] for a, b in zip(bounds[:-1], bounds[1:])]
        spans, terms, lengths = section("spans"), section("terms"), section("term_lengths")
        rows = [_row(f) | stamp_fields(_stamp_of(f)) for f in header["rows"]]
        n_passages = sum(r["passages"] for r in rows)
        if (spans.dtype.kind not in "iu" or terms.dtype.kind not in "iu" or lengths.dtype.kind not in "iu"
                or spans.shape != (n_passages, 3) or lengths.shape != (n_passages,)
                or int(lengths.sum()) != len(terms)):
            raise CacheError(f"{name} is inconsistent")
        return Delta([str(p) for p in header["removed"]], rows, texts, spans, terms, lengths,
                     int(header["vocab_from"]), [str(t) for t in header["vocab_terms"]],
                     tuple(Skipped(str(s["path"]), str(s["reason"])) for s in header["skipped"]), len(data))
    except CacheError:
        raise
    except Exception as exc:  # the right checksum over the wrong shapes or types
        raise CacheError(f"{name} unreadable ({exc.__class__.__name__})") from None


def _stamp_of(f: dict[str, Any]) -> tuple[int, int, int, int] | None:
    if "ctime_ns" in f and "ino" in f:
        return (int(f["size"]), int(f["mtime_ns"]), int(f["ctime_ns"]), int(f["ino"]))
    return None


def _read_deltas(target: Path, base_id: str) -> tuple[Delta, ...]:
    """The deltas after the base, in order (the first missing number ends them)."""
    names = {n for n in os.listdir(target) if n.startswith("delta-") and n.endswith(".bin")}
    deltas = []
    for seq in range(1, len(names) + 1):
        name = delta_name(seq)
        if name not in names:
            raise CacheError(f"{name} is missing (deltas out of order)")
        deltas.append(_decode_delta((target / name).read_bytes(), base_id, seq))
    return tuple(deltas)


def append(target: Path, articles_dir: Path, base_id: str, seq: int, delta: Delta) -> int:
    """Add ``delta`` as number ``seq`` after the base ``base_id``; returns its size in bytes.

    Raises StaleBase when the cache is no longer that base or ``seq`` is taken (another process
    wrote since): the caller saves a whole new base instead."""
    _check_location(target, articles_dir)
    data = _encode_delta(delta, base_id, seq)
    with _locked(target, exclusive=True):
        try:
            on_disk = json.loads((target / BASE_ID).read_bytes())
        except (OSError, ValueError):
            raise StaleBase("the cache has no base") from None
        final = target / delta_name(seq)
        if (on_disk != base_id or final.exists()
                or (seq > 1 and not (target / delta_name(seq - 1)).exists())):
            raise StaleBase("the cache changed since it was read")
        tmp = target / f".{delta_name(seq)}.tmp-{os.getpid()}"
        try:
            _fsync_write(tmp, data)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        dir_fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return len(data)
