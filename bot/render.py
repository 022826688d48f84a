"""Answer -> Discord embed or plain text, always inside Discord's limits (pure; unit-tested).

discord.py does not check lengths and Discord rejects an oversized message outright (HTTP 400,
code 50035), so every string is clipped here. Lengths are counted in UTF-16 code units, which is
never less than Discord's own count. Text that comes from articles or users is markdown-escaped
(so it cannot forge links or formatting) and has mention syntax broken with a zero-width space,
on top of ``AllowedMentions.none()`` on every send.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import discord

from citebot.retrieval.models import Answer, Citation, IndexStats

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
EXAMPLE = "Where might the second summit be held?"  # the example question help and usage show
NOTE_MAX = 160  # a footer note ("follow-up to …"): short, so the budgets above still hold
ELLIPSIS = "…"

FOUND_COLOUR = discord.Colour(0x2E8B57)
NOT_FOUND_COLOUR = discord.Colour(0x7F8C8D)
_URL = re.compile(r"https?://[^\s<>\"'`|\\]+", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    """What to send: an embed, or plain ``content`` where embeds are not allowed."""

    content: str | None = None
    embed: discord.Embed | None = None


def dlen(text: str) -> int:
    """Length as Discord may count it (UTF-16 code units; an emoji can count twice)."""
    return len(text.encode("utf-16-le")) // 2


_MARKDOWN = re.compile(r"[\\*_~`|\[\]<>]")
_URL_TOKEN = re.compile(r"https?://[^\s<>|`\[\]*~\\]+", re.IGNORECASE)
_LINE_START = re.compile(r"^(?:[#>+-]|(\d+)\.)")
_EVERYONE = re.compile(r"@(everyone|here)", re.IGNORECASE)


def escape(text: str) -> str:
    """Article/user text made inert: one line, every markdown character escaped (so no forged
    links, formatting, mentions, emoji or timestamps), bare URLs kept clickable, and
    ``@everyone``/``@here`` broken with a zero-width space."""
    flat = " ".join(text.split())
    out, pos = [], 0
    for match in _URL_TOKEN.finditer(flat):
        out.append(_MARKDOWN.sub(r"\\\g<0>", flat[pos:match.start()]))
        out.append(match.group())
        pos = match.end()
    out.append(_MARKDOWN.sub(r"\\\g<0>", flat[pos:]))
    escaped = _LINE_START.sub(lambda m: f"{m.group(1)}\\." if m.group(1) else "\\" + m.group(), "".join(out))
    return _EVERYONE.sub("@\u200b\\1", escaped)


_WORD = re.compile(r"\S+")


def flat_prefix(text: str, size: int) -> str:
    """The first ``size`` characters of ``" ".join(text.split())``, without splitting all of
    ``text``: a megabyte-long title costs no more to clip than one just over the limit."""
    words: list[str] = []
    used = 0
    for match in _WORD.finditer(text):
        word = text[match.start():min(match.end(), match.start() + size - used + 1)]
        words.append(word)
        used += len(word) + 1
        if used > size:
            break
    return " ".join(words)[:size]


def clip(text: str, limit: int, *, raw: bool = False) -> str:
    """``text`` escaped (unless ``raw``) and cut at a word boundary with "…" to fit ``limit``.

    Linear in ``text`` whatever its size: escaping never shortens text and a UTF-16 count is
    never below the character count, so only the first ``limit + 1`` characters (after
    whitespace is folded) can appear in the result, and only they are ever escaped."""
    if limit <= 0:
        return ""
    flat = text[: limit + 1] if raw else flat_prefix(text, limit + 1)
    render = (lambda s: s) if raw else escape
    out = render(flat)
    if len(flat) <= limit and dlen(out) <= limit:  # the whole text, and it fits
        return out
    lo, hi = 0, len(flat)
    while lo < hi:  # longest prefix whose rendering (plus "…") fits
        mid = (lo + hi + 1) // 2
        if dlen(render(flat[:mid].rstrip())) + 1 <= limit:
            lo = mid
        else:
            hi = mid - 1
    cut = flat[:lo]
    space = cut.rfind(" ")
    if space > lo * 0.7:
        cut = cut[:space]
    out = render(cut.rstrip()).rstrip("\\") + ELLIPSIS
    while dlen(out) > limit and cut:  # escaping is not quite monotone; shave until it fits
        cut = cut[:-1]
        out = render(cut.rstrip()).rstrip("\\") + ELLIPSIS
    return out if dlen(out) <= limit else ELLIPSIS[:limit]


def safe_url(url: str | None) -> str | None:
    """An http(s) URL that cannot break out of ``<...>``; anything else is dropped."""
    if not url:
        return None
    url = url.strip()
    if len(url) > 512:  # dlen >= len: too long to show, and not worth a regex pass
        return None
    return url if _URL.fullmatch(url) and dlen(url) <= 512 else None


def took_text(took_ms: float) -> str:
    return "<1 ms" if took_ms < 1 else (f"{took_ms:,.0f} ms" if took_ms < 10_000 else f"{took_ms / 1000:,.1f} s")


def _where(c: Citation) -> str:
    dateline = f" · {clip(c.dateline, 120)}" if c.dateline else ""
    return f"{clip(c.path, 200)}, {c.where}{dateline}"


def _source_field(c: Citation, excerpt: int = 0) -> tuple[str, str]:
    marker = f"[{c.n}] "
    name = marker + clip(c.title, FIELD_NAME_MAX - dlen(marker))
    value = _where(c)
    url = safe_url(c.url)
    if url:
        value += f"\n<{url}>"
    if excerpt:
        value += "\n> “" + clip(c.quote, min(excerpt, FIELD_VALUE_MAX - dlen(value) - 8)) + "”"
    return name, value if dlen(value) <= FIELD_VALUE_MAX else clip(value, FIELD_VALUE_MAX, raw=True)


def _content_source_line(c: Citation, limit: int) -> str:
    url = safe_url(c.url)
    tail = f" <{url}>" if url else ""
    head = f"[{c.n}] {clip(c.title, 150)} — {_where(c)}"
    line = head + tail
    return line if dlen(line) <= limit else clip(head, limit, raw=True)


def _quoted(answer: Answer, budget: int) -> str:
    """The answer with ``[n]`` markers: each quote followed by its marker when they line up."""
    cites = answer.citations
    if cites and " ".join(c.quote for c in cites) == answer.text:
        parts = [(c.quote, f" **[{c.n}]**") for c in cites]
    else:
        parts = [(answer.text, " " + "".join(f"**[{c.n}]**" for c in cites) if cites else "")]
    overhead = sum(dlen(m) + 3 for _, m in parts) + 2  # “ ” and a space per part, "> "
    each = max(1, (budget - overhead) // len(parts))
    text = " ".join(f"“{clip(q, each)}”{m}" for q, m in parts)
    return clip("> " + text, budget, raw=True)


def _fill_fields(embed: discord.Embed, fields: Sequence[tuple[str, str]], noun: str) -> None:
    """Add fields while every limit holds; say how many did not fit."""
    shown = 0
    for name, value in fields:
        room = EMBED_TOTAL_MAX - dlen_embed(embed) - 60  # keep room for the "more" field
        if len(embed.fields) >= FIELDS_MAX - 1 or dlen(name) + dlen(value) > room:
            break
        embed.add_field(name=name, value=value, inline=False)
        shown += 1
    if shown < len(fields):
        rest = len(fields) - shown
        embed.add_field(name=ELLIPSIS, value=f"and {rest} more {noun}{'s' if rest != 1 else ''} not shown", inline=False)


def dlen_embed(embed: discord.Embed) -> int:
    """Total counted characters of an embed (title, description, fields, footer, author)."""
    total = dlen(embed.title or "") + dlen(embed.description or "")
    total += sum(dlen(f.name or "") + dlen(f.value or "") for f in embed.fields)
    total += dlen(embed.footer.text or "") + dlen(embed.author.name or "")
    return total


def answer_embed(answer: Answer, took_ms: float | None = None, note: str = "") -> discord.Embed:
    took = took_text(answer.took_ms if took_ms is None else took_ms)
    note = f" · {clip(note, NOTE_MAX)}" if note else ""
    title = clip(answer.question, TITLE_MAX) or None
    if answer.found:
        n = len(answer.citations)
        footer = f"Answered in {took} · {n} source{'s' if n != 1 else ''}{note}"
        fields = [_source_field(c) for c in answer.citations]
        noun, colour = "source", FOUND_COLOUR
        reserve = min(sum(dlen(a) + dlen(b) for a, b in fields), 1500)
        budget = min(DESCRIPTION_MAX, EMBED_TOTAL_MAX - dlen(title or "") - dlen(footer) - reserve - 80)
        description = _quoted(answer, budget)
    else:
        footer = f"Searched in {took}{note}"
        fields = [_source_field(c, excerpt=300) for c in answer.see_also]
        noun, colour = "article", NOT_FOUND_COLOUR
        description = "The articles don't say." + (" The closest passages:" if fields else "")
    embed = discord.Embed(title=title, description=description, colour=colour)
    embed.set_footer(text=footer)
    _fill_fields(embed, fields, noun)
    return embed


def answer_content(answer: Answer, took_ms: float | None = None, note: str = "") -> str:
    """The same reply as plain Discord content (≤ 2000, Markdown-escaped) for channels where
    embeds are not allowed. The terminal's text is ``bot.format.answer_text``."""
    took = took_text(answer.took_ms if took_ms is None else took_ms)
    if note:
        took = f"{took} · {clip(note, NOTE_MAX)}"
    head = f"**{clip(answer.question, 200)}**" if answer.question.strip() else ""
    if answer.found:
        body, cites, label = _quoted(answer, 900), answer.citations, "Sources:"
    else:
        cites = answer.see_also
        body, label = "The articles don't say.", "Closest passages:" if cites else ""
    footer = f"-# {took}"
    lines = [line for line in (head, body, label) if line]
    used = sum(dlen(x) + 1 for x in lines) + dlen(footer) + 40
    for i, c in enumerate(cites):
        line = _content_source_line(c, 300)
        if used + dlen(line) + 1 > CONTENT_MAX:
            lines.append(f"…and {len(cites) - i} more")
            break
        lines.append(line)
        used += dlen(line) + 1
    lines.append(footer)
    return fit_content("\n".join(lines))


def render_answer(answer: Answer, *, took_ms: float | None = None, embeds: bool = True, note: str = "") -> Reply:
    """``note`` (clipped to NOTE_MAX) joins the footer, e.g. which question a follow-up was read with."""
    if embeds:
        return Reply(embed=answer_embed(answer, took_ms, note))
    return Reply(content=answer_content(answer, took_ms, note))


def fit_content(text: str) -> str:
    """Message content, already rendered, clipped to 2000 without escaping it again."""
    return text if dlen(text) <= CONTENT_MAX else clip(text, CONTENT_MAX, raw=True)


# --- help and admin replies ---------------------------------------------------------------------


def example_questions(titles: Iterable[str], limit: int = 3) -> list[str]:
    """Questions built from loaded article titles, so the examples always have answers nearby."""
    out: list[str] = []
    for title in titles:
        title = flat_prefix(title, 300).rstrip(" .!?:")  # clipped to 160 below; no need to fold more
        if title and title not in out:
            out.append(title)
        if len(out) >= limit:
            break
    return [f"What do the articles say about “{t}”?" for t in out]


def help_text(
    titles: Sequence[str], *, prefix: str, prefix_enabled: bool, articles: int, passages: int,
    cooldown_rate: int, cooldown_seconds: float, max_question_chars: int,
) -> str:
    """How to ask, with examples; plain markdown used as an embed description or as content."""
    how = ["`/ask question:` your question"]
    if prefix_enabled:
        how.append(f"`{clip(prefix, 20, raw=True)}ask` your question")
    how.append("@mention me with your question")
    examples = example_questions(titles)
    lines = [
        "I answer questions about the articles I have, quoting the exact sentence and citing "
        "the article and paragraph.",
        "",
        "**How to ask:** " + " · ".join(how),
    ]
    if examples:
        lines += ["", "**Try:**"] + [f"• /ask question: {clip(q, 160)}" for q in examples]
    else:
        lines += ["", "No articles are loaded yet; an admin can add some with `/add`."]
    per = f"{cooldown_seconds:g} s"
    lines += [
        "",
        f"-# {articles:,} articles, {passages:,} passages · up to {cooldown_rate} questions per {per} "
        f"· questions up to {max_question_chars:,} characters",
        "-# Admins: `/articles`, `/reload`, `/add`",
    ]
    return "\n".join(lines)


def render_help(text: str, *, embeds: bool = True) -> Reply:
    if embeds:
        embed = discord.Embed(title="How to ask citebot", description=clip(text, DESCRIPTION_MAX, raw=True),
                              colour=FOUND_COLOUR)
        return Reply(embed=embed)
    return Reply(content=fit_content(text))


def stats_text(stats: IndexStats, max_skipped: int = 15) -> str:
    """/articles: counts, last refresh, skipped files with reasons (as many as fit)."""
    lines = [f"**{stats.articles:,} articles**, {stats.passages:,} passages indexed."]
    if stats.refreshed_at:
        lines.append(f"Last refresh: <t:{int(stats.refreshed_at)}:R> (took {took_text(stats.took_ms)}).")
    if not stats.skipped:
        lines.append("No files skipped.")
        return fit_content("\n".join(lines))
    lines.append(f"Skipped {len(stats.skipped):,} file{'s' if len(stats.skipped) != 1 else ''}:")
    used = sum(dlen(line) + 1 for line in lines) + 40
    for i, s in enumerate(stats.skipped):
        line = f"• {clip(s.path, 150)}: {clip(s.reason, 150)}"
        if i >= max_skipped or used + dlen(line) + 1 > CONTENT_MAX:
            lines.append(f"…and {len(stats.skipped) - i:,} more")
            break
        lines.append(line)
        used += dlen(line) + 1
    return fit_content("\n".join(lines))


def refresh_text(added: int, changed: int, removed: int, stats: IndexStats) -> str:
    change = f"{added} added, {changed} changed, {removed} removed" if added or changed or removed else "no changes"
    return fit_content(f"Reloaded: {change}.\n" + stats_text(stats))


def added_text(name: str, *, replaced: bool, title: str | None, passages: int, reason: str | None) -> str:
    """/add outcome: what was indexed (title, passages), or why it was not."""
    verb = "Replaced" if replaced else "Added"
    if reason is not None:
        return fit_content(f"Saved **{clip(name, 200)}**, but it was not indexed: {clip(reason, 300)}")
    return fit_content(
        f"{verb} **{clip(name, 200)}**: “{clip(title or name, 300)}”, {passages:,} "
        f"passage{'s' if passages != 1 else ''}. It is answerable now."
    )
