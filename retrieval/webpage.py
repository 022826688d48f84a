"""A saved web page -> its article: main text without boilerplate, and the page's metadata.

A page saved from a news site carries a cookie banner, navigation, share bars, newsletter
boxes, related stories and reader comments around a few paragraphs of article. The loader's
own HTML walker keeps all of those (it only drops <nav>, <footer>, <aside>, forms, scripts), so
a reader's comment could be quoted as the answer. trafilatura (Apache-2.0, actively
maintained) finds the main content and reads the title, author, date and canonical URL from
the page's meta tags and JSON-LD; benchmarks/webpages.py measures it against the walker.

trafilatura works on a string it is given and never touches the network here (only its
``fetch_url`` does, which is not used). Its parsing is libxml2's, in C; the extraction
heuristics run many XPath passes over the tree. So that no input costs more than a bounded
time, pages over :data:`MAX_EXTRACT_TAGS` elements or :data:`MAX_EXTRACT_CHARS` characters
go to the walker without trying, and so does a page where extraction fails or finds nothing
(a fragment, a page of links): the caller falls back.
"""
from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass
from itertools import islice
from typing import Any

# trafilatura's heuristics cost about 0.1 ms per element (measured: 2 MB of 57,000 links took
# 13 s), linear but slow, so a page is extracted only up to a bound on its elements and size.
# A saved news article has 2,000-10,000 elements in 0.1-1 MB (inline scripts, styles and data
# included; a single-file save with images inlined can reach several MB but few more elements).
# Past either bound the linear walker reads the page, boilerplate and all.
MAX_EXTRACT_TAGS = 40_000
MAX_EXTRACT_CHARS = 8_000_000
_START_TAG = re.compile(r"<[A-Za-z]")

# trafilatura and its helpers log at WARNING/ERROR for pages they cannot use ("discarding
# data"); each such page falls back to the walker, so those lines would only alarm people.
for _name in ("trafilatura", "htmldate", "courlan", "justext", "readability"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

log = logging.getLogger(__name__)

_DATE_PARAMS = {
    "extensive_search": False,  # dates from meta tags, JSON-LD, <time>, the URL: not guessed from text
    "original_date": True,  # the publication date, not the last update
    "outputformat": "%Y-%m-%d",
}
# Between a headline and the site's name in a <title>: "Headline | Site", "Headline - Site" ...
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—·•:~»›/]|::|\|\|)\s+")
_NON_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Webpage:
    """What extraction found: the title, the article's paragraphs and the page's metadata."""

    title: str
    paragraphs: list[str]
    url: str | None = None
    published: str | None = None
    source: str | None = None
    author: str | None = None


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _key(text: str) -> str:
    return _NON_ALNUM.sub("", text.casefold())


def strip_site_name(title: str, site_names: list[str]) -> tuple[str, str | None]:
    """``title`` without a trailing (or leading) ``| Site name`` part naming the site, and
    that part as the page shows it (None when nothing was cut).

    trafilatura prefers og:title (no site name) but falls back to <title>, and splits that
    only at single-character separators; a site name after ``::`` or in a title with three
    parts ("Headline | Arts | Site") stays. Cut only a part that matches a known name of the
    site (its og:site_name, publisher or host name), so a headline with a dash keeps it.
    """
    keys = {_key(name) for name in site_names if name and _key(name)}
    if not keys:
        return title, None
    parts = _TITLE_SEPARATOR.split(title)
    if len(parts) < 2:
        return title, None
    if _key(parts[-1]) in keys:
        site = parts[-1]
        parts = parts[:-1]
        # "Headline | Section | Site": a short middle part is the section.
        if len(parts) > 1 and len(parts[-1]) <= 20 and len(parts[0]) > len(parts[-1]):
            parts = parts[:-1]
    elif _key(parts[0]) in keys:
        site = parts[0]
        parts = parts[1:]
    else:
        return title, None
    # Re-join what is left with the separators it had: find it in the original.
    kept = title
    start = title.find(parts[0])
    end = title.rfind(parts[-1]) + len(parts[-1])
    if 0 <= start < end:
        kept = title[start:end]
    return (kept.strip() or title), site.strip()


def _host_name(url: str | None) -> str | None:
    """``metro-daily`` for ``https://www.metro-daily.example/...``: the site's own label."""
    if not url:
        return None
    host = url.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    labels = [label for label in host.split(".") if label and label != "www"]
    return labels[0] if len(labels) > 1 else None


def _json_ld_url(tree: object) -> str | None:
    """The article's URL from JSON-LD (``url``, else ``mainEntityOfPage``): trafilatura reads
    the headline, author and date from it but not the URL."""
    for script in tree.iterfind(".//script[@type='application/ld+json']"):  # type: ignore[attr-defined]
        raw = script.text or ""
        if len(raw) > 200_000:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        items = data if isinstance(data, list) else data.get("@graph", [data]) if isinstance(data, dict) else []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or "Article" not in str(item.get("@type", "")):
                continue
            for value in (item.get("url"), item.get("mainEntityOfPage")):
                if isinstance(value, dict):
                    value = value.get("@id") or value.get("url")
                if isinstance(value, str) and value.startswith(("http://", "https://")):
                    return value
    return None


def _body_text(document: object) -> str:
    """The extracted text, one line per block, with entities decoded once.

    trafilatura's own ``document.text`` runs ``html.unescape`` over text lxml has already
    decoded, so a page that shows "&amp;lt;" would read "<", which is not in the page's visible
    text and quotes are promised verbatim. Its block walk without that last step is
    ``trafilatura.xml.process_element``; should that name ever go, ``document.text`` it is.
    """
    try:
        from trafilatura.xml import process_element

        lines: list[str] = []
        process_element(document.body, lines, False)  # type: ignore[attr-defined]
        return "".join(lines)
    except Exception:  # noqa: BLE001 - an internal API: fall back to the public text
        return document.text or ""  # type: ignore[attr-defined]


def _decoded_once(title: str, tree: object) -> str:
    """trafilatura's title, unless it is an entity-decoded-twice form of the page's own
    (og:title, <title>, <h1>): then that, decoded once by lxml as all the text is."""
    candidates = tree.xpath(  # type: ignore[attr-defined]
        "(//meta[@property='og:title']/@content | //head/title | //h1)[position() <= 5]")
    for candidate in candidates:
        text = _squeeze(candidate if isinstance(candidate, str) else candidate.text_content())
        if "&" in text and _squeeze(html.unescape(text)) == title:
            return text
    return title


def _paragraphs(text: str, title: str) -> list[str]:
    """trafilatura's text, one line per block, as paragraphs: white space squeezed, the
    list-item dash it adds removed (what is left stands verbatim in the page's text), and the
    headline dropped where it repeats the title near the top (the walker drops the <h1> too)."""
    out = []
    for line in text.split("\n"):
        line = _squeeze(line)
        if line.startswith("- "):
            line = line[2:]
        if line:
            out.append(line)
    if title:
        key = _key(title)
        for i, line in enumerate(out[:5]):  # on a short page the headline may follow some chrome
            if _key(line) == key:
                del out[i]
                break
    return out


def extract(html: str) -> Webpage | None:
    """The page's main content and metadata, or None when the walker should read it instead:
    the page is over :data:`MAX_EXTRACT_CHARS` or :data:`MAX_EXTRACT_TAGS`, extraction raised,
    or it found no text."""
    if _over_bounds(html):
        return None
    found = _bare_extraction(html)
    if found is None:
        return None
    document = found.document
    url = document.url or found.json_ld_url
    title, source = _title_and_source(found, url)
    paragraphs = _paragraphs(_body_text(document), title)
    if not paragraphs:
        return None
    author = _squeeze((document.author or "").replace(";", ",")) or None
    return Webpage(title, paragraphs, url, document.date or None, source, author)


def _over_bounds(html: str) -> bool:
    """Too big (or no markup) to extract in bounded time: the walker reads it instead."""
    if len(html) > MAX_EXTRACT_CHARS or "<" not in html:
        return True
    if next(islice(_START_TAG.finditer(html), MAX_EXTRACT_TAGS, None), None) is not None:
        log.info("web page over %s elements: read without boilerplate removal", f"{MAX_EXTRACT_TAGS:,}")
        return True
    return False


@dataclass(frozen=True)
class _Extracted:
    """trafilatura's reading of a page, with what ``extract`` reads from the tree beside it."""

    tree: Any
    document: Any  # trafilatura's Document
    json_ld_url: str | None
    page_title: str  # the <title> as written, site name and all


def _bare_extraction(html: str) -> _Extracted | None:
    """trafilatura's reading of ``html``, or None when it raised or found no text."""
    try:
        import trafilatura
        from trafilatura.utils import load_html

        tree = load_html(html)
        if tree is None:
            return None
        url_from_json_ld = _json_ld_url(tree)
        page_title = _squeeze(tree.findtext(".//head/title") or "")
        document = trafilatura.bare_extraction(
            tree,
            with_metadata=True,
            include_comments=False,  # reader comments are not the article
            include_tables=False,  # layout tables would come out as "| cell |" rows
            include_images=False,
            include_links=False,
            date_extraction_params=dict(_DATE_PARAMS),
        )
    except Exception as exc:  # noqa: BLE001 - untrusted markup; the walker reads what this cannot
        log.debug("web page extraction failed (%s); reading it as plain HTML", type(exc).__name__)
        return None
    if document is None or not (document.text or "").strip():
        return None
    return _Extracted(tree, document, url_from_json_ld, page_title)


def _title_and_source(found: _Extracted, url: str | None) -> tuple[str, str | None]:
    """The headline without the site's name, and the site's name (trafilatura's, or as the
    title writes it when trafilatura only had the URL's host)."""
    document = found.document
    source = _squeeze(document.sitename or "") or None
    title = _squeeze(document.title or "")
    if title:
        title = _decoded_once(title, found.tree)
    names = [n for n in (source, _host_name(url)) if n]
    title, site = strip_site_name(title, names)
    site = site or strip_site_name(found.page_title, names)[1]
    if source and "." in source and " " not in source:
        # trafilatura's last resort is the URL's host: the link shows that already, and
        # "highland-record.example" is no name. The site's name as the title writes it, if any.
        source = site
    elif site and not source:
        source = site
    return title, source
