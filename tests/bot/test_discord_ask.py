"""The ask paths through real discord.py code, against simcord's in-memory Discord.

Covers !ask, /ask (defer then follow-up), @mentions, the card question over seeds/, no-answer,
limits with 40 long citations, allowed_mentions on the recorded JSON, the message-content
intent switch, cooldowns, the channel allowlist, the DM switch, help and the error handler.
"""
from __future__ import annotations

import logging

import discord
import pytest
import simcord
from discord.ext import commands

from citebot.bot.checks import AskingTooFast
from citebot.bot.render import CONTENT_MAX, DESCRIPTION_MAX, EMBED_TOTAL_MAX, FIELDS_MAX, dlen, dlen_embed
from fixtures.discord.simbot import (ARTICLES, SEEDS, assert_no_pings, embed_text, errors_of, make_bot,
                                    sent_payloads, world)
from citebot.retrieval import Answer, Citation, Library

FERRY_Q = "How often will the harbour ferry run?"
WATER_Q = "Why must residents boil their tap water?"
CARD_Q = "Where might the second summit be held?"


def only_embed(message: discord.Message) -> discord.Embed:
    assert message is not None and len(message.embeds) == 1, message
    return message.embeds[0]


async def test_prefix_ask_replies_with_quote_markers_source_and_footer():
    async with simcord.run(make_bot()) as env:
        _, channel, alice = world(env)
        question = await alice.send(channel, f"!ask {FERRY_Q}")
        reply = channel.last_message
        assert reply.author.id == env.bot.user.id
        assert reply.reference is not None and reply.reference.message_id == question.id
        embed = only_embed(reply)
        assert "every forty minutes" in embed.description and "[1]" in embed.description
        assert embed.title == FERRY_Q
        source = embed.fields[0]
        assert source.name.startswith("[1] Harbour ferry gets a new winter timetable")
        assert "harbour-ferry-timetable.txt, paragraph 1" in source.value
        assert "<https://news.example.org/harbour/ferry-timetable>" in source.value
        assert embed.footer.text.startswith("Answered in ") and " ms" in embed.footer.text
        assert_no_pings(env, at_least=1)


async def test_slash_ask_defers_at_once_then_follows_up():
    async with simcord.run(make_bot()) as env:
        _, channel, alice = world(env)
        result = await alice.slash(channel, "ask", question=FERRY_Q)
        assert result.acknowledged and not result.ephemeral
        embed = only_embed(result.response.message)
        assert "every forty minutes" in embed.description
        calls = [(e.method, e.path, e.json) for e in env.http_requests if e.method == "POST"]
        defer_at = next(i for i, (_, path, body) in enumerate(calls)
                        if path.endswith("/callback") and body == {"type": 5})
        follow_at = next(i for i, (_, path, _) in enumerate(calls) if path.startswith("/webhooks/"))
        assert defer_at < follow_at, calls
        assert_no_pings(env, at_least=1)


async def test_mention_is_answered_and_bare_mention_gets_help():
    async with simcord.run(make_bot()) as env:
        _, channel, alice = world(env)
        me = env.bot.user.mention
        await alice.send(channel, f"{me} When will the keeper's cottage open as a museum?")
        assert "small museum in June" in only_embed(channel.last_message).description
        await alice.send(channel, f"hey {me}, how often will the harbour ferry run?")
        assert "every forty minutes" in only_embed(channel.last_message).description
        await alice.send(channel, me)
        assert "How to ask" in only_embed(channel.last_message).title
        assert_no_pings(env, at_least=3)


async def test_card_question_over_seeds_cites_the_vietnam_passage():
    """The seed card: the Vietnam sentence must reach the user, with its source."""
    async with simcord.run(make_bot(SEEDS)) as env:
        _, channel, alice = world(env)
        result = await alice.slash(channel, "ask", question=CARD_Q)
        embed = only_embed(result.response.message)
        text = embed_text(embed)
        assert "Vietnam is likely to be chosen as a venue for a second summit" in text
        assert "north-korea-kim-orders-second-trump-summit-preparations.txt, paragraph 13" in text
        assert_no_pings(env)


async def test_card_question_is_answered_with_the_vietnam_quote():
    """Stricter: found, the Vietnam sentence is the quoted answer with its [1] marker."""
    async with simcord.run(make_bot(SEEDS)) as env:
        _, channel, alice = world(env)
        await alice.send(channel, f"!ask {CARD_Q}")
        embed = only_embed(channel.last_message)
        assert embed.footer.text.startswith("Answered in ")
        assert embed.description.startswith("> “North Korea observers say Vietnam is likely")
        assert embed.description.endswith("**[1]**")
        assert embed.fields[0].name.startswith("[1] North Korea’s leader orders preparations")


async def test_no_answer_says_the_articles_do_not_say():
    async with simcord.run(make_bot()) as env:
        _, channel, alice = world(env)
        await alice.send(channel, "!ask What is the airspeed velocity of an unladen swallow?")
        embed = only_embed(channel.last_message)
        assert embed.description.startswith("The articles don't say.")
        assert embed.footer.text.startswith("Searched in ")


async def test_everyone_in_article_and_question_pings_nobody_on_any_path():
    async with simcord.run(make_bot()) as env:
        guild, channel, alice = world(env)
        role = guild.create_role("residents", mentionable=True)
        bob = guild.add_member(env.create_user("bob"))
        await alice.send(channel, f"!ask {WATER_Q}")
        prefix_reply = channel.last_message
        await alice.slash(channel, "ask", question=f"@everyone {WATER_Q} <@{bob.id}> <@&{role.id}>")
        await alice.send(channel, f"{env.bot.user.mention} @here {WATER_Q}")
        await alice.send(channel, "!ask " + "@everyone " * 150)  # an error reply: too long
        bodies = assert_no_pings(env, at_least=4)
        # The article's @everyone is really in what was sent, and still nobody was pinged.
        assert any("everyone" in str(body) for body in bodies)
        assert "everyone" in embed_text(only_embed(prefix_reply))
        for message in channel.history():
            if message.author.id == env.bot.user.id:
                assert not message.mention_everyone and not message.mentions and not message.role_mentions
        assert errors_of(env, commands.CommandError)


class LongAnswers(Library):
    """The real engine for everything except ask(), which returns an answer built to overflow."""

    found = True

    def ask(self, question: str, top_k: int = 5, *, meaning: str | None = None) -> Answer:
        cites = tuple(
            Citation(n, f"**Title {n}** @everyone [x](https://evil.example) " + "long " * 80,
                     f"deep/{'folder_' * 30}/article-{n}.md", n,
                     f"Quote {n} with <@1234567890> and `code` " + "words " * 400, 1.0,
                     f"https://news.example.org/{'a' * 300}/{n}")
            for n in range(1, 41)
        )
        if self.found:
            return Answer(question, True, " ".join(c.quote for c in cites), cites, (), 12.0)
        return Answer(question, False, "", (), cites, 12.0)


@pytest.mark.parametrize("found", [True, False])
async def test_forty_long_citations_stay_within_every_limit(found):
    library = LongAnswers.open(ARTICLES)
    library.found = found
    async with simcord.run(make_bot(library=library)) as env:
        guild, channel, alice = world(env)
        await alice.send(channel, "!ask anything")
        result = await alice.slash(channel, "ask", question="anything")
        for message in (channel.history()[-2], result.response.message):
            embed = only_embed(message)
            assert dlen_embed(embed) <= EMBED_TOTAL_MAX and len(embed) <= EMBED_TOTAL_MAX
            assert len(embed.fields) <= FIELDS_MAX and len(embed.description) <= DESCRIPTION_MAX
            assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)
            assert "not shown" in embed.fields[-1].value
        # Plain-text fallback where the bot may not embed links.
        bare = guild.create_text_channel("no-embeds", overwrites={
            guild.default_role: discord.PermissionOverwrite(embed_links=False)})
        await alice.send(bare, "!ask anything")
        reply = bare.last_message
        assert not reply.embeds and 0 < dlen(reply.content) <= CONTENT_MAX
        assert "[1]" in reply.content
        assert_no_pings(env, at_least=3)


async def test_without_message_content_intent_slash_and_mentions_still_work():
    bot = make_bot(message_content_intent=False)
    assert not bot.intents.message_content
    approved = discord.Intents.default()  # the portal toggle is off
    async with simcord.run(bot, approved_intents=approved) as env:
        _, channel, alice = world(env)
        await alice.send(channel, f"!ask {FERRY_Q}")
        assert channel.last_message.author.id == alice.id  # prefix commands cannot be read: silence
        await alice.send(channel, f"{env.bot.user.mention} {FERRY_Q}")
        assert "every forty minutes" in only_embed(channel.last_message).description
        result = await alice.slash(channel, "ask", question=FERRY_Q)
        assert "every forty minutes" in only_embed(result.response.message).description
        help_result = await alice.slash(channel, "help")
        assert "!ask" not in only_embed(help_result.response.message).description


async def test_message_content_intent_on_but_not_approved_is_refused_at_connect():
    bot = make_bot(message_content_intent=True)
    assert bot.intents.message_content
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with simcord.run(bot, approved_intents=discord.Intents.default()):
            pass


async def test_cooldown_is_per_user_polite_and_shared_by_every_path():
    async with simcord.run(make_bot(cooldown_rate=2, cooldown_seconds=30)) as env:
        guild, channel, alice = world(env)
        bob = guild.add_member(env.create_user("bob"))
        await alice.send(channel, f"!ask {FERRY_Q}")
        await alice.send(channel, f"{env.bot.user.mention} {FERRY_Q}")
        refused = await alice.slash(channel, "ask", question=FERRY_Q)
        assert refused.ephemeral and "try again in" in refused.response.content
        assert refused.response.content.endswith(" s.")
        await alice.send(channel, f"!ask {FERRY_Q}")
        notice = channel.last_message
        assert "try again in" in notice.content
        await alice.send(channel, f"!ask {FERRY_Q}")  # still cooling down: no second notice
        assert channel.last_message.author.id == alice.id
        await bob.send(channel, f"!ask {FERRY_Q}")  # others are not affected
        assert channel.last_message.embeds
        await env.advance_time(31)
        await alice.send(channel, f"!ask {FERRY_Q}")
        assert channel.last_message.embeds
        assert len(errors_of(env, AskingTooFast)) == 3
        assert_no_pings(env)


async def test_channel_allowlist_answers_only_there():
    async with simcord.run(make_bot()) as env:
        guild, channel, alice = world(env)
        other = guild.create_text_channel("random")
        env.bot.settings.discord.allowed_channel_ids = [channel.id]
        await alice.send(other, f"!ask {FERRY_Q}")
        await alice.send(other, f"{env.bot.user.mention} {FERRY_Q}")
        assert all(m.author.id == alice.id for m in other.history())  # silence, no chatter
        refused = await alice.slash(other, "ask", question=FERRY_Q)
        assert refused.ephemeral and f"<#{channel.id}>" in refused.response.content
        await alice.send(channel, f"!ask {FERRY_Q}")
        assert channel.last_message.embeds
        errors_of(env, commands.CheckFailure)
        assert_no_pings(env)


@pytest.mark.parametrize("allow_dms", [True, False])
async def test_dm_switch(allow_dms):
    async with simcord.run(make_bot(allow_dms=allow_dms)) as env:
        world(env)
        carol = env.create_user("carol")
        await carol.send_dm(f"!ask {FERRY_Q}")
        last = carol.dm_channel.last_message
        result = await carol.slash("ask", question=FERRY_Q)
        if allow_dms:
            assert last.author.id == env.bot.user.id and last.embeds
            assert "every forty minutes" in only_embed(result.response.message).description
        else:
            assert last.author.id == carol.id
            assert result.ephemeral and "direct messages" in result.response.content
            errors_of(env, commands.CheckFailure)


async def test_question_cap_and_missing_question_get_friendly_replies():
    async with simcord.run(make_bot(max_question_chars=120)) as env:
        _, channel, alice = world(env)
        await alice.send(channel, "!ask " + "why " * 100)
        assert "too long" in channel.last_message.content and "120" in channel.last_message.content
        result = await alice.slash(channel, "ask", question="why " * 100)
        assert result.ephemeral and "too long" in result.response.content
        await alice.send(channel, "!ask")
        assert "Ask like this" in channel.last_message.content
        await alice.send(channel, "!ask \u200b\u200b")
        assert "Please ask a question" in channel.last_message.content
        errors_of(env, commands.CommandError)
        assert_no_pings(env, at_least=4)


class Broken(Library):
    def ask(self, question: str, top_k: int = 5, *, meaning: str | None = None) -> Answer:
        raise RuntimeError("index exploded")


async def test_one_error_handler_short_message_and_logged_traceback(caplog):
    caplog.set_level(logging.ERROR, logger="citebot.discord")
    async with simcord.run(make_bot(library=Broken.open(ARTICLES))) as env:
        _, channel, alice = world(env)
        result = await alice.slash(channel, "ask", question=FERRY_Q)
        assert "something went wrong" in result.response.content
        await alice.send(channel, f"!ask {FERRY_Q}")
        assert "something went wrong" in channel.last_message.content
        await alice.send(channel, f"{env.bot.user.mention} {FERRY_Q}")
        assert "something went wrong" in channel.last_message.content
        assert "index exploded" not in channel.last_message.content
        assert len(errors_of(env, RuntimeError)) == 3  # the mention path reports through the same event
        assert_no_pings(env, at_least=3)
    records = [r for r in caplog.records if r.name == "citebot.discord" and r.exc_info]
    assert len(records) == 3 and "index exploded" in caplog.text and "Traceback" in caplog.text


async def test_help_gives_examples_from_loaded_titles():
    async with simcord.run(make_bot()) as env:
        _, channel, alice = world(env)
        result = await alice.slash(channel, "help")
        assert result.ephemeral
        text = only_embed(result.response.message).description
        assert "/ask question:" in text and "!ask" in text
        assert "Harbour ferry gets a new winter timetable" in text or "Volunteers restore" in text
        await alice.send(channel, "!help")
        assert "How to ask" in only_embed(channel.last_message).title
        assert_no_pings(env, at_least=2)


async def test_sharded_bot_answers_on_every_shard_from_one_index():
    bot = make_bot(shard_count=2)
    assert isinstance(bot, commands.AutoShardedBot) and bot.shard_count == 2
    async with simcord.run(bot) as env:
        for shard in (0, 1):
            guild = env.create_guild(f"g{shard}", shard_id=shard)
            channel = guild.create_text_channel("general")
            user = guild.add_member(env.create_user(f"u{shard}"))
            await user.send(channel, f"!ask {FERRY_Q}")
            assert "every forty minutes" in only_embed(channel.last_message).description
            assert env.bot.get_guild(guild.id).shard_id == shard
        assert {c.library for c in env.bot.cogs.values()} == {env.bot.library}


async def test_guild_ids_sync_commands_to_those_servers_on_start():
    guild_id = 4242424242424242
    async with simcord.run(make_bot(sync_global=False, guild_ids=[guild_id])) as env:
        guild = env.create_guild(id=guild_id)
        channel = guild.create_text_channel("general")
        alice = guild.add_member(env.create_user("alice"))
        result = await alice.slash(channel, "ask", question=FERRY_Q)
        assert "every forty minutes" in only_embed(result.response.message).description
        paths = [e.path for e in env.http_requests if e.method == "PUT"]
        assert any(f"/guilds/{guild_id}/commands" in p for p in paths), paths


async def test_cogs_use_the_collaborators_they_were_given_not_the_bots_attributes():
    """The bot is no service locator: once the cogs are set up, blanking what the bot holds
    changes nothing for !ask, /ask, @mentions, help or the admin commands."""
    async with simcord.run(make_bot()) as env:
        guild, channel, alice = world(env)
        for name in ("library", "settings", "servers", "records", "off_loop"):
            setattr(env.bot, name, None)
        await alice.send(channel, f"!ask {FERRY_Q}")
        assert "every forty minutes" in only_embed(channel.last_message).description
        result = await alice.slash(channel, "ask", question=WATER_Q)
        assert "boil" in only_embed(result.response.message).description.lower()
        await alice.send(channel, f"{env.bot.user.mention} {FERRY_Q}")
        assert "every forty minutes" in only_embed(channel.last_message).description
        await alice.send(channel, "!help")
        assert "How to ask" in only_embed(channel.last_message).title
        mods = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
        admin = guild.add_member(env.create_user("admin"), roles=[mods])
        stats = await admin.slash(channel, "articles")
        assert stats.ephemeral and "articles" in stats.response.message.content
        assert_no_pings(env, at_least=5)


async def test_a_command_that_mentions_the_bot_in_a_help_desk_channel_is_answered_once():
    """Commands go to the bot, plain questions to the Ask cog's listener: never both."""
    async with simcord.run(make_bot()) as env:
        guild, channel, alice = world(env)
        env.bot.get_cog("Ask").servers.defaults.help_desk_channel_ids.append(channel.id)
        await alice.send(channel, f"!ask {FERRY_Q}")
        await alice.send(channel, f"{env.bot.user.mention} ask {FERRY_Q}")
        await alice.send(channel, "When will the keeper's cottage open as a museum?")
        bodies = [body for _, body in sent_payloads(env)]
        assert len(bodies) == 3, bodies
        assert "small museum in June" in only_embed(channel.last_message).description


async def test_help_states_the_question_cap_actually_in_force():
    """The engine's cap (here lower than Discord's) is the one help states and questions meet."""
    async with simcord.run(make_bot(top={"max_question_chars": 60}, max_question_chars=500)) as env:
        _, channel, alice = world(env)
        await alice.send(channel, "!help")
        text = embed_text(only_embed(channel.last_message))
        assert "questions up to 60 characters" in text
        await alice.send(channel, "!ask " + "How often will the harbour ferry run in the winter timetable now?")
        assert "too long" in channel.last_message.content and "60" in channel.last_message.content
        errors_of(env, Exception)
