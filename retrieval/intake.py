"""Saving an uploaded article into the folder safely (behind `/add`; pure, no discord).

An upload is untrusted: its name could aim outside the folder or at a hidden file, its bytes
could be anything. So the name is checked, the bytes are parsed before anything touches disk,
the file is written under a hidden temp name (which the loader and watcher ignore) and moved
into place in one step, and an existing article is never clobbered unless asked. Then the index
is refreshed so the reply can say what was indexed.
"""
from __future__ import annotations

import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from citebot.retrieval.errors import UserError
from citebot.retrieval.loader import ARTICLE_SUFFIXES, SkipFile, forget_parsed, is_ignored_name, parse_and_remember

if TYPE_CHECKING:  # pragma: no cover
    from citebot.retrieval.library import Library

ALLOWED_SUFFIXES = tuple(sorted(ARTICLE_SUFFIXES))  # what the loader reads
MAX_NAME_BYTES = 200  # leaves room for the temp-name decoration under the usual 255-byte limit
DEFAULT_MAX_UPLOAD = 2_000_000
# Letters and symbols that draw nothing: Hangul fillers and the blank Braille pattern.
BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


class IntakeError(UserError, ValueError):
    """The upload was refused and nothing was written; the message is user-facing."""


@dataclass(frozen=True)
class Saved:
    name: str
    path: Path
    replaced: bool


@dataclass(frozen=True)
class AddResult:
    """What `/add` reports: the indexed title and passage count, or why it was not indexed."""

    name: str
    replaced: bool
    title: str | None = None
    passages: int = 0
    reason: str | None = None

    @property
    def indexed(self) -> bool:
        return self.reason is None


def is_visible(ch: str) -> bool:
    """A character that draws something: a letter, digit, punctuation or symbol, not a space,
    mark, control, format or unassigned code point, nor one of BLANK_LOOKING."""
    return unicodedata.category(ch)[0] in "LNPS" and ch not in BLANK_LOOKING


def clean_name(raw: str) -> str:
    """The upload's file name if it is a plain, visible article name; else IntakeError.

    Refused rather than rewritten: silently turning ``../../x.txt`` into ``x.txt`` would
    hide an attack and surprise an honest user alike.
    """
    name = unicodedata.normalize("NFC", raw or "")
    stem = name.rpartition(".")[0] if "." in name else name
    if not name.strip():
        raise IntakeError("The file has no name.")
    if stem and not any(is_visible(ch) for ch in stem):
        # U+3164, U+2800, U+3000, NBSP...: a name that shows as blank in every list.
        raise IntakeError("The file name must have a visible character before its extension.")
    name = name.strip()
    if "/" in name or "\\" in name or "\x00" in name:
        raise IntakeError("The file name must not contain path separators.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise IntakeError("The file name must not contain control or invisible characters.")
    if ".." in name:
        raise IntakeError("The file name must not contain “..”.")
    if name.startswith(".") or is_ignored_name(name):
        raise IntakeError("Hidden or temporary file names (starting with “.”, “~$” or “#”, or "
                          "ending in “~” or a temp suffix) are not allowed.")
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise IntakeError("Only text (.txt, .md, .markdown, .rst), HTML (.html, .htm), PDF, DOCX, EPUB "
                          "and RSS/Atom feed (.rss, .atom, .xml) files can be added.")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise IntakeError(f"The file name is too long (over {MAX_NAME_BYTES} bytes).")
    return name


def check_upload(name: str, data: bytes, max_bytes: int = DEFAULT_MAX_UPLOAD) -> str:
    """Validate name, size and content before anything is written; returns the clean name.

    The parse is kept (``parse_and_remember``), so the refresh that indexes the saved file
    does not parse it a second time.
    """
    name = clean_name(name)
    if len(data) > max_bytes:
        raise IntakeError(f"The file is too large ({len(data):,} bytes; the limit is {max_bytes:,}).")
    try:
        parse_and_remember(name, data)
    except SkipFile as exc:
        raise IntakeError(f"The file cannot be used as an article: {exc}.") from None
    return name


def save_upload(
    folder: Path | str, name: str, data: bytes, *, replace: bool = False, max_bytes: int = DEFAULT_MAX_UPLOAD
) -> Saved:
    """Write ``data`` as ``folder/name`` atomically; refuses to overwrite unless ``replace``."""
    folder = Path(folder)
    name = check_upload(name, data, max_bytes)
    target = folder / name
    if target.parent != folder or os.path.dirname(os.path.abspath(target)) != os.path.abspath(folder):
        raise IntakeError("The file name must not point outside the articles folder.")  # belt and braces
    if not folder.is_dir():
        raise IntakeError("The articles folder does not exist.")
    existed = os.path.lexists(target)
    if existed and not replace:
        raise IntakeError(f"“{name}” already exists; add it again with replace set to true to overwrite it.")
    if existed and target.is_dir() and not target.is_symlink():
        raise IntakeError(f"“{name}” is a folder in the articles folder.")
    temp = folder / f".{name}.{secrets.token_hex(4)}.part"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temp, target)  # replaces a symlink itself, never what it points to
        else:
            _place_new(temp, target, name)
    except OSError as exc:
        raise IntakeError(f"Could not save the file: {exc.strerror or exc}.") from None
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)
    _fsync_dir(folder)
    return Saved(name, target, existed)


def _place_new(temp: Path, target: Path, name: str) -> None:
    """Move into place only if nothing is there, atomically (a hard link fails if it exists)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise IntakeError(f"“{name}” already exists; add it again with replace set to true to overwrite it.") from None
    except OSError:  # no hard links on this filesystem: check, then rename
        if os.path.lexists(target):
            raise IntakeError(f"“{name}” already exists; add it again with replace set to true to overwrite it.") from None
        os.rename(temp, target)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def add_article(
    library: "Library", name: str, data: bytes, *, replace: bool = False, max_bytes: int = DEFAULT_MAX_UPLOAD
) -> AddResult:
    """Save the upload into the library's folder, refresh, and report what the index now holds."""
    limit = min(max_bytes, getattr(library, "max_file_bytes", max_bytes))
    try:
        saved = save_upload(library.folder, name, data, replace=replace, max_bytes=limit)
        library.refresh()
    finally:
        forget_parsed()
    info = library.article_info(saved.name)
    if info is not None:
        return AddResult(saved.name, saved.replaced, info[0], info[1])
    reason = next((s.reason for s in library.stats().skipped if s.path == saved.name),
                  "it was saved but not picked up by the index")
    return AddResult(saved.name, saved.replaced, reason=reason)
