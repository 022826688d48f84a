"""Per-server settings through simcord: /settings (admins) changes answer channels, thread mode,
help-desk channels, admin roles and the cooldown for one server only, checked against the same
bounds as the TOML; the values live in the record database and survive a restart."""
from __future__ import annotations

from pathlib import Path

import discord
import pytest
import simcord

from citebot.bot.checks import AskingTooFast, ChannelNotAllowed, NotAdmin
from citebot.retrieval.errors import UserError
from fixtures.discord.simbot import assert_no_pings_in_threads, errors_of, make_bot

FERRY_Q = "How often will the harbour ferry run?"


def bot_for(folder: Path, tmp_path: Path):
    return make_bot(folder, top={"record_path": tmp_path / "record.sqlite3"})


def server(env, name: str):
    guild = env.create_guild(name)
    general = guild.create_text_channel("general")
    questions = guild.create_text_channel("questions")
    mods = guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(env.create_user(f"{name}-admin"), roles=[mods])
    alice = guild.add_member(env.create_user(f"{name}-alice"))
    return guild, general, questions, admin, alice


def bot_said(channel, env) -> bool:
    last = channel.last_message
    return last is not None and last.author.id == env.bot.user.id


async def test_settings_change_one_server_and_survive_a_restart(folder, tmp_path):
    async with simcord.run(bot_for(folder, tmp_path)) as env:
        guild, general, questions, admin, alice = server(env, "one")
        _, other_general, _, _, bob = server(env, "two")
        shown = await admin.slash(general, "settings")
        assert shown.ephemeral and "Answer channels: all *(default)*" in shown.response.content
        saved = await admin.slash(general, "settings", answer_channels=questions.mention, thread_mode=True,
                                  cooldown_rate=1, cooldown_seconds=60.0)
        text = saved.response.content
        assert text.startswith("**Settings saved.**")
        assert f"Answer channels: <#{questions.id}> *(this server)*" in text
        assert "Thread mode: on *(this server)*" in text and "1 questions per 60 s" in text

        await alice.send(general, f"!ask {FERRY_Q}")
        assert not bot_said(general, env)  # not an answer channel any more
        await alice.send(questions, f"!ask {FERRY_Q}")
        [thread] = questions.threads  # thread mode
        assert "every forty minutes" in thread.last_message.embeds[0].description
        await alice.send(questions, "!ask What did the port director say?")
        assert "You're asking quickly" in questions.last_message.content  # this server's cooldown

        await bob.send(other_general, f"!ask {FERRY_Q}")  # the other server keeps the defaults
        assert bot_said(other_general, env) and not other_general.threads

        await env.restart_bot(bot_for(folder, tmp_path))
        again = await admin.slash(general, "settings")
        assert "Thread mode: on *(this server)*" in again.response.content
        reset = await admin.slash(general, "settings", reset=True)
        assert "Answer channels: all *(default)*" in reset.response.content
        errors_of(env, (ChannelNotAllowed, AskingTooFast))
        assert_no_pings_in_threads(env, at_least=5)


async def test_bad_values_are_refused_with_the_bounds_and_nothing_changes(folder, tmp_path):
    async with simcord.run(bot_for(folder, tmp_path)) as env:
        _, general, _, admin, alice = server(env, "one")
        bad = await admin.slash(general, "settings", cooldown_rate=0)
        assert bad.ephemeral and bad.response.content.startswith("Not changed: cooldown_rate:")
        assert "greater than or equal to 1" in bad.response.content
        shown = await admin.slash(general, "settings")
        assert "*(this server)*" not in shown.response.content
        refused = await alice.slash(general, "settings", thread_mode=True)
        assert refused.response.content.startswith("Sorry, only server admins")
        assert errors_of(env, UserError) and errors_of(env, NotAdmin)


async def test_admin_roles_and_help_desk_per_server(folder, tmp_path):
    async with simcord.run(bot_for(folder, tmp_path)) as env:
        guild, general, questions, admin, alice = server(env, "one")
        editors = guild.create_role("editors")
        editor = guild.add_member(env.create_user("editor"), roles=[editors])
        await admin.slash(general, "settings", admin_roles=editors.mention, help_desk_channels=questions.mention)
        allowed = await editor.slash(general, "articles")
        assert "articles" in allowed.response.content and not allowed.response.content.startswith("Sorry")
        await alice.send(questions, FERRY_Q)  # no command, no mention: a help desk
        assert "every forty minutes" in questions.last_message.embeds[0].description


async def test_without_a_record_settings_cannot_be_saved(folder):
    async with simcord.run(make_bot(folder)) as env:
        _, general, _, admin, _ = server(env, "one")
        result = await admin.slash(general, "settings", thread_mode=True)
        assert result.response.content.startswith("Server settings can't be saved: no record database")
        errors_of(env, UserError)


def test_a_version_1_record_is_migrated_keeping_its_questions(tmp_path):
    import sqlite3

    from citebot.bot.record import MIGRATIONS, SCHEMA_VERSION, Record, RecordUnavailable

    path = tmp_path / "record.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
        db.execute("INSERT INTO questions (asked_at, question, question_key, searched, found) "
                   "VALUES (4102444800, 'Old?', 'old', 'Old?', 0)")
    record = Record(path, retention_days=36_500).open()
    assert [g.question for g in record.gaps()] == ["Old?"]
    record.set_server_settings(7, {"thread_mode": True, "cooldown_rate": None})
    assert record.server_settings() == {7: {"thread_mode": True}}
    record.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(RecordUnavailable, match="newer citebot"):
        Record(path).open()
