"""Folder -> Articles. Reads text, markdown, reStructuredText, HTML, PDF, DOCX, EPUB and RSS/Atom
feeds (the binary formats in :mod:`retrieval.formats`), decodes defensively, and says why a file
is skipped: every file it does not read is listed with a reason.

One bad file must never stop the rest, so every per-file failure becomes a ``Skipped`` reason.
"""
from __future__ import annotations

import html
import logging
import os
import re
import stat as stat_module
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

from citebot.retrieval import formats, webpage
from citebot.retrieval.models import Article, Skipped

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
DOCX_SUFFIXES = frozenset({".docx"})
EPUB_SUFFIXES = frozenset({".epub"})
FEED_SUFFIXES = frozenset({".rss", ".atom", ".xml"})
ARTICLE_SUFFIXES = (TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES | EPUB_SUFFIXES
                    | FEED_SUFFIXES)
# A feed file holds many articles: entry N is cited as "feed.xml#entry-N". No real article's
# path ends so (every one ends in a suffix above), so the file of a path is never ambiguous.
_ENTRY_PATH = re.compile(r"#entry-[0-9]+\Z")
TEMP_SUFFIXES = (".swp", ".swo", ".swx", ".part", ".tmp", ".crdownload", ".partial")
DEFAULT_MAX_BYTES = 20_000_000
# A title is a headline: longer means the "title" line is really text (a file that is one long
# line). Titles ride along with passages in the index and show on every citation, so they are
# capped; the text itself is kept in the body.
MAX_TITLE_CHARS = 300


def is_ignored_name(name: str) -> bool:
    """Hidden and editor temp files are never articles (they come and go while people type)."""
    return (
        name.startswith((".", "~$", "#"))
        or name.endswith("~")
        or name.lower().endswith(TEMP_SUFFIXES)
    )


def has_article_suffix(name: str) -> bool:
    """``os.path.splitext(name)[1].lower() in ARTICLE_SUFFIXES``, without its overhead: this
    runs for every file of every scan (a million-passage folder holds 200k files)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in ARTICLE_SUFFIXES and name[:dot].strip(".") != ""


def unsupported_reason(name: str) -> str:
    """Why a file that is no article is skipped, naming its suffix."""
    dot = name.rfind(".")
    if dot <= 0:
        return "unsupported format (no file extension)"
    return f"unsupported format {printable(name[dot:].lower())}"


def file_of(path: str) -> str:
    """The file an article came from: ``feed.xml`` for ``feed.xml#entry-3``, else the path."""
    match = _ENTRY_PATH.search(path)
    return path[: match.start()] if match else path


def is_valid_utf8(name: str) -> bool:
    """False for names the OS gave us as undecodable bytes (surrogate escapes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """A file name safe to print, log and send: bad bytes as U+FFFD, line breaks escaped."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


@dataclass(frozen=True)
class FileInfo:
    """What the manifest records of a file to know, cheaply, whether it changed.

    Size and mtime alone miss a same-size rewrite that puts the old mtime back (`cp -p`,
    `rsync -t`, `tar x`, coarse FAT/SMB times). The kernel sets ctime on every write and on
    ``utime`` itself, and a file renamed over another has a new inode: with both, such an edit
    is seen without hashing every file on every scan.
    """

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int = 0
    ino: int = 0

    @property
    def stamp(self) -> tuple[int, int, int, int]:
        """(size, mtime_ns, ctime_ns, inode): equal stamps mean the file was not touched."""
        return (self.size, self.mtime_ns, self.ctime_ns, self.ino)


# --- the folder's boundary ---------------------------------------------------------------------

OUTSIDE_REASON = "links outside the articles folder (not followed)"
_ROOTS: dict[str, str] = {}  # folder as given -> its real path, as the latest scan saw it


def _real_root(folder: Path | str, fresh: bool = False) -> str:
    """The folder's real path (the folder itself may be a symlink). Remembered per folder, and
    renewed by every :func:`scan`: ``os.path.realpath`` costs ~10 µs, an open ~2 µs."""
    key = os.fspath(folder)
    root = None if fresh else _ROOTS.get(key)
    if root is None:
        if len(_ROOTS) > 64:
            _ROOTS.clear()
        root = _ROOTS[key] = os.path.realpath(key)
    return root


def is_inside(real: str, root: str) -> bool:
    """Whether the real path ``real`` is ``root`` or lies under it."""
    return real == root or real.startswith(root if root.endswith(os.sep) else root + os.sep)


def _opened_path(fd: int) -> str | None:
    """Where the file open as ``fd`` really is (Linux: /proc/self/fd); None where unknown."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _check_opened_inside(fd: int, path: str, folder: Path | str) -> None:
    """SkipFile unless the file open as ``fd`` lies inside ``folder``'s real path.

    Checks what was opened, not what a path named a moment before: a file swapped for a link
    between the scan and the read (or between a path check and the open) is still caught. The
    folder's remembered real path is renewed before a refusal, in case the folder (a link
    itself) was pointed elsewhere since the scan.
    """
    opened = _opened_path(fd)
    if opened is not None:
        if not is_inside(opened, _real_root(folder)) and not is_inside(opened, _real_root(folder, fresh=True)):
            raise SkipFile(OUTSIDE_REASON)
        return
    # No /proc: resolve the path, then make sure it names the very file that is open.
    real = os.path.realpath(path)
    if not is_inside(real, _real_root(folder, fresh=True)):
        raise SkipFile(OUTSIDE_REASON)
    try:
        named = os.stat(real)
    except OSError:
        raise SkipFile("file vanished while reading") from None
    opened_stat = os.fstat(fd)
    if (named.st_dev, named.st_ino) != (opened_stat.st_dev, opened_stat.st_ino):
        raise SkipFile("file was replaced while reading")


def scan(
    folder: Path, *, follow_outside_links: bool = False
) -> tuple[dict[str, FileInfo], list[Skipped]]:
    """Candidate article files under ``folder`` (recursive, symlink loops safe), by relative path.

    A link whose real path lies outside the folder is listed as skipped and not followed (a
    link to ``/`` is never walked), unless ``follow_outside_links``. Only links are resolved:
    every other entry lies inside because the folder holding it does.
    """
    walker = _Scan(_real_root(folder, fresh=True), follow_outside_links)
    walker.walk(folder)
    return walker.found, walker.problems


class _Scan:
    """One scan: the article files found, the entries skipped (with why) and the folders walked.

    Depth first in name order, with an explicit stack rather than recursion, so a folder tree
    of any depth is walked without meeting Python's recursion limit.
    """

    def __init__(self, root: str, follow_outside_links: bool) -> None:
        self.root = root
        self.follow_outside_links = follow_outside_links
        self.found: dict[str, FileInfo] = {}
        self.problems: list[Skipped] = []
        self.seen_dirs: set[tuple[int, int]] = set()

    def walk(self, folder: Path) -> None:
        stack = [("", iter(self._entries(folder, "")))]
        while stack:
            prefix, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            sub = self._entry(entry, prefix)
            if sub is not None:
                stack.append((sub, iter(self._entries(Path(entry.path), sub))))

    def _entries(self, directory: Path, prefix: str) -> list[os.DirEntry]:
        """``directory``'s entries by name; none for a folder walked already (a symlink loop, a
        folder linked twice) or one that cannot be read (listed as skipped)."""
        try:
            stat = directory.stat()
        except OSError as exc:
            self.problems.append(Skipped(prefix or ".", f"unreadable folder: {exc.strerror or exc}"))
            return []
        key = (stat.st_dev, stat.st_ino)
        if key in self.seen_dirs:
            return []
        self.seen_dirs.add(key)
        try:
            return sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            self.problems.append(Skipped(prefix or ".", f"unreadable folder: {exc.strerror or exc}"))
            return []

    def _entry(self, entry: os.DirEntry, prefix: str) -> str | None:
        """Record one entry as found or skipped; a folder to walk into is returned (its prefix)."""
        name = entry.name
        relative = f"{prefix}{name}"
        if is_ignored_name(name):
            return None
        if "\n" in name or "\r" in name:
            self.problems.append(Skipped(printable(relative), "file name contains a line break"))
            return None
        if not is_valid_utf8(name):
            # Such a name cannot be shown, cited or stored in JSON; ask for a rename.
            self.problems.append(Skipped(printable(relative), "file name is not valid UTF-8; rename it"))
            return None
        try:
            if (not self.follow_outside_links and entry.is_symlink()
                    and not is_inside(os.path.realpath(entry.path), self.root)):
                if entry.is_dir() or has_article_suffix(name):
                    self.problems.append(Skipped(relative, OUTSIDE_REASON))
                return None
            if entry.is_dir():
                return relative + "/"
            if not has_article_suffix(name):  # every folder on the way was checked already
                self.problems.append(Skipped(relative, unsupported_reason(name)))
                return None
            st = entry.stat()
        except OSError as exc:
            self.problems.append(Skipped(relative, f"cannot stat: {exc.strerror or exc}"))
            return None
        if not stat_module.S_ISREG(st.st_mode):
            # A FIFO would block open() forever; sockets and devices are no articles either.
            self.problems.append(Skipped(relative, "not a regular file"))
            return None
        self.found[relative] = FileInfo(relative, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        return None


# --- decoding --------------------------------------------------------------------------------


class SkipFile(Exception):
    """Raised with a short, user-facing reason when a file cannot be an article."""


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")  # C0 controls other than \t \n \f \r


def decode(data: bytes, name: str) -> str:
    """UTF-8 (BOM or not), else cp1252, else latin-1, with a warning; binary is refused."""
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise SkipFile("empty file")
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        data = data.removeprefix(b"\xef\xbb\xbf")  # else it reads as "ï»¿" in the title
        try:
            text = data.decode("cp1252")
            log.warning("%s: not valid UTF-8; read as Windows-1252", name)
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            log.warning("%s: not valid UTF-8; read as Latin-1", name)
    head = text[:8192]
    controls = len(_CONTROL_CHARS.findall(head))  # a C loop: this runs for every file read
    if controls > max(8, len(head) // 20):
        raise SkipFile("binary file (control characters)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- formats ---------------------------------------------------------------------------------

# The closing ``---`` (YAML) or ``+++`` (TOML, Hugo) may end the file; the block may be empty.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?:(.*?)\n)?---[ \t]*(?:\n|\Z)", re.S)
_TOML_FRONT_MATTER = re.compile(r"\A\+\+\+[ \t]*\n(?:(.*?)\n)?\+\+\+[ \t]*(?:\n|\Z)", re.S)
_FRONT_MATTER_KEY = re.compile(r"^[A-Za-z_][\w-]*[ \t]*:")
_TOML_KEY = re.compile(r"^(?:[A-Za-z_][\w-]*[ \t]*=|\[)")
MAX_FRONT_MATTER_CHARS = 64_000  # a real block is a few lines; a bigger one is read line by line
# Front matter keys -> Article fields: Jekyll and Hugo say ``date``, feeds ``link``.
_META_KEYS = {"title": "title", "url": "url", "link": "url", "canonical_url": "url",
              "published": "published", "date": "published", "source": "source", "author": "author",
              "authors": "author"}


def _meta_value(value: object) -> str | None:
    """A scalar as one line of text (YAML/TOML dates as ISO); lists of names joined; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        text = " ".join(str(value).split())
        return text or None
    if hasattr(value, "isoformat"):  # date, datetime (YAML and TOML parse them)
        return value.isoformat()
    if isinstance(value, list) and all(isinstance(v, str) for v in value[:20]):
        return ", ".join(" ".join(v.split()) for v in value[:20]) or None  # authors: [A, B]
    return None


def _structured_meta(block: str, toml: bool) -> dict[str, str] | None:
    """The block parsed as TOML or YAML (safe loader: no objects built), or None if it is not
    a mapping or does not parse."""
    if len(block) > MAX_FRONT_MATTER_CHARS:
        return None
    try:
        if toml:
            import tomllib

            data = tomllib.loads(block)
        else:
            import yaml

            data = yaml.safe_load(block) if block.strip() else {}
    except Exception:  # noqa: BLE001 - yaml and tomllib raise several error types on bad input
        return None
    if not isinstance(data, dict):
        return None
    meta: dict[str, str] = {}
    for key, value in data.items():
        field = _META_KEYS.get(str(key).strip().lower())
        text = _meta_value(value)
        if field and text and field not in meta:
            meta[field] = text
    return meta


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """An optional YAML (``---``) or TOML (``+++``) block; only the citation keys are kept
    (``title``, ``url``/``link``, ``published``/``date``, ``source``, ``author``/``authors``).

    The block is cut: character offsets (passage spans, quotes) refer to the body after it.
    A ``---`` pair around lines that are not ``key:`` lines is a horizontal rule, not metadata.
    A block YAML cannot parse is read as plain ``key: value`` lines.
    """
    toml = text.startswith("+++")
    match = (_TOML_FRONT_MATTER if toml else _FRONT_MATTER).match(text)
    if not match:
        return {}, text
    block = match.group(1) or ""
    first = next((line.strip() for line in block.splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    if first and not (_TOML_KEY if toml else _FRONT_MATTER_KEY).match(first):
        return {}, text
    body = text[match.end() :]
    meta = _structured_meta(block, toml)
    if meta is not None:
        return meta, body
    meta = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=" if toml else ":")
        field = _META_KEYS.get(key.strip().lower())
        value = value.strip().strip("\"'")
        if sep and field and value and field not in meta:
            meta[field] = value
    return meta, body


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*")
_SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(?:=+|-+)[ \t]*$")


def _title_line(lines: list[str]) -> int | None:
    """Index of the first non-empty line, or None."""
    return next((i for i, line in enumerate(lines) if line.strip()), None)


def _strip_heading(line: str) -> str:
    return _HEADING.sub("", line).strip().rstrip("#").strip()


def cap_title(title: str, limit: int = MAX_TITLE_CHARS) -> str:
    """``title`` on one line, cut to at most ``limit`` characters at a word boundary ("…" marks
    the cut). Linear in the title's length."""
    if len(title) <= limit and "\n" not in title:
        return title
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    cut = title.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit - 1  # one giant word: cut inside it
    return title[:cut].rstrip() + "…"


def parse_text(text: str, known_title: str | None = None) -> tuple[str, str]:
    """Plain text / markdown: the first non-empty line is the title (``#`` stripped).

    A setext underline (``=====`` or ``-----``) under the title goes with it. With a
    ``known_title`` from front matter the first line is taken as the title only when it is a
    ``#`` heading or repeats that title; otherwise it is body text and stays in the body. A
    first line longer than a title may be (a file that is one long line) is text: it stays in
    the body, and the caller caps the title made of it.
    """
    lines = text.split("\n")
    i = _title_line(lines)
    if i is None:
        return known_title or "", ""
    line = lines[i]
    title = _strip_heading(line)
    underlined = i + 1 < len(lines) and bool(_SETEXT_UNDERLINE.match(lines[i + 1])) and bool(title)
    if len(title) > MAX_TITLE_CHARS:
        return known_title or title, text
    if known_title:
        is_heading = bool(_HEADING.match(line)) or underlined
        if not is_heading and " ".join(title.split()).casefold() != " ".join(known_title.split()).casefold():
            return known_title, text
        title = known_title
    body = "\n".join(lines[i + (2 if underlined else 1) :])
    return title, body


class _HtmlText:
    """Collects title, first h1 and body text by block; scripts, styles and navigation dropped.

    Fed events by :func:`_walk_html`, in the shape ``html.parser`` gives them.
    """

    SKIP = frozenset({"script", "style", "nav", "noscript", "template", "svg", "head", "footer",
                      "aside", "form", "button", "iframe"})
    BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                       "section", "article", "blockquote", "tr", "table", "pre", "figcaption",
                       "main", "header", "dd", "dt", "hr"})

    def __init__(self) -> None:
        self._title: list[str] = []
        self._h1: list[str] = []
        self._skip_depth = 0
        self._in_title = False
        self._title_done = False
        self._in_h1 = False
        self._blocks: list[str] = []
        self._current: list[str] = []

    def _flush(self) -> None:
        block = " ".join("".join(self._current).split())
        if block:
            self._blocks.append(block)
        self._current = []

    def _end_title(self, tag: str) -> None:
        """The title is text up to the next tag: an unclosed <title> cannot swallow the page."""
        if self._in_title and tag != "title":
            self._in_title = False
            self._title_done = True

    def handle_starttag(self, tag: str) -> None:
        self._end_title(tag)
        if tag == "title" and not self._skip_depth and not self._title_done:
            self._in_title = True
        if tag in self.SKIP and tag != "head":
            self._skip_depth += 1
        if tag in self.BLOCK:
            self._flush()
        if tag == "h1" and not self._h1:
            self._in_h1 = True

    def handle_startendtag(self, tag: str) -> None:
        self._end_title(tag)
        if tag in self.BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        self._end_title(tag)
        if tag == "title" and self._in_title:
            self._in_title = False
            self._title_done = True
        if tag in self.SKIP and tag != "head" and self._skip_depth:
            self._skip_depth -= 1
        if tag in self.BLOCK:
            self._flush()
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
            return
        if self._skip_depth:
            return
        if self._in_h1 and data:
            self._h1.append(data)
        self._current.append(data)

    def result(self) -> tuple[str, str, list[str]]:
        """(title, first h1, blocks), white space squeezed."""
        self._flush()
        return " ".join("".join(self._title).split()), " ".join("".join(self._h1).split()), self._blocks


# Why not html.parser: on Python 3.11 it takes quadratic time on unclosed markup (CVE-2025-6069:
# 2 MB of "</" took 318 s; 100 KB of "<a" 15 s) and raises AssertionError on "<![" junk. This
# walker makes one forward pass: every search either consumes the text it looked through or
# meets the end of the input, which ends the walk (as in a browser: markup left open at the end
# of the file swallows the rest). So its time is linear in the input, whatever the input.
_TAG_NAME = re.compile(r"[a-zA-Z][^\t\n\r\f />\x00]*")
_IN_TAG = re.compile(r"[>=]")  # inside a tag, only these matter: the end, or a value to skip
_VALUE_QUOTE = re.compile(r"[\t\n\r\f ]*([\"'])?")
_RAW_TEXT = ("script", "style")  # content is not markup: it runs to the matching end tag
_RAW_END = {name: re.compile(rf"</{name}[\t\n\r\f />]", re.I) for name in _RAW_TEXT}
# A numeric character reference beyond U+10FFFF: html.unescape would turn it into U+FFFD, but
# int() of one over 4,300 digits raises ValueError first (and is quadratic up to there).
_HUGE_CHARREF = re.compile(r"&#(?:[xX]0*+[0-9a-fA-F]{7,}|0*+[0-9]{8,});?")


def _unescape(text: str) -> str:
    """``html.unescape`` for any input: linear, never raising."""
    if "&" not in text:
        return text
    if "&#" in text:
        text = _HUGE_CHARREF.sub("\ufffd", text)
    return html.unescape(text)


def _tag_end(text: str, i: int) -> int:
    """Index just past the ``>`` closing the tag whose attributes start at ``i``, or -1 at the
    end of the input. A ``>`` inside a quoted attribute value does not close the tag; a quote
    that is never closed does not hide the ``>`` after it."""
    while True:
        match = _IN_TAG.search(text, i)
        if match is None:
            return -1
        k = match.end()
        if text[k - 1] == ">":
            return k
        quote = _VALUE_QUOTE.match(text, k)
        i = quote.end()
        if quote.group(1):
            close = text.find(quote.group(1), i)
            if close < 0:  # never closed: fall back to the next ">"
                close = text.find(">", i)
                return -1 if close < 0 else close + 1
            i = close + 1


def _walk_html(text: str, handler: _HtmlText) -> None:
    """Feed ``handler`` the start tags, end tags and (entity-decoded) text of ``text``."""
    i = 0  # start of the text not yet handed over
    j = 0  # where to look for the next "<"
    while (lt := text.find("<", j)) >= 0:
        read = _markup_reader(text, lt)
        if read is None:  # a "<" that starts no markup ("a < b") is text
            j = lt + 1
            continue
        if i < lt:
            handler.handle_data(_unescape(text[i:lt]))
        end = read(text, lt, handler)
        if end < 0:
            return  # the input ends inside the markup: it swallows the rest
        i = j = end
    if i < len(text):
        handler.handle_data(_unescape(text[i:]))


# A markup reader: given the text, the index of its "<" and the handler, it hands the handler the
# markup's events and returns the index just past the markup, or -1 when the input ends inside it.
_Reader = Callable[[str, int, _HtmlText], int]


def _markup_reader(text: str, lt: int) -> _Reader | None:
    """How to read the markup starting at ``text[lt] == "<"``; None if it starts no markup."""
    nxt = text[lt + 1 : lt + 2]
    if nxt.isascii() and nxt.isalpha():
        return _read_start_tag
    if nxt == "/":
        after = text[lt + 2 : lt + 3]
        if after.isascii() and after.isalpha():
            return _read_end_tag
        if after == "":
            return None  # "</" at the very end is text
        if after == ">":
            return _read_empty_end_tag
        return _read_declaration  # "</ ...>": a bogus comment
    if text.startswith("<!--", lt):
        return _read_comment
    if nxt in ("!", "?"):
        return _read_declaration
    return None


def _read_start_tag(text: str, lt: int, handler: _HtmlText) -> int:
    """``<name ...>`` or ``<name .../>``; for script and style also their raw content, which
    runs to the matching end tag (or the end of the input)."""
    name_match = _TAG_NAME.match(text, lt + 1)
    end = _tag_end(text, name_match.end())
    if end < 0:
        return -1
    tag = name_match.group(0).lower()
    if text[end - 2] == "/":
        handler.handle_startendtag(tag)
        return end
    handler.handle_starttag(tag)
    if tag not in _RAW_END:
        return end
    close = _RAW_END[tag].search(text, end)
    if close is None:
        return -1  # the rest of the input is script or style
    end = _tag_end(text, close.start() + 2 + len(tag))
    handler.handle_endtag(tag)
    return end


def _read_end_tag(text: str, lt: int, handler: _HtmlText) -> int:
    name_match = _TAG_NAME.match(text, lt + 2)
    end = _tag_end(text, name_match.end())
    if end >= 0:
        handler.handle_endtag(name_match.group(0).lower())
    return end


def _read_empty_end_tag(text: str, lt: int, handler: _HtmlText) -> int:
    return lt + 3  # "</>" is dropped


def _read_comment(text: str, lt: int, handler: _HtmlText) -> int:
    if text.startswith(">", lt + 4) or text.startswith("->", lt + 4):  # "<!-->", "<!--->"
        return lt + (5 if text[lt + 4] == ">" else 6)
    close = text.find("-->", lt + 4)
    return -1 if close < 0 else close + 3  # an unclosed comment runs to the end


def _read_declaration(text: str, lt: int, handler: _HtmlText) -> int:
    """``<!...>``, ``<?...>``, ``</ ...>``: declarations and bogus comments, to the next ``>``."""
    close = text.find(">", lt + 2)
    return -1 if close < 0 else close + 1


def parse_html(text: str) -> tuple[str, str]:
    """HTML: title from <title> (else <h1>), body text as one paragraph per block element.

    Linear in the input, hostile or not (see :func:`_walk_html`). An <h1> too long to be a title
    stays in the body.
    """
    handler = _HtmlText()
    _walk_html(text, handler)
    title, h1, blocks = handler.result()
    title = title or h1
    if blocks and h1 and blocks[0] == h1 and len(h1) <= MAX_TITLE_CHARS:
        blocks = blocks[1:]
    # Entities were decoded once, in the text between tags: "&amp;lt;" stays "&lt;".
    return title, "\n\n".join(blocks)


def read_html_page(text: str) -> tuple[str, str, dict[str, str]]:
    """A saved web page: its main content without boilerplate, and its title, URL, date,
    source and author as front matter would give them (see :mod:`retrieval.webpage`). A page
    extraction cannot read (too big, a fragment, nothing found) is read by :func:`parse_html`,
    whose time is linear whatever the input."""
    page = webpage.extract(text)
    if page is None:
        title, body = parse_html(text)
        return title, body, {}
    meta = {key: value for key, value in (("url", page.url), ("published", page.published),
                                          ("source", page.source), ("author", page.author)) if value}
    title = page.title or parse_html(text)[0]
    return title, "\n\n".join(page.paragraphs), meta


MAX_URL_CHARS = 2048
_URL_SCHEMES = ("http", "https")


def clean_url(value: str | None) -> str | None:
    """An absolute http(s) URL, else None: a ``javascript:`` or ``file:`` link, a blank value,
    one with spaces or control characters inside, or one over MAX_URL_CHARS is no URL. Shown
    as a link in the CLI and on Discord, so nothing else may pass."""
    value = (value or "").strip()
    if not value or len(value) > MAX_URL_CHARS or not value.isprintable() or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if parts.scheme.lower() not in _URL_SCHEMES or not parts.netloc:
        return None
    return value


# The one upload /add has just parsed to check it, so the refresh that indexes it need not
# parse it again: (relative path, bytes, articles). parse_articles is a pure function of the
# path and the bytes, so answering from here gives exactly what parsing would.
_parsed: tuple[str, bytes, list[Article]] | None = None


def parse_and_remember(relative: str, data: bytes) -> list[Article]:
    """:func:`parse_articles`, kept for the next call with the same path and bytes (once)."""
    global _parsed
    articles = parse_articles(relative, data)
    _parsed = (relative, data, articles)
    return articles


def forget_parsed() -> None:
    """Drop what :func:`parse_and_remember` kept (it holds the upload's bytes)."""
    global _parsed
    _parsed = None


# Content that is not what a text suffix says: refused with the reason instead of being indexed
# as text (a PDF renamed .txt would otherwise be an article titled "%PDF-1.4").
_MAGIC = (
    (b"%PDF-", "content is a PDF, not text (rename it .pdf)"),
    (b"PK\x03\x04", "content is a zip archive (a .docx or .epub?), not text"),
    (b"{\\rtf", "content is RTF, not text (save it as .docx or .txt)"),
)


def sniff(data: bytes) -> None:
    """SkipFile if a text or HTML file's bytes are really another format."""
    head = data[:8].removeprefix(b"\xef\xbb\xbf")
    for magic, reason in _MAGIC:
        if head.startswith(magic):
            raise SkipFile(reason)


def _entry_article(path: str, entry: "formats.Entry", fallback_title: str) -> Article:
    title, body = entry.title, entry.body
    if not body.strip():
        if not title.strip():
            raise SkipFile("no text")
        body = title  # a one-line article is still searchable by its only line (in full)
    return Article(
        path=path,
        title=cap_title(title) or fallback_title,
        text=body,
        url=clean_url(entry.url),
        published=entry.published or None,
        source=entry.source or None,
        author=cap_title(entry.author, 200) if entry.author else None,
    )


def parse_articles(relative: str, data: bytes) -> list[Article]:
    """Bytes of one file -> its articles (raises SkipFile with the reason). One article per
    file, except feeds: one per entry, at ``file#entry-N``. Linear in the file's size for the
    text formats; the binary ones are capped (pages, zip entries, unpacked size, text)."""
    global _parsed
    kept = _parsed
    if kept is not None and kept[0] == relative and kept[1] == data:
        _parsed = None
        return kept[2]
    suffix = os.path.splitext(relative)[1].lower()
    name = os.path.basename(relative)
    try:
        if suffix in PDF_SUFFIXES:
            return [_entry_article(relative, formats.read_pdf(data), name)]
        if suffix in DOCX_SUFFIXES:
            return [_entry_article(relative, formats.read_docx(data), name)]
        if suffix in EPUB_SUFFIXES:
            return [_entry_article(relative, formats.read_epub(data, parse_html, decode), name)]
        if suffix in FEED_SUFFIXES:
            sniff(data)
            entries = formats.read_feed(data, parse_html)
            out = []
            for number, entry in enumerate(entries, start=1):
                try:
                    out.append(_entry_article(f"{relative}#entry-{number}", entry, f"{name} entry {number}"))
                except SkipFile:
                    continue  # an empty entry: the others still count
            if not out:
                raise SkipFile("feed entries have no text")
            return out
    except formats.FormatError as exc:
        raise SkipFile(str(exc)) from None
    sniff(data)
    text = decode(data, relative)
    meta, text = split_front_matter(text)
    if suffix in HTML_SUFFIXES:
        title, body, page_meta = read_html_page(text)
        meta = {**page_meta, **meta}  # front matter, where a page has any, wins
    else:
        title, body = parse_text(text, meta.get("title"))
    title = meta.get("title") or title
    entry = formats.Entry(title, body, meta.get("url"), meta.get("published"), meta.get("source"),
                          meta.get("author"))
    return [_entry_article(relative, entry, name)]


def parse_article(relative: str, data: bytes) -> Article:
    """The first article of :func:`parse_articles` (the only one, except for feeds)."""
    return parse_articles(relative, data)[0]


def read_bytes(
    folder: Path, relative: str, max_bytes: int = DEFAULT_MAX_BYTES, *, follow_outside_links: bool = False
) -> bytes:
    """The bytes of one regular file, at most ``max_bytes``; every failure is a SkipFile.

    Opened non-blocking and checked with fstat, so a FIFO or device swapped in after the scan
    is refused instead of hanging the refresh. Unless ``follow_outside_links``, the opened file
    must lie inside the folder: a file swapped for a link after the scan is refused too.
    """
    path = os.path.join(folder, relative)  # not pathlib: this runs once per file read
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SkipFile("file vanished while reading") from None
    except IsADirectoryError:
        raise SkipFile("is a folder") from None
    except OSError as exc:
        raise SkipFile(f"unreadable: {exc.strerror or exc}") from None
    try:
        if not follow_outside_links:
            _check_opened_inside(fd, path, folder)
        info = os.fstat(fd)
        if not stat_module.S_ISREG(info.st_mode):
            raise SkipFile("not a regular file")
        size = info.st_size
        with os.fdopen(fd, "rb", closefd=False) as handle:
            # Sized to the file (not to the cap: a 20 MB buffer per small file is slow), plus one
            # byte so a file that grew past the cap since fstat is still caught.
            data = handle.read(min(size, max_bytes) + 1)
            if len(data) > size and len(data) <= max_bytes:
                data += handle.read(max_bytes + 1 - len(data))  # grew while being read
    except OSError as exc:
        raise SkipFile(f"unreadable: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise SkipFile(f"too large (over {max_bytes:,} bytes)")
    return data


def read_article(
    folder: Path, relative: str, max_bytes: int = DEFAULT_MAX_BYTES, *, follow_outside_links: bool = False
) -> Article:
    """Read and parse one file; every failure is a SkipFile with a short reason."""
    data = read_bytes(folder, relative, max_bytes, follow_outside_links=follow_outside_links)
    return parse_article(relative, data)


def read_articles(
    folder: Path, relative: str, max_bytes: int = DEFAULT_MAX_BYTES, *, follow_outside_links: bool = False
) -> list[Article]:
    """Read and parse one file into its articles (several for a feed); failures are SkipFile."""
    data = read_bytes(folder, relative, max_bytes, follow_outside_links=follow_outside_links)
    return parse_articles(relative, data)


def load_folder(
    folder: Path, max_bytes: int = DEFAULT_MAX_BYTES, *, follow_outside_links: bool = False
) -> Iterator[Article | Skipped]:
    """Every article under ``folder``, or a Skipped naming the file and the reason."""
    files, problems = scan(folder, follow_outside_links=follow_outside_links)
    yield from problems
    for relative in files:
        try:
            yield from read_articles(folder, relative, max_bytes, follow_outside_links=follow_outside_links)
        except SkipFile as exc:
            log.warning("skipped %s: %s", relative, exc)
            yield Skipped(relative, str(exc))
