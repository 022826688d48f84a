"""Answer -> plain text and JSON for the CLI (pure functions, unit-tested)."""
from __future__ import annotations

import re
from typing import Any

from citebot.retrieval.models import Answer, Citation, Hit, page_of, where


def citation_json(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n, "title": c.title, "path": c.path, "paragraph": c.paragraph,
        "quote": c.quote, "score": round(c.score, 4), "url": c.url, "page": c.page,
        "published": c.published, "source": c.source, "author": c.author,
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "found": answer.found,
        "answer": answer.text if answer.found else "",
        "citations": [citation_json(c) for c in answer.citations],
        "see_also": [citation_json(c) for c in answer.see_also],
        "took_ms": answer.took_ms,
    }


def error_json(question: str, message: str) -> dict[str, Any]:
    return {"question": question, "found": False, "answer": "", "citations": [], "error": message}


def hits_json(query: str, hits: list[Hit]) -> dict[str, Any]:
    return {
        "query": query,
        "hits": [
            {
                "path": h.passage.article.path, "title": h.passage.article.title,
                "paragraph": h.passage.paragraph, "score": round(h.score, 4), "text": h.passage.text,
                "page": page_of(h.passage.article.path, h.passage.paragraph),
            }
            for h in hits
        ],
    }


# C0/C1 control characters (ESC above all) other than tab and newline: an article quoted to a
# terminal must not be able to move the cursor, retitle the window or clear the screen. JSON
# output escapes them itself and keeps quotes byte-exact.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _safe(text: str | None) -> str:
    return _CONTROL.sub("\ufffd", text or "")


def _source_line(c: Citation) -> str:
    link = f" <{_safe(c.url)}>" if c.url else ""
    dateline = f" ({c.dateline})" if c.dateline else ""
    return _safe(f"[{c.n}] {c.title} — {c.path}, {c.where}{dateline}") + link


def answer_text(answer: Answer) -> str:
    """For a person: each quote with its marker, then the numbered sources (a source repeats its
    quote only when the answer does not already show it)."""
    if answer.found:
        markers = "".join(f"[{c.n}]" for c in answer.citations)
        head = f"“{_safe(answer.text)}” {markers}"
        if len(answer.citations) > 1 and " ".join(c.quote for c in answer.citations) == answer.text:
            head = " ".join(f"“{_safe(c.quote)}” [{c.n}]" for c in answer.citations)  # each quote, its source
        lines = [head, "", "Sources:"]
        for c in answer.citations:  # a quote the answer already shows is not printed twice
            lines += [_source_line(c)] + ([] if c.quote in answer.text else [f"    “{_safe(c.quote)}”"])
    else:
        lines = ["The articles don't answer that."]
        if answer.see_also:
            lines += ["", "Closest passages:"]
            for c in answer.see_also:
                lines += [_source_line(c), f"    “{_safe(c.quote)}”"]
    return "\n".join(lines)


def hits_text(query: str, hits: list[Hit]) -> str:
    if not hits:
        return f"No passages match {_safe(repr(query))}."
    lines = []
    for i, h in enumerate(hits, start=1):
        a = h.passage.article
        lines += [_safe(f"[{i}] {a.title} — {a.path}, {where(a.path, h.passage.paragraph)} (score {h.score:.2f})"),
                  f"    {_safe(h.passage.text)}", ""]
    return "\n".join(lines).rstrip()
