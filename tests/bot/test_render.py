"""citebot.bot.render: every reply inside Discord's limits, article text inert (pure; no Discord)."""
from __future__ import annotations

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citebot.bot.render import (
    CONTENT_MAX, DESCRIPTION_MAX, EMBED_TOTAL_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX, FIELDS_MAX,
    FOOTER_MAX, TITLE_MAX, added_text, answer_embed, answer_content, clip, dlen, dlen_embed,
    example_questions, help_text, render_answer, render_help, safe_url, stats_text,
)
from citebot.retrieval.models import Answer, Citation, IndexStats, Skipped


def cite(n: int = 1, *, title: str = "Ferry timetable", path: str = "ferry.txt", quote: str = "It runs hourly.",
         url: str | None = "https://news.example.org/ferry") -> Citation:
    return Citation(n, title, path, 3, quote, 1.0, url)


def assert_embed_fits(embed: discord.Embed) -> None:
    assert dlen(embed.title or "") <= TITLE_MAX
    assert dlen(embed.description or "") <= DESCRIPTION_MAX
    assert len(embed.fields) <= FIELDS_MAX
    for field in embed.fields:
        assert 0 < dlen(field.name) <= FIELD_NAME_MAX and 0 < dlen(field.value) <= FIELD_VALUE_MAX
    assert dlen(embed.footer.text or "") <= FOOTER_MAX
    assert dlen_embed(embed) <= EMBED_TOTAL_MAX and len(embed) <= EMBED_TOTAL_MAX


def test_found_answer_has_quote_marker_source_link_and_time():
    answer = Answer("How often?", True, "It runs hourly.", (cite(),), (), 12.3)
    embed = answer_embed(answer)
    assert embed.title == "How often?"
    assert embed.description == "> “It runs hourly.” **[1]**"
    assert embed.fields[0].name == "[1] Ferry timetable"
    assert embed.fields[0].value == "ferry.txt, paragraph 3\n<https://news.example.org/ferry>"
    assert embed.footer.text == "Answered in 12 ms · 1 source"
    assert render_answer(answer, took_ms=40).embed.footer.text.startswith("Answered in 40 ms")


def test_two_quotes_each_get_their_marker():
    a, b = cite(1, quote="First part."), cite(2, quote="Second part.", path="next.txt")
    embed = answer_embed(Answer("q", True, "First part. Second part.", (a, b)))
    assert embed.description == "> “First part.” **[1]** “Second part.” **[2]**"
    assert [f.name[:3] for f in embed.fields] == ["[1]", "[2]"]


def test_not_found_lists_closest_passages():
    embed = answer_embed(Answer("Who won?", False, "", (), (cite(quote="Close but no."),)))
    assert embed.description.startswith("The articles don't say.")
    assert "“Close but no.”" in embed.fields[0].value
    bare = answer_embed(Answer("Who won?", False, "", (), ()))
    assert bare.description == "The articles don't say." and not bare.fields
    assert "The articles don't say." in answer_content(Answer("Who won?", False, "", (), ()))


def test_article_text_cannot_forge_markdown_links_or_mentions():
    evil = cite(title="**Bold** [click](https://evil.example) @everyone",
                quote="See [here](https://evil.example) <@123456> @here `code` ||spoiler|| # heading",
                path="x_y*z.md")
    embed = answer_embed(Answer("@everyone _q_", True, evil.quote, (evil,)))
    shown = "\n".join([embed.title, embed.description, embed.fields[0].name, embed.fields[0].value])
    assert "\\[click\\](" in shown and "\\[here\\](" in shown  # no masked link survives
    assert "\\<@123456\\>" in shown and "\\`code\\`" in shown and "\\|\\|spoiler" in shown
    assert "\\*\\*Bold\\*\\*" in shown and "\\_q\\_" in shown and "x\\_y\\*z.md" in shown
    assert "@everyone" not in shown and "@here" not in shown and "<@123456>" not in shown
    assert "@\u200beveryone" in shown
    text = answer_content(Answer("q", True, evil.quote, (evil,)))
    assert "@everyone" not in text and "\\[here\\](" in text


def test_unsafe_urls_are_dropped_not_rendered():
    for url in ("javascript:alert(1)", "https://a.example/x> [y](z)", "https://a b", "ftp://x", "https://x`y"):
        assert safe_url(url) is None
        embed = answer_embed(Answer("q", True, "t", (cite(url=url, quote="t"),)))
        assert "<" not in embed.fields[0].value
    assert safe_url("https://news.example.org/a_b?c=1#d") == "https://news.example.org/a_b?c=1#d"


def forty(found: bool) -> Answer:
    cites = tuple(
        Citation(n, "Very long title " * 40, "folder/" * 60 + f"{n}.md", n, f"quote {n} " + "word " * 500, 2.0,
                 "https://example.org/" + "p" * 400)
        for n in range(1, 41)
    )
    if found:
        return Answer("q " * 300, True, " ".join(c.quote for c in cites), cites, (), 5.0)
    return Answer("q " * 300, False, "", (), cites, 5.0)


def test_forty_long_citations_fit_embed_and_text():
    for found in (True, False):
        answer = forty(found)
        embed = answer_embed(answer)
        assert_embed_fits(embed)
        assert embed.fields[-1].value.endswith("not shown")
        text = answer_content(answer)
        assert 0 < dlen(text) <= CONTENT_MAX and "more" in text


def test_one_enormous_quote_is_clipped_cleanly():
    quote = "A sentence that goes on. " * 2000
    embed = answer_embed(Answer("q", True, quote, (cite(quote=quote),)))
    assert_embed_fits(embed)
    assert embed.description.endswith("…” **[1]**")
    assert dlen(answer_content(Answer("q", True, quote, (cite(quote=quote),)))) <= CONTENT_MAX


def test_clip_counts_utf16_and_cuts_at_words():
    assert clip("short", 10) == "short"
    cut = clip("alpha beta gamma delta epsilon", 17)
    assert cut == "alpha beta gamma…" or cut == "alpha beta…"
    emoji = clip("😀" * 100, 21)
    assert dlen(emoji) <= 21 and emoji.endswith("…")
    assert dlen(clip("*" * 500, 50)) <= 50  # escaping doubles the length; still fits


def test_help_examples_come_from_titles():
    questions = example_questions(["Otters return to the Wenlow river", "Otters return to the Wenlow river", "B."])
    assert questions == ["What do the articles say about “Otters return to the Wenlow river”?",
                         "What do the articles say about “B”?"]
    text = help_text(["Otters return"], prefix="!", prefix_enabled=False, articles=1, passages=2,
                     cooldown_rate=3, cooldown_seconds=10, max_question_chars=500)
    assert "!ask" not in text and "Otters return" in text
    empty = help_text([], prefix="!", prefix_enabled=True, articles=0, passages=0,
                      cooldown_rate=3, cooldown_seconds=10, max_question_chars=500)
    assert "No articles are loaded yet" in empty and "`!ask`" in empty


def test_stats_and_added_texts_fit():
    skipped = tuple(Skipped("dir/" * 100 + f"{i}.txt", "binary file " * 50) for i in range(500))
    text = stats_text(IndexStats(10, 100, skipped, refreshed_at=1_700_000_000.0, took_ms=5))
    assert dlen(text) <= CONTENT_MAX and "Skipped 500 files" in text and "more" in text
    assert "<t:1700000000:R>" in text
    assert "No files skipped." in stats_text(IndexStats(0, 0))
    assert added_text("a.txt", replaced=False, title="T", passages=1, reason=None).endswith("answerable now.")
    assert "not indexed: empty file" in added_text("a.txt", replaced=False, title=None, passages=0,
                                                   reason="empty file")


text_st = st.text(max_size=3000)
url_st = st.one_of(st.none(), st.text(max_size=600), st.just("https://ok.example/x"))


@st.composite
def citations(draw, n_max: int = 45):
    n = draw(st.integers(0, n_max))
    return tuple(
        Citation(i + 1, draw(text_st), draw(st.text(max_size=400)), draw(st.integers(0, 10**6)),
                 draw(text_st), 1.0, draw(url_st))
        for i in range(n)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(question=text_st, text=text_st, cites=citations(), found=st.booleans(), took=st.floats(0, 1e7))
def test_any_answer_renders_within_limits(question, text, cites, found, took):
    answer = Answer(question, found, text if found else "", cites if found else (), () if found else cites, took)
    assert_embed_fits(answer_embed(answer))
    content = answer_content(answer)
    assert 0 < dlen(content) <= CONTENT_MAX
    assert "@everyone" not in content.replace("\u200b", "") or "@\u200beveryone" in content


@settings(max_examples=40, deadline=None)
@given(titles=st.lists(st.text(max_size=500), max_size=10), prefix=st.text(min_size=1, max_size=40))
def test_any_help_renders_within_limits(titles, prefix):
    text = help_text(titles, prefix=prefix, prefix_enabled=True, articles=1, passages=1,
                     cooldown_rate=3, cooldown_seconds=10.5, max_question_chars=500)
    assert_embed_fits(render_help(text).embed)
    assert dlen(render_help(text, embeds=False).content) <= CONTENT_MAX


# --- cost: linear in the text, and off the event loop (issue 12, section 3) ---------------------------


def _escaped_chars(monkeypatch, answer: Answer) -> int:
    """Render ``answer`` every way the bot does; return how many characters went through escape()."""
    import citebot.bot.render as render

    seen: list[int] = []
    real = render.escape

    def counting(text: str) -> str:
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(render, "escape", counting)
    embed = render.answer_embed(answer)
    content = render.answer_content(answer)
    monkeypatch.setattr(render, "escape", real)
    assert_embed_fits(embed)
    assert 0 < dlen(content) <= CONTENT_MAX
    return sum(seen)


def _huge(size: int, found: bool) -> Answer:
    title = ("Council *votes* on the [harbour] bridge @everyone " * (size // 50 + 1))[:size]
    quote = ("The bridge reopens on Monday after repairs. " * (size // 44 + 1))[:size]
    c = Citation(1, title, "a/" * (size // 2), 3, quote, 1.0, "https://x.example/" + "p" * size)
    if found:
        return Answer(title, True, quote, (c,), (), 1.0)
    return Answer(title, False, "", (), (c, c), 1.0)


def test_a_five_megabyte_title_and_quote_escape_only_a_bounded_prefix(monkeypatch):
    # The old clip() escaped the whole text, then again at every step of a binary search: a 5 MB
    # title blocked the event loop for seconds. Now only about `limit` characters are escaped per
    # clip, so rendering 5 MB costs the same escaping as 50 KB (and far less than 5 MB).
    for found in (True, False):
        small = _escaped_chars(monkeypatch, _huge(50_000, found))
        big = _escaped_chars(monkeypatch, _huge(5_000_000, found))
        assert big == small, (found, small, big)
        assert big < 200_000, big


def test_a_title_of_whitespace_and_one_giant_word_still_clips(monkeypatch):
    for title in (" \n\t" * 1_000_000 + "end", "x" * 3_000_000, "\u3000".join(["w"] * 1_000_000)):
        answer = Answer(title, True, title, (cite(title=title, quote=title),), (), 1.0)
        assert _escaped_chars(monkeypatch, answer) < 200_000
    assert clip(" \n " * 100_000 + "a  b", 10) == "a b"


async def test_answers_are_rendered_off_the_event_loop(monkeypatch):
    import threading

    import simcord

    import citebot.bot.render
    from fixtures.discord.simbot import make_bot

    loop_thread = threading.get_ident()
    threads: list[int] = []
    real = citebot.bot.render.render_answer

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    # The Ask cog is an extension: the bot loads a fresh bot.cogs.ask in setup_hook, which takes
    # render_answer from bot.render then, so the recorder goes there (before the bot starts).
    monkeypatch.setattr(citebot.bot.render, "render_answer", recording)
    async with simcord.run(make_bot()) as env:
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        await alice.send(channel, "!ask How often will the harbour ferry run?")
        await alice.slash(channel, "ask", question="How often will the harbour ferry run?")
        assert "every forty minutes" in channel.last_message.embeds[0].description
    assert len(threads) == 2 and loop_thread not in threads
