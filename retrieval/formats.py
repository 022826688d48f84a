"""PDF, DOCX, EPUB and RSS/Atom -> text, each through a well-kept library (or the zip reader
and the HTML walker already here), with caps so a hostile file cannot blow up.

Each reader raises :class:`retrieval.loader.SkipFile` with a short reason; the loader turns it
into a ``Skipped`` entry. The libraries raise many exception types on malformed input (they
parse untrusted bytes), so each reader catches broadly around the library call and names the
file's format in the reason: one bad file must never stop the rest.
"""
from __future__ import annotations

import io
import posixpath
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from xml.etree import ElementTree

from citebot.retrieval.errors import UserError

MAX_PDF_PAGES = 2_000
MAX_TEXT_CHARS = 20_000_000  # extracted text of one file (pages, chapters, entries together)
MAX_ZIP_ENTRIES = 10_000
MAX_UNZIPPED_BYTES = 100_000_000  # declared sizes; zipfile stops reading a member at its declared size
MAX_FEED_ENTRIES = 5_000
EMPTY_PAGE = "(no text on this page)"


class FormatError(UserError):
    """A short, user-facing reason why the file cannot be read (the loader makes it a SkipFile)."""


@dataclass(frozen=True)
class Entry:
    """One article read from a file: feeds give one per entry, other formats exactly one."""

    title: str
    body: str
    url: str | None = None
    published: str | None = None
    source: str | None = None
    author: str | None = None


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _short(exc: BaseException) -> str:
    text = _squeeze(str(exc))[:120]
    return text or type(exc).__name__


# --- PDF -------------------------------------------------------------------------------------


def read_pdf(data: bytes) -> Entry:
    """One paragraph per page, so a citation's paragraph number is the page number (a page
    without text keeps its place with a short marker). No text at all: a scanned PDF."""
    if not data.startswith(b"%PDF-"):
        raise FormatError("not a PDF (no %PDF- header)")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FormatError("encrypted PDF")
        count = len(reader.pages)
    except FormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted bytes; pypdf raises many types
        raise FormatError(f"unreadable PDF ({_short(exc)})") from None
    if count > MAX_PDF_PAGES:
        raise FormatError(f"PDF has {count:,} pages (the limit is {MAX_PDF_PAGES:,})")
    pages: list[str] = []
    first_lines: list[str] = []
    total = 0
    problem: Exception | None = None
    for number in range(count):
        try:
            raw = reader.pages[number].extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - one broken page keeps its place, the rest is read
            # e.g. pypdf's LimitReachedError: a content stream inflating past its 75 MB cap
            raw, problem = "", problem or exc
        if not first_lines:
            first_lines = [line.strip() for line in raw.splitlines() if line.strip()][:1]
        text = _squeeze(raw)
        total += len(text)
        if total > MAX_TEXT_CHARS:
            raise FormatError(f"PDF text over {MAX_TEXT_CHARS:,} characters")
        pages.append(text)
    if not any(pages):
        if problem is not None:
            raise FormatError(f"unreadable PDF ({_short(problem)})")
        raise FormatError("PDF has no text layer (a scan?); run OCR on it first")
    title = author = ""
    try:
        info = reader.metadata or {}
        title, author = _squeeze(str(info.get("/Title") or "")), _squeeze(str(info.get("/Author") or ""))
    except Exception:  # noqa: BLE001 - metadata is optional
        title = author = ""
    title = title or (first_lines[0] if first_lines else "")
    return Entry(title, "\n\n".join(p or EMPTY_PAGE for p in pages), author=author or None)


# --- zip-based formats ------------------------------------------------------------------------


def _open_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    """A zip checked against the caps on entries and (declared) unpacked size."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FormatError(f"not a valid {kind} file ({_short(exc)})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise FormatError(f"{kind} holds {len(infos):,} files (the limit is {MAX_ZIP_ENTRIES:,})")
    if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
        raise FormatError(f"{kind} unpacks to over {MAX_UNZIPPED_BYTES:,} bytes")
    return archive


def read_docx(data: bytes) -> Entry:
    """Paragraphs and table cells in order; the title from the document's properties, else
    its first Title/Heading paragraph, else its first paragraph."""
    _open_zip(data, "DOCX").close()
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        paragraphs = [(p.style.name if p.style is not None else "", _squeeze(p.text))
                      for p in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                cells = [_squeeze(c.text) for c in row.cells]
                paragraphs.append(("", " | ".join(c for c in cells if c)))
        title = _squeeze(document.core_properties.title or "")
        author = _squeeze(document.core_properties.author or "")
    except Exception as exc:  # noqa: BLE001 - untrusted bytes; python-docx/lxml raise many types
        raise FormatError(f"unreadable DOCX ({_short(exc)})") from None
    paragraphs = [(style, text) for style, text in paragraphs if text]
    if not title:
        for i, (style, text) in enumerate(paragraphs):
            if style.lower() in ("title", "heading 1"):
                title = text
                del paragraphs[i]
                break
    body = "\n\n".join(text for _, text in paragraphs)
    if len(body) > MAX_TEXT_CHARS:
        raise FormatError(f"DOCX text over {MAX_TEXT_CHARS:,} characters")
    return Entry(title, body, author=author or None)


_CONTAINER_NS = {"c": "urn:oasis:names:tc:opendocument:xmlns:container"}
_OPF_NS = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}


def read_epub(data: bytes, parse_html: Callable[[str], tuple[str, str]],
              decode: Callable[[bytes, str], str]) -> Entry:
    """Chapters in reading (spine) order, each read by the loader's linear HTML reader."""
    archive = _open_zip(data, "EPUB")
    try:
        names = set(archive.namelist())
        title, author, order = "", "", []
        try:
            container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
            rootfile = container.find(".//c:rootfile", _CONTAINER_NS)
            opf_path = rootfile.get("full-path") if rootfile is not None else None
            if opf_path:
                opf = ElementTree.fromstring(archive.read(opf_path))
                base = posixpath.dirname(opf_path)
                title = _squeeze(opf.findtext(".//dc:title", "", _OPF_NS))
                author = _squeeze(opf.findtext(".//dc:creator", "", _OPF_NS))
                items = {i.get("id"): i.get("href") for i in opf.iterfind(".//opf:manifest/opf:item", _OPF_NS)}
                for ref in opf.iterfind(".//opf:spine/opf:itemref", _OPF_NS):
                    href = items.get(ref.get("idref"))
                    if href:
                        order.append(posixpath.normpath(posixpath.join(base, href)))
        except (KeyError, ElementTree.ParseError):
            order = []
        if not order:  # no usable package file: the HTML files in name order
            order = sorted(n for n in names if n.lower().endswith((".xhtml", ".html", ".htm")))
        blocks: list[str] = []
        total = 0
        for name in order:
            if name not in names:
                continue
            chapter_title, body = parse_html(decode(archive.read(name), name))
            text = body or chapter_title
            total += len(text)
            if total > MAX_TEXT_CHARS:
                raise FormatError(f"EPUB text over {MAX_TEXT_CHARS:,} characters")
            if text:
                blocks.append(text)
    except FormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted zip members (bad CRC, bad deflate data)
        raise FormatError(f"unreadable EPUB ({_short(exc)})") from None
    finally:
        archive.close()
    return Entry(title, "\n\n".join(blocks), author=author or None)


# --- feeds -----------------------------------------------------------------------------------

_ENTRY_DATE = ("published", "updated", "created")


def _entry_date(entry: dict) -> str | None:
    """The entry's date as ISO 8601 in UTC when feedparser could read it, else as written."""
    for key in _ENTRY_DATE:
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            try:
                return datetime(*parsed[:6], tzinfo=timezone.utc).isoformat()
            except (TypeError, ValueError):
                pass
        if entry.get(key):
            return str(entry.get(key))
    return None


def read_feed(data: bytes, parse_html: Callable[[str], tuple[str, str]]) -> list[Entry]:
    """Each RSS/Atom entry one article, with its link and date; the feed's title as source."""
    import feedparser

    try:
        feed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # noqa: BLE001 - untrusted XML
        raise FormatError(f"unreadable feed ({_short(exc)})") from None
    entries = feed.get("entries") or []
    if not entries or feed.get("version", "") == "":
        raise FormatError("not an RSS or Atom feed (no entries)")
    if len(entries) > MAX_FEED_ENTRIES:
        raise FormatError(f"feed has {len(entries):,} entries (the limit is {MAX_FEED_ENTRIES:,})")
    source = _squeeze(feed.get("feed", {}).get("title", "")) or None
    out: list[Entry] = []
    total = 0
    for entry in entries:
        html_parts = [c.get("value", "") for c in entry.get("content", [])] or [entry.get("summary", "")]
        body = "\n\n".join(b for b in (parse_html(part)[1] for part in html_parts) if b)
        _, title = parse_html(entry.get("title", ""))
        date = _entry_date(entry)
        total += len(body)
        if total > MAX_TEXT_CHARS:
            raise FormatError(f"feed text over {MAX_TEXT_CHARS:,} characters")
        author = _squeeze(str(entry.get("author") or "")) or None
        out.append(Entry(_squeeze(title), body, entry.get("link") or None,
                         _squeeze(date) if date else None, source, author))
    return out
