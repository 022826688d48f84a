"""Follow-ups through real discord.py code in simcord: a reply to an answer and a message in the
bot's thread are read with the question before; a new subject is not; thread mode and help-desk
channels; and a reply to an answer sent before a restart still finds its context."""
from __future__ import annotations

import shutil
from pathlib import Path

import discord
import simcord

import helpers
from fixtures.discord.simbot import SEEDS, assert_no_pings, assert_no_pings_in_threads, embed_text, make_bot, world

FOLLOWUP_ARTICLES = helpers.FIXTURES / "followup" / "articles"


def answer_of(message: discord.Message) -> discord.Embed:
    assert message is not None and message.embeds, message
    return message.embeds[0]


def followup_folder(tmp_path: Path) -> Path:
    target = tmp_path / "articles"
    shutil.copytree(FOLLOWUP_ARTICLES, target / "fixtures")
    shutil.copytree(SEEDS, target / "seeds")
    return target


async def test_reply_to_an_answer_is_read_with_its_question():
    async with simcord.run(make_bot(SEEDS)) as env:
        _, channel, alice = world(env)
        await alice.send(channel, "!ask Who is Vipin Narang?")
        first = channel.last_message
        assert "associate professor" in answer_of(first).description
        # No mention, no command: a plain reply to the bot's answer is a follow-up.
        await alice.send(channel, "What does he think North Korea wants?", reply_to=first)
        second = answer_of(channel.last_message)
        assert "peace treaty" in second.description
        assert second.title == "What does he think North Korea wants?"  # the user's words
        assert "follow-up to “Who is Vipin Narang?”" in second.footer.text
        assert_no_pings(env, at_least=2)


async def test_without_the_reply_the_same_question_is_not_read_with_context():
    async with simcord.run(make_bot(SEEDS)) as env:
        _, channel, alice = world(env)
        await alice.send(channel, "!ask Who is Vipin Narang?")
        await alice.send(channel, "!ask What does he think North Korea wants?")
        assert "follow-up" not in answer_of(channel.last_message).footer.text


async def test_plain_messages_that_reply_to_nobody_are_ignored():
    async with simcord.run(make_bot(SEEDS)) as env:
        _, channel, alice = world(env)
        await alice.send(channel, "lunch anyone?")
        assert channel.last_message.author.id == alice.id


async def test_thread_mode_answers_in_a_thread_and_reads_follow_ups_there(tmp_path: Path):
    async with simcord.run(make_bot(followup_folder(tmp_path), thread_mode=True)) as env:
        _, channel, alice = world(env)
        question = "Who directed Saltmarsh?"
        await alice.send(channel, f"{env.bot.user.mention} {question}")
        [thread] = channel.threads
        assert thread.name == question
        assert "Niamh Cullen" in answer_of(thread.last_message).description
        # In the bot's thread every message is a follow-up: no mention needed.
        await alice.send(thread, "Where was it shot?")
        assert "Norfolk coast" in answer_of(thread.last_message).description
        await alice.send(thread, "When will it be released?")
        reply = answer_of(thread.last_message)
        assert "2 May" in reply.description and "follow-up to “Where was it shot?”" in reply.footer.text
        # A new subject in the same thread does not drag the film along.
        await alice.send(thread, "When will the Fold X go on sale?")
        new = answer_of(thread.last_message)
        assert "14 October" in new.description and "follow-up" not in new.footer.text
        assert len(channel.threads) == 1  # follow-ups stay in the thread
        assert_no_pings_in_threads(env, at_least=4)


async def test_thread_names_fit_discords_limit(tmp_path: Path):
    async with simcord.run(make_bot(followup_folder(tmp_path), thread_mode=True)) as env:
        _, channel, alice = world(env)
        long_q = "Who directed Saltmarsh " + "and who else was involved " * 10 + "?"
        await alice.send(channel, f"!ask {long_q}")
        [thread] = channel.threads
        assert 0 < len(thread.name) <= 100


async def test_help_desk_channel_answers_every_message_without_a_mention(tmp_path: Path):
    async with simcord.run(make_bot(followup_folder(tmp_path))) as env:
        guild, general, alice = world(env)
        desk = guild.create_text_channel("help-desk")
        env.bot.settings.discord.help_desk_channel_ids.append(desk.id)
        await alice.send(desk, "How much did Greenholm Bakeries' profits rise?")
        assert "14%" in answer_of(desk.last_message).description
        await alice.send(general, "How much did Greenholm Bakeries' profits rise?")
        assert general.last_message.author.id == alice.id  # only the help desk answers unprompted
        assert_no_pings(env, at_least=1)


async def test_reply_to_an_answer_from_before_a_restart_still_has_context():
    async with simcord.run(make_bot(SEEDS)) as env:
        _, channel, alice = world(env)
        await alice.send(channel, "!ask Where might the second summit be held?")
        first = channel.last_message
        assert "Vietnam" in answer_of(first).description
        await env.restart_bot(make_bot(SEEDS))  # a new process: no memory of the first answer
        await alice.send(channel, "Has that been confirmed?", reply_to=first)
        reply = answer_of(channel.last_message)
        assert "no official confirmation" in embed_text(reply)
        assert "follow-up to" in reply.footer.text


async def test_slash_in_thread_mode_opens_a_thread_on_the_answer_and_reads_follow_ups(tmp_path: Path):
    async with simcord.run(make_bot(followup_folder(tmp_path), thread_mode=True)) as env:
        _, channel, alice = world(env)
        result = await alice.slash(channel, "ask", question="Who directed Saltmarsh?")
        assert "Niamh Cullen" in answer_of(result.response.message).description
        [thread] = channel.threads
        assert thread.name == "Who directed Saltmarsh?"
        await alice.send(thread, "Where was it shot?")
        reply = answer_of(thread.last_message)
        assert "Norfolk coast" in reply.description
        assert "follow-up to “Who directed Saltmarsh?”" in reply.footer.text
